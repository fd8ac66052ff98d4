"""Run nimfa's ``Nmf`` (multiplicative updates) in its own virtual environment.

nimfa 1.4 uses ``np.mat``, removed in NumPy 2, so it cannot share the
harness's process; ``benchmarks/peers.py`` starts this script with the
interpreter of ``benchmarks/out/nimfa-venv`` (NumPy < 2) and passes the data
and the common start through ``.npy``/``.npz`` files. Only the nimfa call is
timed (not the interpreter start, not the file loading, not the error
evaluation). Prints one JSON object on the last line of stdout.

    python _nimfa_worker.py --x X.npy --w0 W0.npy --h0 H0.npy --loss frobenius \
        --threads 2 (--time-cap 3 | --counts 5,7) [--deadline-in 60]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", required=True)
    ap.add_argument("--w0", required=True)
    ap.add_argument("--h0", required=True)
    ap.add_argument("--loss", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--time-cap", type=float)
    ap.add_argument("--counts")
    ap.add_argument("--deadline-in", type=float)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import scipy
    import scipy.sparse as sp

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _metrics

    info = {"numpy": np.__version__, "scipy": scipy.__version__}
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        limiter = threadpool_limits(args.threads)  # noqa: F841 (kept alive)
        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for d in threadpool_info()
        ]
    except ImportError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import nimfa
    try:
        from importlib.metadata import version

        info["nimfa"] = version("nimfa")
    except Exception:  # noqa: BLE001
        info["nimfa"] = "?"

    X = sp.load_npz(args.x).tocsr() if args.x.endswith(".npz") else np.load(args.x)
    W0 = np.load(args.w0)
    H0 = np.load(args.h0)
    norms = _metrics.data_norms(X)
    k = W0.shape[1]
    update, objective = (
        ("euclidean", "fro") if args.loss == "frobenius" else ("divergence", "div")
    )

    def run_once(n, Xr=X, W=W0, H=H0):
        Wc, Hc = W.copy(), H.copy()
        t0 = time.perf_counter()
        model = nimfa.Nmf(
            Xr, seed=None, W=Wc, H=Hc, rank=k, max_iter=n, min_residuals=0,
            test_conv=n + 1, update=update, objective=objective,
        )
        fit = model()
        t = time.perf_counter() - t0
        Wf, Hf = fit.basis(), fit.coef()
        Wf = np.asarray(Wf.toarray() if sp.issparse(Wf) else Wf)
        Hf = np.asarray(Hf.toarray() if sp.issparse(Hf) else Hf)
        return t, Wf, Hf, int(fit.fit.n_iter)

    # warm-up on a small problem of the same kind
    rng = np.random.default_rng(0)
    Xs = np.abs(rng.random((60, 40))).astype(X.dtype)
    if sp.issparse(X):
        Xs = sp.csr_matrix(Xs * (rng.random((60, 40)) < 0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_once(2, Xs, (rng.random((60, 2)) + 0.1).astype(X.dtype),
                 (rng.random((2, 40)) + 0.1).astype(X.dtype))

    def measured(n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, Wf, Hf, n_done = run_once(n)
        return t, _metrics.rel_error(X, Wf, Hf, args.loss, norms), n_done

    deadline = None if args.deadline_in is None else time.perf_counter() + args.deadline_in
    if args.counts:
        points = []
        for n in [int(c) for c in args.counts.split(",")]:
            t, e, n_done = measured(n)
            points.append({"n": n, "n_done": n_done, "t": t, "e": e})
    else:
        points = _metrics.ladder(measured, args.time_cap, deadline=deadline)
    print(json.dumps({"points": points, "info": info}))


if __name__ == "__main__":
    main()
