"""Dask backend scaling: iterations per second on 1 and 2 workers, bytes moved per iteration.

    python benchmarks/dask_scaling.py                       # 40000 × 1000, k = 20
    python benchmarks/dask_scaling.py --rows 20000 --cols 500 --rank 10 --iters 10
    python benchmarks/dask_scaling.py --sparse --density 0.01

For each worker count a fresh ``LocalCluster(processes=True, threads_per_worker=1)``
is started, X (planted, dense or CSR chunks of ``--block-rows`` rows) is
persisted on it, a short warm-up fit runs, then ``--iters`` iterations of
:func:`nmfkit.backend.dask.fit_dask` (HALS, one sweep, ``tol=0``) run and
iterations 2 … ``--iters`` are timed.

Bytes moved, per iteration, two ways:

* **measured** — everything the workers sent, summed from every worker's
  ``transfer_outgoing_log`` (dask.distributed's own record of each transfer's
  size) between the end of iteration 1 and the end of the last iteration
  (set-up and the final gather of W excluded), divided by the iterations
  timed. It includes the shared ``(H, HHᵀ)`` that the worker which
  materialises it sends to the others, the partial sums moved by the
  reduction tree, and the sums fetched by the client.
* **model** — the 1-D layout's cost: every worker receives ``(H, HHᵀ)``
  (``k·n + k²`` words) and its sums travel once towards the client
  (``k·n + k² + k`` words): ``≈ 2·n·k`` words per worker, independent of
  n_samples (``docs/scale.md``). Counted as the workers send it: ``(P − 1)``
  copies of ``(H, HHᵀ)``, ``P − 1`` partial sums and the final sums to the
  client.

Client→scheduler traffic (the graph itself, with H inside) is not in the
measured figure.
Results go to stdout and, as JSON, to ``--json`` (default
``benchmarks/out/dask_scaling.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def _make(rows: int, cols: int, rank: int, sparse: bool, density: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = rng.random((rows, rank))
    H = rng.random((rank, cols))
    if sparse:
        mask = sp.random(rows, cols, density=density, random_state=seed, format="csr")
        mask.data[:] = 1.0
        return sp.csr_matrix(mask.multiply(W @ H))
    return W @ H + 0.01 * rng.random((rows, cols))


def _outgoing_bytes(dask_worker=None) -> int:
    return int(sum(int(e.get("total", 0)) for e in dask_worker.transfer_outgoing_log))


def _run(n_workers: int, X, W0, H0, args) -> dict:
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    from nmfkit.backend.dask import fit_dask

    cores = os.cpu_count() or 1
    config = {"distributed.scheduler.work-stealing": not args.no_stealing}
    with dask.config.set(config), \
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        Xd = da.from_array(X, chunks=(args.block_rows, X.shape[1]), asarray=False)
        Xd = Xd.persist()
        kw = dict(solver="hals", inner_repeat=False, tol=0, anchor_every=10**9)
        fit_dask(Xd, W0, H0, max_iter=2, **kw)  # warm-up: imports, first transfers
        marks = {}

        def mark(state):  # bytes sent by all workers, after iteration 1 and the last
            if state.n_iter in (1, args.iters):
                marks[state.n_iter] = (sum(client.run(_outgoing_bytes).values()),
                                       time.perf_counter())

        res = fit_dask(Xd, W0, H0, max_iter=args.iters, callback=mark, **kw)
        moved = marks[args.iters][0] - marks[1][0]
        elapsed = marks[args.iters][1] - marks[1][1]
        timed = args.iters - 1
    k, n = H0.shape
    itemsize = 8
    per_worker_words = 2 * n * k + 2 * k * k + k
    # sent by workers: (H, HHᵀ) to every worker but the one holding it, one partial sum
    # from every worker but the tree's root, and the final sums to the client
    model_sent = itemsize * ((n_workers - 1) * per_worker_words + k * n + k * k + k)
    return {
        "workers": n_workers,
        "cores": cores,
        "iterations": timed,
        "seconds": elapsed,
        "iterations_per_second": timed / elapsed,
        "measured_worker_bytes_per_iteration": moved / timed,
        "model_bytes_per_iteration": model_sent,
        "model_words_per_worker_per_iteration": per_worker_words,
        "final_loss": res.loss,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=40_000)
    p.add_argument("--cols", type=int, default=1_000)
    p.add_argument("--rank", type=int, default=20)
    p.add_argument("--block-rows", type=int, default=5_000)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sparse", action="store_true")
    p.add_argument("--no-stealing", action="store_true",
                   help="turn dask's work stealing off (tasks then stay with their X block)")
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "dask_scaling.json")
    args = p.parse_args(argv)

    X = _make(args.rows, args.cols, args.rank, args.sparse, args.density)
    rng = np.random.default_rng(1)
    W0 = rng.random((args.rows, args.rank))
    H0 = rng.random((args.rank, args.cols))
    results = [_run(w, X, W0, H0, args) for w in args.workers]
    losses = [r["final_loss"] for r in results]
    spread = (max(losses) - min(losses)) / max(losses)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "problem": {"rows": args.rows, "cols": args.cols, "rank": args.rank,
                    "block_rows": args.block_rows, "sparse": args.sparse,
                    "density": args.density if args.sparse else 1.0,
                    "work_stealing": not args.no_stealing},
        "results": results,
        "relative_loss_spread_across_worker_counts": spread,
    }
    print(f"X {args.rows} × {args.cols} ({'CSR' if args.sparse else 'dense'}), k = {args.rank}, "
          f"blocks of {args.block_rows} rows; {os.cpu_count()} cores; "
          f"work stealing {'off' if args.no_stealing else 'on'}")
    print("workers  it/s    measured MB/it (sent by workers)  model MB/it  model words/worker/it")
    for r in results:
        print(f"{r['workers']:>7}  {r['iterations_per_second']:6.2f}  "
              f"{r['measured_worker_bytes_per_iteration'] / 1e6:32.3f}  "
              f"{r['model_bytes_per_iteration'] / 1e6:11.3f}  "
              f"{r['model_words_per_worker_per_iteration']:>21}")
    print(f"final losses agree across worker counts to {spread:.1e} (relative)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    from nmfkit.io import atomic_write_text

    atomic_write_text(args.json, json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
