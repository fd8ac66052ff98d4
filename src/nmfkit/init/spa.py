"""Successive projection algorithm (SPA): greedy selection of anchor rows.

Gillis & Vavasis (2014) select, for a near-separable matrix, the ``k`` rows of
``X`` that span the cone of all rows. In our orientation (rows are samples)
a matrix is *separable* when ``X = W H`` and every row of ``H`` is a row of
``X`` (an "anchor" or "pure" sample): ``W`` contains a permuted identity
block. SPA finds those rows greedily: pick the row with the largest residual
norm, project every row onto the orthogonal complement of the picked rows,
repeat.

The residual norms are kept implicitly as
``‖x_i‖² − Σ_j (x_i · u_j)²`` where ``u_j`` is an orthonormal basis of the
picked rows (as in Gillis' ``FastSepNMF``), so only one product ``X @ u_j``
per step is needed: O(nnz(X)·k) work for CSR input, which is never
densified, and no copy of ``X`` for dense input.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..backend import is_sparse, to_csr, work_dtype

__all__ = ["spa_select"]


def _row_sq_norms(X: Any) -> np.ndarray:
    """Squared Euclidean norm of each row, accumulated in float64."""
    if is_sparse(X):
        d = np.asarray(X.data, dtype=np.float64)
        rows = np.repeat(np.arange(X.shape[0], dtype=np.intp), np.diff(X.indptr))
        return np.bincount(rows, weights=d * d, minlength=X.shape[0])
    out = np.empty(X.shape[0], dtype=np.float64)
    step = max(1, (1 << 20) // max(1, X.shape[1]))
    for s in range(0, X.shape[0], step):
        blk = np.asarray(X[s : s + step], dtype=np.float64)
        out[s : s + step] = np.einsum("ij,ij->i", blk, blk)
    return out


def _dense_row(X: Any, i: int) -> np.ndarray:
    """Row ``i`` of dense or CSR ``X`` as a float64 vector (one row only)."""
    if is_sparse(X):
        v = np.zeros(X.shape[1], dtype=np.float64)
        lo, hi = X.indptr[i], X.indptr[i + 1]
        v[X.indices[lo:hi]] = X.data[lo:hi]
        return v
    return np.array(X[i], dtype=np.float64)


def spa_select(X: Any, k: int, *, tie_tol: float = 1e-6) -> np.ndarray:
    """Select ``k`` anchor rows of ``X`` by the successive projection algorithm.

    At step ``t`` the row with the largest residual norm (its norm after
    projecting out the rows already chosen) is selected. Rows whose residual
    is within a relative ``tie_tol`` of the largest are treated as tied and
    the one with the largest original norm wins (Gillis' rule, which makes
    the choice stable under rounding). Rows are never chosen twice: when the
    residuals are all numerically zero (``rank(X) < k``, or ``X`` all zero)
    the remaining picks are the unchosen rows of largest norm.

    For a separable ``X = W H`` whose rows of ``H`` appear among the rows of
    ``X`` (and ``H`` has full row rank), SPA returns exactly those rows.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
        Non-negative data. Sparse input is converted to CSR (never densified);
        only single rows are made dense.
    k : int
        Number of rows to select, ``1 <= k <= n_samples``.
    tie_tol : float, default=1e-6
        Relative tolerance under which residual norms count as tied.

    Returns
    -------
    ndarray of shape (k,)
        Row indices of ``X`` in selection order (dtype ``intp``).

    Raises
    ------
    ValueError
        If ``X`` is not 2-D or ``k`` is not an integer in ``[1, n_samples]``.

    References
    ----------
    N. Gillis, S. A. Vavasis, "Fast and robust recursive algorithms for
    separable nonnegative matrix factorization", IEEE TPAMI 36(4), 2014.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 2.0]])
    >>> spa_select(X, 2).tolist()
    [2, 0]
    """
    if is_sparse(X):
        X = to_csr(X, sort=False)  # duplicates summed; unsorted indices need no copy
    else:
        X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got an array with ndim={X.ndim}")
    n_samples, n_features = X.shape
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or not 1 <= k <= n_samples:
        raise ValueError(f"k must be an integer in [1, n_samples={n_samples}], got {k!r}")
    k = int(k)
    dtype = work_dtype(X)
    # Residual norms below this fraction of the largest row norm are rounding
    # noise: the products X @ u are formed in the working dtype.
    noise = 100.0 * float(np.finfo(dtype).eps)

    norms0 = _row_sq_norms(X)
    resid = norms0.copy()
    n_max = float(norms0.max()) if n_samples else 0.0
    available = np.ones(n_samples, dtype=bool)
    U = np.empty((k, n_features), dtype=np.float64)
    r = 0
    chosen = np.empty(k, dtype=np.intp)

    for t in range(k):
        cand = np.where(available, resid, -np.inf)
        a = float(cand.max())
        grow = n_max > 0.0 and a > noise * n_max
        if grow:
            ties = available & (a - resid <= tie_tol * a)
        else:
            ties = available
        b = int(np.argmax(np.where(ties, norms0, -np.inf)))
        chosen[t] = b
        available[b] = False
        if not grow:
            continue
        v = _dense_row(X, b)
        for _ in range(2):  # Gram-Schmidt, repeated once for stability
            if r:
                v -= U[:r].T @ (U[:r] @ v)
        nv = float(np.sqrt(v @ v))
        if not nv > 0.0:
            continue
        u = v / nv
        U[r] = u
        r += 1
        if is_sparse(X):
            p = np.asarray(X @ u, dtype=np.float64).ravel()
        else:
            # float32 data: multiply in float32 so X is never cast (copied).
            uu = u.astype(np.float32) if X.dtype == np.float32 else u
            p = np.asarray(X @ uu, dtype=np.float64)
        resid -= p * p
        np.maximum(resid, 0.0, out=resid)
    return chosen
