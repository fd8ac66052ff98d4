"""The fused, compiled KL numerators and objective on CSR data against the NumPy path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from conftest import count_calls
from nmfkit.losses import EPSILON, beta_divergence
from nmfkit.solvers import _mu_compiled as mc
from nmfkit.solvers.mu import _ratio_at_data

pytest.importorskip("numba")


@pytest.fixture
def counts():
    rng = np.random.default_rng(3)
    W, H = rng.gamma(1.0, 1.0, (80, 6)), rng.gamma(1.0, 1.0, (6, 50))
    X = sp.csr_matrix(rng.poisson(W @ H * 0.3).astype(float))
    X.data[X.indptr[0] : X.indptr[1]] = 0.0  # an empty row
    X.eliminate_zeros()
    W0, H0 = rng.random((80, 6)) + 0.1, rng.random((6, 50)) + 0.1
    return X, W0, H0


@pytest.fixture
def always(monkeypatch):
    monkeypatch.setattr(mc, "MIN_WORK", 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numerators_equal_numpy(counts, always, dtype):
    X, W, H = counts
    X, W, H = X.astype(dtype), W.astype(dtype), H.astype(dtype)
    assert mc.kl_numerators_available(X, W, H)
    R = _ratio_at_data(X, W, H, 1.0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(mc.kl_numerator_W(X, W, H, EPSILON), R @ H.T, rtol=tol)
    np.testing.assert_allclose(mc.kl_numerator_H(X, W, H, EPSILON), (R.T @ W).T, rtol=tol)


def test_floor_matches_numpy_path(counts, always):
    X, W, H = counts
    H = H.copy()
    H[:, 3] = 0.0  # WH = 0 at column 3: floored at EPSILON, as in the NumPy path
    R = _ratio_at_data(X, W, H, 1.0)
    np.testing.assert_allclose(mc.kl_numerator_W(X, W, H, EPSILON), R @ H.T, rtol=1e-12)


def test_objective_equals_beta_divergence(counts, always):
    X, W, H = counts
    got = mc.kl_divergence_csr(X, W, H, EPSILON)
    assert got == pytest.approx(beta_divergence(X, W, H, 1.0), rel=1e-12)


def test_fit_equals_numpy_path(counts, always, monkeypatch):
    X, W0, H0 = counts
    kw = dict(solver="mu", beta_loss=1, init="custom", W=W0, H=H0, max_iter=60, tol=0)
    fused = nmfkit.factorize(X, 6, **kw)
    monkeypatch.setattr(mc, "MIN_WORK", np.inf)
    plain = nmfkit.factorize(X, 6, **kw)
    np.testing.assert_allclose(fused.W, plain.W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused.loss_history, plain.loss_history, rtol=1e-11)
    assert np.all(np.diff(fused.loss_history) <= 1e-12 * fused.loss_history[:-1])


def test_not_used_where_it_does_not_apply(counts):
    X, W, H = counts
    assert not mc.kl_numerators_available(X.toarray(), W, H)  # dense
    assert not mc.kl_numerators_available(X.tocsc(), W, H)  # not CSR
    assert not mc.kl_numerators_available(X, W.astype(np.float32), H)  # mixed dtypes


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_pass_gives_the_numerator_and_the_objective_exactly(counts, always, dtype):
    """The W-numerator pass that also sums the objective: both results equal, bit
    for bit, those of the two one-purpose passes (float32: the terms from float64
    products, as kl_divergence_csr takes them)."""
    X, W, H = counts
    X, W, H = X.astype(dtype), W.astype(dtype), H.astype(dtype)
    H[:, 3] = 0.0  # floored entries on both sides
    num, d = mc.kl_numerator_W_and_divergence(X, W, H, EPSILON)
    np.testing.assert_array_equal(num, mc.kl_numerator_W(X, W, H, EPSILON))
    assert d == mc.kl_divergence_csr(X, W, H, EPSILON)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lagged_objective_loop_equals_the_three_pass_loop(counts, always, dtype, monkeypatch):
    """The KL loop takes each iteration's objective from the next W-update's pass
    (two passes over the non-zeros per iteration instead of three): the same
    iterates, objectives and stopping iteration as the loop that computes the
    objective on its own, with penalties and with a tol stop."""
    from nmfkit.solvers import mu as mu_mod

    X, W0, H0 = counts
    X, W0, H0 = X.astype(dtype), W0.astype(dtype), H0.astype(dtype)
    kw = dict(solver="mu", beta_loss=1, init="custom", W=W0, H=H0, max_iter=80,
              alpha_W=0.01, l1_ratio=0.3, canonical=False)
    passes = count_calls(monkeypatch, mu_mod, "kl_numerator_W_and_divergence")
    fits = [nmfkit.factorize(X, 6, tol=tol, **kw) for tol in (0, 1e-3)]
    assert len(passes) == fits[0].n_iter + 1 + fits[1].n_iter + 1
    assert fits[1].n_iter < 80  # the tol stop happened
    monkeypatch.setattr(mu_mod, "LAGGED_KL_OBJECTIVE", False)  # the three-pass loop
    for fit, tol in zip(fits, (0, 1e-3), strict=True):
        ref = nmfkit.factorize(X, 6, tol=tol, **kw)
        assert ref.n_iter == fit.n_iter
        np.testing.assert_array_equal(ref.loss_history, fit.loss_history)
        np.testing.assert_array_equal(ref.W, fit.W)
        np.testing.assert_array_equal(ref.H, fit.H)
    assert len(passes) == fits[0].n_iter + fits[1].n_iter + 2  # not used by the refs
