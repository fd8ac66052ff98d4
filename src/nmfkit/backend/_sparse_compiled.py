"""Compiled sparse × dense kernels (numba, multi-threaded) behind :mod:`nmfkit.backend`.

Three products dominate every sparse solver iteration, and SciPy runs each
of them on one core:

* ``X @ D`` (CSR × dense, :func:`spmm`): parallel over row chunks of ``X``;
  each output row is owned by one thread, so no synchronisation is needed.
* ``Xᵀ @ D`` (:func:`spmm_t`): a scatter into the rows of the output. The
  rows of ``X`` are split into one nnz-balanced chunk per thread, each chunk
  accumulating into its own ``n × k`` partial sum (the first one directly
  into the output), and the partials are added up in parallel at the end.
  The extra memory, ``(threads − 1)·n·k`` words, is capped by
  :data:`partial_budget_bytes`; beyond it fewer chunks run in parallel.
* ``(W @ H)[i, j]`` at the stored positions of ``X`` (:func:`gather`):
  parallel over row chunks, one length-``k`` dot product per non-zero, so KL
  and other β-losses on sparse data touch the non-zeros only.

On large problems all three are bound by memory latency: every non-zero
reads (or updates) one length-``k`` row of an ``n × k`` or ``m × k`` array
at a random position, far beyond the caches. The kernels therefore issue a
software prefetch for the row needed :data:`prefetch_distance` non-zeros
ahead, which about halves the time of each product on large inputs.

When the randomly accessed operand is larger than the caches can hold
(:data:`tile_min_bytes`; 40 MB for 10⁵ columns at k = 50 in float64, against
a 32 MB L3 here) and ``X`` has sorted indices, both products work on column
tiles of about :data:`tile_bytes`, so that the rows they touch stay in cache:

* ``spmm`` takes each thread's chunk of rows through every tile in turn,
  each row resuming where its previous tile stopped and summing into its
  output row in place (a transposed output goes :data:`tile_rows` rows at a
  time through a small accumulator). Every row still sums its entries in
  stored order, so the result is bitwise that of the untiled kernel (and of
  SciPy).
* ``spmm_t`` gives each thread its own tiles of output rows (columns of
  ``X``), found in each row of ``X`` by binary search: no partial sums, no
  reduction, and every output row sums its terms in row order, bitwise as
  SciPy does.

Every kernel reads ``X``'s ``indptr``/``indices``/``data`` in place (float32
or float64 values, int32 or int64 indices; no copy of ``X``), and the
streamed dense operand in either C or Fortran order (a transposed view such
as ``Wt.T`` is read as is, one row at a time into a small buffer). Only the
randomly accessed operand (``n × k`` for ``spmm``, ``Hᵀ`` for the gather) is
made C-contiguous in the output dtype once per call. The output dtype is
``numpy.result_type`` of the inputs, as SciPy's; sums run in that dtype in
the same order as SciPy's loops within each chunk (``spmm`` is bitwise equal
to SciPy's; ``spmm_t`` adds the per-thread partials at the end; the gather's
dot products are vectorised), so results agree with SciPy's to rounding.

Threads: numba's pool, ``numba.get_num_threads()`` (environment variable
``NUMBA_NUM_THREADS``, or ``numba.set_num_threads``). threadpoolctl limits on
BLAS do not apply to it.

numba is optional (``pip install nmfkit[fast]``). It is imported on the first
call that is large enough (never at ``import nmfkit``); kernels are compiled
once per dtype combination and cached on disk. The functions here return
``None`` — and :mod:`nmfkit.backend` falls back to SciPy/NumPy — when

* the module switch :data:`enabled` is False or the environment variable
  ``NMFKIT_SPARSE_COMPILED`` is ``0`` (read at every call),
* the work ``nnz·k`` is below :data:`min_work` (:data:`min_work_gather` for
  the gather; tiny problems: SciPy is as fast and no numba import or
  compilation is paid),
* the inputs are not plain float32/float64 NumPy arrays with a CSR matrix
  (sorted indices are not needed), or
* numba is missing or compilation fails (remembered; not retried).
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np

__all__ = [
    "enabled",
    "min_work",
    "min_work_gather",
    "partial_budget_bytes",
    "prefetch_distance",
    "tile_min_bytes",
    "tile_bytes",
    "tile_rows",
    "available",
    "spmm",
    "spmm_t",
    "gather",
    "products_apply",
    "duplicate_free",
]

#: Module switch: False forces the SciPy/NumPy path (as does ``NMFKIT_SPARSE_COMPILED=0``).
enabled: bool = True

#: Smallest ``nnz·k`` sent to the compiled products (:func:`spmm`, :func:`spmm_t`).
#: Measured on 2 cores: below about 4·10⁶ SciPy is as fast (the thread launch
#: costs about 0.3 ms), and the one-time numba import plus cache load (about
#: 0.6 s per process) would not pay off over a short fit.
min_work: int = 1 << 22

#: Smallest ``nnz·k`` sent to the compiled :func:`gather`: the NumPy fallback
#: (chunked fancy indexing and einsum) is about 10× slower than the kernel
#: from ``nnz·k`` ≈ 3·10⁵ on, so the kernel pays off much earlier.
min_work_gather: int = 1 << 19

#: Cap on the extra memory for the per-thread partial sums of :func:`spmm_t`.
partial_budget_bytes: int = 256 << 20

#: ``spmm_t`` splits the rows over threads (with per-thread n × k partial sums)
#: only from this much work (nnz·k). Measured on BBC's TF-IDF matrix (2225 ×
#: 9635, 2.9e5 non-zeros, k = 20, 2 threads): 11.4 ms split in two, 3.2 ms in
#: one chunk, SciPy 2.8 ms; at nnz·k = 3e7 the split is 2.3× faster than SciPy.
min_work_partials: int = 1 << 24

#: Smallest ``nnz`` for which :func:`duplicate_free` runs (below it SciPy's sort takes
#: under about 2 ms).
min_nnz_duplicate_check: int = 1 << 16

#: How many non-zeros ahead the kernels prefetch the dense row they will need.
prefetch_distance: int = 8

#: Column tiling (see the module docstring) starts when the randomly accessed
#: operand (``n × k`` for :func:`spmm`, the ``n × k`` output of :func:`spmm_t`) has
#: at least this many bytes. At 20 MB (10⁵ × 50 in float32), medians of 8
#: alternating: spmm 0.53 → 0.51 s, spmm_t 0.63 → 0.54 s (with spmm's in-place
#: chunks; before them tiling gained nothing there); at 40 MB (float64) see
#: :data:`tile_bytes`. 20 Newsgroups at k = 50 (14 MB in float64) stays untiled:
#: on operands that fit the caches the tiles only add passes over ``X``.
tile_min_bytes: int = 16 << 20

#: Bytes of the randomly accessed operand per column tile. On 10⁶ × 10⁵ with 5·10⁷
#: non-zeros, k = 50, float64, 2 threads, medians alternating with the untiled
#: kernels: alone, spmm 2.39 → 1.61 s and spmm_t 1.91 → 1.55 s (C-ordered operand;
#: a transposed one, 1.99 → 2.00 s); inside HALS fits, spmm 2.16 → 2.06 s and
#: spmm_t 1.87 → 1.40–1.50 s. Tiles of 3 MB and below lose again to the extra
#: passes over ``X``. With spmm's rows summed in place, a whole chunk per tile
#: (below), 6 MB stayed best: 0.73 s against 1.17 s (3 MB) and 1.32 s (12 MB).
tile_bytes: int = 6 << 20

#: Rows :func:`spmm` takes through all tiles at a time when its output is
#: transposed (its per-thread accumulator is ``tile_rows × k``). A C-ordered
#: output is summed into in place, a whole chunk of rows per tile: on the case
#: above, blocks of 8192 rows (through an accumulator) took 1.17 s, of 32768 rows
#: 1.00 s, of whole chunks 0.90 s (medians of 7, the same run), and in place 0.73 s;
#: inside HALS fits 1.8–2.5 → 1.06–1.41 s per product (another day's machine).
tile_rows: int = 8192

_KERNELS: dict[str, Any] | None = None
_FAILED = False
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INTS = (np.dtype(np.int32), np.dtype(np.int64))


def _prefetch_intrinsics():
    """``prefetch_row(a, i)`` / ``prefetch_row_w(a, i)``: prefetch row ``i`` of a 2-D array.

    Each emits ``llvm.prefetch`` for every 64-byte line of the row (up to 1 KiB;
    the hardware prefetcher follows beyond), for reading or for writing.
    """
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    def make(rw: int):
        @intrinsic
        def prefetch_row(typingctx, arr, i):
            if not (isinstance(arr, types.Array) and arr.ndim == 2
                    and isinstance(i, types.Integer)):
                return None
            sig = types.void(arr, i)

            def codegen(context, builder, signature, args):
                aryty, ity = signature.args
                ary = context.make_array(aryty)(context, builder, args[0])
                idx = context.cast(builder, args[1], ity, types.intp)
                stride0 = builder.extract_value(ary.strides, 0)
                ncols = builder.extract_value(ary.shape, 1)
                itemsize = context.get_constant(
                    types.intp, context.get_abi_sizeof(context.get_data_type(aryty.dtype))
                )
                rowbytes = builder.mul(ncols, itemsize)
                i8p = ir.IntType(8).as_pointer()
                i32 = ir.IntType(32)
                fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
                fn = builder.module.globals.get("llvm.prefetch.p0")
                if fn is None:
                    fn = ir.Function(builder.module, fnty, "llvm.prefetch.p0")
                base = builder.gep(builder.bitcast(ary.data, i8p), [builder.mul(idx, stride0)])
                for off in range(0, 1024, 64):
                    offc = context.get_constant(types.intp, off)
                    with builder.if_then(builder.icmp_signed("<", offc, rowbytes), likely=True):
                        ptr = builder.gep(base, [offc])
                        builder.call(fn, [ptr, i32(rw), i32(3), i32(1)])
                return context.get_dummy_value()

            return sig, codegen

        return prefetch_row

    return make(0), make(1)


# The kernels are plain functions at module level, compiled by :func:`_build`
# on first use (so that numba's on-disk cache finds them again in a new
# process). ``prange`` and the prefetch helpers are module globals that
# :func:`_build` sets before compiling; numba reads globals at compile time.
prange = range
_prefetch_r: Any = None
_prefetch_w: Any = None


def _smoke(a):  # pragma: no cover - compiled
    _prefetch_r(a, 1)
    _prefetch_w(a, 0)
    return a[1, 0]


def _spmm_kernel(indptr, indices, data, D, bounds, out, trans_out, dist):  # pragma: no cover
    k = D.shape[1]
    nnz = indices.size
    for c in prange(bounds.size - 1):
        buf = np.empty(k, dtype=out.dtype)
        for i in range(bounds[c], bounds[c + 1]):
            for t in range(k):
                buf[t] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                q = p + dist
                if q < nnz:
                    _prefetch_r(D, indices[q])
                v = data[p]
                d = D[indices[p]]
                for t in range(k):
                    buf[t] += v * d[t]
            if trans_out:
                for t in range(k):
                    out[t, i] = buf[t]
            else:
                row = out[i]
                for t in range(k):
                    row[t] = buf[t]


def _spmm_tiled_kernel(indptr, indices, data, D, bounds, out, trans_out, dist, tile_cols,
                       row_block):  # pragma: no cover - compiled
    n_cols, k = D.shape
    n_tiles = (n_cols + tile_cols - 1) // tile_cols
    for c in prange(bounds.size - 1):
        # a C-ordered output is summed into in place, the whole chunk through each
        # tile in turn; a transposed one goes through a row_block × k accumulator
        block = row_block if trans_out else max(1, bounds[c + 1] - bounds[c])
        cur = np.empty(block, dtype=np.int64)
        acc = np.empty((block if trans_out else 0, k), dtype=out.dtype)
        tgt = acc if trans_out else out
        for r0 in range(bounds[c], bounds[c + 1], block):
            r1 = min(r0 + block, bounds[c + 1])
            off = r0 if trans_out else 0
            for i in range(r0, r1):
                cur[i - r0] = indptr[i]
                for t in range(k):
                    tgt[i - off, t] = 0.0
            for tile in range(n_tiles):
                # the last tile takes whatever is left, so even unsorted rows are
                # summed whole (in stored order)
                hi = n_cols if tile == n_tiles - 1 else (tile + 1) * tile_cols
                for i in range(r0, r1):
                    p = cur[i - r0]
                    end = indptr[i + 1]
                    a = tgt[i - off]
                    while p < end and indices[p] < hi:
                        q = p + dist
                        if q < end and indices[q] < hi:
                            _prefetch_r(D, indices[q])
                        v = data[p]
                        d = D[indices[p]]
                        for t in range(k):
                            a[t] += v * d[t]
                        p += 1
                    cur[i - r0] = p
            if trans_out:
                for i in range(r0, r1):
                    for t in range(k):
                        out[t, i] = acc[i - r0, t]


def _spmm_t_owned_kernel(indptr, indices, data, S, trans, col_bounds, out, dist):
    # pragma: no cover - compiled; needs each row's indices sorted
    k = out.shape[1]
    m = indptr.size - 1
    block = 256  # rows of a transposed S copied at a time (contiguous reads of Sᵀ)
    for c in prange(col_bounds.size - 1):
        lo = col_bounds[c]
        hi = col_bounds[c + 1]
        sblk = np.empty((block if trans else 1, k), dtype=out.dtype)
        for i0 in range(0, m, block):
            i1 = min(i0 + block, m)
            if trans:
                for t in range(k):
                    St = S[t]
                    for i in range(i0, i1):
                        sblk[i - i0, t] = St[i]
            for i in range(i0, i1):
                a = indptr[i]
                b = indptr[i + 1]
                if a == b or indices[b - 1] < lo or indices[a] >= hi:
                    continue
                while a < b:  # first stored column >= lo
                    mid = (a + b) >> 1
                    if indices[mid] < lo:
                        a = mid + 1
                    else:
                        b = mid
                s = sblk[i - i0] if trans else S[i]
                end = indptr[i + 1]
                p = a
                while p < end and indices[p] < hi:
                    q = p + dist
                    if q < end and indices[q] < hi:
                        _prefetch_w(out, indices[q])
                    v = data[p]
                    row = out[indices[p]]
                    for t in range(k):
                        row[t] += v * s[t]
                    p += 1


def _spmm_t_kernel(indptr, indices, data, S, trans, bounds, out, partial, dist):
    # pragma: no cover - compiled
    k = out.shape[1]
    nnz = indices.size
    for c in prange(bounds.size - 1):
        acc = out if c == 0 else partial[c - 1]
        buf = np.empty(k, dtype=out.dtype)
        for i in range(bounds[c], bounds[c + 1]):
            lo = indptr[i]
            hi = indptr[i + 1]
            if lo == hi:
                continue
            if trans:
                for t in range(k):
                    buf[t] = S[t, i]
            else:
                for t in range(k):
                    buf[t] = S[i, t]
            for p in range(lo, hi):
                q = p + dist
                if q < nnz:
                    _prefetch_w(acc, indices[q])
                v = data[p]
                row = acc[indices[p]]
                for t in range(k):
                    row[t] += v * buf[t]
    nb = partial.shape[0]
    if nb > 0:
        for j in prange(out.shape[0]):
            row = out[j]
            for b in range(nb):
                src = partial[b, j]
                for t in range(k):
                    row[t] += src[t]


def _gather_kernel(indptr, indices, S, trans, Ht, zero, bounds, out, dist):  # pragma: no cover
    k = Ht.shape[1]
    nnz = indices.size
    for c in prange(bounds.size - 1):
        buf = np.empty(k, dtype=out.dtype)
        for i in range(bounds[c], bounds[c + 1]):
            lo = indptr[i]
            hi = indptr[i + 1]
            if lo == hi:
                continue
            if trans:
                for t in range(k):
                    buf[t] = S[t, i]
            else:
                for t in range(k):
                    buf[t] = S[i, t]
            for p in range(lo, hi):
                q = p + dist
                if q < nnz:
                    _prefetch_r(Ht, indices[q])
                h = Ht[indices[p]]
                s = zero  # accumulate in the output dtype
                for t in range(k):
                    s += buf[t] * h[t]
                out[p] = s


def _duplicate_free_kernel(indptr, indices, n_cols):  # pragma: no cover - compiled
    # one pass over the stored entries: the last row that stored each column
    last = np.full(n_cols, -1, dtype=np.int64)
    for i in range(indptr.size - 1):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if last[j] == i:
                return False
            last[j] = i
    return True


def _build() -> dict[str, Any]:
    global prange, _prefetch_r, _prefetch_w
    from ._numba import import_numba

    numba = import_numba()

    prange = numba.prange
    try:
        _prefetch_r, _prefetch_w = _prefetch_intrinsics()
        numba.njit(nogil=True, cache=True)(_smoke)(np.ones((2, 3)))
    except Exception:  # numba internals changed: the kernels run without prefetching

        def noop(a, i):  # pragma: no cover - compiled
            pass

        _prefetch_r = _prefetch_w = numba.njit(nogil=True, inline="always")(noop)

    opts = dict(parallel=True, cache=True, nogil=True)
    return {
        "spmm": numba.njit(fastmath=False, **opts)(_spmm_kernel),
        "spmm_t": numba.njit(fastmath=False, **opts)(_spmm_t_kernel),
        "spmm_tiled": numba.njit(fastmath=False, **opts)(_spmm_tiled_kernel),
        "spmm_t_owned": numba.njit(fastmath=False, **opts)(_spmm_t_owned_kernel),
        # the dot products are reductions: 'reassoc' lets LLVM vectorise them
        # (rounding-level differences only, as between any two BLAS dot products)
        "gather": numba.njit(fastmath={"reassoc"}, **opts)(_gather_kernel),
        "duplicate_free": numba.njit(nogil=True, cache=True)(_duplicate_free_kernel),
        "threads": numba.get_num_threads,
        "errors": (numba.core.errors.NumbaError,),
    }


def _kernels() -> dict[str, Any] | None:
    global _KERNELS, _FAILED
    if _KERNELS is None and not _FAILED:
        try:
            _KERNELS = _build()
        except Exception:  # numba missing or broken: SciPy/NumPy path
            _FAILED = True
    return _KERNELS


def _run(kern: dict[str, Any], name: str, *args: Any) -> bool:
    """Call a kernel; on a numba compilation error disable the compiled path."""
    global _KERNELS, _FAILED
    try:
        kern[name](*args)
    except kern["errors"]:
        _KERNELS, _FAILED = None, True
        return False
    return True


def available() -> bool:
    """Whether numba can be imported and the kernels built (imports numba)."""
    return _kernels() is not None


def _active(nnz: int, k: int, threshold: int) -> dict[str, Any] | None:
    if not enabled or os.environ.get("NMFKIT_SPARSE_COMPILED", "1").strip() == "0":
        return None
    if nnz * max(k, 1) < threshold:
        return None
    return _kernels()


def _csr_parts(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``indptr, indices, data`` of a float CSR matrix; None when not usable.

    Sorted indices are not needed (a product sums a row's entries in any
    order; stored duplicates add up, as in SciPy's products).
    """
    if getattr(X, "format", None) != "csr":
        return None
    data, indices, indptr = X.data, X.indices, X.indptr
    if data.dtype not in _FLOATS or indices.dtype not in _INTS or indptr.dtype not in _INTS:
        return None
    if not (data.flags.c_contiguous and indices.flags.c_contiguous
            and indptr.flags.c_contiguous):
        return None
    return indptr, indices, data


def _sorted_rows(X: Any) -> bool:
    """Whether every row of the CSR matrix ``X`` stores its columns in order (SciPy's flag)."""
    try:
        return bool(X.has_sorted_indices)
    except Exception:  # not SciPy's CSR: assume not
        return False


def _dense_ok(D: Any) -> bool:
    return type(D) is np.ndarray and D.ndim == 2 and D.dtype in _FLOATS


def _streamed(D: np.ndarray) -> tuple[np.ndarray, bool]:
    """A C-contiguous array to read the rows of ``D`` from, and whether it is ``Dᵀ``."""
    if D.flags.c_contiguous:
        return D, False
    if D.T.flags.c_contiguous:
        return D.T, True
    return np.ascontiguousarray(D), False


def _bounds(indptr: np.ndarray, n_chunks: int) -> np.ndarray:
    """Row boundaries (int64, length ``n_chunks + 1``) of chunks of about equal cost.

    A row costs its non-zeros plus one (its own overhead), so the cost of rows
    ``[0, i)`` is ``indptr[i] + i``, which is increasing: each boundary is a
    binary search over scalar reads of ``indptr`` (no O(m) temporary, and
    microseconds, where vectorised searches over a handful of targets cost
    about 0.5 ms per product on 2 cores).
    """
    m = indptr.size - 1
    if n_chunks <= 1 or m <= 1:
        return np.array([0, max(m, 0)], dtype=np.int64)
    total = int(indptr[m]) + m
    out = [0]
    lo = 0
    for c in range(1, n_chunks):
        target = total * c / n_chunks
        hi = m
        while lo < hi:  # first i with indptr[i] + i >= target
            mid = (lo + hi) // 2
            if int(indptr[mid]) + mid < target:
                lo = mid + 1
            else:
                hi = mid
        out.append(lo)
    out.append(m)
    return np.array(out, dtype=np.int64)


def products_apply(X: Any, k: int) -> bool:
    """Whether :func:`spmm`/:func:`spmm_t` take ``X`` at rank ``k`` (imports numba)."""
    return _csr_parts(X) is not None and _active(X.nnz, k, min_work) is not None


def duplicate_free(X: Any) -> bool | None:
    """Whether the CSR matrix ``X`` stores each (row, column) at most once.

    One pass over the stored entries with an ``n_features`` marker array, in
    any index order (4.5 ms on 20 Newsgroups' 1.9e6 entries, against 55-60 ms
    for SciPy's copy-and-sort). None when the compiled kernels are not there
    or ``X`` has fewer than :data:`min_nnz_duplicate_check` entries (sorting
    a small matrix is cheaper than importing numba).
    """
    if X.nnz < min_nnz_duplicate_check:
        return None
    parts = _csr_parts(X)
    kern = _active(X.nnz, 1, 0) if parts is not None else None
    if kern is None:
        return None
    indptr, indices, _ = parts
    return bool(kern["duplicate_free"](indptr, indices, X.shape[1]))


def spmm(X: Any, D: Any, order: Literal["C", "F"] = "C") -> np.ndarray | None:
    """``X @ D`` for CSR ``X`` (m × n) and dense ``D`` (n × k) on numba's threads.

    Parameters
    ----------
    X : scipy.sparse CSR matrix or array (m × n)
    D : ndarray (n × k), any memory order
    order : {"C", "F"}
        Memory order of the result. ``"F"`` writes ``(X @ D)ᵀ`` as a
        C-contiguous (k × m) array and returns its transpose, so that
        ``spmm(X, H.T, order="F").T`` is ``H Xᵀ`` without a transposing copy.

    Returns
    -------
    ndarray (m × k) of dtype ``result_type(X, D)``, or None when the compiled
    path does not apply (see the module docstring).
    """
    if not _dense_ok(D) or D.shape[0] != X.shape[1]:
        return None
    parts = _csr_parts(X)
    if parts is None:
        return None
    indptr, indices, data = parts
    k = D.shape[1]
    kern = _active(data.size, k, min_work)
    if kern is None:
        return None
    dtype = np.result_type(data.dtype, D.dtype)
    Dc = np.ascontiguousarray(D, dtype=dtype)  # gathered at random rows: C order
    m = X.shape[0]
    trans_out = order == "F"
    out = np.empty((k, m) if trans_out else (m, k), dtype=dtype)
    bounds = _bounds(indptr, 4 * kern["threads"]())
    tile_cols = max(1, int(tile_bytes) // max(1, k * dtype.itemsize))
    if Dc.nbytes >= tile_min_bytes and tile_cols < Dc.shape[0] and _sorted_rows(X):
        ran = _run(kern, "spmm_tiled", indptr, indices, data, Dc, bounds, out, trans_out,
                   int(prefetch_distance), tile_cols, max(1, int(tile_rows)))
    else:
        ran = _run(kern, "spmm", indptr, indices, data, Dc, bounds, out, trans_out,
                   int(prefetch_distance))
    if not ran:
        return None
    return out.T if trans_out else out


def _zeroed(work: dict | None, key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A zero-filled scratch array, kept in ``work`` between calls when one is given.

    Freshly mapped memory costs a page fault per 4 KiB page on first touch
    (measured 3–9 µs each on this VM: 12 of the 25 ms of an ``Xᵀ W`` on
    20 Newsgroups at k = 10 went to its 1328 faults), so loops that call the
    products every iteration pass a dict that lives as long as they do.
    """
    if work is None:
        return np.zeros(shape, dtype=dtype)
    a = work.get(key)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = work[key] = np.zeros(shape, dtype=dtype)
    else:
        a.fill(0)
    return a


def spmm_t(
    X: Any, D: Any, order: Literal["C", "F"] = "C", work: dict | None = None
) -> np.ndarray | None:
    """``Xᵀ @ D`` for CSR ``X`` (m × n) and dense ``D`` (m × k) on numba's threads.

    Parameters
    ----------
    X : scipy.sparse CSR matrix or array (m × n)
    D : ndarray (m × k)
        Read in place in C or Fortran order (e.g. ``Wt.T``); other layouts are
        copied.
    order : {"C", "F"}
        Memory order of the result (``"F"``: the transpose of a C-contiguous
        (k × n) array).
    work : dict, optional
        Scratch space kept by the caller between calls (the per-thread
        partial sums, and for ``order="F"`` the n × k sums before their
        transposing copy): reused, so that repeated calls touch no fresh
        memory but the result's. Its contents are internal.

    Returns
    -------
    ndarray (n × k) of dtype ``result_type(X, D)``, or None when the compiled
    path does not apply.
    """
    if not _dense_ok(D) or D.shape[0] != X.shape[0]:
        return None
    parts = _csr_parts(X)
    if parts is None:
        return None
    indptr, indices, data = parts
    k = D.shape[1]
    kern = _active(data.size, k, min_work)
    if kern is None:
        return None
    dtype = np.result_type(data.dtype, D.dtype)
    n = X.shape[1]
    S, trans = _streamed(D)
    per_buffer = max(1, n * k * dtype.itemsize)
    threads = max(1, int(kern["threads"]()))
    # the sums: the result itself in C order, scratch when a transposed copy follows
    out = _zeroed(work, "sums", (n, k), dtype) if order == "F" else np.zeros((n, k), dtype)
    if (n > 0 and k > 0 and per_buffer >= tile_min_bytes
            and data.size * k >= min_work_partials and _sorted_rows(X)):
        # column tiles owned by the threads (module docstring): no partial sums
        per_thread = -(-per_buffer // (threads * max(1, int(tile_bytes))))
        n_tiles = min(n, threads * max(1, per_thread))
        col_bounds = (np.arange(n_tiles + 1, dtype=np.int64) * n) // n_tiles
        if not _run(kern, "spmm_t_owned", indptr, indices, data, S, trans, col_bounds, out,
                    int(prefetch_distance)):
            return None
    else:
        n_chunks = max(1, min(threads, 1 + partial_budget_bytes // per_buffer))
        if data.size * k < min_work_partials:
            n_chunks = 1  # per-thread partial sums only pay on large products (see below)
        partial = _zeroed(work, "partials", (n_chunks - 1, n, k), dtype)
        if not _run(kern, "spmm_t", indptr, indices, data, S, trans,
                    _bounds(indptr, n_chunks), out, partial, int(prefetch_distance)):
            return None
        del partial
    return np.ascontiguousarray(out.T).T if order == "F" else out


def gather(W: Any, H: Any, X: Any) -> np.ndarray | None:
    """Entries of ``W @ H`` at the stored positions of CSR ``X``, in ``X.data`` order.

    Parameters
    ----------
    W : ndarray (m × k)
        Read in place in C or Fortran order.
    H : ndarray (k × n)
        ``Hᵀ`` is made C-contiguous (n × k) once.
    X : scipy.sparse CSR matrix or array (m × n)

    Returns
    -------
    ndarray of length ``X.nnz`` and dtype ``result_type(W, H)``, or None when
    the compiled path does not apply.
    """
    if not (_dense_ok(W) and _dense_ok(H)) or W.shape[1] != H.shape[0]:
        return None
    if W.shape[0] != X.shape[0] or H.shape[1] != X.shape[1]:
        return None
    parts = _csr_parts(X)
    if parts is None:
        return None
    indptr, indices, _ = parts
    k = W.shape[1]
    kern = _active(indices.size, k, min_work_gather)
    if kern is None:
        return None
    dtype = np.result_type(W.dtype, H.dtype)
    S, trans = _streamed(W)
    Ht = np.ascontiguousarray(H.T, dtype=dtype)
    out = np.empty(indices.size, dtype=dtype)
    bounds = _bounds(indptr, 4 * kern["threads"]())
    if not _run(kern, "gather", indptr, indices, S, trans, Ht, dtype.type(0), bounds, out,
                int(prefetch_distance)):
        return None
    return out
