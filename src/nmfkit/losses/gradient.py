"""Gradients of the β-divergence objective and the projected-gradient norm.

``∇_W D_β(X | WH) = [(WH)^(β−1) − X ⊙ (WH)^(β−2)] Hᵀ`` and symmetrically for
H; penalties add ``l1 + l2·W``. The projected gradient keeps a component
where the variable is positive and its negative part where it is zero; it
vanishes exactly at KKT points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..backend import row_blocks, values_at_nonzeros
from .beta import EPSILON
from .penalties import Penalties

__all__ = ["gradients", "projected_gradient_norm"]


def gradients(
    X: Any, W: np.ndarray, H: np.ndarray, beta: float, penalties: Penalties | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(∇_W f, ∇_H f)`` in float64 for the penalised objective f.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((2, 2)); W = np.ones((2, 1)); H = np.ones((1, 2))
    >>> [float(abs(g).max()) for g in gradients(X, W, H, 2.0)]
    [0.0, 0.0]
    """
    pen = penalties or Penalties()
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if beta == 2:
        XHt = np.asarray(X @ H.T, dtype=np.float64)
        WtX = (np.asarray(X.T @ W).T if sp.issparse(X) else W.T @ X).astype(np.float64)
        gW = W @ (H @ H.T) - XHt
        gH = (W.T @ W) @ H - WtX
    else:
        gW = np.zeros_like(W)
        gH = np.zeros_like(H)
        if sp.issparse(X):
            X = X.tocsr()
            y = np.maximum(values_at_nonzeros(W, H, X), EPSILON)
            R = sp.csr_matrix((X.data * y ** (beta - 2), X.indices, X.indptr), shape=X.shape)
            gW -= np.asarray(R @ H.T)
            gH -= np.asarray(R.T @ W).T
        for rows in row_blocks(W.shape[0], H.shape[1]):
            WH = np.maximum(W[rows] @ H, EPSILON)
            P = WH ** (beta - 1)
            if not sp.issparse(X):
                P = P - np.asarray(X[rows], dtype=np.float64) * WH ** (beta - 2)
            gW[rows] += P @ H.T
            gH += W[rows].T @ P
    if pen.l1_W:
        gW += pen.l1_W
    if pen.l2_W:
        gW += pen.l2_W * W
    if pen.l1_H:
        gH += pen.l1_H
    if pen.l2_H:
        gH += pen.l2_H * H
    return gW, gH


def projected_gradient_norm(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    beta: float,
    penalties: Penalties | None = None,
    *,
    update_H: bool = True,
) -> float:
    """Frobenius norm of the projected gradient at (W, H)."""
    gW, gH = gradients(X, W, H, beta, penalties)
    pW = np.where(np.asarray(W) > 0, gW, np.minimum(gW, 0.0))
    s = float(np.vdot(pW, pW))
    if update_H:
        pH = np.where(np.asarray(H) > 0, gH, np.minimum(gH, 0.0))
        s += float(np.vdot(pH, pH))
    return s**0.5
