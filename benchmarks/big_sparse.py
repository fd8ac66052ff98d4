"""A huge sparse matrix: seconds per HALS iteration and peak memory, nmfkit vs scikit-learn.

    python benchmarks/big_sparse.py                     # 1e6 × 1e5, 5e7 non-zeros, k = 50
    python benchmarks/big_sparse.py --cases nmfkit-f64,sklearn-f64 --iters 4
    python benchmarks/big_sparse.py --m 100000 --n 20000 --nnz 5000000   # a quick run
    python benchmarks/big_sparse.py --kernels-only      # spmm / spmm_t / gather vs SciPy

The matrix is built row chunk by row chunk straight into its CSR arrays
(``scipy.sparse.random`` on this shape would allocate m·n scratch): per-row
counts ~ Poisson(nnz/m) adjusted to exactly ``nnz``, distinct column indices
drawn uniformly per row (sorted draws from ``[0, n − c]`` plus ``0, 1, …``),
values uniform in [0.1, 1.1). Uniform columns are the cache-unfriendly case:
real term-document data, with a few very frequent columns, is kinder.

Each case runs in its own subprocess (``--worker``), which builds the same
matrix (seed 0), then

* **nmfkit-f64 / nmfkit-f32** — ``nmfkit.factorize(X, k, solver="hals",
  init="random", max_iter=iters, tol=0, callback=…)``; seconds per
  iteration is the median over iterations 2 … ``iters`` of the differences of
  the callback's ``elapsed`` (iteration 1 also carries the initial objective's
  product).
* **sklearn-f64 / sklearn-f32** — ``sklearn.decomposition.NMF(solver="cd",
  init="random", tol=0)`` fitted with ``max_iter=1`` and then with
  ``max_iter=1 + sk_iters``; seconds per iteration is the difference divided
  by ``sk_iters`` (initialisation and the final objective cancel out).
* **kernels** — ``X @ Hᵀ``, ``Xᵀ @ W`` and WH at the non-zeros with the
  compiled kernels on 1 and on all threads against SciPy (and the NumPy
  gather), float64 and float32, best of 3.
* **profile-f64 / profile-f32** — one nmfkit run with timing wrappers around
  the pieces of an iteration (the sparse products, what the column layout's
  product helpers in ``_frobenius`` add to them, the HALS sweeps); the rest of the
  iteration (Gram matrices ``HHᵀ``, ``WᵀW`` and the Gram-form objective)
  is the remainder. A sampler thread reads the resident set size every 10 ms
  and records the peak per phase (set-up, iterations, finish).

Peak memory is the worker's ``VmHWM`` (peak resident set size), which
includes the matrix itself (its CSR arrays), the interpreter and the
libraries; ``rss_after_X`` is the resident size once the matrix is built.
Threads: ``--threads`` sets ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` in the workers (default: the
number of cores), ``--blas-threads`` the BLAS ones alone. Results go to
``--out`` (Markdown; anything below the notes marker in an existing file is
kept) and ``--json`` (``--render JSON`` rewrites the Markdown from it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ALL_CASES = ("nmfkit-f64", "nmfkit-f32", "sklearn-f64", "profile-f64", "profile-f32")
PHASES = (
    "set-up and iteration 1",
    "iterations 2 … max_iter",
    "finish (canonical form, final objective)",
)


# --------------------------------------------------------------------------- data


def make_matrix(
    m: int, n: int, nnz: int, dtype: Any = np.float64, seed: int = 0, chunk_rows: int = 50_000
) -> sp.csr_matrix:
    """A random m × n CSR matrix with exactly ``nnz`` entries, built without m·n scratch.

    Memory: the CSR arrays plus O(chunk_rows · nnz/m) temporaries.
    """
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    counts = np.minimum(rng.poisson(nnz / m, m), n).astype(np.int64)
    while (diff := nnz - int(counts.sum())) != 0:  # adjust to exactly nnz
        rows = rng.integers(0, m, abs(diff))
        np.add.at(counts, rows, 1 if diff > 0 else -1)
        np.clip(counts, 0, n, out=counts)
    index = np.int32 if max(nnz, n) < 2**31 - 1 else np.int64
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=index)
    data = np.empty(nnz, dtype=dtype)
    for r0 in range(0, m, chunk_rows):
        r1 = min(m, r0 + chunk_rows)
        c = counts[r0:r1]
        s, e = int(indptr[r0]), int(indptr[r1])
        rows = np.repeat(np.arange(r1 - r0, dtype=np.int64), c)
        # c distinct sorted columns: sorted draws from [0, n - c] plus 0, 1, ..., c - 1
        draw = (rng.random(e - s) * (n - c[rows] + 1)).astype(np.int64)
        key = np.sort(rows * n + draw)
        pos = np.arange(e - s, dtype=np.int64) - np.repeat(indptr[r0:r1] - s, c)
        indices[s:e] = key - rows * n + pos
        data[s:e] = rng.random(e - s, dtype=dtype) + dtype.type(0.1)
    X = sp.csr_matrix((data, indices, indptr.astype(index)), shape=(m, n), copy=False)
    X.has_sorted_indices = True
    X.has_canonical_format = True
    return X


# --------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Samples the resident set size every ``period`` seconds; peak per phase label."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.phase = "setup"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.note()
            time.sleep(self.period)

    def note(self) -> None:
        r = self._rss()
        if r > self.peaks.get(self.phase, 0):
            self.peaks[self.phase] = r

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- workers


def _timing_wrappers(sampler: RssSampler, parts: dict[str, float]) -> None:
    """Wrap the pieces of a HALS iteration in ``nmfkit.solvers`` with timers (profile runs).

    Whichever of them the solver's layout uses are timed: the sparse products
    (as ``_frobenius`` imported them), the column layout's product helpers
    (results in k-row layout), and the HALS sweep kernels.
    """
    import importlib

    targets = [
        ("nmfkit.solvers._frobenius", "spmm", "spmm X·Hᵀ"),
        ("nmfkit.solvers._frobenius", "spmm_t", "spmm_t Xᵀ·W"),
        # column layout: the product in its transposed (k-row) layout
        ("nmfkit.solvers._frobenius", "_xt_products_W", "_xt_products_W"),
        ("nmfkit.solvers._frobenius", "_products_H", "_products_H"),
        ("nmfkit.solvers.hals", "hals_sweep", "HALS sweeps"),
        ("nmfkit.solvers.hals", "compiled_sweep_rows", "HALS sweeps"),
    ]

    def timed(name: str, fn):
        def wrapper(*a, **kw):
            prev = sampler.phase
            sampler.phase = f"{prev}: {name}"
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t
                sampler.note()
                sampler.phase = prev

        return wrapper

    for module, attr, name in targets:
        mod = importlib.import_module(module)
        if hasattr(mod, attr):
            setattr(mod, attr, timed(name, getattr(mod, attr)))


def _worker_nmfkit(args: argparse.Namespace, dtype: Any, profile: bool) -> dict:
    import nmfkit

    out: dict[str, Any] = {}
    with RssSampler() as sampler:
        t = time.perf_counter()
        X = make_matrix(args.m, args.n, args.nnz, dtype)
        out["build_s"] = time.perf_counter() - t
        out["rss_after_X_mb"] = _status_kb("VmRSS") / 1024
        out["X_mb"] = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
        parts: dict[str, float] = {}
        part_snap: list[dict[str, float]] = []
        if profile:
            _timing_wrappers(sampler, parts)
        elapsed: list[float] = []

        last = [0.0]

        def callback(state) -> None:
            elapsed.append(state.elapsed)
            part_snap.append(dict(parts))
            last[0] = time.perf_counter()
            sampler.note()
            sampler.phase = PHASES[2] if state.n_iter >= args.iters else PHASES[1]

        sampler.phase = PHASES[0]
        t = time.perf_counter()
        res = nmfkit.factorize(X, args.k, solver="hals", init="random", random_state=0,
                               max_iter=args.iters, tol=0, callback=callback)
        t_end = time.perf_counter()
        sampler.note()
    out["fit_s"] = t_end - t
    diffs = np.diff(elapsed)
    out["per_iter_s"] = [float(elapsed[0])] + diffs.tolist()
    out["s_per_iter"] = float(statistics.median(diffs)) if diffs.size else float(elapsed[0])
    out["finish_s"] = t_end - last[0]
    out["setup_s"] = out["fit_s"] - out["finish_s"] - float(elapsed[-1])
    out["n_iter"] = int(res.n_iter)
    out["loss"] = [float(v) for v in res.loss_history]
    if profile and len(part_snap) >= 2:
        # per-iteration averages over iterations 2..iters, from the snapshots at callbacks
        n_it = len(part_snap) - 1
        avg = {key: (part_snap[-1].get(key, 0.0) - part_snap[0].get(key, 0.0)) / n_it
               for key in part_snap[-1]}
        copies = 0.0  # what the column layout's helpers add (nothing but the call, now)
        for helper, inner in (("_xt_products_W", "spmm X·Hᵀ"), ("_products_H", "spmm_t Xᵀ·W")):
            if helper in avg:
                copies += avg.pop(helper) - avg.get(inner, 0.0)
        if copies:
            avg["column-layout product helpers beyond the products"] = copies
        avg["rest (Grams, objective, copies, Python)"] = out["s_per_iter"] - sum(avg.values())
        out["profile"] = avg
    out["peak_by_phase_mb"] = {key: v / 2**20 for key, v in sampler.peaks.items()}
    return out


def _worker_sklearn(args: argparse.Namespace, dtype: Any) -> dict:
    import warnings

    from sklearn.decomposition import NMF

    out: dict[str, Any] = {}
    X = make_matrix(args.m, args.n, args.nnz, dtype)
    out["rss_after_X_mb"] = _status_kb("VmRSS") / 1024
    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for it in (1, 1 + args.sk_iters):
            t = time.perf_counter()
            model = NMF(args.k, solver="cd", init="random", random_state=0, max_iter=it, tol=0)
            model.fit_transform(X)
            times[it] = time.perf_counter() - t
            out[f"n_iter_{it}"] = int(model.n_iter_)
    out["fit_s"] = times
    out["s_per_iter"] = (times[1 + args.sk_iters] - times[1]) / args.sk_iters
    return out


def _best(f, reps: int = 3) -> float:
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def _time_kernels(X: Any, k: int) -> dict[str, dict[str, float]]:
    import numba

    from nmfkit.backend import _sparse_compiled as C
    from nmfkit.backend import values_at_nonzeros

    dtype = X.dtype
    rng = np.random.default_rng(1)
    H = rng.random((k, X.shape[1]), dtype=dtype)
    Wt = rng.random((k, X.shape[0]), dtype=dtype)
    W = np.ascontiguousarray(Wt.T)

    def numpy_gather():
        C.enabled = False
        try:
            return values_at_nonzeros(W, H, X)
        finally:
            C.enabled = True

    row = {
        "scipy": {
            "spmm": _best(lambda: np.asarray(X @ H.T)),
            "spmm_t": _best(lambda: np.asarray(X.T @ Wt.T)),
            "gather": _best(numpy_gather, 1),
        }
    }
    C.spmm(X, H.T), C.spmm_t(X, Wt.T), C.gather(W, H, X)  # compile or load the kernels
    for th in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(th)
        row[f"numba-{th}"] = {
            "spmm": _best(lambda: C.spmm(X, H.T)),
            "spmm_t": _best(lambda: C.spmm_t(X, Wt.T)),
            "gather": _best(lambda: C.gather(W, H, X)),
        }
    return row


def _worker_kernels(args: argparse.Namespace) -> dict:
    """spmm / spmm_t / gather: compiled on 1 and on all threads vs SciPy / the NumPy gather.

    The dense operands are passed as the solvers pass them: ``Hᵀ`` and ``Wtᵀ``
    (transposed views), ``W`` C-ordered.
    """
    res: dict[str, Any] = {}
    for name, dtype in (("f64", np.float64), ("f32", np.float32)):
        res[name] = _time_kernels(make_matrix(args.m, args.n, args.nnz, dtype), args.k)
    return res


def worker(args: argparse.Namespace) -> None:
    case = args.worker
    t0 = time.perf_counter()
    if case == "kernels":
        out: dict[str, Any] = {"kernels": _worker_kernels(args)}
    else:
        lib, dt = case.split("-")
        dtype = np.float32 if dt == "f32" else np.float64
        if lib == "sklearn":
            out = _worker_sklearn(args, dtype)
        else:
            out = _worker_nmfkit(args, dtype, profile=lib == "profile")
    out["case"] = case
    out["wall_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _status_kb("VmHWM") / 1024
    out["loadavg_end"] = os.getloadavg()
    Path(args.result).write_text(json.dumps(out))


# --------------------------------------------------------------------------- driver


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    v = {"python": platform.python_version()}
    for pkg in ("nmfkit", "numpy", "scipy", "scikit-learn", "numba", "threadpoolctl"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = "not installed"
    return v


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except OSError:
        mem = float("nan")
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()}"


def _cpu_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(v) for v in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src"],
                               cwd=HERE, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    files = [line[3:] for line in dirty.splitlines()]
    return head + (f" + uncommitted changes in {', '.join(files)}" if files else "")


def _run_case(case: str, args: argparse.Namespace, out_dir: Path) -> dict:
    env = dict(os.environ)
    blas = args.blas_threads or args.threads
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(blas)
    env["NUMBA_NUM_THREADS"] = str(args.threads)
    env.pop("NMFKIT_SPARSE_COMPILED", None)
    result = out_dir / f"big_sparse_{case}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", case, "--result", str(result),
           "--m", str(args.m), "--n", str(args.n), "--nnz", str(args.nnz), "--k", str(args.k),
           "--iters", str(args.iters), "--sk-iters", str(args.sk_iters)]
    load = os.getloadavg()
    print(f"[{case}] running (load average {load[0]:.2f}) ...", flush=True)
    busy0, usage0, t0 = _cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    proc = subprocess.run(cmd, env=env)
    busy1, usage1, t1 = _cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    if proc.returncode != 0 or not result.exists():
        return {"case": case, "error": f"exit status {proc.returncode}", "loadavg_start": load}
    r = json.loads(result.read_text())
    r["loadavg_start"] = load
    ours = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    # CPU time the rest of the machine took while the case ran, in cores (0 = quiet)
    r["other_cores_busy"] = max(0.0, (busy1 - busy0) - ours) / max(t1 - t0, 1e-9)
    brief = {k: r[k] for k in ("s_per_iter", "peak_rss_mb") if k in r}
    print(f"[{case}] {brief}", flush=True)
    return r


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    """What the run measured and on what: stored with the results, rendered at the top."""
    return {
        "m": args.m, "n": args.n, "nnz": args.nnz, "k": args.k, "iters": args.iters,
        "sk_iters": args.sk_iters, "threads": args.threads,
        "blas_threads": args.blas_threads or args.threads,
        "machine": _machine(), "versions": _versions(), "code": _git_state(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


NOTES_MARK = "<!-- notes: everything below this line is kept when the file is regenerated -->"


def _markdown(meta: dict[str, Any], results: dict[str, dict]) -> str:
    gb = 1024.0
    args = argparse.Namespace(**meta)
    v = meta["versions"]
    lines = [
        "# Huge sparse matrix: HALS seconds per iteration and peak memory",
        "",
        "Generated by `benchmarks/big_sparse.py` (`make bench-big`).",
        "",
        f"- matrix: {args.m:,} × {args.n:,} CSR, {args.nnz:,} non-zeros "
        f"(uniform random columns, values in [0.1, 1.1)), k = {args.k}",
        f"- machine: {meta['machine']}; run {meta['date']}",
        f"- threads: numba {args.threads}, BLAS/OpenMP {args.blas_threads}",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- nmfkit: `factorize(X, {args.k}, solver='hals', init='random', max_iter={args.iters}, "
        "tol=0)`, median of iterations 2 … max_iter",
        f"- scikit-learn: `NMF(solver='cd', init='random', tol=0)`, (fit with max_iter = "
        f"1 + {args.sk_iters} minus fit with max_iter = 1) / {args.sk_iters}",
        "- peak memory: the worker process's VmHWM (includes X, the interpreter and libraries)",
        f"- code: {meta['code']}",
        "- other load: CPU cores the rest of the machine kept busy while the case ran "
        "(0 = quiet; on 2 cores anything above ~0.2 slows the 2-thread kernels)",
        "",
    ]
    main_cases = [c for c in results if not c.startswith(("profile", "kernels"))]
    if main_cases:
        lines += ["| case | s / iteration | peak RSS (GiB) | RSS after building X (GiB) | "
                  "other load (cores) |", "|---|---|---|---|---|"]
        for c in main_cases:
            r = results[c]
            if "error" in r:
                lines.append(f"| {c} | failed: {r['error']} | | | |")
                continue
            lines.append(f"| {c} | {r['s_per_iter']:.2f} | {r['peak_rss_mb'] / gb:.2f} | "
                         f"{r['rss_after_X_mb'] / gb:.2f} | {r['other_cores_busy']:.2f} |")
        sk = results.get("sklearn-f64", {}).get("s_per_iter")
        for c in main_cases:
            if c.startswith("nmfkit") and sk and "s_per_iter" in results[c]:
                lines.append("")
                lines.append(f"- sklearn-f64 / {c}: **{sk / results[c]['s_per_iter']:.1f}×** "
                             "time per iteration")
        lines.append("")
        for c in main_cases:
            r = results[c]
            if c.startswith("nmfkit") and "per_iter_s" in r:
                its = ", ".join(f"{t:.2f}" for t in r["per_iter_s"])
                lines.append(f"- {c}: per-iteration seconds {its}; set-up {r['setup_s']:.1f} s, "
                             f"finish {r['finish_s']:.1f} s; building X {r['build_s']:.1f} s")
        lines.append("")
    for c in [c for c in results if c.startswith("profile")]:
        r = results[c]
        if "error" in r:
            lines += [f"## {c}: failed ({r['error']})", ""]
            continue
        lines += [f"## Where an iteration goes ({c}, {r['s_per_iter']:.2f} s / iteration, "
                  f"other load {r['other_cores_busy']:.2f} cores)", "",
                  "| part | s / iteration | share |", "|---|---|---|"]
        for key, val in sorted(r.get("profile", {}).items(), key=lambda kv: -kv[1]):
            lines.append(f"| {key} | {val:.2f} | {100 * val / r['s_per_iter']:.0f}% |")
        lines += ["", f"Set-up {r['setup_s']:.1f} s, finish {r['finish_s']:.1f} s.", "",
                  "| phase (: inside a timed part) | peak RSS (GiB) |", "|---|---|"]
        for key, val in r.get("peak_by_phase_mb", {}).items():
            lines.append(f"| {key} | {val / gb:.2f} |")
        lines += ["", f"VmHWM {r['peak_rss_mb'] / gb:.2f} GiB; X itself {r['X_mb'] / gb:.2f} GiB.",
                  ""]
    if "kernels" in results and "kernels" in results["kernels"]:
        kr = results["kernels"]
        lines += ["## Sparse kernels vs SciPy (seconds, best of 3; gather: NumPy fallback once)",
                  "", f"Other load while measuring: {kr.get('other_cores_busy', 0):.2f} cores.",
                  "", "| dtype | kernel | SciPy / NumPy | numba 1 thread | numba all threads | "
                  "speed-up (1 / all) |", "|---|---|---|---|---|---|"]
        for dt, row in results["kernels"]["kernels"].items():
            th = sorted(k for k in row if k.startswith("numba"))
            for kern in ("spmm", "spmm_t", "gather"):
                base = row["scipy"][kern]
                one, many = row[th[0]][kern], row[th[-1]][kern]
                lines.append(f"| {dt} | {kern} | {base:.3f} | {one:.3f} | {many:.3f} | "
                             f"{base / one:.1f}× / {base / many:.1f}× |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--m", type=int, default=1_000_000)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--nnz", type=int, default=50_000_000)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--iters", type=int, default=5, help="nmfkit max_iter (≥ 2)")
    p.add_argument("--sk-iters", type=int, default=2, help="scikit-learn iterations timed")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="numba threads (and BLAS threads unless --blas-threads)")
    p.add_argument("--blas-threads", type=int, default=0)
    p.add_argument("--cases", default="kernels," + ",".join(ALL_CASES),
                   help="comma-separated, from: kernels, " + ", ".join(ALL_CASES))
    p.add_argument("--kernels-only", action="store_true")
    p.add_argument("--render", metavar="JSON",
                   help="only rewrite --out from a saved --json file (no measurement)")
    p.add_argument("--out", default=str(HERE / "results_big_sparse.md"))
    p.add_argument("--json", default=str(HERE / "out" / "big_sparse.json"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return
    cases = ["kernels"] if args.kernels_only else [c for c in args.cases.split(",") if c]
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        meta, results = saved["meta"], saved["results"]
    else:
        out_dir = Path(args.json).parent
        out_dir.mkdir(parents=True, exist_ok=True)
        meta = _meta(args)
        results = {c: _run_case(c, args, out_dir) for c in cases}
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    text = _markdown(meta, results)
    out = Path(args.out)
    if out.exists() and NOTES_MARK in (old := out.read_text()):
        text += "\n" + old[old.index(NOTES_MARK):]
    out.write_text(text)
    print(f"wrote {args.out}" + ("" if args.render else f" and {args.json}"))


if __name__ == "__main__":
    main()
