"""The β-divergence and penalties for any array-API namespace (PyTorch, CuPy, ...).

The same quantities as :mod:`nmfkit.losses.beta` and
:class:`nmfkit.losses.Penalties`, written with array-API operations only so
that they run on the arrays' own device. Sums accumulate in float64 on the
device; only scalars travel to the host. Dense data is processed in row
blocks of bounded size; sparse data (:class:`nmfkit.backend.XpSparse`)
touches only its stored entries, plus row blocks of WH where the loss needs
every entry (β ∉ {1, 2}).
"""

from __future__ import annotations

from typing import Any

from ..backend import row_blocks
from ..backend._xp import XpSparse, to_float64, xp_squared_norm, xp_vdot
from .beta import EPSILON, GRAM_LOSS_FLOOR
from .penalties import Penalties

__all__ = [
    "beta_divergence_xp",
    "frobenius_from_grams_xp",
    "frobenius_direct_xp",
    "penalty_value_xp",
]


def penalty_value_xp(pen: Penalties, W: Any, H: Any, xp: Any) -> float:
    """:meth:`Penalties.value` for arrays of namespace ``xp``."""
    if not pen.any:
        return 0.0
    out = 0.0
    if pen.l1_W:
        out += pen.l1_W * float(xp.sum(to_float64(xp, W)))
    if pen.l2_W:
        out += 0.5 * pen.l2_W * xp_vdot(xp, W, W)
    if pen.l1_H:
        out += pen.l1_H * float(xp.sum(to_float64(xp, H)))
    if pen.l2_H:
        out += 0.5 * pen.l2_H * xp_vdot(xp, H, H)
    return out


def frobenius_from_grams_xp(normX2: float, WtX: Any, H: Any, WtW: Any, HHt: Any, xp: Any) -> float:
    """``½‖X − WH‖²`` from ``‖X‖²``, ``WᵀX``, ``WᵀW`` and ``HHᵀ`` (clipped at 0)."""
    cross = xp_vdot(xp, WtX, H)
    quad = xp_vdot(xp, WtW, HHt)
    return max(0.5 * (normX2 - 2.0 * cross + quad), 0.0)


def frobenius_direct_xp(X: Any, W: Any, H: Any, xp: Any) -> float:
    """``½‖X − WH‖²`` entry by entry in row blocks (accurate near an exact fit).

    O(n_samples·n_features·k) even for sparse X; memory bounded by the block.
    """
    W64, H64 = to_float64(xp, W), to_float64(xp, H)
    total = 0.0
    for rows in row_blocks(X.shape[0], X.shape[1]):
        xb = X.dense_rows(rows.start, rows.stop) if isinstance(X, XpSparse) else X[rows, :]
        R = to_float64(xp, xb) - W64[rows, :] @ H64
        total += float(xp.sum(R * R))
    return 0.5 * total


def _elementwise(x: Any, y: Any, beta: float, xp: Any) -> float:
    """Σ over matching entries with x > EPSILON of the β-divergence terms (float64)."""
    keep = x > EPSILON
    xs = xp.where(keep, x, 1.0)
    ys = xp.clip(y, min=EPSILON)
    if beta == 1:
        term = xs * xp.log(xs / ys) - xs
    elif beta == 0:
        d = xs / ys
        term = d - xp.log(d)
    else:
        term = (xs**beta - beta * xs * ys ** (beta - 1)) / (beta * (beta - 1))
    return float(xp.sum(xp.where(keep, term, 0.0)))


def beta_divergence_xp(
    X: Any,
    W: Any,
    H: Any,
    beta: float,
    xp: Any,
    *,
    normX2: float | None = None,
    wh_at_data: Any = None,
) -> float:
    """:func:`nmfkit.losses.beta_divergence` for dense arrays or :class:`XpSparse` of ``xp``.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> beta_divergence_xp(X, np.eye(2), X.copy(), 1.0, xp)
    0.0
    """
    W64, H64 = to_float64(xp, W), to_float64(xp, H)
    m, n = X.shape
    if isinstance(X, XpSparse):
        if beta == 2:
            if normX2 is None:
                normX2 = xp_squared_norm(xp, X)
            WtX = X.rmatmul(W64 if X.dtype == xp.float64 else W).T
            loss = frobenius_from_grams_xp(normX2, WtX, H64, W64.T @ W64, H64 @ H64.T, xp)
            if gram_loss_needs_direct(loss, normX2):
                return frobenius_direct_xp(X, W, H, xp)
            return loss
        x = to_float64(xp, X.values)
        y = to_float64(xp, X.values_at(W64, H64) if wh_at_data is None else wh_at_data)
        res = _elementwise(x, y, beta, xp)
        if beta == 1:
            return res + float(xp.sum(xp.sum(W64, axis=0) * xp.sum(H64, axis=1)))
        if beta == 0:
            return res - m * n
        total = 0.0
        for rows in row_blocks(m, n):
            total += float(xp.sum((W64[rows, :] @ H64) ** beta))
        return res + total / beta
    if beta == 2:
        return frobenius_direct_xp(X, W, H, xp)
    res = 0.0
    for rows in row_blocks(m, n):
        x = to_float64(xp, X[rows, :])
        WH = W64[rows, :] @ H64
        res += _elementwise(x, WH, beta, xp)
        if beta == 0:
            res -= x.shape[0] * x.shape[1]
        elif beta != 1:
            res += float(xp.sum(WH**beta)) / beta
    if beta == 1:
        res += float(xp.sum(xp.sum(W64, axis=0) * xp.sum(H64, axis=1)))
    return res


def gram_loss_needs_direct(loss: float, normX2: float) -> bool:
    """True when the Gram-form loss has lost its accuracy (see ``GRAM_LOSS_FLOOR``)."""
    return loss < GRAM_LOSS_FLOOR * 0.5 * normX2
