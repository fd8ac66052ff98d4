"""Write ``results.md`` and the error-versus-time plots from the raw results.

    python benchmarks/report.py [benchmarks/out/results.json] [--out benchmarks]

``run.py`` calls :func:`write_report` at the end of a run; running this file
again rebuilds the report from the saved measurements.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKLEARN = ("sklearn-cd", "sklearn-mu", "sklearn-minibatch")


# --------------------------------------------------------------------------- formatting


def fmt_t(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3g} ms"
    return f"{x * 1e6:.3g} µs"


def fmt_ttt(entry: dict | None) -> str:
    if entry is None:
        return "not reached"
    s = fmt_t(entry["t"])
    if entry["lo"] < 0.95 * entry["t"]:
        s += f" (>{fmt_t(entry['lo'])})"
    return s


def ratio(nmf: dict | None, peer: dict | None) -> str:
    """``nmfkit time ÷ peer time``; below 1 means nmfkit got there first.

    The peer's time is known to a bracket (lo, t]; the first number divides by
    ``t``, the second (shown when they differ by more than 5%) by ``lo``.
    """
    if nmf is None and peer is None:
        return "neither reached"
    if nmf is None:
        return "nmfkit not reached"
    if peer is None:
        return "peer not reached"
    lo = nmf["t"] / peer["t"] if peer["t"] > 0 else math.inf
    hi = nmf["t"] / peer["lo"] if peer["lo"] > 0 else math.inf
    if hi <= 1.05 * lo:
        return f"{hi:.2f}"
    return f"{lo:.2f}–{hi:.2f}"


def beats(nmf: dict | None, peer: dict | None) -> bool | None:
    """True when nmfkit reached the target before the peer's lower bound (or the peer never
    did); None when neither reached."""
    if nmf is None:
        return None if peer is None else False
    if peer is None:
        return True
    return nmf["t"] < peer["lo"]


def _best(methods: dict, names, key: str) -> tuple[str | None, dict | None]:
    best, best_name = None, None
    for n in names:
        e = methods.get(n, {}).get("ttt", {}).get(key)
        if e is not None and (best is None or e["lo"] < best["lo"]):
            best, best_name = e, n
    return best_name, best


def default_nmfkit(rec: dict) -> str | None:
    for n, m in rec.get("methods", {}).items():
        if not m["peer"] and m.get("default") and m.get("points"):
            return n
    return None


def ran_peers(rec: dict) -> list[str]:
    return [n for n, m in rec.get("methods", {}).items() if m["peer"] and m.get("points")]


# --------------------------------------------------------------------------- plots


def plot_case(rec: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    emin = rec["e_min"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=80)
    floor_y = 1e-7
    nmf_colors = iter(["#08306b", "#2171b5", "#6baed6", "#084594", "#4292c6", "#9ecae1",
                       "#0b559f", "#3182bd"])
    peer_colors = iter(["#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                        "#7f7f7f", "#bcbd22", "#17becf"])
    for name, m in rec["methods"].items():
        pts = m.get("points")
        if not pts:
            continue
        if m["kind"] == "trace":
            pts = sorted(pts, key=lambda p: p["t"])
            style = dict(color=next(nmf_colors, "#08306b"), lw=1.8 if m.get("default") else 1.1)
        else:
            pts = sorted(pts, key=lambda p: p["n"])
            style = dict(color=next(peer_colors, "k"), ls="--", marker="o", ms=3, lw=1)
        xs = [max(p["t"], 1e-5) for p in pts]
        ys = [max(p["e"] / emin - 1.0, floor_y) for p in pts]
        label = name + ("" if m["same_start"] else " (own start)")
        ax.plot(xs, ys, label=label, **style)
    for eps in rec["epsilons"]:
        ax.axhline(eps, color="0.6", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor_y * 0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("e / e_min − 1")
    ax.set_title(f"{rec['case']}  ({rec['loss']}, e_min = {emin:.6g})", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=6, ncol=2, loc="lower left", framealpha=0.85)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- markdown


def _machine_section(res: dict) -> list[str]:
    mach = res.get("machine", {})
    rt = res.get("runtime", {})
    L = ["## Machine and libraries", "", "| | |", "|---|---|"]
    L.append(f"| CPU | {mach.get('cpu_model', '?')}"
             f"{' (virtual machine)' if mach.get('virtualized') else ''} |")
    L.append(f"| cores | {mach.get('physical_cores', '?')} physical, "
             f"{mach.get('logical_cpus', '?')} logical, {mach.get('usable_cpus', '?')} usable |")
    L.append(f"| memory | {mach.get('memory_gb', '?')} GB |")
    L.append(f"| OS | {mach.get('platform', '?')} |")
    L.append(f"| Python | {mach.get('python', '?')} |")
    L.append(f"| threads | {res.get('threads')} for BLAS/OpenMP (threadpoolctl and "
             f"`*_NUM_THREADS`), torch.set_num_threads → {rt.get('torch_threads', '–')}, "
             f"numba → {rt.get('numba_threads', 'not installed')} |")
    la0, la1 = res.get("loadavg_start"), res.get("loadavg_end")
    L.append(f"| load average (1, 5, 15 min) | start {la0}, end {la1} |")
    commit = mach.get("git_commit", "?")
    dirty = " + uncommitted changes under src/" if mach.get("src_uncommitted_changes") else ""
    L.append(f"| nmfkit source | commit {commit}{dirty} |")
    for pool in rt.get("threadpools", []):
        extra = ", ".join(str(pool[k]) for k in ("version", "threading_layer", "architecture")
                          if pool.get(k))
        L.append(
            f"| {pool.get('user_api')} in use | {pool.get('internal_api')}"
            f"{f' ({extra})' if extra else ''}, {pool.get('num_threads')} threads, "
            f"`{os.path.basename(pool.get('filepath', ''))}` |"
        )
    L += ["", "| library | version |", "|---|---|"]
    for lib, ver in rt.get("versions", {}).items():
        L.append(f"| {lib} | {ver or 'not installed'} |")
    nim = None
    for rec in res.get("cases", []):
        for n, m in rec.get("methods", {}).items():
            if n.startswith("nimfa") and m.get("info"):
                nim = m["info"]
    if nim:
        blas = "; ".join(f"{b.get('internal_api')} {b.get('version')}" for b in nim.get("blas", []))
        L.append(f"| nimfa (separate venv) | {nim.get('nimfa')} with NumPy {nim.get('numpy')}, "
                 f"SciPy {nim.get('scipy')}{', ' + blas if blas else ''} |")
    return L + [""]


def _headline(res: dict) -> list[str]:
    cases = [c for c in res["cases"] if c.get("e_min") is not None]
    L = ["## Headline", "",
         "Counted over the cases where e_min is settled at that ε (the method that set e_min "
         "improved by less than ε over the last 20% of its run); the others need a longer "
         "time cap and are listed, but not counted.", ""]
    for eps in (1e-2, 1e-3, 1e-4):
        key = f"{eps:g}"
        allc = [c for c in cases if eps in c["epsilons"]]
        rel = [c for c in allc if c.get("settled", {}).get(key, True)]
        if not allc:
            continue
        n_all = n_sk = n_reach = 0
        for c in rel:
            nmf = default_nmfkit(c)
            if nmf is None:
                continue
            mine = c["methods"][nmf]["ttt"].get(key)
            n_reach += mine is not None
            peers = ran_peers(c)
            outcome = [beats(mine, c["methods"][p]["ttt"].get(key)) for p in peers]
            n_all += bool(outcome) and all(o is True for o in outcome)
            sk = [beats(mine, c["methods"][p]["ttt"].get(key)) for p in peers if p in SKLEARN]
            n_sk += bool(sk) and all(o is True for o in sk)
        L.append(f"* ε = {eps:g}: {len(rel)} of {len(allc)} cases settled. nmfkit's default "
                 f"solver reached e_min·(1+ε) in {n_reach} of them; it got there first (before "
                 f"the lower bound of every peer that ran) in {n_all}; before every "
                 f"scikit-learn solver in {n_sk}.")
    return L + [""]


def _summary_tables(res: dict) -> list[str]:
    L = ["## Time to target: nmfkit against the best peer", "",
         "Ratio = nmfkit's time ÷ the peer's time (below 1: nmfkit first). A peer run without "
         "a callback is known to a bracket; where it matters both ends are shown "
         "(÷ the time of the run that reached, ÷ the lower bound). \"best nmfkit\" is the "
         "fastest nmfkit solver in the case.", ""]
    for eps in (1e-2, 1e-3, 1e-4):
        key = f"{eps:g}"
        rows = [c for c in res["cases"] if c.get("e_min") is not None and eps in c["epsilons"]]
        if not rows:
            continue
        L += [f"### ε = {eps:g}", "",
              "| case | nmfkit (default) | best peer | ÷ best peer | best scikit-learn | "
              "÷ best sklearn | best nmfkit ÷ best peer |",
              "|---|---|---|---|---|---|---|"]
        for c in rows:
            ms = c["methods"]
            nmf = default_nmfkit(c)
            mine = ms[nmf]["ttt"].get(key) if nmf else None
            pname, pbest = _best(ms, ran_peers(c), key)
            sname, sbest = _best(ms, [p for p in ran_peers(c) if p in SKLEARN], key)
            kname, kbest = _best(ms, [n for n, m in ms.items()
                                      if not m["peer"] and m.get("points")], key)
            ptxt = f"{pname} {fmt_ttt(pbest)}" if pname else "no peer reached"
            stxt = f"{sname} {fmt_ttt(sbest)}" if sname else "none reached"
            ktxt = (f"{ratio(kbest, pbest)} ({kname})" if kname else "nmfkit not reached")
            unsettled = "" if c.get("settled", {}).get(key, True) else " (e_min unsettled)"
            L.append(f"| {c['case']}{unsettled} | {nmf or '–'} {fmt_ttt(mine)} | {ptxt} | "
                     f"{ratio(mine, pbest)} | {stxt} | {ratio(mine, sbest)} | {ktxt} |")
        L.append("")
    return L


def _floor_table(res: dict) -> list[str]:
    rows = [c for c in res["cases"] if c.get("floor") and c.get("methods")]
    if not rows:
        return []
    L = ["## Cost per iteration against the floor", "",
         "Floor = the time of the two products XHᵀ and WᵀX at the same rank, measured in the "
         "same run (median of repeats). Every Frobenius method needs at least these per "
         "iteration; the table shows the median time per iteration ÷ the floor. Iterations "
         "differ between methods (HALS with inner repetitions, ANLS solves, MiniBatchNMF "
         "epochs), so compare with care; the issue asks for this on dense data, sparse cases "
         "are shown too.", ""]
    names = []
    for c in rows:
        for n, m in c["methods"].items():
            if m.get("per_iter_over_floor") is not None and n not in names:
                names.append(n)
    L.append("| case | floor | " + " | ".join(names) + " |")
    L.append("|---|---|" + "---|" * len(names))
    for c in rows:
        cells = []
        for n in names:
            m = c["methods"].get(n, {})
            v = m.get("per_iter_over_floor")
            cells.append(f"{v:.1f}×" if v is not None else "–")
        L.append(f"| {c['case']}{' (sparse)' if c.get('sparse') else ''} | "
                 f"{fmt_t(c['floor']['floor'])} | " + " | ".join(cells) + " |")
    return L + [""]


def _case_section(c: dict, plot_rel: str | None) -> list[str]:
    L = [f"### {c['case']}", ""]
    if c.get("skipped"):
        return L + [f"Skipped: {c['skipped']}.", ""]
    L.append(f"{c['description']}; {c['loss']} loss; rank {c['k']}; {c['dtype']}; "
             f"time cap {c['cap']:.2f} s per method. Start error {c.get('e_start', 0):.6g}; "
             f"e_min = {c.get('e_min', float('nan')):.8g} (reached by {c.get('e_min_by')}).")
    gap = c.get("e_min_late_gap")
    if gap is not None:
        uns = [k for k, v in c.get("settled", {}).items() if not v]
        L.append(f"Over the last 20% of its run {c.get('e_min_by')} improved by {gap:.1e} "
                 + (f"(e_min unsettled at ε = {', '.join(uns)}: a longer cap would lower it)."
                    if uns else "(e_min settled at every ε)."))
    same = c.get("e_min_same_start")
    if same is not None and c.get("e_min") and same > c["e_min"] * (1 + 1e-12):
        L.append(f"The best error from the common start is {same:.8g} "
                 f"({same / c['e_min'] - 1:.2e} above e_min).")
    if c.get("floor"):
        f = c["floor"]
        L.append(f"Floor: XHᵀ {fmt_t(f['XHt'])} + WᵀX {fmt_t(f['WtX'])} = {fmt_t(f['floor'])}.")
    L.append("")
    if plot_rel:
        L += [f"![{c['case']}]({plot_rel})", ""]
    eps = [f"{e:g}" for e in c["epsilons"]]
    nmf = default_nmfkit(c)
    L.append("| method | start | iterations | time / iteration | ÷ floor | e / e_min − 1 | "
             + " | ".join(f"t(ε={e})" for e in eps) + " | "
             + " | ".join(f"{nmf or 'nmfkit'} ÷ this (ε={e})" for e in eps) + " |")
    L.append("|---|---|---|---|---|---|" + "---|" * (2 * len(eps)))
    notes = []
    for n, m in c["methods"].items():
        if not m.get("points"):
            if not m.get("not_applicable"):
                notes.append(f"* **{n}** did not run: {m.get('skipped') or m.get('error')}")
            continue
        pif = m.get("per_iter_over_floor")
        gap = m["best_e"] / c["e_min"] - 1
        cells = [fmt_ttt(m["ttt"].get(e)) for e in eps]
        if m["peer"] and nmf:
            rcells = [ratio(c["methods"][nmf]["ttt"].get(e), m["ttt"].get(e)) for e in eps]
        else:
            rcells = [""] * len(eps)
        L.append(f"| {n} | {'common' if m['same_start'] else 'own nndsvdar'} | "
                 f"{m.get('n_iter', '?')} | {fmt_t(m.get('per_iter'))} | "
                 f"{f'{pif:.1f}×' if pif is not None else '–'} | {gap:.1e} | "
                 + " | ".join(cells) + " | " + " | ".join(rcells) + " |")
        if m.get("error"):
            notes.append(f"* **{n}**: {m['error']} (points up to then are kept)")
        if m.get("refine_note"):
            notes.append(f"* **{n}**: {m['refine_note']}")
        chk = m.get("check", {})
        diff = chk.get("max_rel_diff_objective_vs_factors")
        if diff is not None and diff > (1e-6 if c["dtype"] == "float64" else 1e-4):
            notes.append(f"* **{n}**: the error computed from its objective differs from the "
                         f"error of its factors by up to {diff:.1e} (relative)")
    L.append("")
    return L + notes + ([""] if notes else [])


def _not_run(res: dict) -> list[str]:
    reasons: dict[tuple[str, str], list[str]] = {}
    other_loss: dict[str, list[str]] = {}
    for c in res["cases"]:
        for n, m in c.get("methods", {}).items():
            if m["peer"] and not m.get("points"):
                if m.get("not_applicable"):
                    other_loss.setdefault(n, []).append(c["case"])
                    continue
                why = m.get("skipped") or m.get("error") or "no result"
                reasons.setdefault((n, why), []).append(c["case"])
    L = ["## Peers that did not run", ""]
    if not reasons:
        L += ["Every peer ran in every case whose loss it minimises.", ""]
    else:
        L += ["| peer | reason | cases |", "|---|---|---|"]
        for (n, why), cs in sorted(reasons.items()):
            L.append(f"| {n} | {why.replace('|', '/')} | {', '.join(cs)} |")
        L.append("")
    if other_loss:
        losses = {m["name"]: m.get("losses", []) for m in res.get("methods", [])}
        L.append("Not applicable (the case's loss is not one the peer minimises): " + "; ".join(
            f"{n} ({', '.join(losses.get(n, [])) or '?'} only): {len(cs)} case(s)"
            for n, cs in sorted(other_loss.items())) + ".")
        L.append("")
    return L


def _methods(res: dict) -> list[str]:
    L = ["## What each method runs", "", "| method | library | runs |", "|---|---|---|"]
    for m in res.get("methods", []):
        note = m.get("note") or ("callback trace, one run" if not m["peer"] else "")
        L.append(f"| {m['name']} | {m['library']} | {note} |")
    return L + [""]


def write_report(res: dict, out: Path) -> Path:
    out = Path(out)
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    case_ids = {c["case"] for c in res["cases"]}
    for old in plots.glob("*.png"):
        if old.stem not in case_ids:
            old.unlink()
    if res.get("case_filter"):  # a chosen subset of the cases
        kind = f"a run of the cases `{res['case_filter']}`"
    elif res.get("quick"):
        kind = "quick run (`make bench-quick`)"
    else:
        kind = "full run (`make bench`)"
    L = ["# nmfkit benchmark results", "",
         f"Generated by `benchmarks/run.py`, {kind}, started {res.get('started')}, "
         f"{len(res['cases'])} cases in {res.get('wall_s', 0) / 60:.1f} min. "
         "Protocol: [benchmarks/README.md](README.md).", ""]
    if res.get("note"):
        L += [f"> **Note.** {res['note']}", ""]
    la = res.get("loadavg_start") or [0]
    cores = res.get("machine", {}).get("usable_cpus") or 1
    if la and la[0] > 0.5 * cores:
        L += [f"> The machine was busy when this run started (1-minute load average "
              f"{la[0]} on {cores} usable CPUs): the times are noisy and slower than on a "
              "quiet machine.", ""]
    L += _headline(res)
    L += _summary_tables(res)
    L += _floor_table(res)
    L += _not_run(res)
    L += _machine_section(res)
    L += ["## Cases", ""]
    for c in res["cases"]:
        rel = None
        if c.get("e_min") is not None:
            png = plots / f"{c['case']}.png"
            if plot_case(c, png):
                rel = os.path.relpath(png, out)
        L += _case_section(c, rel)
    L += _methods(res)
    md = out / "results.md"
    md.write_text("\n".join(L).rstrip() + "\n")
    return md


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="rebuild results.md from saved measurements")
    ap.add_argument("json", nargs="?", default=str(HERE / "out" / "results.json"))
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    res = json.loads(Path(args.json).read_text())
    print(write_report(res, Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
