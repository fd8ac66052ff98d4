"""Out-of-core NMF: X read in row blocks, never whole.

Row-block sources
    :func:`as_row_blocks` wraps anything that can hand out rows ``X[s:e]``:

    * NumPy arrays and memmaps, SciPy sparse matrices (CSR row slices);
    * HDF5 datasets (``h5py.Dataset``) and zarr arrays — only the rows asked
      for are read; block boundaries follow the storage chunks;
    * a ``.npy`` file path (:class:`NpyRowBlocks`: each block is read with
      ``readinto`` into a fresh array, no memory map, so not even the address
      space grows with the file);
    * a row-blocked store directory (:class:`BlockStore`): CSR blocks in
      ``.npz`` files plus ``meta.json``, made from a Matrix Market file by
      :func:`mtx_to_blocks` in one streaming pass.

    A NumPy memmap is read through its mapping: resident memory stays
    bounded (clean pages are dropped under pressure) but the whole file
    counts against the address space (``RLIMIT_AS``); pass the ``.npy``
    path instead when the address space is capped.

The blocked fit
    :func:`fit_blocked` runs the Gram-form alternating Frobenius loop with
    one pass over X per iteration. While block ``X_i`` is in memory its rows
    of W are updated (the same :mod:`nmfkit.nnls` kernel as the in-memory
    solver, on ``H X_iᵀ`` and ``HHᵀ``) and its contributions ``W_iᵀX_i`` and
    ``W_iᵀW_i`` to the H-update are added up; then H is updated from the
    k × n_features and k × k sums, and the objective comes from the same
    Gram matrices. W (n_samples × k) stays in memory.

Peak memory
    With ``b`` rows per block, ``m = n_features``, ``n = n_samples``, ``s``
    the bytes per value of the working dtype (8 for float64, 4 for float32)
    and ``S`` the bytes of one stored block (dense: ``b·m·s``; CSR:
    ``nnz_b·(s + 4) + 4·(b + 1)``), the fit holds at most about ::

        3·S  +  s·(n·k + 12·m·k + 6·b·k + 3·k²)  bytes

    (one block, its dtype conversion or the entry-wise loss residual, W,
    H and the k × n_features sums; :func:`blocked_memory_bound` evaluates
    it) on top of the interpreter, plus, for ``solver="anls_bpp"``, up to
    32 MiB of stacked k × k factorizations. The entry-wise loss (used only
    when the Gram form of the objective loses its accuracy, near an exact
    fit) densifies a sparse block in pieces of at most 2²² entries.

Examples
--------
>>> import numpy as np
>>> from nmfkit.blocked import as_row_blocks, fit_blocked
>>> rng = np.random.default_rng(0)
>>> X = rng.random((100, 4)) @ rng.random((4, 30))
>>> src = as_row_blocks(X, block_rows=32)
>>> src.n_blocks
4
>>> W0, H0 = rng.random((100, 4)), rng.random((4, 30))
>>> res = fit_blocked(src, W0, H0, max_iter=200, tol=1e-8)
>>> bool(res.loss < 1e-4 * res.loss_history[0])
True
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .checkpoint import Checkpointer, check_fingerprint, penalties_to_json, restore_monitor
from .io import DataFileError, atomic_open, atomic_write_text
from .losses import Penalties, frobenius_direct, frobenius_gram_or_direct
from .solvers._blockwise import block_products, block_w_step, make_block_kernel
from .solvers._result import FitResult
from .solvers._stopping import Monitor

__all__ = [
    "ArrayRowBlocks",
    "BlockStore",
    "NpyRowBlocks",
    "RowBlockSource",
    "as_row_blocks",
    "blocked_memory_bound",
    "fit_blocked",
    "init_blocked",
    "mtx_to_blocks",
]

#: Default size of one block of a dense source, in bytes.
DEFAULT_BLOCK_BYTES = 32 << 20
#: Format name of a row-blocked store's ``meta.json``.
STORE_FORMAT = "nmfkit-row-blocks"
STORE_VERSION = 1


def _work_dtype(dtype: Any) -> np.dtype:
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def _default_block_rows(n_rows: int, n_cols: int, itemsize: int, chunk_rows: int | None) -> int:
    rows = max(1, DEFAULT_BLOCK_BYTES // max(1, n_cols * itemsize))
    if chunk_rows:  # whole storage chunks per block
        rows = max(chunk_rows, rows // chunk_rows * chunk_rows)
    return int(min(rows, max(n_rows, 1)))


def _bounds(n_rows: int, block_rows: int) -> np.ndarray:
    if isinstance(block_rows, bool) or int(block_rows) < 1:
        raise ValueError(f"block_rows must be an integer >= 1, got {block_rows!r}")
    b = np.arange(0, n_rows, int(block_rows), dtype=np.int64)
    return np.append(b, n_rows)


class RowBlockSource(ABC):
    """A matrix handed out in consecutive row blocks.

    Attributes
    ----------
    shape : tuple of int
        ``(n_samples, n_features)``.
    dtype : numpy.dtype
        The working dtype of the blocks (float32 stays float32, everything
        else is float64).
    bounds : ndarray of int64
        Row offsets: block ``i`` is rows ``bounds[i]:bounds[i+1]``.
    sparse : bool
        Whether blocks are CSR matrices.
    """

    shape: tuple[int, int]
    dtype: np.dtype
    bounds: np.ndarray
    sparse: bool = False

    @property
    def n_blocks(self) -> int:
        return len(self.bounds) - 1

    @property
    def block_rows(self) -> int:
        return int(np.max(np.diff(self.bounds))) if self.n_blocks else 0

    @abstractmethod
    def block(self, i: int) -> Any:
        """Rows ``bounds[i]:bounds[i+1]`` as an ndarray or CSR matrix in ``dtype``."""

    def __iter__(self) -> Iterator[tuple[slice, Any]]:
        for i in range(self.n_blocks):
            yield slice(int(self.bounds[i]), int(self.bounds[i + 1])), self.block(i)

    def block_bytes(self, i: int) -> int:
        """Bytes of block ``i`` once loaded (an estimate for sparse blocks)."""
        rows = int(self.bounds[i + 1] - self.bounds[i])
        return rows * self.shape[1] * self.dtype.itemsize


class ArrayRowBlocks(RowBlockSource):
    """Row blocks of an in-memory array, memmap, sparse matrix, HDF5 dataset or zarr array.

    Parameters
    ----------
    X : array-like
        Anything with ``shape``, ``dtype`` and row slicing ``X[s:e]``.
    block_rows : int, optional
        Rows per block. Default: about 32 MiB of dense rows, a whole number
        of storage chunks for chunked stores (HDF5, zarr).

    Examples
    --------
    >>> import numpy as np
    >>> src = ArrayRowBlocks(np.arange(12.0).reshape(6, 2), block_rows=4)
    >>> [blk.shape for _, blk in src]
    [(4, 2), (2, 2)]
    """

    def __init__(self, X: Any, block_rows: int | None = None) -> None:
        shape = tuple(int(d) for d in X.shape)
        if len(shape) != 2:
            raise ValueError(f"X must be 2-D, got shape {shape}")
        self.X = X.tocsr() if sp.issparse(X) and X.format != "csr" else X
        self.shape = shape  # type: ignore[assignment]
        self.sparse = sp.issparse(X)
        self.dtype = _work_dtype(X.dtype)
        chunks = getattr(X, "chunks", None)
        chunk_rows = None
        if isinstance(chunks, tuple) and chunks and isinstance(chunks[0], int | np.integer):
            chunk_rows = int(chunks[0])
        if block_rows is None:
            block_rows = _default_block_rows(shape[0], shape[1], self.dtype.itemsize, chunk_rows)
        self.bounds = _bounds(shape[0], block_rows)

    def block(self, i: int) -> Any:
        s, e = int(self.bounds[i]), int(self.bounds[i + 1])
        blk = self.X[s:e]
        if self.sparse:
            blk = sp.csr_matrix(blk)
            return blk if blk.dtype == self.dtype else blk.astype(self.dtype)
        return np.asarray(blk, dtype=self.dtype)

    def block_bytes(self, i: int) -> int:
        if self.sparse:
            s, e = int(self.bounds[i]), int(self.bounds[i + 1])
            nnz = int(self.X.indptr[e] - self.X.indptr[s])
            return nnz * (self.dtype.itemsize + 4) + 4 * (e - s + 1)
        return super().block_bytes(i)


class NpyRowBlocks(RowBlockSource):
    """Row blocks read from a ``.npy`` file with plain reads (no memory map).

    Each block is read with ``readinto`` into a new array, so memory and
    address space stay bounded by one block whatever the file's size.

    Parameters
    ----------
    path : str or path-like
        A C-ordered 2-D ``.npy`` file of real numbers.
    block_rows : int, optional
        Rows per block (default: about 32 MiB).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(p, np.arange(6.0).reshape(3, 2))
    >>> NpyRowBlocks(p, block_rows=2).block(1).tolist()
    [[4.0, 5.0]]
    """

    def __init__(self, path: str | os.PathLike[str], block_rows: int | None = None) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                self.offset = f.tell()
        except FileNotFoundError:
            raise DataFileError(self.path, "file not found") from None
        except (ValueError, OSError) as exc:
            raise DataFileError(self.path, f"not a readable .npy file ({exc})") from None
        if len(shape) != 2:
            raise DataFileError(self.path, f"expected a 2-D array, got shape {shape}")
        if fortran and shape[0] > 1 and shape[1] > 1:
            raise DataFileError(
                self.path, "the array is in Fortran order; rows are not contiguous "
                "(save it in C order to read it in row blocks)"
            )
        if dtype.kind not in "fiub" or dtype.hasobject:
            raise DataFileError(self.path, f"expected real numbers, got dtype {dtype}")
        self.file_dtype = dtype
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = _work_dtype(dtype)
        if block_rows is None:
            block_rows = _default_block_rows(self.shape[0], self.shape[1], dtype.itemsize, None)
        self.bounds = _bounds(self.shape[0], block_rows)

    def block(self, i: int) -> np.ndarray:
        s, e = int(self.bounds[i]), int(self.bounds[i + 1])
        buf = np.empty((e - s, self.shape[1]), dtype=self.file_dtype)
        want = buf.nbytes
        with open(self.path, "rb") as f:
            f.seek(self.offset + s * self.shape[1] * self.file_dtype.itemsize)
            got = f.readinto(memoryview(buf).cast("B")) if want else 0
        if got != want:
            raise DataFileError(self.path, f"file ends early (rows {s}:{e})")
        if buf.dtype != self.dtype:
            buf = buf.astype(self.dtype)
        return buf


class BlockStore(RowBlockSource):
    """A row-blocked on-disk matrix: CSR blocks in ``.npz`` files plus ``meta.json``.

    Made by :func:`mtx_to_blocks`. ``meta.json`` is written last (and
    atomically), so a store with a ``meta.json`` is complete; every block
    file is written atomically too.

    Parameters
    ----------
    path : str or path-like
        The store's directory.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataFileError(
                self.path, "not a row-blocked store (no meta.json; an interrupted conversion?)"
            ) from None
        if meta.get("format") != STORE_FORMAT:
            raise DataFileError(self.path, "meta.json does not describe an nmfkit row-block store")
        if int(meta.get("format_version", 0)) > STORE_VERSION:
            raise DataFileError(self.path, "store format is newer than this nmfkit reads")
        self.meta = meta
        self.shape = (int(meta["shape"][0]), int(meta["shape"][1]))
        self.dtype = np.dtype(meta["dtype"])
        self.bounds = np.asarray(meta["bounds"], dtype=np.int64)
        self.sparse = True
        self.files = list(meta["files"])
        self.nnz_blocks = [int(v) for v in meta["nnz"]]

    @property
    def nnz(self) -> int:
        return int(sum(self.nnz_blocks))

    def block(self, i: int) -> sp.csr_matrix:
        blk = sp.load_npz(self.path / self.files[i])
        return sp.csr_matrix(blk, dtype=self.dtype)

    def block_bytes(self, i: int) -> int:
        rows = int(self.bounds[i + 1] - self.bounds[i])
        return self.nnz_blocks[i] * (self.dtype.itemsize + 4) + 4 * (rows + 1)


def as_row_blocks(X: Any, block_rows: int | None = None) -> RowBlockSource:
    """Wrap ``X`` as a :class:`RowBlockSource`.

    Parameters
    ----------
    X : RowBlockSource, array-like, sparse matrix, HDF5 dataset, zarr array or path
        A path may name a ``.npy`` file or a store directory made by
        :func:`mtx_to_blocks`. (A ``.mtx`` file must be converted first.)
    block_rows : int, optional
        Rows per block (ignored for an existing source or store).

    Examples
    --------
    >>> import numpy as np
    >>> as_row_blocks(np.zeros((10, 3)), block_rows=4).bounds.tolist()
    [0, 4, 8, 10]
    """
    if isinstance(X, RowBlockSource):
        return X
    if isinstance(X, str | os.PathLike):
        p = Path(X)
        if p.is_dir():
            return BlockStore(p)
        name = p.name.lower()
        if name.endswith(".npy"):
            return NpyRowBlocks(p, block_rows)
        if name.endswith((".mtx", ".mtx.gz")):
            raise DataFileError(
                p, "a Matrix Market file must first be converted to a row-blocked store: "
                "nmfkit.blocked.mtx_to_blocks(path, out_dir)"
            )
        raise DataFileError(p, "expected a .npy file or a row-blocked store directory")
    if not hasattr(X, "shape") or not hasattr(X, "__getitem__"):
        X = np.asarray(X)
    return ArrayRowBlocks(X, block_rows)


def blocked_memory_bound(
    n_samples: int,
    n_features: int,
    k: int,
    block_bytes: int,
    block_rows: int,
    itemsize: int = 8,
) -> int:
    """Upper estimate of the memory :func:`fit_blocked` holds, in bytes.

    ``3·block_bytes + itemsize·(n_samples·k + 12·n_features·k + 6·block_rows·k + 3·k²)``
    (see the module docstring); the interpreter and imported libraries are
    not included, nor anls_bpp's batch of factorizations (≤ 32 MiB).

    Examples
    --------
    >>> blocked_memory_bound(10**6, 1000, 10, block_bytes=32 << 20, block_rows=4096) >> 20
    175
    """
    s = int(itemsize)
    return int(
        3 * block_bytes
        + s * (n_samples * k + 12 * n_features * k + 6 * block_rows * k + 3 * k * k)
    )


# --------------------------------------------------------------------------- the fit


def _check_block(blk: Any, s: int) -> float:
    """Validate one block (finite, ≥ 0) and return its squared norm in float64."""
    d = blk.data if sp.issparse(blk) else blk
    d64 = np.asarray(d, dtype=np.float64).ravel()
    if d64.size:
        lo, hi = float(np.min(d64)), float(np.max(d64))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"X contains NaN or infinity (row block starting at row {s})")
        if lo < 0:
            raise ValueError(f"X has negative entries (min {lo!r}, row block starting at row {s})")
    return float(d64 @ d64)


def _nnz(src: RowBlockSource) -> int:
    if isinstance(src, BlockStore):
        return src.nnz
    if isinstance(src, ArrayRowBlocks) and src.sparse:
        return int(src.X.nnz)
    return src.shape[0] * src.shape[1]


def fit_blocked(
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
    block_rows: int | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    _resume: dict | None = None,
) -> FitResult:
    """Frobenius NMF with X streamed in row blocks (one pass over X per iteration).

    Minimises ``½‖X − WH‖²_F`` (+ penalties) by the alternating Gram-form
    loop of the in-memory solvers, updating W block by block (see the
    module docstring for the scheme and its peak memory).

    Parameters
    ----------
    X : row-block source or anything :func:`as_row_blocks` accepts
    W0 : ndarray of shape (n_samples, k), optional
        Starting W; ``None`` starts from zeros (the first W-update is then
        a greedy HALS sweep, or the exact NNLS solution for ``anls_bpp``).
    H0 : ndarray of shape (k, n_features)
        Starting H. Neither start is modified.
    solver : {"hals", "anls_bpp", "active_set"}, default "hals"
    penalties : Penalties, optional
        Absolute ``l1``/``l2`` weights on W and H.
    max_iter, tol, max_time, callback, verbose, progress
        As for every solver (:func:`nmfkit.factorize`); the stopping rule is
        the relative objective decrease (``stop_rule="objective"``).
    inner_repeat, inner_alpha, inner_delta
        HALS inner repetitions (as :func:`nmfkit.solvers.hals.solve_hals`).
        With ``inner_repeat=True`` each block stops its W sweeps on its own
        change; ``inner_repeat=False`` (or an ANLS solver) gives the in-memory
        iterates up to round-off, whatever the blocks.
    block_rows : int, optional
        Rows per block when ``X`` is not a source already.
    checkpoint : path, optional
        Write a checkpoint (:mod:`nmfkit.checkpoint`) every
        ``checkpoint_every`` iterations and at the end; continue with
        :func:`nmfkit.resume`.
    checkpoint_every : int, default 10

    Returns
    -------
    FitResult
        ``W`` (n_samples × k), ``H``, history; ``extras`` has ``n_blocks``
        and ``block_rows``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((60, 3)) @ rng.random((3, 20))
    >>> W0, H0 = rng.random((60, 3)), rng.random((3, 20))
    >>> res = fit_blocked(X, W0, H0, solver="anls_bpp", block_rows=25, max_iter=100, tol=0)
    >>> bool(res.loss < 1e-5 * res.loss_history[0]), res.extras["n_blocks"]
    (True, 3)
    """
    if stop_rule != "objective":
        raise ValueError("blocked fits stop on the objective only (stop_rule='objective')")
    src = as_row_blocks(X, block_rows)
    n_samples, n_features = src.shape
    dtype = src.dtype
    H = np.array(H0, dtype=dtype, order="C")
    if H.ndim != 2 or H.shape[1] != n_features:
        raise ValueError(f"H0 must have shape (k, {n_features}), got {H.shape}")
    k = H.shape[0]
    if W0 is None:
        W = np.zeros((n_samples, k), dtype=dtype)
    else:
        W = np.array(W0, dtype=dtype, order="C")
        if W.shape != (n_samples, k):
            raise ValueError(f"W0 must have shape ({n_samples}, {k}), got {W.shape}")
    if np.any(W < 0) or np.any(H < 0):
        raise ValueError("W0 and H0 must be non-negative")
    pen = penalties or Penalties()
    kernel = make_block_kernel(
        solver, n_samples=n_samples, n_features=n_features, nnz=_nnz(src), k=k,
        inner_repeat=inner_repeat, inner_alpha=inner_alpha, inner_delta=inner_delta,
    )
    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        verbose=verbose, progress=progress, solver=solver, beta=2.0,
    )
    bounds = src.bounds

    def wt_block(i: int) -> np.ndarray:
        return np.array(W[bounds[i]:bounds[i + 1]].T, order="C")

    # First pass: validate, ‖X‖² and the products at the start.
    normX2 = 0.0
    WtX = np.zeros((k, n_features), dtype=dtype)
    WtW = np.zeros((k, k), dtype=dtype)
    for i, (rows, blk) in enumerate(src):
        normX2 += _check_block(blk, rows.start)
        if _resume is None:
            a, b = block_products(blk, wt_block(i))
            WtX += a
            WtW += b
        del blk

    def data_loss(WtX: np.ndarray, WtW: np.ndarray, HHt: np.ndarray) -> float:
        return frobenius_gram_or_direct(
            normX2, WtX, H, WtW, HHt,
            lambda: sum(frobenius_direct(blk, W[rows], H) for rows, blk in src),
        )

    meta = dict(
        backend="blocked", solver=solver, penalties=penalties_to_json(pen), max_iter=max_iter,
        tol=tol, max_time=max_time, inner_repeat=inner_repeat, shape=[n_samples, n_features],
        dtype=str(dtype), normX2=normX2, checkpoint_every=checkpoint_every,
        block_rows=src.block_rows,
    )
    ckpt = Checkpointer(checkpoint, checkpoint_every, meta)

    def pen_value() -> float:
        # summed over Wᵀ's layout, as the in-memory loop does (same rounding)
        return pen.value(np.ascontiguousarray(W.T).T, H) if pen.has_W else pen.value(W, H)

    HHt = H @ H.T
    if _resume is not None:
        check_fingerprint(_resume, src.shape, normX2)
        restore_monitor(mon, _resume)
        stop = mon.n_iter >= mon.max_iter
    else:
        loss0 = data_loss(WtX, WtW, HHt) + pen_value()
        stop = mon.start(loss0)
        ckpt.maybe_write(mon, lambda: W, H, finished=stop)
    while not stop:
        WtX = np.zeros((k, n_features), dtype=dtype)
        WtW = np.zeros((k, k), dtype=dtype)
        for i, (rows, blk) in enumerate(src):
            Wt_i, a, b = block_w_step(blk, wt_block(i), H, HHt, kernel, pen.l1_W, pen.l2_W)
            W[rows] = Wt_i.T
            WtX += a
            WtW += b
            del blk
        H = kernel(H, WtX, WtW, l1=pen.l1_H, l2=pen.l2_H, side="H")
        HHt = H @ H.T
        loss = data_loss(WtX, WtW, HHt) + pen_value()
        stop = mon.step(W, H, loss)
        ckpt.maybe_write(mon, lambda: W, H, finished=stop)
    return mon.result(W, H, n_blocks=src.n_blocks, block_rows=src.block_rows)


def init_blocked(
    X: Any,
    n_components: int,
    *,
    random_state: Any = None,
    block_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``init="random"`` start for a blocked source (one pass for the mean).

    ``avg = sqrt(mean(X) / k)``; ``H = |avg·N(0, 1)|`` (k × n_features) is
    drawn first, then ``W`` (n_samples × k), as
    :func:`nmfkit.init.initialize` does, so the start does not depend on the
    block size (the mean is summed block by block, which can change its last
    bit).

    Examples
    --------
    >>> import numpy as np
    >>> W, H = init_blocked(np.ones((8, 5)), 2, random_state=0, block_rows=3)
    >>> W.shape, H.shape
    ((8, 2), (2, 5))
    """
    from .init import ZERO_MEAN_FALLBACK

    src = as_row_blocks(X, block_rows)
    n_samples, n_features = src.shape
    k = int(n_components)
    total = 0.0
    for _, blk in src:
        total += float(np.sum(blk.data if sp.issparse(blk) else blk, dtype=np.float64))
    mean = total / (n_samples * n_features)
    dtype = src.dtype
    avg = dtype.type(np.sqrt((mean if mean > 0 else ZERO_MEAN_FALLBACK) / k))
    rng = check_random_state(random_state)
    H = avg * rng.standard_normal(size=(k, n_features)).astype(dtype, copy=False)
    W = avg * rng.standard_normal(size=(n_samples, k)).astype(dtype, copy=False)
    np.abs(H, out=H)
    np.abs(W, out=W)
    return W.astype(dtype, copy=False), H.astype(dtype, copy=False)


# --------------------------------------------------------------------------- Matrix Market


_RECORD = np.dtype([("r", "<i8"), ("c", "<i8"), ("v", "<f8")])


def _open_text(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_mm_header(f, path: Path) -> tuple[str, str, str, tuple[int, ...]]:
    first = f.readline().decode("ascii", "replace").split()
    if len(first) != 5 or first[0].lower() != "%%matrixmarket" or first[1].lower() != "matrix":
        raise DataFileError(path, "not a Matrix Market file (bad %%MatrixMarket header)")
    layout, field, symmetry = (t.lower() for t in first[2:])
    if layout not in ("coordinate", "array"):
        raise DataFileError(path, f"unknown Matrix Market layout {layout!r}")
    if field not in ("real", "integer", "pattern", "double"):
        raise DataFileError(path, f"Matrix Market field {field!r} is not supported (real only)")
    if symmetry not in ("general", "symmetric", "skew-symmetric"):
        raise DataFileError(path, f"Matrix Market symmetry {symmetry!r} is not supported")
    if layout == "array" and symmetry != "general":
        raise DataFileError(path, "only 'general' dense (array) Matrix Market files are supported")
    while True:
        line = f.readline()
        if not line:
            raise DataFileError(path, "no size line")
        s = line.strip()
        if s and not s.startswith(b"%"):
            break
    try:
        size = tuple(int(t) for t in s.split())
    except ValueError:
        raise DataFileError(path, f"bad size line {s[:80]!r}") from None
    if len(size) != (3 if layout == "coordinate" else 2):
        raise DataFileError(path, f"bad size line {s[:80]!r}")
    return layout, field, symmetry, size


def _chunks(f, chunk_bytes: int) -> Iterator[str]:
    """Whole lines of text, about ``chunk_bytes`` at a time."""
    rest = b""
    while True:
        data = f.read(chunk_bytes)
        if not data:
            if rest.strip():
                yield rest.decode("ascii")
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1:]
        yield data[: cut + 1].decode("ascii")


def mtx_to_blocks(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    block_rows: int | None = None,
    chunk_bytes: int = 16 << 20,
    overwrite: bool = False,
) -> BlockStore:
    """Convert a Matrix Market file to a row-blocked CSR store, in one streaming pass.

    The entries (in any order in the file) are distributed by row block into
    one spill file per block while the file is read ``chunk_bytes`` at a
    time; then each block's spill is loaded, turned into CSR (duplicates
    summed, indices sorted), written atomically as ``block-NNNNNN.npz`` and
    deleted. ``meta.json`` is written last. This is an external bucket sort
    by row: peak memory is about ``3·chunk_bytes + 60·nnz_b`` bytes, where
    ``nnz_b`` is the largest number of entries in one block, however large
    the file. ``symmetric`` and ``skew-symmetric`` files are expanded;
    ``pattern`` entries are 1; ``.mtx.gz`` is read through gzip.

    Parameters
    ----------
    path : str or path-like
        A ``.mtx`` (or ``.mtx.gz``) file, coordinate or dense array layout.
    out_dir : str or path-like
        The store's directory (created).
    block_rows : int, optional
        Rows per block; default: about 2²² entries per block.
    chunk_bytes : int, default 16 MiB
        How much of the file is parsed at a time.
    overwrite : bool, default False
        Replace an existing store in ``out_dir``.

    Returns
    -------
    BlockStore

    Examples
    --------
    >>> import numpy as np, scipy.io, scipy.sparse as sp, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> A = sp.random(50, 8, density=0.3, random_state=0, format="csr")
    >>> scipy.io.mmwrite(d / "a.mtx", A)
    >>> store = mtx_to_blocks(d / "a.mtx", d / "a-blocks", block_rows=16)
    >>> store.n_blocks, bool(abs(sp.vstack([b for _, b in store]) - A).max() == 0)
    (4, True)
    """
    path = Path(path)
    out = Path(out_dir)
    if (out / "meta.json").exists():
        if not overwrite:
            raise FileExistsError(f"{out} already holds a row-blocked store (overwrite=True)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        raise DataFileError(path, "file not found")
    with _open_text(path) as f:
        layout, field, symmetry, size = _read_mm_header(f, path)
        n_rows, n_cols = size[0], size[1]
        expected = size[2] if layout == "coordinate" else n_rows * n_cols
        if block_rows is None:
            stored = expected * (2 if symmetry != "general" else 1)
            per_row = max(stored / max(n_rows, 1), 1e-9)
            block_rows = int(max(1, min(max(n_rows, 1), (1 << 22) / per_row)))
        bounds = _bounds(n_rows, block_rows)
        n_blocks = len(bounds) - 1
        spill = Path(tempfile.mkdtemp(prefix=".spill-", dir=out))
        try:
            seen = _distribute(
                f, path, spill, layout, field, symmetry, n_rows, n_cols, int(block_rows),
                n_blocks, chunk_bytes,
            )
            if seen != expected:
                raise DataFileError(path, f"expected {expected} entries, found {seen}")
            files, nnz = [], []
            for b in range(n_blocks):
                csr = _finish_block(spill / f"{b}.bin", int(bounds[b]), int(bounds[b + 1]), n_cols)
                name = f"block-{b:06d}.npz"
                with atomic_open(out / name, "wb") as g:
                    sp.save_npz(g, csr, compressed=False)
                files.append(name)
                nnz.append(int(csr.nnz))
                del csr
        finally:
            shutil.rmtree(spill, ignore_errors=True)
    meta = {
        "format": STORE_FORMAT, "format_version": STORE_VERSION, "layout": "csr",
        "shape": [n_rows, n_cols], "dtype": "float64", "bounds": bounds.tolist(),
        "files": files, "nnz": nnz, "source": path.name, "mm_field": field,
        "mm_symmetry": symmetry,
    }
    atomic_write_text(out / "meta.json", json.dumps(meta))
    return BlockStore(out)


def _distribute(
    f, path: Path, spill: Path, layout: str, field: str, symmetry: str, n_rows: int,
    n_cols: int, block_rows: int, n_blocks: int, chunk_bytes: int,
) -> int:
    """Parse the entries and append them to one spill file per row block."""
    width = 2 if field == "pattern" else 3
    seen = 0
    carry = np.empty(0)
    for text in _chunks(f, chunk_bytes):
        try:
            vals = np.fromstring(text, sep=" ")  # noqa: NPY201 (text mode is not deprecated)
        except ValueError:
            raise DataFileError(path, "unreadable entry (not a number)") from None
        if layout == "array":
            v = vals
            p = seen + np.arange(v.size, dtype=np.int64)
            seen += v.size
            r, c = p % n_rows, p // n_rows
            keep = v != 0
            r, c, v = r[keep], c[keep], v[keep]
        else:
            if carry.size:
                vals = np.concatenate([carry, vals])
            cut = vals.size - vals.size % width
            carry = vals[cut:]
            ent = vals[:cut].reshape(-1, width)
            seen += ent.shape[0]
            r = ent[:, 0].astype(np.int64) - 1
            c = ent[:, 1].astype(np.int64) - 1
            v = np.ones(ent.shape[0]) if width == 2 else ent[:, 2].copy()
            if r.size and (r.min() < 0 or r.max() >= n_rows or c.min() < 0 or c.max() >= n_cols):
                raise DataFileError(path, "an entry's index is outside the matrix")
            if symmetry != "general":
                off = r != c
                sign = -1.0 if symmetry == "skew-symmetric" else 1.0
                r, c, v = (
                    np.concatenate([r, c[off]]), np.concatenate([c, r[off]]),
                    np.concatenate([v, sign * v[off]]),
                )
        if not np.all(np.isfinite(v)):
            raise DataFileError(path, "the file holds NaN or infinite values")
        blk = r // block_rows
        order = np.argsort(blk, kind="stable")
        rec = np.empty(order.size, dtype=_RECORD)
        rec["r"], rec["c"], rec["v"] = r[order], c[order], v[order]
        starts = np.searchsorted(blk[order], np.arange(n_blocks + 1))
        for b in np.flatnonzero(np.diff(starts)):
            with open(spill / f"{b}.bin", "ab") as g:
                rec[starts[b]:starts[b + 1]].tofile(g)
        del rec, vals
    if carry.size:
        raise DataFileError(path, "the last entry is incomplete")
    return seen


def _finish_block(spill_file: Path, start: int, stop: int, n_cols: int) -> sp.csr_matrix:
    if spill_file.exists():
        rec = np.fromfile(spill_file, dtype=_RECORD)
        spill_file.unlink()
    else:
        rec = np.empty(0, dtype=_RECORD)
    coo = sp.coo_matrix(
        (rec["v"], (rec["r"] - start, rec["c"])), shape=(stop - start, n_cols)
    )
    del rec
    csr = coo.tocsr()
    csr.sum_duplicates()
    csr.sort_indices()
    return csr
