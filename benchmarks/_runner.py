"""The measuring process: runs methods on prepared cases, under a time limit.

``run.py`` starts one worker (multiprocessing, spawn) and sends it tasks;
every timed fit happens in that worker, one at a time, with the thread
settings applied once at start-up (BLAS/OpenMP through threadpoolctl and the
environment, PyTorch through ``torch.set_num_threads``, numba through
``numba.set_num_threads`` when it is installed). When a task overruns its
limit the parent kills the worker (a single iteration of some peers can take
far longer than the cap) and starts a fresh one; the points already sent are
kept.

Only the standard library is imported at module level: the thread settings
must be in place before NumPy loads its BLAS.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def set_thread_env(threads: int) -> None:
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def _load_case(path: str, cache: dict):
    if path in cache:
        return cache[path]
    import json

    import numpy as np
    import scipy.sparse as sp

    meta = json.loads(open(os.path.join(path, "meta.json")).read())
    xp = os.path.join(path, "X.npz" if meta["sparse"] else "X.npy")
    X = sp.load_npz(xp).tocsr() if meta["sparse"] else np.load(xp)
    W0 = np.load(os.path.join(path, "W0.npy"))
    H0 = np.load(os.path.join(path, "H0.npy"))
    cache.clear()  # one case at a time
    cache[path] = (meta, X, W0, H0, {})
    return cache[path]


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("nmfkit", "numpy", "scipy", "scikit-learn", "threadpoolctl", "tensorly",
                 "torch", "nmf-torch", "numba", "matplotlib", "array-api-compat"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _floor(X, W0, H0, reps_time: float = 0.3):
    """Median seconds of ``X Hᵀ`` and ``Wᵀ X`` (the two products of an iteration)."""
    import statistics

    import scipy.sparse as sp

    W, H = W0, H0
    sparse = sp.issparse(X)

    def xht():
        return X @ H.T

    def wtx():
        return X.T @ W if sparse else W.T @ X

    out = {}
    for name, f in (("XHt", xht), ("WtX", wtx)):
        f()
        times = []
        start = time.perf_counter()
        while len(times) < 5 or (time.perf_counter() - start < reps_time and len(times) < 50):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    out["floor"] = out["XHt"] + out["WtX"]
    return out


def worker_main(conn, threads: int, workdir: str) -> None:
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # own process group, so that a kill also ends nimfa's subprocess
    set_thread_env(threads)
    import warnings

    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import _metrics
    import peers

    limiter = threadpool_limits(threads)  # noqa: F841 (kept for the life of the worker)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    try:
        import numba

        numba.set_num_threads(threads)
    except ImportError:
        pass
    methods = {m.name: m for m in peers.nmfkit_methods(True) + peers.peer_methods(threads)}
    for m in methods.values():
        if isinstance(m, peers.NimfaMU):
            m.workdir = workdir
    cache: dict = {}
    warmed: set = set()

    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        op = task.get("op")
        try:
            if op == "stop":
                conn.send({"type": "done"})
                return
            if op == "info":
                # import every library so that threadpoolctl sees every BLAS/OpenMP
                for mod in ("scipy.linalg", "sklearn.decomposition", "tensorly", "torch", "nmf",
                            "nmfkit"):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            __import__(mod)
                    except ImportError:
                        pass
                info = {"versions": _versions(), "threadpools": threadpool_info()}
                try:
                    import torch

                    info["torch_threads"] = torch.get_num_threads()
                    info["torch_config"] = torch.__config__.parallel_info()
                except ImportError:
                    pass
                try:
                    import numba

                    info["numba_threads"] = numba.get_num_threads()
                except ImportError:
                    pass
                conn.send({"type": "done", "info": info})
                continue
            if op == "check":
                out = {}
                for name, m in methods.items():
                    out[name] = m.available()
                conn.send({"type": "done", "available": out})
                continue
            meta, X, W0, H0, prepared = _load_case(task["case"], cache)
            dtype = np.dtype(meta["dtype"]).type
            loss, k = meta["loss"], meta["k"]
            norms = _metrics.data_norms(X)
            if op == "floor":
                conn.send({"type": "done", "floor": _floor(X, W0, H0)})
                continue
            if op == "start_error":
                conn.send({"type": "done", "e": _metrics.rel_error(X, W0, H0, loss, norms)})
                continue
            m = methods[task["method"]]
            key = m.name
            if key not in prepared:
                prepared[key] = m.prepare(X)
            Xm = prepared[key]
            deadline = time.perf_counter() + task.get("deadline_in", 1e9)
            if op == "method":
                wkey = (m.name, meta["dtype"], meta["sparse"], loss)
                if wkey not in warmed:
                    m.warmup(dtype, meta["sparse"], loss, k)
                    warmed.add(wkey)
                cap = task["cap"]
                if m.traced:
                    pts, n_iter = m.run(Xm, W0, H0, k, 10**9, cap, dtype, loss=loss,
                                        norms=norms)
                    conn.send({"type": "done", "kind": "trace",
                               "points": [{"t": t, "e": e, "n": i + 1}
                                          for i, (t, e) in enumerate(pts)],
                               "n_iter": n_iter, "check": dict(m.last_check)})
                else:
                    def on_point(p):
                        conn.send({"type": "point", "point": p})

                    pts = m.run_ladder(Xm, W0, H0, k, cap, dtype, loss=loss, norms=norms,
                                       deadline=deadline, on_point=on_point)
                    extra = {}
                    if getattr(m, "info", None):
                        extra["info"] = m.info
                    conn.send({"type": "done", "kind": "ladder", "points": pts, **extra})
                continue
            if op == "counts":
                pts = m.run_counts(Xm, W0, H0, k, task["counts"], dtype, loss=loss, norms=norms)
                conn.send({"type": "done", "points": pts})
                continue
            conn.send({"type": "error", "error": f"unknown op {op!r}"})
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            conn.send({"type": "error", "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc()})


class Runner:
    """The parent's handle on the worker: send a task, collect its messages."""

    def __init__(self, threads: int, workdir: str):
        self.threads = threads
        self.workdir = workdir
        self.ctx = multiprocessing.get_context("spawn")
        self.proc = None
        self.conn = None

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=worker_main, args=(child, self.threads, self.workdir),
                                     daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent

    def kill(self) -> None:
        if self.proc is not None:
            pid = self.proc.pid
            try:  # the worker leads its own process group (see worker_main)
                if pid and hasattr(os, "killpg") and os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.kill()
            self.proc.join(10)
        self.proc = None
        self.conn = None

    def call(self, task: dict, timeout: float, on_point=None) -> dict:
        """Run ``task``; returns the final message, or ``{"type": "timeout"|"died", ...}``."""
        if self.proc is None or not self.proc.is_alive():
            self._start()
        end = time.perf_counter() + timeout
        self.conn.send(task)
        while True:
            left = end - time.perf_counter()
            if left <= 0 or not self.conn.poll(left):
                self.kill()
                return {"type": "timeout", "error": f"no result within {timeout:.0f} s; "
                        "the measuring process was stopped"}
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                code = self.proc.exitcode if self.proc is not None else None
                self.kill()
                return {"type": "died", "error": f"the measuring process died (exit {code})"}
            if msg.get("type") == "point":
                if on_point is not None:
                    on_point(msg["point"])
                continue
            return msg

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.call({"op": "stop"}, timeout=10)
            finally:
                self.kill()
