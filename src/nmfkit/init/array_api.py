"""Initial factors for arrays of any array-API namespace (PyTorch, CuPy, ...).

``"random"`` draws exactly the numbers of the NumPy path (scikit-learn's
formula and order, NumPy's generator) and moves them to X's device, so a
seed gives the same start whatever the array library. ``"nndsvd"``,
``"nndsvda"`` and ``"nndsvdar"`` follow the NumPy path on a truncated SVD
computed on the device by a randomized range finder (Halko, Martinsson &
Tropp) with QR re-orthonormalization; the SVD differs from scikit-learn's
``randomized_svd`` in rounding only where the spectrum is well separated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from ..backend._xp import XpSparse, to_float64

__all__ = ["initialize_xp", "XP_INITS"]

#: The values of ``init`` available for non-NumPy arrays.
XP_INITS = ("random", "nndsvd", "nndsvda", "nndsvdar")

#: as :data:`nmfkit.init._initialize.ZERO_MEAN_FALLBACK`
_ZERO_MEAN = 1.0


def _device(a: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(a)


def _mean(X: Any, xp: Any) -> float:
    m, n = X.shape
    vals = X.values if isinstance(X, XpSparse) else X
    mean = float(xp.sum(to_float64(xp, vals))) / (m * n)
    return mean if mean > 0.0 else _ZERO_MEAN


def _on_device(xp: Any, a: np.ndarray, like: Any, dtype: Any) -> Any:
    return xp.asarray(np.ascontiguousarray(a), dtype=dtype, device=_device(like))


def _matmul(X: Any, D: Any) -> Any:
    return X.matmul(D) if isinstance(X, XpSparse) else X @ D


def _rmatmul(X: Any, D: Any) -> Any:
    return X.rmatmul(D) if isinstance(X, XpSparse) else X.T @ D


def randomized_svd_xp(
    X: Any, k: int, xp: Any, random_state: Any = None, n_oversamples: int = 10,
    n_iter: int | None = None,
) -> tuple[Any, Any, Any]:
    """Leading ``k`` singular triplets ``U (m×k), S (k,), Vt (k×n)`` of X, in float64.

    The Gaussian test matrix is drawn by NumPy (same numbers on every device).
    """
    m, n = X.shape
    p = min(k + n_oversamples, m, n)
    if n_iter is None:  # scikit-learn's rule
        n_iter = 7 if k < 0.1 * min(m, n) else 4
    rng = check_random_state(random_state)
    like = X.values if isinstance(X, XpSparse) else X
    Xd = X if isinstance(X, XpSparse) or X.dtype == xp.float64 else to_float64(xp, X)
    if isinstance(X, XpSparse) and X.dtype != xp.float64:
        Xd = X.with_values(to_float64(xp, X.values))
    omega = _on_device(xp, rng.standard_normal(size=(n, p)), like, xp.float64)
    Q, _ = xp.linalg.qr(_matmul(Xd, omega))
    for _ in range(n_iter):
        Z, _ = xp.linalg.qr(_rmatmul(Xd, Q))
        Q, _ = xp.linalg.qr(_matmul(Xd, Z))
    B = _rmatmul(Xd, Q).T  # p × n
    Ub, S, Vt = xp.linalg.svd(B, full_matrices=False)
    U = Q @ Ub
    return U[:, :k], S[:k], Vt[:k, :]


def initialize_xp(
    X: Any, k: int, init: str, xp: Any, *, random_state: Any = None, eps: float = 1e-6
) -> tuple[Any, Any]:
    """``(W0, H0)`` on X's device in X's dtype (dense array or :class:`XpSparse`).

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> X = np.arange(12.0).reshape(4, 3)
    >>> W, H = initialize_xp(X, 2, "random", xp, random_state=0)
    >>> W.shape, H.shape, bool((W >= 0).all())
    ((4, 2), (2, 3), True)
    """
    m, n = X.shape
    like = X.values if isinstance(X, XpSparse) else X
    dtype = like.dtype
    if init not in XP_INITS:
        raise ValueError(
            f"init={init!r} is not available for non-NumPy arrays; use one of {XP_INITS} "
            "or 'custom'"
        )
    if init == "random" or k > min(m, n):
        np_dtype = np.float32 if dtype == xp.float32 else np.float64
        avg = np_dtype(math.sqrt(_mean(X, xp) / k))
        rng = check_random_state(random_state)
        H = np.abs(avg * rng.standard_normal(size=(k, n)).astype(np_dtype, copy=False))
        W = np.abs(avg * rng.standard_normal(size=(m, k)).astype(np_dtype, copy=False))
        return _on_device(xp, W, like, dtype), _on_device(xp, H, like, dtype)

    U, S, Vt = randomized_svd_xp(X, k, xp, random_state=random_state)
    s = [float(v) for v in S]
    cols_W = [math.sqrt(s[0]) * xp.abs(U[:, 0])]
    rows_H = [math.sqrt(s[0]) * xp.abs(Vt[0, :])]
    for j in range(1, k):
        x, y = U[:, j], Vt[j, :]
        x_p, y_p = xp.clip(x, min=0.0), xp.clip(y, min=0.0)
        x_n, y_n = xp.clip(-x, min=0.0), xp.clip(-y, min=0.0)
        nrm = [float(xp.linalg.vector_norm(v)) for v in (x_p, y_p, x_n, y_n)]
        m_p, m_n = nrm[0] * nrm[1], nrm[2] * nrm[3]
        if m_p > m_n:
            u, v, sigma = x_p / nrm[0], y_p / nrm[1], m_p
        elif m_n > 0.0:
            u, v, sigma = x_n / nrm[2], y_n / nrm[3], m_n
        else:
            cols_W.append(xp.zeros_like(x))
            rows_H.append(xp.zeros_like(y))
            continue
        lbd = math.sqrt(s[j] * sigma)
        cols_W.append(lbd * u)
        rows_H.append(lbd * v)
    W = xp.stack(cols_W, axis=1)
    H = xp.stack(rows_H, axis=0)
    W = xp.where(W < eps, 0.0, W)
    H = xp.where(H < eps, 0.0, H)
    if init == "nndsvda":
        avg = _mean(X, xp)
        W = xp.where(W == 0, avg, W)
        H = xp.where(H == 0, avg, H)
    elif init == "nndsvdar":
        rng = check_random_state(random_state)
        avg = _mean(X, xp)
        # the same draws as the NumPy path: W's zeros (row-major order) first, then H's
        zW = int(xp.sum(xp.astype(W == 0, xp.int64)))  # one scalar from the device
        fillW = np.abs(avg * rng.standard_normal(size=zW) / 100)
        zH = int(xp.sum(xp.astype(H == 0, xp.int64)))
        fillH = np.abs(avg * rng.standard_normal(size=zH) / 100)
        W = _fill_zeros(xp, W, fillW)
        H = _fill_zeros(xp, H, fillH)
    return xp.astype(W, dtype), xp.astype(H, dtype)


def _fill_zeros(xp: Any, A: Any, fill: np.ndarray) -> Any:
    """``A`` with its zeros, in row-major order, replaced by ``fill``."""
    if fill.size == 0:
        return A
    flat = xp.reshape(A, (-1,))
    mask = flat == 0
    # position of each zero among the zeros: cumulative count − 1
    idx = xp.cumulative_sum(xp.astype(mask, xp.int64)) - 1
    idx = xp.where(mask, idx, 0)
    vals = xp.take(_on_device(xp, fill, A, A.dtype), idx)
    return xp.reshape(xp.where(mask, vals, flat), A.shape)
