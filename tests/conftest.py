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


def random_csr(m: int, n: int, nnz: int, seed: int = 0, offset: float = 0.0) -> sp.csr_matrix:
    """A canonical CSR matrix with about ``nnz`` uniform entries (+ ``offset``) at random
    positions (drawn directly: ``scipy.sparse.random`` needs scratch for all m·n)."""
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(
        (rng.random(nnz) + offset, (rng.integers(0, m, nnz), rng.integers(0, n, nnz))),
        shape=(m, n),
    )
    X.sum_duplicates()
    return X


def unsorted_rows(X: sp.csr_matrix, seed: int = 0) -> sp.csr_matrix:
    """The same matrix with each row's stored entries in a random order (unsorted CSR)."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        perm = lo + rng.permutation(hi - lo)
        X.indices[lo:hi], X.data[lo:hi] = X.indices[perm], X.data[perm]
    X.has_sorted_indices = False
    return X


def split_entry(X: sp.csr_matrix, row: int, parts=None) -> sp.csr_matrix:
    """X with the first stored entry of ``row`` stored as several duplicates adding up
    to it (``parts``; default two halves): the same matrix, not in canonical form."""
    p = X.indptr[row]
    parts = np.asarray([X.data[p] / 2] * 2 if parts is None else parts, dtype=X.dtype)
    data = np.r_[X.data[:p], parts, X.data[p + 1:]]
    indices = np.r_[X.indices[:p], np.full(parts.size, X.indices[p]), X.indices[p + 1:]]
    indptr = X.indptr.copy()
    indptr[row + 1:] += parts.size - 1
    return sp.csr_matrix((data, indices, indptr), shape=X.shape)


def count_calls(monkeypatch, owner, name: str) -> list:
    """Replace ``owner.name`` by a wrapper that records each call, for the test's
    duration; returns the list that grows by one entry per call."""
    calls: list = []
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


@pytest.fixture
def rng():
    return np.random.default_rng(0)
