"""Dask as an algorithmic backend: alternating Frobenius NMF on a Dask array.

Layout (1-D, by rows)
    X is split into row blocks ``X_i`` spanning all columns (the column
    chunks of each row are joined by one task per row block, dense with
    ``np.hstack``, sparse with ``scipy.sparse.hstack`` — no dask rechunk),
    converted to the working dtype, checked and persisted: they stay on the
    worker that made them. W lives in the matching row blocks ``W_iᵀ``
    (k × rows) next to them. Per iteration, one task per block runs
    :func:`nmfkit.solvers._blockwise.block_w_step` — the W-update of its rows
    by the same :mod:`nmfkit.nnls` kernel as the in-memory solver, and its
    contributions ``W_iᵀX_i`` (k × n_features) and ``W_iᵀW_i`` (k × k) — and
    these are added up by a tree of sum tasks (``split_every`` at a time)
    whose leaves are ordered by the worker holding each block (with
    dask.distributed), so each worker first sums its own blocks.
    The client receives only the two sums, updates H (k × n_features) with
    the kernel, computes the objective from the Gram matrices and sends the
    new H out with the next iteration's tasks. No task takes more than one
    block of X; products are computed per block with ``@`` (never dask's
    ``tensordot``, which is wrong on ``csr_array`` chunks).

Communication per iteration
    Each worker receives H (k·n_features words) and sends one partial sum
    of ``W_iᵀX_i`` (k·n_features words, after summing its own blocks in the
    tree when they are co-located): about ``2·n_features·k`` words per
    worker per iteration, independent of n_samples. See ``docs/scale.md``.

Exactness
    With ``solver="hals", inner_repeat=False`` or ``solver="anls_bpp"`` /
    ``"active_set"`` every iteration is the in-memory iteration; only the
    order in which the block sums are added differs, so from the same start
    a Dask fit equals the in-memory fit to round-off (≈1e-14 relative after
    tens of iterations). HALS with inner repetitions stops each block's
    sweeps on that block's change, which changes the iterates.

Fault tolerance
    Every task is a pure function of its inputs, and the client keeps the
    graph of W back to the last *anchor*: a copy of W gathered to the client
    every ``anchor_every`` iterations (and at every checkpoint) that new
    tasks start from. When a worker dies, the scheduler recomputes what was
    lost — X's blocks from X's own graph, W's blocks from the anchor — and
    the fit continues to the same result.

BLAS threads
    Each worker process limits its BLAS pool (threadpoolctl, once per
    process) so that worker threads × BLAS threads ≤ cores of its host;
    when tasks run in the client's process (the threaded scheduler,
    in-process workers) the client limits its own pool for the duration of
    the fit. Seeds never depend on the number of workers: initial factors
    are drawn on the client (:func:`init_dask`).

Dask is imported inside the functions only; ``import nmfkit`` never imports it.

Examples
--------
>>> import numpy as np, dask.array as da
>>> from nmfkit.backend.dask import fit_dask
>>> rng = np.random.default_rng(0)
>>> X = rng.random((60, 3)) @ rng.random((3, 20))
>>> W0, H0 = rng.random((60, 3)), rng.random((3, 20))
>>> res = fit_dask(da.from_array(X, chunks=(16, 10)), W0, H0, solver="anls_bpp",
...                max_iter=20, tol=0)
>>> res.extras["n_blocks"], bool(res.loss < 1e-3 * res.loss_history[0])
(4, True)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..checkpoint import Checkpointer, check_fingerprint, penalties_to_json, restore_monitor
from ..losses import Penalties, frobenius_direct, frobenius_gram_or_direct
from ..solvers._blockwise import BlockKernel, block_products, block_w_step, make_block_kernel
from ..solvers._result import FitResult
from ..solvers._stopping import Monitor

__all__ = ["fit_dask", "init_dask", "blas_threads_for"]

# --------------------------------------------------------------------------- tasks
# Plain module-level functions: every task is a pure function of its inputs.

_BLAS_LIMIT: dict[str, Any] = {}


def _limit_blas(n_threads: int, client_pid: int) -> None:
    """In a worker process, limit the BLAS pool once (never in the client's process)."""
    if n_threads <= 0 or os.getpid() == client_pid or _BLAS_LIMIT.get("n") == n_threads:
        return
    from threadpoolctl import threadpool_limits

    _BLAS_LIMIT["ctl"] = threadpool_limits(limits=n_threads, user_api="blas")
    _BLAS_LIMIT["n"] = n_threads


def _join_block(parts: list, dtype: str, blas: tuple[int, int]) -> Any:
    """One row block from its column chunks, in the working dtype (CSR if sparse)."""
    _limit_blas(*blas)
    if any(sp.issparse(p) for p in parts):
        blk = sp.hstack([sp.csr_matrix(p) for p in parts], format="csr")
        blk = sp.csr_matrix(blk, dtype=dtype)
        blk.sum_duplicates()
        return blk
    blk = parts[0] if len(parts) == 1 else np.hstack(parts)
    return np.ascontiguousarray(blk, dtype=dtype)


def _first_pass(X_i: Any, Wt_i: np.ndarray | None, row0: int) -> tuple:
    """Validate a block; return ``(‖X_i‖², nnz_i, sum_i, (W_iᵀX_i, W_iᵀW_i) or None)``."""
    d = X_i.data if sp.issparse(X_i) else X_i
    d64 = np.asarray(d, dtype=np.float64).ravel()
    if d64.size:
        lo, hi = float(np.min(d64)), float(np.max(d64))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"X contains NaN or infinity (row block starting at row {row0})")
        if lo < 0:
            raise ValueError(
                f"X has negative entries (min {lo!r}, row block starting at row {row0})"
            )
    nnz = int(X_i.nnz) if sp.issparse(X_i) else int(X_i.size)
    prods = None if Wt_i is None else block_products(X_i, Wt_i)
    return float(d64 @ d64), nnz, float(np.sum(d64)), prods


def _w_task(
    X_i: Any, Wt_i: np.ndarray, HH: tuple[np.ndarray, np.ndarray], kernel: BlockKernel,
    l1: float, l2: float, blas: tuple[int, int],
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Block ``i``'s iteration: ``(W_iᵀ new, (W_iᵀX_i, W_iᵀW_i, row sums of W_iᵀ))``."""
    _limit_blas(*blas)
    H, HHt = HH
    Wt_new, WtX, WtW = block_w_step(X_i, Wt_i, H, HHt, kernel, l1, l2)
    return Wt_new, (WtX, WtW, Wt_new.sum(axis=1, dtype=np.float64))


def _sum_tuples(parts: list) -> tuple:
    """Element-wise sum of tuples of arrays or numbers (one node of a reduction tree)."""
    acc = [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in parts[0]]
    for p in parts[1:]:
        for j, v in enumerate(p):
            acc[j] = acc[j] + v if not isinstance(acc[j], np.ndarray) else np.add(
                acc[j], v, out=acc[j]
            )
    return tuple(acc)


def _stats_of(first: tuple) -> tuple:
    return first[:3]


def _grams_of(first: tuple) -> tuple:
    return first[3]


def _direct_loss(X_i: Any, Wt_i: np.ndarray, H: np.ndarray) -> tuple[float]:
    return (frobenius_direct(X_i, Wt_i.T, H),)


def _transpose(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.T)


# --------------------------------------------------------------------------- helpers


def _tree(parts: list, combine: Callable, split_every: int, name: str) -> Any:
    """Reduce delayed ``parts`` by a tree of ``combine`` tasks, ``split_every`` at a time."""
    from dask import delayed

    level = 0
    while len(parts) > 1:
        parts = [
            delayed(combine, pure=True)(
                parts[i:i + split_every], dask_key_name=f"{name}-L{level}-{i // split_every}"
            )
            for i in range(0, len(parts), split_every)
        ]
        level += 1
    return parts[0]


def blas_threads_for(n_threads_on_host: int, cores: int | None = None) -> int:
    """BLAS threads per worker thread so that worker threads × BLAS threads ≤ cores.

    Examples
    --------
    >>> blas_threads_for(2, cores=16), blas_threads_for(32, cores=16)
    (8, 1)
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, int(n_threads_on_host)))


def _default_blas_threads() -> tuple[int, bool]:
    """``(BLAS threads per task, whether tasks may run in the client's process)``."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        info = client.scheduler_info()
        per_host: dict[str, int] = {}
        for w in info.get("workers", {}).values():
            host = w.get("host", "")
            per_host[host] = per_host.get(host, 0) + int(w.get("nthreads", 1))
        busiest = max(per_host.values(), default=1)
        in_process = getattr(getattr(client, "cluster", None), "processes", True) is False
        return blas_threads_for(busiest), in_process
    import dask

    scheduler = dask.config.get("scheduler", None)
    n = dask.config.get("num_workers", None) or os.cpu_count() or 1
    if scheduler in ("sync", "synchronous", "single-threaded"):
        n = 1
    return blas_threads_for(n), scheduler not in ("processes", "multiprocessing")


def _check_dask_array(X: Any) -> Any:
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(f"fit_dask needs a dask.array.Array, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if any(np.isnan(c) for c in X.shape):
        raise ValueError("X has unknown chunk sizes; call X.compute_chunk_sizes() first")
    return X


def _row_blocks(X: Any, dtype: np.dtype, blas: tuple[int, int], fit_id: str) -> list:
    """One delayed CSR/dense block per row chunk, all columns joined."""
    from dask import delayed

    grid = X.to_delayed()
    return [
        delayed(_join_block, pure=True)(
            list(grid[i]), str(dtype), blas, dask_key_name=f"nmf-X-{fit_id}-{i}"
        )
        for i in range(grid.shape[0])
    ]


def init_dask(X: Any, n_components: int, *, random_state: Any = None) -> tuple:
    """scikit-learn's ``init="random"`` start for a Dask array, drawn on the client.

    ``avg = sqrt(mean(X) / k)``, ``H = |avg·N(0,1)|`` (k × n_features) first,
    then ``W = |avg·N(0,1)|`` (n_samples × k): the same draws as
    :func:`nmfkit.init.initialize` whatever the chunks or the number of
    workers (the mean is a tree sum, which can change its last bit).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> W, H = init_dask(da.ones((8, 5), chunks=3), 2, random_state=0)
    >>> W.shape, H.shape
    ((8, 2), (2, 5))
    """
    from sklearn.utils import check_random_state

    from ..init import ZERO_MEAN_FALLBACK

    X = _check_dask_array(X)
    total = float(X.sum(dtype=np.float64).compute())
    n_samples, n_features = (int(d) for d in X.shape)
    mean = total / (n_samples * n_features)
    dtype = np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)
    k = int(n_components)
    avg = dtype.type(np.sqrt((mean if mean > 0 else ZERO_MEAN_FALLBACK) / k))
    rng = check_random_state(random_state)
    H = avg * rng.standard_normal(size=(k, n_features)).astype(dtype, copy=False)
    W = avg * rng.standard_normal(size=(n_samples, k)).astype(dtype, copy=False)
    np.abs(H, out=H)
    np.abs(W, out=W)
    return W.astype(dtype, copy=False), H.astype(dtype, copy=False)


# --------------------------------------------------------------------------- the fit


class _DaskFit:
    """The graph builders of one fit (kept separate so tests can inspect the graphs)."""

    def __init__(
        self, X: Any, k: int, *, kernel: BlockKernel | None, pen: Penalties, blas: int,
        split_every: int,
    ) -> None:
        X = _check_dask_array(X)
        self.shape = (int(X.shape[0]), int(X.shape[1]))
        self.dtype = np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)
        self.bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        self.k = k
        self.kernel = kernel
        self.pen = pen
        self.blas = (int(blas), os.getpid())
        self.split_every = max(2, int(split_every))
        self.fit_id = uuid.uuid4().hex[:10]
        self.X_blocks = _row_blocks(X, self.dtype, self.blas, self.fit_id)
        #: leaf order of the reduction trees (blocks on the same worker next to each other)
        self.order = list(range(len(self.X_blocks)))

    def locate_blocks(self) -> None:
        """With dask.distributed, order the tree leaves by the worker holding each X block,
        so that a worker sums its own blocks before anything crosses the network."""
        try:
            from distributed import default_client, wait

            client = default_client()
        except (ImportError, ValueError):
            return
        futures = [b.__dask_graph__()[b.key] for b in self.X_blocks]
        if not all(hasattr(f, "key") and hasattr(f, "status") for f in futures):
            return
        wait(futures)
        where = client.who_has(futures)
        home = [min(where.get(f.key, [""]) or [""]) for f in futures]
        self.order = sorted(range(len(home)), key=lambda i: (home[i], i))

    @property
    def n_blocks(self) -> int:
        return len(self.X_blocks)

    def split_W(self, W: np.ndarray) -> list[np.ndarray]:
        b = self.bounds
        return [
            np.array(W[b[i]:b[i + 1]].T, dtype=self.dtype, order="C") for i in range(len(b) - 1)
        ]

    def first_pass(self, Wt_blocks: list | None) -> Any:
        from dask import delayed

        parts = [
            delayed(_first_pass, pure=True)(
                x, None if Wt_blocks is None else Wt_blocks[i], int(self.bounds[i]),
                dask_key_name=f"nmf-first-{self.fit_id}-{i}",
            )
            for i, x in enumerate(self.X_blocks)
        ]
        scal = [delayed(_stats_of, pure=True)(p) for p in parts]
        stats = _tree(scal, _sum_tuples, self.split_every, f"nmf-stats-{self.fit_id}")
        grams = None
        if Wt_blocks is not None:
            gparts = [delayed(_grams_of, pure=True)(p) for p in parts]
            grams = _tree(gparts, _sum_tuples, self.split_every, f"nmf-g0-{self.fit_id}")
        return stats, grams

    def iteration(self, Wt_blocks: list, H: np.ndarray, HHt: np.ndarray, t: int) -> tuple:
        """Delayed ``(new W blocks, (ΣW_iᵀX_i, ΣW_iᵀW_i, ΣW per component))`` of iteration t."""
        from dask import delayed

        HH = delayed((H, HHt), name=f"nmf-H-{self.fit_id}-{t}", pure=False, traverse=False)
        W_new, G = [], []
        for i, (x, w) in enumerate(zip(self.X_blocks, Wt_blocks, strict=True)):
            out = delayed(_w_task, nout=2, pure=True)(
                x, w, HH, self.kernel, self.pen.l1_W, self.pen.l2_W, self.blas,
                dask_key_name=f"nmf-W-{self.fit_id}-{t}-{i}",
            )
            W_new.append(out[0])
            G.append(out[1])
        leaves = [G[i] for i in self.order]
        return W_new, _tree(leaves, _sum_tuples, self.split_every, f"nmf-G-{self.fit_id}-{t}")

    def direct_loss(self, Wt_blocks: list, H: np.ndarray, t: int) -> Any:
        from dask import delayed

        Hd = delayed(H, name=f"nmf-Hd-{self.fit_id}-{t}", pure=False, traverse=False)
        parts = [
            delayed(_direct_loss, pure=True)(x, w, Hd)
            for x, w in zip(self.X_blocks, Wt_blocks, strict=True)
        ]
        return _tree(parts, _sum_tuples, self.split_every, f"nmf-direct-{self.fit_id}-{t}")

    def lazy_W(self, Wt_blocks: list) -> Any:
        """W as a lazy dask array (for callbacks)."""
        import dask.array as da
        from dask import delayed

        cols = [
            da.from_delayed(
                delayed(_transpose, pure=True)(w),
                shape=(int(self.bounds[i + 1] - self.bounds[i]), self.k), dtype=self.dtype,
            )
            for i, w in enumerate(Wt_blocks)
        ]
        return da.concatenate(cols, axis=0)


def fit_dask(
    X: Any,
    W0: np.ndarray | None,
    H0: np.ndarray,
    *,
    solver: str = "hals",
    penalties: Penalties | None = None,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback: Callable | None = None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
    inner_repeat: bool = True,
    inner_alpha: float = 0.5,
    inner_delta: float = 0.1,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    anchor_every: int | None = None,
    split_every: int = 4,
    blas_threads: int | None = None,
    _resume: dict | None = None,
) -> FitResult:
    """Frobenius NMF of a Dask array, the alternating updates running as Dask tasks.

    Minimises ``½‖X − WH‖²_F`` (+ penalties) by the same alternating
    Gram-form loop as the in-memory solvers (see the module docstring for
    the layout, the communication, exactness and fault tolerance). Works
    with the local schedulers and with ``dask.distributed`` (whichever is
    active, as for ``dask.compute``).

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Non-negative; chunks dense (NumPy) or ``scipy.sparse`` (``csr_matrix``
        or ``csr_array``). Row chunks become the blocks; column chunks are
        joined per row block.
    W0 : ndarray of shape (n_samples, k), optional
        Starting W (None: zeros, see :func:`nmfkit.blocked.fit_blocked`).
    H0 : ndarray of shape (k, n_features)
        Starting H.
    solver : {"hals", "anls_bpp", "active_set"}, default "hals"
    penalties : Penalties, optional
    max_iter, tol, max_time, callback, verbose, progress
        As for every solver. The callback's ``state.W`` is a lazy dask array.
    inner_repeat, inner_alpha, inner_delta
        HALS inner repetitions (see the module docstring on exactness).
    checkpoint : path, optional
        Write a checkpoint every ``checkpoint_every`` iterations and at the
        end (W is gathered to the client for it); continue with
        :func:`nmfkit.resume`.
    checkpoint_every : int, default 10
    anchor_every : int, optional
        Gather W to the client every this many iterations so that lost
        blocks are recomputed from there (default: ``checkpoint_every``
        with a checkpoint, else 10).
    split_every : int, default 4
        Fan-in of the reduction trees.
    blas_threads : int, optional
        BLAS threads per task (default: cores of the host divided by the
        worker threads on it).

    Returns
    -------
    FitResult
        ``W`` (n_samples × k NumPy array, gathered at the end), ``H``,
        history; ``extras`` has ``n_blocks``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, dask.array as da
    >>> X = sp.random(40, 15, density=0.4, random_state=0, format="csr")
    >>> rng = np.random.default_rng(0)
    >>> res = fit_dask(da.from_array(X, chunks=(10, 15), asarray=False),
    ...                rng.random((40, 2)), rng.random((2, 15)), max_iter=5, tol=0)
    >>> res.W.shape, res.n_iter
    ((40, 2), 5)
    """
    import dask

    if stop_rule != "objective":
        raise ValueError("Dask fits stop on the objective only (stop_rule='objective')")
    X = _check_dask_array(X)
    n_samples, n_features = (int(d) for d in X.shape)
    H = np.array(H0, order="C")
    if H.ndim != 2 or H.shape[1] != n_features:
        raise ValueError(f"H0 must have shape (k, {n_features}), got {H.shape}")
    k = H.shape[0]
    pen = penalties or Penalties()
    if blas_threads is None:
        blas_threads, in_process = _default_blas_threads()
    else:
        in_process = True
    plan = _DaskFit(X, k, kernel=None, pen=pen, blas=blas_threads, split_every=split_every)
    dtype = plan.dtype
    H = H.astype(dtype, copy=False)
    if W0 is None:
        W = np.zeros((n_samples, k), dtype=dtype)
    else:
        W = np.array(W0, dtype=dtype, order="C")
        if W.shape != (n_samples, k):
            raise ValueError(f"W0 must have shape ({n_samples}, {k}), got {W.shape}")
    if np.any(W < 0) or np.any(H < 0):
        raise ValueError("W0 and H0 must be non-negative")
    if anchor_every is None:
        anchor_every = checkpoint_every if checkpoint is not None else 10
    anchor_every = max(1, int(anchor_every))

    limiter = None
    if in_process:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=blas_threads, user_api="blas")
    try:
        # X's blocks stay where they are made; their lineage is X's own graph.
        plan.X_blocks = list(dask.persist(*plan.X_blocks))
        plan.locate_blocks()
        Wt_blocks: list = plan.split_W(W)
        stats, grams = plan.first_pass(None if _resume is not None else Wt_blocks)
        if grams is None:
            (normX2, nnz, _), grams_v = dask.compute(stats)[0], None
        else:
            (normX2, nnz, _), grams_v = dask.compute(stats, grams)
        plan.kernel = make_block_kernel(
            solver, n_samples=n_samples, n_features=n_features, nnz=int(nnz), k=k,
            inner_repeat=inner_repeat, inner_alpha=inner_alpha, inner_delta=inner_delta,
        )
        return _loop(
            plan, W, Wt_blocks, H, normX2, grams_v, solver=solver, pen=pen, max_iter=max_iter,
            tol=tol, max_time=max_time, callback=callback, verbose=verbose, progress=progress,
            checkpoint=checkpoint, checkpoint_every=checkpoint_every, anchor_every=anchor_every,
            inner_repeat=inner_repeat, resume=_resume,
        )
    finally:
        if limiter is not None:
            limiter.restore_original_limits()


def _loop(
    plan: _DaskFit, W_start: np.ndarray, Wt_blocks: list, H: np.ndarray, normX2: float,
    grams: tuple | None, *,
    solver: str, pen: Penalties, max_iter: int, tol: float, max_time: float | None,
    callback: Callable | None, verbose: int, progress: bool, checkpoint: Any,
    checkpoint_every: int, anchor_every: int, inner_repeat: bool, resume: dict | None,
) -> FitResult:
    import dask

    k = plan.k
    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback, verbose=verbose,
        progress=progress, solver=solver, beta=2.0,
    )
    kernel = plan.kernel
    assert kernel is not None

    W_client: dict[str, np.ndarray] = {"W": W_start}

    def gather_W(blocks: list) -> np.ndarray:
        parts = dask.compute(*blocks)
        return np.ascontiguousarray(np.concatenate([p.T for p in parts], axis=0))

    def pen_value(WtW: np.ndarray, wsum: np.ndarray) -> float:
        # ‖W‖₁ from the reduced column sums, ‖W‖²_F = trace(WᵀW): W never leaves the workers
        out = pen.value(np.zeros((0, k)), H)
        if pen.l1_W:
            out += pen.l1_W * float(np.sum(wsum))
        if pen.l2_W:
            out += 0.5 * pen.l2_W * float(np.trace(np.asarray(WtW, dtype=np.float64)))
        return out

    def data_loss(WtX, WtW, HHt, blocks: list, t: int) -> float:
        def direct() -> float:
            (loss,) = dask.compute(plan.direct_loss(blocks, H, t))[0]
            return float(loss)

        return frobenius_gram_or_direct(normX2, WtX, H, WtW, HHt, direct)

    meta = dict(
        backend="dask", solver=solver, penalties=penalties_to_json(pen), max_iter=max_iter,
        tol=tol, max_time=max_time, inner_repeat=inner_repeat, shape=list(plan.shape),
        dtype=str(plan.dtype), normX2=normX2, checkpoint_every=checkpoint_every,
    )
    ckpt = Checkpointer(checkpoint, checkpoint_every, meta)

    def W_now() -> np.ndarray:
        if "W" not in W_client:
            W_client["W"] = gather_W(Wt_blocks)
        return W_client["W"]

    HHt = H @ H.T
    if resume is not None:
        check_fingerprint(resume, plan.shape, normX2)
        restore_monitor(mon, resume)
        stop = mon.n_iter >= mon.max_iter
    else:
        WtX, WtW = grams
        loss0 = data_loss(WtX, WtW, HHt, Wt_blocks, 0) + pen.value(W_start, H)
        stop = mon.start(loss0)
        ckpt.maybe_write(mon, lambda: W_now(), H, finished=stop)
    while not stop:
        t = mon.n_iter + 1
        W_new, G = plan.iteration(Wt_blocks, H, HHt, t)
        persisted = dask.persist(*W_new, G)
        Wt_blocks = list(persisted[:-1])
        W_client.clear()
        WtX, WtW, wsum = dask.compute(persisted[-1])[0]
        del persisted
        H = kernel(H, WtX, WtW, l1=pen.l1_H, l2=pen.l2_H, side="H")
        HHt = H @ H.T
        loss = data_loss(WtX, WtW, HHt, Wt_blocks, t) + pen_value(WtW, wsum)
        lazy = plan.lazy_W(Wt_blocks) if callback is not None else None
        stop = mon.step(lazy, H, loss)
        if not stop and t % anchor_every == 0:
            # re-anchor: W on the client; new tasks start from it, old lineage is dropped
            Wt_blocks = plan.split_W(W_now())
        ckpt.maybe_write(mon, lambda: W_now(), H, finished=stop)
    return mon.result(W_now(), H, n_blocks=plan.n_blocks)
