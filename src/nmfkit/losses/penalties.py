"""Elastic-net penalties on W and H, scaled exactly as scikit-learn scales them.

The objective minimised by every solver is::

    D_β(X | WH) + l1_W ‖W‖₁ + ½ l2_W ‖W‖²_F + l1_H ‖H‖₁ + ½ l2_H ‖H‖²_F

with, as in :class:`sklearn.decomposition.NMF`::

    l1_W = alpha_W · l1_ratio · n_features      l2_W = alpha_W · (1 − l1_ratio) · n_features
    l1_H = alpha_H · l1_ratio · n_samples       l2_H = alpha_H · (1 − l1_ratio) · n_samples

and ``alpha_H="same"`` meaning ``alpha_H = alpha_W``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Penalties"]


@dataclass(frozen=True)
class Penalties:
    """Absolute penalty weights (already scaled); all zero by default.

    Examples
    --------
    >>> p = Penalties.from_alpha(alpha_W=0.1, alpha_H="same", l1_ratio=1.0,
    ...                          n_samples=10, n_features=4)
    >>> (p.l1_W, p.l1_H)
    (0.4, 1.0)
    """

    l1_W: float = 0.0
    l2_W: float = 0.0
    l1_H: float = 0.0
    l2_H: float = 0.0

    @classmethod
    def from_alpha(
        cls,
        *,
        alpha_W: float = 0.0,
        alpha_H: float | str = "same",
        l1_ratio: float = 0.0,
        n_samples: int,
        n_features: int,
    ) -> Penalties:
        aH = alpha_W if (isinstance(alpha_H, str) and alpha_H == "same") else float(alpha_H)
        return cls(
            l1_W=float(alpha_W * l1_ratio * n_features),
            l2_W=float(alpha_W * (1.0 - l1_ratio) * n_features),
            l1_H=float(aH * l1_ratio * n_samples),
            l2_H=float(aH * (1.0 - l1_ratio) * n_samples),
        )

    @property
    def any(self) -> bool:
        return bool(self.l1_W or self.l2_W or self.l1_H or self.l2_H)

    @property
    def has_W(self) -> bool:
        return bool(self.l1_W or self.l2_W)

    @property
    def has_H(self) -> bool:
        return bool(self.l1_H or self.l2_H)

    def swap(self) -> Penalties:
        """Penalties of the transposed problem Xᵀ ≈ HᵀWᵀ."""
        return Penalties(l1_W=self.l1_H, l2_W=self.l2_H, l1_H=self.l1_W, l2_H=self.l2_W)

    def value(self, W: Any, H: Any) -> float:
        """Penalty term of the objective, in float64."""
        if not self.any:
            return 0.0
        W = np.asarray(W, dtype=np.float64)
        H = np.asarray(H, dtype=np.float64)
        out = 0.0
        if self.l1_W:
            out += self.l1_W * float(W.sum())
        if self.l2_W:
            out += 0.5 * self.l2_W * float(np.vdot(W, W))
        if self.l1_H:
            out += self.l1_H * float(H.sum())
        if self.l2_H:
            out += 0.5 * self.l2_H * float(np.vdot(H, H))
        return out

    def scaled(self, c: float, beta: float) -> Penalties:
        """Penalties for data scaled by ``1/c`` (factors by ``c^-½``), objective by ``c^-β``.

        Used when X is rescaled internally to avoid overflow: the minimisers
        of the scaled problem map back exactly to those of the original.
        """
        if not self.any:
            return self
        s1 = float(np.exp((0.5 - beta) * np.log(c)))
        s2 = float(np.exp((1.0 - beta) * np.log(c)))
        return Penalties(self.l1_W * s1, self.l2_W * s2, self.l1_H * s1, self.l2_H * s2)
