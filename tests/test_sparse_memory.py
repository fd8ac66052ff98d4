"""Sparse input is never densified: tracemalloc ceiling on a huge sparse matrix."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from conftest import random_csr


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


def _rows_problem(m=200_000, n=2_000, nnz=400_000):
    return random_csr(m, n, nnz, seed=0)


def test_row_layout_fit_holds_one_w_besides_xht(monkeypatch):
    """The fit works in the start's memory: W and XHᵀ, not a third n_samples × k array."""
    import nmfkit.solvers.hals as hals

    monkeypatch.setattr(hals, "ROWS_LAYOUT_MIN", 1000)
    X = _rows_problem()
    k = 10
    w_bytes = X.shape[0] * k * 8
    nmfkit.factorize(X, k, init="random", random_state=0, max_iter=1, tol=0)  # compile
    tracemalloc.start()
    try:
        res = nmfkit.factorize(X, k, init="random", random_state=0, max_iter=3, tol=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # start, loop and canonical form: 2.03 W here; with the start copied 3.03 W
    assert peak < 2.5 * w_bytes, peak / w_bytes
    # the same fit as the solver run on copies of the same start
    W0, H0 = nmfkit.init.initialize(X, k, "random", random_state=0)
    ref = nmfkit.solvers.hals.solve_hals(X, W0.copy(), H0.copy(), max_iter=3, tol=0)
    W, H, _ = nmfkit._core.canonicalize(ref.W, ref.H)
    np.testing.assert_allclose(res.W, W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.H, H, rtol=1e-12, atol=1e-14)


def test_solver_overwrites_input_only_when_asked(monkeypatch):
    import nmfkit.solvers.hals as hals

    monkeypatch.setattr(hals, "ROWS_LAYOUT_MIN", 1000)
    X = _rows_problem(20_000, 500, 40_000)
    W0, H0 = nmfkit.init.initialize(X, 4, "random", random_state=0)
    keep = W0.copy()
    res = hals.solve_hals(X, W0, H0, max_iter=2, tol=0)
    np.testing.assert_array_equal(W0, keep)  # default: the caller's arrays are left alone
    assert not np.shares_memory(res.W, W0)
    res2 = hals.solve_hals(X, W0, H0, max_iter=2, tol=0, overwrite_input=True)
    assert np.shares_memory(res2.W, W0)
    np.testing.assert_array_equal(res2.W, res.W)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_canonicalize_in_place_equals_copy(dtype):
    from nmfkit._core import canonicalize

    rng = np.random.default_rng(1)
    W = rng.random((70_000, 6)).astype(dtype)  # more rows than one block
    H = rng.random((6, 30)).astype(dtype)
    W[:, 2] *= 50  # reorders the components
    H[4] = 0  # a zero component goes last
    W_ref, H_ref, order = canonicalize(W, H)
    assert order.tolist() != list(range(6)) and order[-1] == 4
    Wc, Hc = W.copy(), H.copy()
    W2, H2, order2 = canonicalize(Wc, Hc, copy=False)
    assert W2 is Wc and H2 is Hc  # worked in place
    np.testing.assert_array_equal(order2, order)
    np.testing.assert_array_equal(W2, W_ref)
    np.testing.assert_array_equal(H2, H_ref)
    # the column norms are float64 sums, without a float64 copy of W
    tracemalloc.start()
    try:
        canonicalize(Wc, Hc, copy=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * W.nbytes, peak / W.nbytes
