"""Shared fixtures: planted factorizations and helpers."""

from __future__ import annotations

import os

# scikit-learn only runs its array-API estimator check when SciPy was imported with this set.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment


def planted(seed: int = 0, m: int = 200, n: int = 150, k: int = 5, density: float = 0.5):
    """X = W* H* with uniform factors, (1 - density) of their entries zeroed."""
    rng = np.random.default_rng(seed)
    W = rng.random((m, k)) * (rng.random((m, k)) < density)
    H = rng.random((k, n)) * (rng.random((k, n)) < density)
    return W @ H, W, H


def match_cosines(H_true: np.ndarray, H_est: np.ndarray) -> np.ndarray:
    """Per-component cosine after Hungarian matching of the rows."""
    A = H_true / np.linalg.norm(H_true, axis=1, keepdims=True)
    nrm = np.linalg.norm(H_est, axis=1, keepdims=True)
    B = H_est / np.where(nrm == 0, 1, nrm)
    C = A @ B.T
    r, c = linear_sum_assignment(-C)
    return C[r, c]


def rel_err(X, W, H) -> float:
    Xd = X.toarray() if sp.issparse(X) else X
    return float(np.linalg.norm(Xd - W @ H) / np.linalg.norm(Xd))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
