"""nmfkit on a GPU (PyTorch / CuPy arrays) against nmfkit on the CPU (NumPy), same data, same start.

The issue's case: dense 20000 × 20000, k = 50, float32. For each of
``hals`` and ``mu``, the CPU path (NumPy arrays, every core of the machine
unless ``--threads``) runs ``--iters`` iterations from a random start; then
the GPU runs from the same start until its objective is at most the CPU
run's final one (``tol=0``). Reported: the seconds each side needs to that
objective and their ratio, the median seconds per iteration (from the
callback's timestamps; the GPU is synchronised in the callback, so the
times are real) and both objectives. Each side runs its defaults: HALS on a
GPU does fewer inner sweeps per iteration (a sweep there costs 4k kernel
launches, not its flops), so it needs more, cheaper iterations, which is
why the comparison is time to the same objective rather than time per
iteration (``--methods hals-same`` gives the GPU the CPU path's sweeps).

    .venv/bin/python benchmarks/gpu.py                       # CUDA, the issue's case
    .venv/bin/python benchmarks/gpu.py --device cpu --n 600 --k 10 --iters 5   # smoke run

``--libs torch,cupy`` runs the GPU side with each library's arrays (CuPy
only on CUDA). Two further sections: *agreement* (float64, the same start,
60 iterations on NumPy and on each GPU library, dense and sparse; the largest
relative difference of W, H and the objective) and *launch cost* (one HALS
sweep against the products it amortises, on the device, at a few sizes; the
per-operation cost in flop-equivalents that makes the Gillis–Glineur bound
of ``solver_options={"launch_cost": ...}`` match the measured ratio).

Writes ``benchmarks/results_gpu.md`` (or ``--out``) with the machine, the
library versions and the table. Needs torch (``pip install torch``: a CUDA
build on a GPU machine; ``make test`` installs the CPU build 2.13.0).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _per_iteration(stamps: list[float]) -> float:
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(gaps) if gaps else float("nan")


def _device_lib(lib: str, device: str):
    """(to_device(ndarray), to_device_sparse(csr), sync) for one GPU library."""
    import torch

    if lib == "torch":
        dev = torch.device(device)

        def dense(a):
            return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

        def sparse(Xs):
            return torch.sparse_csr_tensor(
                torch.from_numpy(Xs.indptr.astype(np.int64)),
                torch.from_numpy(Xs.indices.astype(np.int64)),
                torch.from_numpy(Xs.data), size=Xs.shape,
            ).to(dev)

        def sync():
            if dev.type == "cuda":
                torch.cuda.synchronize()

        return dense, sparse, sync
    if lib == "cupy":
        import cupy
        import cupyx.scipy.sparse as csp

        return (
            lambda a: cupy.asarray(np.ascontiguousarray(a)),
            csp.csr_matrix,
            cupy.cuda.runtime.deviceSynchronize,
        )
    raise ValueError(f"unknown library {lib!r}")


def _host(a) -> np.ndarray:
    if hasattr(a, "get"):
        return a.get()
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def agreement(lib: str, device: str) -> list[dict]:
    """float64, same start, 60 iterations: largest relative differences against NumPy."""
    import scipy.sparse as sp

    import nmfkit

    dense, sparse, _ = _device_lib(lib, device)
    rng = np.random.default_rng(1)
    X = rng.random((500, 10)) @ rng.random((10, 400))
    X[X < np.quantile(X, 0.5)] = 0.0
    W0, H0 = rng.random((500, 10)) + 0.1, rng.random((10, 400)) + 0.1
    rows = []
    for solver, beta, opts in (("hals", 2.0, {"launch_cost": 0.0}), ("mu", 2.0, {}),
                               ("mu", 1.0, {}), ("nesterov", 2.0, {})):
        for kind in ("dense", "sparse"):
            Xh = sp.csr_matrix(X) if kind == "sparse" else X
            Xd = sparse(Xh) if kind == "sparse" else dense(X)
            kw = dict(solver=solver, beta_loss=beta, init="custom", max_iter=60, tol=0,
                      solver_options=opts, canonical=False)
            ref = nmfkit.factorize(Xh, 10, W=W0, H=H0, **kw)
            got = nmfkit.factorize(Xd, 10, W=dense(W0), H=dense(H0), **kw)

            def rel(a, b):
                return float(np.abs(_host(a) - b).max() / np.abs(b).max())

            rows.append(dict(
                lib=lib, solver=f"{solver} β={beta:g}", data=kind, W=rel(got.W, ref.W),
                H=rel(got.H, ref.H),
                loss=float(np.max(np.abs(np.subtract(got.loss_history, ref.loss_history))
                                  / np.asarray(ref.loss_history))),
            ))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def launch_cost(lib: str, device: str, sizes=((2000, 20), (20000, 20), (20000, 50))) -> list[dict]:
    """One HALS sweep on the device against the products B = H·Xᵀ and G = H·Hᵀ it amortises.

    ``ratio`` = t(products) / t(sweep). The Gillis–Glineur bound takes
    ρ − 1 = cost_products / (n_rows·(k + 1) + overhead) with cost_products =
    n_rows·n_other + n_other·k per component; the overhead that makes ρ − 1
    equal the measured ratio, divided by the four array operations a row
    costs, is the per-operation ``launch_cost`` in flop-equivalents.
    """
    import array_api_compat

    from nmfkit.nnls import hals_sweep_xp
    from nmfkit.nnls._hals_cuda import cuda_sweeps_available

    dense, _, sync = _device_lib(lib, device)
    rows = []
    for n, k in sizes:
        rng = np.random.default_rng(0)
        X = dense(rng.random((n, n), dtype=np.float32))
        H = dense(rng.random((k, n), dtype=np.float32))
        A = dense(rng.random((k, n), dtype=np.float32))
        xp = array_api_compat.array_namespace(X)

        def products(X=X, H=H):
            return H @ X.T, H @ H.T

        def timed(f, reps=10):
            f()
            sync()
            t = time.perf_counter()
            for _ in range(reps):
                out = f()
            sync()
            return (time.perf_counter() - t) / reps, out

        t_prod, (B, G) = timed(products)
        sweep = lambda A=A, B=B, G=G, xp=xp: hals_sweep_xp(A, B, G, xp, max_sweeps=1)  # noqa: E731
        os.environ["NMFKIT_CUDA_KERNELS"] = "0"  # array operations, four per row
        try:
            t_sweep, _ = timed(sweep)
        finally:
            os.environ.pop("NMFKIT_CUDA_KERNELS")
        t_fused = timed(sweep)[0] if cuda_sweeps_available(A) else float("nan")
        cost_products = n * n + n * k
        overhead = cost_products * t_sweep / t_prod - n * (k + 1.0)
        rows.append(dict(lib=lib, n=n, k=k, products_ms=1e3 * t_prod, sweep_ms=1e3 * t_sweep,
                         ratio=t_prod / t_sweep, launch_cost=max(overhead, 0.0) / 4.0,
                         fused_ms=1e3 * t_fused))
        print(json.dumps(rows[-1]), flush=True)
        del X, H, A, B, G
    return rows


#: method → (solver, solver_options)
METHODS = {
    "hals": ("hals", {}),
    "hals-same": ("hals", {"launch_cost": 0.0}),
    "hals-plain": ("hals", {"extrapolate": False}),
    "mu": ("mu", {}),
}


def run_case(
    X, W0, H0, method: str, iters: int, sync, target: float | None = None,
    max_time: float | None = None,
) -> dict:
    """One nmfkit run from (W0, H0): median s/iteration, seconds, iterations, objective.

    With ``target`` the run stops at the first iteration whose objective is
    ``<= target`` (``reached`` says whether it got there within ``iters``
    iterations and ``max_time`` seconds); ``seconds`` is then the time to it.
    """
    import nmfkit

    solver, options = METHODS[method]
    stamps: list[float] = []
    hit: list[bool] = []

    def cb(state):
        sync()
        stamps.append(time.perf_counter())
        if target is not None and state.loss <= target:
            hit.append(True)
            return True
        return None

    sync()
    t0 = time.perf_counter()
    stamps.append(t0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 by design
        res = nmfkit.factorize(
            X, W0.shape[1], solver=solver, init="custom", W=W0, H=H0, max_iter=iters, tol=0,
            callback=cb, canonical=False, solver_options=options, max_time=max_time,
        )
    sync()
    return dict(
        per_iter=_per_iteration(stamps), seconds=stamps[-1] - t0, n_iter=len(stamps) - 1,
        loss=float(res.loss), reached=bool(hit) if target is not None else True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="rows = columns of X")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--iters", type=int, default=20, help="CPU iterations")
    ap.add_argument("--device", default="cuda")
    ap.add_argument(
        "--methods", default="hals,mu",
        help="hals: the device-aware default; hals-same: the CPU path's inner sweeps "
        "(identical work per iteration); hals-plain: without Ang-Gillis extrapolation "
        "(the default extrapolates on GPU arrays); mu",
    )
    ap.add_argument("--threads", type=int, default=None, help="CPU BLAS threads (default all)")
    ap.add_argument("--libs", default="torch,cupy", help="GPU array libraries (cupy: CUDA only)")
    ap.add_argument("--no-extras", action="store_true", help="skip agreement and launch cost")
    ap.add_argument("--out", default=str(HERE / "results_gpu.md"))
    args = ap.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    import nmfkit

    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for a smoke run", file=sys.stderr)
        return 2
    libs, skipped = [], []
    for lib in args.libs.split(","):
        if lib == "cupy" and dev.type != "cuda":
            skipped.append("cupy (CUDA only)")
            continue
        try:
            _device_lib(lib, args.device)
            libs.append(lib)
        except ImportError as exc:
            skipped.append(f"{lib} ({exc})")

    rng = np.random.default_rng(0)
    n, k = args.n, args.k
    # planted rank-k data plus noise, float32
    Wt = rng.random((n, k), dtype=np.float32)
    Ht = rng.random((k, n), dtype=np.float32)
    X = Wt @ Ht
    X += np.float32(0.05 * float(X.mean())) * rng.random((n, n), dtype=np.float32)
    W0 = rng.random((n, k), dtype=np.float32)
    H0 = rng.random((k, n), dtype=np.float32)

    rows = []
    for solver in args.methods.split(","):
        with threadpool_limits(args.threads):
            run_case(X, W0, H0, solver, 2, lambda: None)  # warm-up (numba compilation)
            cpu = run_case(X, W0, H0, solver, args.iters, lambda: None)
        for lib in libs:
            dense, _, sync = _device_lib(lib, args.device)
            Xd, W0d, H0d = dense(X), dense(W0), dense(H0)
            run_case(Xd, W0d, H0d, solver, 2, sync)  # warm-up (context, kernels)
            # the GPU runs until it reaches the CPU run's final objective
            gpu = run_case(Xd, W0d, H0d, solver, 100 * args.iters, sync, target=cpu["loss"],
                           max_time=max(30.0, 2 * cpu["seconds"]))
            del Xd
            rows.append(
                dict(
                    solver=solver, lib=lib, cpu_iters=cpu["n_iter"], cpu_s=cpu["seconds"],
                    cpu_s_per_iter=cpu["per_iter"], gpu_iters=gpu["n_iter"],
                    gpu_s=gpu["seconds"], gpu_s_per_iter=gpu["per_iter"],
                    reached=gpu["reached"], cpu_loss=cpu["loss"], gpu_loss=gpu["loss"],
                    ratio=cpu["seconds"] / gpu["seconds"] if gpu["reached"] else None,
                    iter_ratio=cpu["per_iter"] / gpu["per_iter"],
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    agree, launch = [], []
    if not args.no_extras:
        for lib in libs:
            agree += agreement(lib, args.device)
            launch += launch_cost(lib, args.device,
                                  ((200, 10), (400, 20)) if dev.type != "cuda" else
                                  ((2000, 20), (20000, 20), (20000, 50)))

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
            for i in threadpool_info()]
    gpu_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "none (torch on CPU)"
    versions = f"nmfkit {nmfkit.__version__}, torch {torch.__version__}"
    if "cupy" in libs:
        import cupy

        versions += f", cupy {cupy.__version__}"
    lines = [
        "# nmfkit on a GPU (PyTorch / CuPy arrays) vs the CPU path (NumPy)",
        "",
        f"Written by `benchmarks/gpu.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"* case: dense {n} × {n}, k = {k}, float32, {args.iters} iterations from the same "
        "random start, `tol=0`",
        f"* device: `{args.device}` ({gpu_name}); CPU: {platform.processor() or platform.machine()}"
        f", {os.cpu_count()} cores, BLAS: {'; '.join(blas)}",
        f"* versions: {versions}, numpy {np.__version__}, Python {platform.python_version()}",
    ]
    if skipped:
        lines.append(f"* not run: {', '.join(skipped)}")
    lines += [
        "",
        "The CPU path runs the iterations above; the GPU then runs from the same start until "
        "its objective is at most the CPU run's final one. *time ratio* = CPU seconds / GPU "
        "seconds to that objective (each side with its default settings: HALS on a GPU does "
        "fewer inner sweeps per iteration, so it needs more, cheaper iterations).",
        "",
        "| method | library | CPU iterations | CPU s | GPU iterations | GPU s | time ratio "
        "| CPU s/iteration | GPU s/iteration | per-iteration ratio | objective CPU "
        "| objective GPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"**{r['ratio']:.1f}×**" if r["reached"] else "not reached"
        lines.append(
            f"| {r['solver']} | {r['lib']} | {r['cpu_iters']} | {r['cpu_s']:.3g} | "
            f"{r['gpu_iters']} | {r['gpu_s']:.3g} | {ratio} | {r['cpu_s_per_iter']:.3g} | "
            f"{r['gpu_s_per_iter']:.3g} | {r['iter_ratio']:.1f}× | {r['cpu_loss']:.7g} | "
            f"{r['gpu_loss']:.7g} |"
        )
    if agree:
        lines += [
            "",
            "## Agreement with the CPU path (float64, 500 × 400, k = 10, 60 iterations, "
            "same start)",
            "",
            "Largest relative difference (max |GPU − CPU| / max |CPU|) of W and H, and of the "
            "objective over the 60 iterations.",
            "",
            "| library | solver | data | W | H | objective |",
            "|---|---|---|---|---|---|",
        ]
        for r in agree:
            lines.append(f"| {r['lib']} | {r['solver']} | {r['data']} | {r['W']:.1e} | "
                         f"{r['H']:.1e} | {r['loss']:.1e} |")
    if launch:
        lines += [
            "",
            "## Launch cost: one HALS sweep against its products (float32)",
            "",
            "products = B = H·Xᵀ and G = H·Hᵀ; sweep = one HALS sweep of array operations (four "
            "per row); ratio = t(products) / t(sweep); launch cost = the per-operation overhead "
            "(flop-equivalents) that makes the inner-sweep bound's ρ − 1 equal that ratio; "
            "fused = the same sweep as one CUDA kernel (`nmfkit.nnls._hals_cuda`).",
            "",
            "| library | n | k | products ms | sweep ms | ratio | launch cost | fused sweep ms |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in launch:
            lines.append(f"| {r['lib']} | {r['n']} | {r['k']} | {r['products_ms']:.3g} | "
                         f"{r['sweep_ms']:.3g} | {r['ratio']:.3g} | {r['launch_cost']:.3g} | "
                         f"{r['fused_ms']:.3g} |")
    out = Path(args.out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
