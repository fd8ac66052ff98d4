"""The frozen result every solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FitResult", "STOP_REASONS"]

#: Why a run stopped.
STOP_REASONS = ("tol", "max_iter", "max_time", "callback", "exact")


@dataclass(frozen=True)
class FitResult:
    """Outcome of one factorization run.

    Attributes
    ----------
    W : ndarray of shape (n_samples, k)
        Per-sample coefficients.
    H : ndarray of shape (k, n_features)
        The basis (``components_``).
    n_iter : int
        Outer iterations performed.
    converged : bool
        True when the stopping tolerance (or an exact fit) ended the run.
    stop_reason : str
        One of ``"tol"``, ``"max_iter"``, ``"max_time"``, ``"callback"``, ``"exact"``.
    loss_history : ndarray of float64
        Objective (divergence + penalties) at the start and after every iteration.
    elapsed : float
        Wall-clock seconds spent in the solver.
    solver : str
        Registered name of the solver that produced the result.
    beta : float
        The β of the divergence that was minimised.

    Examples
    --------
    >>> import numpy as np, nmfkit
    >>> X = np.random.default_rng(0).random((20, 10))
    >>> res = nmfkit.factorize(X, 3, random_state=0)
    >>> res.W.shape, res.H.shape, res.loss_history[-1] <= res.loss_history[0]
    ((20, 3), (3, 10), True)
    """

    W: Any
    H: Any
    n_iter: int
    converged: bool
    stop_reason: str
    loss_history: np.ndarray
    elapsed: float
    solver: str = ""
    beta: float = 2.0
    extras: dict = field(default_factory=dict)

    @property
    def loss(self) -> float:
        """Final objective value."""
        return float(self.loss_history[-1])

    def replace(self, **changes: Any) -> FitResult:
        """Return a copy with some fields replaced."""
        from dataclasses import replace

        return replace(self, **changes)
