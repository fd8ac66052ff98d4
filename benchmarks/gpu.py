"""nmfkit on a GPU (PyTorch arrays) against nmfkit on the CPU (NumPy), same data, same start.

The issue's case: dense 20000 × 20000, k = 50, float32. For each of
``hals`` and ``mu`` the same factorization runs twice from the same random
start (``max_iter`` iterations, ``tol=0``): once on NumPy arrays (the CPU
path, every core of the machine unless ``--threads``), once on torch arrays on
``--device``. Reported: median seconds per iteration (from the callback's
timestamps; the GPU is synchronised in the callback, so the times are real),
the ratio CPU/GPU, and the final objectives of both runs. ``hals-same``
makes the GPU do the CPU path's inner sweeps, so the two runs do the same
work (their objectives agree to float32 rounding); ``hals`` is the default
on each side (on a GPU fewer inner sweeps per iteration, since each costs
~6k kernel launches), so compare its objective column too.

    .venv/bin/python benchmarks/gpu.py                       # CUDA, the issue's case
    .venv/bin/python benchmarks/gpu.py --device cpu --n 600 --k 10 --iters 5   # smoke run

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
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _per_iteration(stamps: list[float]) -> float:
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(gaps) if gaps else float("nan")


#: method → (solver, solver_options)
METHODS = {
    "hals": ("hals", {}),
    "hals-same": ("hals", {"launch_cost": 0.0}),
    "mu": ("mu", {}),
}


def run_case(X, W0, H0, method: str, iters: int, sync) -> tuple[float, float, float]:
    """(median s/iteration, total s, final objective) of one nmfkit run."""
    import nmfkit

    solver, options = METHODS[method]
    stamps: list[float] = []

    def cb(state):
        sync()
        stamps.append(time.perf_counter())

    sync()
    t0 = time.perf_counter()
    stamps.append(t0)
    res = nmfkit.factorize(
        X, W0.shape[1], solver=solver, init="custom", W=W0, H=H0, max_iter=iters, tol=0,
        callback=cb, canonical=False, solver_options=options,
    )
    sync()
    return _per_iteration(stamps), time.perf_counter() - t0, float(res.loss)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="rows = columns of X")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--device", default="cuda")
    ap.add_argument(
        "--methods", default="hals,hals-same,mu",
        help="hals: the device-aware default; hals-same: the CPU path's inner sweeps "
        "(identical work per iteration); mu",
    )
    ap.add_argument("--threads", type=int, default=None, help="CPU BLAS threads (default all)")
    ap.add_argument("--out", default=str(HERE / "results_gpu.md"))
    args = ap.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    import nmfkit

    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for a smoke run", file=sys.stderr)
        return 2

    def sync_dev():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    rng = np.random.default_rng(0)
    n, k = args.n, args.k
    # planted rank-k data plus noise, float32, built in blocks to bound memory
    Wt = rng.random((n, k), dtype=np.float32)
    Ht = rng.random((k, n), dtype=np.float32)
    X = Wt @ Ht
    X += np.float32(0.05 * float(X.mean())) * rng.random((n, n), dtype=np.float32)
    W0 = rng.random((n, k), dtype=np.float32)
    H0 = rng.random((k, n), dtype=np.float32)

    Xd = torch.from_numpy(X).to(dev)
    W0d, H0d = torch.from_numpy(W0).to(dev), torch.from_numpy(H0).to(dev)
    rows = []
    for solver in args.methods.split(","):
        # warm-up (CUDA context, kernels, numba compilation on the CPU side)
        run_case(Xd, W0d, H0d, solver, 2, sync_dev)
        with threadpool_limits(args.threads):
            run_case(X, W0, H0, solver, 2, lambda: None)
            cpu = run_case(X, W0, H0, solver, args.iters, lambda: None)
        gpu = run_case(Xd, W0d, H0d, solver, args.iters, sync_dev)
        rows.append(
            dict(
                solver=solver, cpu_s_per_iter=cpu[0], gpu_s_per_iter=gpu[0],
                ratio=cpu[0] / gpu[0], cpu_loss=cpu[2], gpu_loss=gpu[2],
                loss_rel_diff=abs(cpu[2] - gpu[2]) / max(abs(cpu[2]), 1e-300),
            )
        )
        print(json.dumps(rows[-1]))

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
            for i in threadpool_info()]
    gpu_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "none (torch on CPU)"
    lines = [
        "# nmfkit on a GPU (PyTorch arrays) vs the CPU path (NumPy)",
        "",
        f"Written by `benchmarks/gpu.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"* case: dense {n} × {n}, k = {k}, float32, {args.iters} iterations from the same "
        "random start, `tol=0`",
        f"* device: `{args.device}` ({gpu_name}); CPU: {platform.processor() or platform.machine()}"
        f", {os.cpu_count()} cores, BLAS: {'; '.join(blas)}",
        f"* versions: nmfkit {nmfkit.__version__}, torch {torch.__version__}, "
        f"numpy {np.__version__}, Python {platform.python_version()}",
        "",
        "| method | CPU s/iteration | GPU s/iteration | CPU/GPU | objective CPU | objective GPU "
        "| relative difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['solver']} | {r['cpu_s_per_iter']:.4g} | {r['gpu_s_per_iter']:.4g} | "
            f"{r['ratio']:.1f}× | {r['cpu_loss']:.6g} | {r['gpu_loss']:.6g} | "
            f"{r['loss_rel_diff']:.1e} |"
        )
    out = Path(args.out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
