"""Array-library helpers: namespaces, sparse products and dtypes.

The array library is always taken from the arguments, never from global
state. Optional libraries are never imported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from . import _sparse_compiled  # numba is imported only on the first large product

__all__ = [
    "is_sparse",
    "get_namespace",
    "to_csr",
    "matmul",
    "rmatmul_T",
    "spmm",
    "spmm_t",
    "squared_norm",
    "sum_all",
    "dense_rows",
    "row_sq_norms",
    "values_at_nonzeros",
    "row_blocks",
    "work_dtype",
]


def is_sparse(X: Any) -> bool:
    """Return True for any scipy.sparse matrix or array."""
    return sp.issparse(X)


def get_namespace(*arrays: Any):
    """Return the array-API namespace shared by ``arrays``.

    SciPy sparse inputs map to NumPy. Other libraries go through
    ``array_api_compat`` (imported lazily, only for non-NumPy inputs).
    """
    dense = [a for a in arrays if a is not None and not sp.issparse(a)]
    if all(isinstance(a, np.ndarray | np.generic) for a in dense):
        return np
    import array_api_compat

    return array_api_compat.array_namespace(*dense)


def to_csr(X: Any, canonical: bool = True, *, sort: bool = True) -> Any:
    """Return ``X`` in CSR form with sorted indices and summed duplicates.

    Explicitly stored zeros are kept (they can carry meaning when absent
    entries are treated as missing). ``canonical=False`` only converts the
    format: for a single product ``X @ D``, where duplicates add up anyway
    and sorting (a copy of X, about 55 ms on 20 Newsgroups' TF-IDF matrix)
    would cost more than it saves. ``sort=False`` keeps a CSR matrix with
    unsorted indices as it is when it has no duplicates (checked in one pass
    by the compiled kernel; without numba it is sorted as usual): no copy of X.
    """
    if not sp.issparse(X):
        return X
    if X.format != "csr":
        X = X.tocsr()
    if not canonical or X.has_canonical_format:
        return X
    if not sort and not X.has_sorted_indices and _sparse_compiled.duplicate_free(X):
        return X
    X = X.copy()
    X.sum_duplicates()
    return X


def matmul(A: Any, B: Any) -> Any:
    """``A @ B`` returning a dense array when either side is sparse."""
    out = A @ B
    if sp.issparse(out):  # sparse @ sparse never happens with dense factors
        raise TypeError("unexpected sparse product")
    if isinstance(out, np.matrix):
        out = np.asarray(out)
    return out


def spmm(X: Any, D: np.ndarray, *, transposed: bool = False) -> np.ndarray:
    """``X @ D`` for CSR ``X`` (m × n) and dense ``D`` (n × k): dense (m × k).

    The single entry point for sparse × dense products in the NumPy path, so
    that a faster kernel can replace SciPy's without touching the solvers.
    Large products of a CSR matrix with a float32/float64 ndarray run on
    numba's threads when numba is installed
    (:mod:`nmfkit.backend._sparse_compiled`: thread count
    ``numba.get_num_threads()``, i.e. ``NUMBA_NUM_THREADS``; set
    ``NMFKIT_SPARSE_COMPILED=0`` to force SciPy); everything else goes to
    SciPy. Both give the same values to rounding.

    ``transposed=True`` returns ``(X @ D)ᵀ`` (k × m) as a C-contiguous array;
    the compiled kernel writes it in that layout directly (no transposing
    copy), which is what the column-layout solvers store (``H Xᵀ``).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> spmm(X, np.array([[1.0], [3.0]]), transposed=True).tolist()
    [[1.0, 6.0]]
    """
    out = _sparse_compiled.spmm(X, D, order="F" if transposed else "C")
    if out is not None:
        return out.T if transposed else out
    out = np.asarray(X @ D)
    return np.ascontiguousarray(out.T) if transposed else out


def spmm_t(
    X: Any, D: np.ndarray, *, transposed: bool = False, work: dict | None = None
) -> np.ndarray:
    """``Xᵀ @ D`` for CSR ``X`` (m × n) and dense ``D`` (m × k): dense (n × k).

    Dispatched like :func:`spmm`; the compiled kernel reads ``D`` in C or
    Fortran order (e.g. ``Wt.T``) without copying it. ``transposed=True``
    returns ``(Xᵀ @ D)ᵀ = Dᵀ X`` (k × n), C-contiguous: a transposing copy
    made after the kernel has added up its per-thread partial sums (writing
    the transposed result while adding them up would hold three n × k arrays
    at once instead of two). ``work``: a dict the caller keeps between calls,
    in which the compiled kernel's scratch arrays (the partial sums, the sums
    before the transposing copy) stay allocated and are reused instead of
    being allocated (and page-faulted in) at every call.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> X = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
    >>> work = {}
    >>> spmm_t(X, np.array([[1.0], [3.0]]), transposed=True, work=work).tolist()
    [[1.0, 6.0]]
    """
    out = _sparse_compiled.spmm_t(X, D, order="F" if transposed else "C", work=work)
    if out is None:
        out = np.asarray(X.T @ D)
    return np.ascontiguousarray(out.T) if transposed else out


def rmatmul_T(X: Any, W: Any) -> Any:
    """Return ``W.T @ X`` (k × n_features) efficiently for dense or CSR ``X``."""
    if sp.issparse(X):
        # X.T is CSC: a CSC @ dense product is a single pass over the data.
        return spmm_t(X, W).T
    return W.T @ X


def squared_norm(X: Any) -> float:
    """Squared Frobenius norm accumulated in float64."""
    if sp.issparse(X):
        d = np.asarray(X.data, dtype=np.float64)
        return float(d @ d)
    xp = get_namespace(X)
    if xp is np:
        d = np.asarray(X, dtype=np.float64).ravel()
        return float(d @ d)
    Xf = xp.astype(X, xp.float64) if X.dtype != xp.float64 else X
    return float(xp.sum(Xf * Xf))


def sum_all(X: Any) -> float:
    """Sum of all entries, accumulated in float64."""
    if sp.issparse(X):
        return float(np.sum(X.data, dtype=np.float64))
    xp = get_namespace(X)
    if xp is np:
        return float(np.sum(X, dtype=np.float64))
    return float(xp.sum(xp.astype(X, xp.float64)))


def dense_rows(X: Any, rows: Any, dtype: Any = None) -> np.ndarray:
    """Return the selected rows of ``X`` as a small dense array (``dtype`` if given).

    Used only for a handful of rows (at most ``n_components``, or one block),
    never for the whole user matrix.
    """
    sub = X[rows]
    if sp.issparse(sub):
        sub = sub.toarray()  # the selected rows only: small by construction
    return np.asarray(sub, dtype=dtype)


def row_sq_norms(X: Any) -> np.ndarray:
    """Squared Euclidean norm of every row of dense or sparse ``X``, in float64."""
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
    Xd = np.asarray(X, dtype=np.float64)
    return np.einsum("ij,ij->i", Xd, Xd)


def values_at_nonzeros(W: np.ndarray, H: np.ndarray, X: Any, block: int = 1 << 16) -> np.ndarray:
    """Entries of ``W @ H`` at the stored positions of CSR ``X`` (O(nnz·k)).

    Runs on numba's threads when numba is installed and the work is large
    (see :func:`spmm`); otherwise NumPy processes chunks of ``block``
    non-zeros so memory stays O(block·k). Only the stored entries are
    touched either way.
    """
    out = _sparse_compiled.gather(W, H, X)
    if out is not None:
        return out
    nnz = X.nnz
    out = np.empty(nnz, dtype=np.result_type(W.dtype, H.dtype))
    rows = np.repeat(np.arange(X.shape[0], dtype=np.intp), np.diff(X.indptr))
    cols = X.indices
    Ht = np.ascontiguousarray(H.T)
    for s in range(0, nnz, block):
        e = min(s + block, nnz)
        np.einsum("ij,ij->i", W[rows[s:e]], Ht[cols[s:e]], out=out[s:e])
    return out


def row_blocks(n_rows: int, n_cols: int, budget: int = 1 << 22):
    """Yield slices of rows so that each block holds about ``budget`` entries."""
    step = max(1, budget // max(1, n_cols))
    for s in range(0, n_rows, step):
        yield slice(s, min(s + step, n_rows))


def work_dtype(X: Any):
    """float32 stays float32; every other real dtype works in float64."""
    dt = getattr(X, "dtype", None)
    if dt is not None and np.dtype(dt) == np.float32:
        return np.float32
    return np.float64
