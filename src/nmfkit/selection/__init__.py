"""Rank selection: consensus clustering, the sequential-NMF FRV elbow, cross-validation.

Examples
--------
>>> import numpy as np
>>> from nmfkit.selection import select_rank
>>> rng = np.random.default_rng(0)
>>> W = np.kron(np.eye(3), np.ones((8, 1))) + 0.1 * rng.random((24, 3))
>>> X = W @ (rng.random((3, 15)) * (rng.random((3, 15)) < 0.5)) + 0.01 * rng.random((24, 15))
>>> sel = select_rank(X, [2, 3, 4], n_runs=4, random_state=0, max_iter=2000)
>>> sel.best_k, sel.consensus_[3].shape
(3, (24, 24))
"""

from .rank import (
    RankSelection,
    connectivity,
    consensus_matrix,
    consensus_order,
    cophenetic_correlation,
    dispersion,
    select_rank,
)

__all__ = [
    "RankSelection",
    "connectivity",
    "consensus_matrix",
    "consensus_order",
    "cophenetic_correlation",
    "dispersion",
    "select_rank",
]
