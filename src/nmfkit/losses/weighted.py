"""Weighted β-divergence ``Σ_ij M_ij d_β(X_ij | (WH)_ij)`` (float64 accumulation).

Dense weights are evaluated in row blocks; pattern weights (sparse) only at
their stored entries, in O(nnz·k).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..backend import row_blocks, values_at_nonzeros
from .beta import EPSILON

__all__ = ["beta_terms", "weighted_beta_divergence"]


def beta_terms(x: np.ndarray, y: np.ndarray, beta: float) -> np.ndarray:
    """Entry-wise ``d_β(x | y)`` (float64), with ``0·log 0 = 0`` and y floored at ε for β < 2.

    Examples
    --------
    >>> beta_terms(np.array([1.0]), np.array([2.0]), 2.0).tolist()
    [0.5]
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if beta == 2:
        return 0.5 * (x - y) ** 2
    y = np.maximum(y, EPSILON)
    if beta == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            xlog = np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0) / y), 0.0)
        return xlog - x + y
    if beta == 0:
        r = x / y
        return r - np.log(r) - 1.0
    return (x**beta + (beta - 1) * y**beta - beta * x * y ** (beta - 1)) / (beta * (beta - 1))


def weighted_beta_divergence(X: Any, W: np.ndarray, H: np.ndarray, beta: float, weights) -> float:
    """Weighted divergence for validated :class:`~nmfkit._weights.EntryWeights`."""
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if weights.is_pattern:
        y = values_at_nonzeros(W, H, weights.csr)
        return float(weights.w @ beta_terms(weights.x, y, beta))
    M = weights.dense
    total = 0.0
    for rows in row_blocks(X.shape[0], X.shape[1]):
        xb = X[rows]
        xb = xb.toarray() if sp.issparse(xb) else np.asarray(xb)  # one row block only
        y = W[rows] @ H
        total += float(np.sum(M[rows] * beta_terms(xb, y, beta)))
    return total
