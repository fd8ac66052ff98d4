"""The β-divergence family: names, values and data checks.

Definitions (x an entry of X, y the matching entry of WH):

* β = 2 (Frobenius): ``(x - y)² / 2``
* β = 1 (generalized Kullback–Leibler): ``x log(x / y) - x + y``
* β = 0 (Itakura–Saito): ``x / y - log(x / y) - 1``
* otherwise: ``(x^β + (β - 1) y^β - β x y^(β-1)) / (β (β - 1))``

Values are always accumulated in float64. On sparse ``X`` nothing of size
n_samples × n_features is formed: Frobenius goes through Gram matrices,
KL through the stored entries only, every other β in row blocks.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..backend import row_blocks, spmm_t, squared_norm, values_at_nonzeros

__all__ = [
    "GRAM_LOSS_FLOOR",
    "frobenius_direct",
    "BETA_NAMES",
    "EPSILON",
    "resolve_beta",
    "beta_divergence",
    "frobenius_from_grams",
    "frobenius_gram_or_direct",
    "check_beta_data",
]

#: Floor applied to WH where a division or negative power needs it
#: (the same constant scikit-learn uses, so objectives match).
EPSILON = float(np.finfo(np.float32).eps)

BETA_NAMES = {"frobenius": 2.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}


def resolve_beta(beta_loss: Any) -> float:
    """Map a loss name or number to the float β.

    >>> resolve_beta("kullback-leibler")
    1.0
    """
    if isinstance(beta_loss, str):
        try:
            return BETA_NAMES[beta_loss]
        except KeyError:
            valid = ", ".join(repr(n) for n in BETA_NAMES)
            raise ValueError(
                f"unknown beta_loss {beta_loss!r}; valid names are {valid} or a real number"
            ) from None
    if isinstance(beta_loss, bool) or not isinstance(beta_loss, numbers.Real):
        raise TypeError(
            f"beta_loss must be a name or a real number, got {type(beta_loss).__name__}"
        )
    beta = float(beta_loss)
    if not np.isfinite(beta):
        raise ValueError(f"beta_loss must be finite, got {beta_loss!r}")
    return beta


def check_beta_data(X: Any, beta: float, weights: Any = None) -> None:
    """Reject data on which the β-divergence is infinite (zeros for β ≤ 0).

    With entry weights only observed entries (weight > 0) count.
    """
    if beta > 0:
        return
    if weights is not None:
        if weights.is_pattern:
            zeros = int(np.count_nonzero((weights.x == 0) & (weights.w > 0)))
        else:
            obs = weights.dense > 0
            if sp.issparse(X):
                rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
                stored = np.zeros(X.shape, dtype=bool)
                stored[rows, X.indices] = X.data != 0
                zeros = int(np.count_nonzero(obs & ~stored))
            else:
                zeros = int(np.count_nonzero(obs & (np.asarray(X) == 0)))
    elif sp.issparse(X):
        n_stored = X.nnz
        n_total = X.shape[0] * X.shape[1]
        zeros = (n_total - n_stored) + int(np.count_nonzero(X.data == 0))
    else:
        zeros = int(np.count_nonzero(np.asarray(X) == 0))
    if zeros:
        what = "Itakura-Saito" if beta == 0 else f"beta={beta:g}"
        raise ValueError(
            f"X contains {zeros} zero entries (sparse implicit zeros included); the {what} "
            "divergence is infinite at zeros when beta <= 0. Add a small offset to X or "
            "choose beta_loss > 0."
        )


def frobenius_from_grams(
    normX2: float, WtX: Any, H: Any, WtW: Any, HHt: Any | None = None
) -> float:
    """``½‖X − WH‖²`` from ``‖X‖²``, ``WᵀX`` and ``WᵀW`` (float64 accumulation).

    ``‖X − WH‖² = ‖X‖² − 2⟨WᵀX, H⟩ + ⟨WᵀW, HHᵀ⟩``; ``HHt`` is computed when
    not given. The result is clipped at zero (round-off can make it slightly
    negative near an exact fit).
    """
    if HHt is None:
        H64 = np.asarray(H, dtype=np.float64)
        HHt = H64 @ H64.T
    cross = _vdot64(WtX, H)
    quad = float(np.vdot(np.asarray(WtW, dtype=np.float64), np.asarray(HHt, dtype=np.float64)))
    return max(0.5 * (normX2 - 2.0 * cross + quad), 0.0)


def _vdot64(a: Any, b: Any, chunk: int = 1 << 20) -> float:
    """``⟨a, b⟩`` accumulated in float64 without float64 copies of whole float32 arrays.

    Float32 factors of a large problem (1e6 × 50 on the row layout) are cast
    in slices of about ``chunk`` entries along the first axis.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype == np.float64 and b.dtype == np.float64 or a.size <= chunk:
        return float(np.vdot(a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)))
    step = max(1, chunk // max(1, a.size // max(1, a.shape[0])))
    total = 0.0
    for s in range(0, a.shape[0], step):
        sl = slice(s, s + step)
        total += float(np.vdot(a[sl].astype(np.float64), b[sl].astype(np.float64)))
    return total


#: Below this fraction of ½‖X‖², the Gram-form Frobenius loss is dominated by
#: cancellation error, and the loss is recomputed entry by entry.
GRAM_LOSS_FLOOR = 1e-9


def frobenius_gram_or_direct(
    normX2: float, WtX: Any, H: Any, WtW: Any, HHt: Any, direct: Callable[[], float]
) -> float:
    """:func:`frobenius_from_grams`, or ``direct()`` once cancellation has eaten its accuracy.

    Below ``GRAM_LOSS_FLOOR·½‖X‖²`` the Gram form has lost its digits and the
    loss is recomputed entry by entry by ``direct`` (a callable, so that the
    O(nnz·k) or blockwise recomputation runs only when needed).

    Examples
    --------
    >>> import numpy as np
    >>> W, H = np.ones((2, 1)), np.ones((1, 3))
    >>> X = W @ H
    >>> frobenius_gram_or_direct(6.0, W.T @ X, H, W.T @ W, H @ H.T, lambda: -1.0)
    -1.0
    """
    loss = frobenius_from_grams(normX2, WtX, H, WtW, HHt)
    if loss < GRAM_LOSS_FLOOR * 0.5 * normX2:  # cancellation: recompute entry-wise
        loss = direct()
    return loss


def _gram64(W: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """``WᵀW`` in float64, converting ``block`` rows at a time (no float64 copy of W)."""
    if W.dtype == np.float64:
        return W.T @ W
    k = W.shape[1]
    G = np.zeros((k, k))
    for s in range(0, W.shape[0], block):
        Wb = W[s : s + block].astype(np.float64)
        G += Wb.T @ Wb
    return G


def frobenius_direct(X: Any, W: Any, H: Any) -> float:
    """``½‖X − WH‖²`` entry by entry, in row blocks (accurate near an exact fit).

    O(n_samples·n_features·k) time even for sparse X, with memory bounded by
    the block size; used only when the Gram form has lost its accuracy.
    """
    W64 = np.asarray(W, dtype=np.float64)
    H64 = np.asarray(H, dtype=np.float64)
    total = 0.0
    for rows in row_blocks(X.shape[0], X.shape[1]):
        xb = X[rows]
        xb = xb.toarray() if sp.issparse(xb) else np.asarray(xb, dtype=np.float64)  # one block
        R = xb - W64[rows] @ H64
        total += float(np.vdot(R, R))
    return 0.5 * total


def _elementwise(x: np.ndarray, y: np.ndarray, beta: float) -> float:
    """Sum of the β-divergence over matching entries (x > EPSILON only)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    keep = x > EPSILON
    x = x[keep]
    y = np.maximum(y[keep], EPSILON)
    if beta == 1:
        return float(x @ np.log(x / y) - x.sum())
    if beta == 0:
        d = x / y
        return float(np.sum(d) - np.sum(np.log(d)))
    return float((np.sum(x**beta) - beta * (x @ (y ** (beta - 1)))) / (beta * (beta - 1)))


def beta_divergence(
    X: Any,
    W: Any,
    H: Any,
    beta: float,
    *,
    weights: Any = None,
    normX2: float | None = None,
    wh_at_data: np.ndarray | None = None,
) -> float:
    """β-divergence ``D_β(X | WH)`` summed over entries, as a float64 scalar.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    W : ndarray of shape (n_samples, k)
    H : ndarray of shape (k, n_features)
    beta : float
        2 = Frobenius (returns ½‖X − WH‖²), 1 = KL, 0 = Itakura–Saito.
    weights : array of X's shape, optional
        Entry weights (0 = missing). Handled by :mod:`nmfkit.losses.weighted`.
    normX2 : float, optional
        Precomputed ``‖X‖²`` (Frobenius only).
    wh_at_data : ndarray, optional
        WH at the stored entries of a sparse X, when the caller already has it
        (β ≠ 2; not modified).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> W, H = np.eye(2), X.copy()
    >>> beta_divergence(X, W, H, 2.0)
    0.0
    """
    if weights is not None:
        from .weighted import weighted_beta_divergence

        return weighted_beta_divergence(X, W, H, beta, weights)
    W = np.asarray(W)
    H = np.asarray(H)
    if beta == 2:
        if normX2 is None:
            normX2 = squared_norm(X)
        if sp.issparse(X):
            # ⟨XHᵀ, W⟩ = ⟨XᵀW, Hᵀ⟩: the n_features × k product, no n_samples × k temporary
            XtW = spmm_t(X, np.ascontiguousarray(W)).astype(np.float64, copy=False)
            H64 = H.astype(np.float64, copy=False)
            return frobenius_gram_or_direct(
                normX2, XtW.T, H64, _gram64(W), H64 @ H64.T, lambda: frobenius_direct(X, W, H)
            )
        if X.dtype == np.float64 and W.dtype == np.float64 and H.dtype == np.float64:
            # one product WᵀX instead of forming WH (about 8x faster on 5000 x 2000,
            # k = 20); entry by entry where cancellation would eat the digits
            return frobenius_gram_or_direct(
                normX2, W.T @ X, H, W.T @ W, H @ H.T, lambda: frobenius_direct(X, W, H)
            )
        return frobenius_direct(X, W, H)  # float32 data: every entry in float64

    if sp.issparse(X):
        x = np.asarray(X.data, dtype=np.float64)
        y = (
            values_at_nonzeros(W.astype(np.float64), H.astype(np.float64), X)
            if wh_at_data is None
            else wh_at_data
        )
        if beta == 1:
            res = _elementwise(x, y, 1.0)
            res += float(W.sum(axis=0, dtype=np.float64) @ H.sum(axis=1, dtype=np.float64))
            return res
        if beta == 0:
            res = _elementwise(x, y, 0.0)
            return res - X.shape[0] * X.shape[1]
        res = _elementwise(x, y, beta)
        sum_wh_beta = 0.0
        for rows in row_blocks(X.shape[0], X.shape[1]):
            WH = W[rows].astype(np.float64) @ H.astype(np.float64)
            sum_wh_beta += float(np.sum(WH**beta))
        return res + sum_wh_beta / beta

    res = 0.0
    for rows in row_blocks(X.shape[0], X.shape[1]):
        x = np.asarray(X[rows], dtype=np.float64)
        WH = W[rows].astype(np.float64) @ H.astype(np.float64)
        res += _elementwise(x, WH, beta)
        if beta == 1:
            continue
        if beta == 0:
            res -= x.size
        else:
            res += float(np.sum(WH**beta)) / beta
    if beta == 1:
        res += float(W.sum(axis=0, dtype=np.float64) @ H.sum(axis=1, dtype=np.float64))
    return res
