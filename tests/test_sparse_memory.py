"""Sparse input is never densified: tracemalloc ceiling on a huge sparse matrix."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_sparse_fit_memory_ceiling(beta_loss):
    m, n = 40_000, 20_000  # dense float64 form: 6.4 GB
    dense_bytes = m * n * 8
    # (scipy.sparse.random would draw from all m·n positions: 6 GB of scratch)
    rng = np.random.default_rng(0)
    nnz = int(2e-4 * m * n)
    X = sp.csr_matrix(
        (rng.random(nnz), (rng.integers(0, m, nnz), rng.integers(0, n, nnz))), shape=(m, n)
    )
    tracemalloc.start()
    try:
        res = nmfkit.factorize(X, 5, beta_loss=beta_loss, init="random", random_state=0,
                               max_iter=3, tol=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(res.W).all()
    assert dense_bytes > 4e9
    assert peak < 0.05 * dense_bytes, peak
