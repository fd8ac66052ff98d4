"""Multiplicative updates: monotone objective and agreement with scikit-learn."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF as SkNMF
from sklearn.decomposition._nmf import _beta_divergence

import nmfkit
from nmfkit.solvers.mu import mu_gamma, solve_mu


def _data(sparse: bool, positive: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.random((40, 30)) @ rng.random((30, 25))
    if positive:
        X += 0.1
    else:
        X *= rng.random(X.shape) < 0.4
    W0 = rng.random((40, 4)) + 0.1
    H0 = rng.random((4, 25)) + 0.1
    return (sp.csr_matrix(X) if sparse else X), W0, H0


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("beta", [2.0, 1.0, 0.0, 0.5, 1.5, 2.5])
def test_monotone_objective(sparse, beta):
    positive = beta <= 0 or not sparse
    if sparse and beta <= 0:
        # IS on sparse data needs every entry stored and positive
        rng = np.random.default_rng(0)
        X = sp.csr_matrix(rng.random((40, 25)) + 0.1)
        W0, H0 = rng.random((40, 4)) + 0.1, rng.random((4, 25)) + 0.1
    else:
        X, W0, H0 = _data(sparse, positive)
    res = solve_mu(X, W0, H0, beta=beta, tol=0, max_iter=150)
    h = res.loss_history
    ulps = 8 * np.spacing(h[:-1])
    assert np.all(np.diff(h) <= ulps), np.max(np.diff(h))
    assert h[-1] < h[0]


def test_gamma():
    assert mu_gamma(0.0) == 0.5
    assert mu_gamma(1.5) == 1.0
    assert mu_gamma(3.0) == 0.5


@pytest.mark.parametrize(
    "sparse,beta_loss",
    [(False, "frobenius"), (True, "frobenius"), (False, "kullback-leibler"), (False, 1.5)],
)
def test_matches_sklearn_mu(sparse, beta_loss):
    X, W0, H0 = _data(sparse, positive=not sparse)
    sk = SkNMF(4, solver="mu", beta_loss=beta_loss, init="custom", tol=0, max_iter=200)
    Wsk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    res = nmfkit.factorize(
        X, 4, solver="mu", beta_loss=beta_loss, init="custom", W=W0, H=H0, tol=0, max_iter=200
    )
    beta = {"frobenius": 2, "kullback-leibler": 1}.get(beta_loss, beta_loss)
    ref = _beta_divergence(X, Wsk, sk.components_, beta)
    ours = _beta_divergence(X, res.W, res.H, beta)
    assert abs(ours - ref) / ref < 1e-8


@pytest.mark.parametrize("sparse,beta_loss", [(True, "kullback-leibler"), (False, 0.5)])
def test_not_worse_than_sklearn_elsewhere(sparse, beta_loss):
    X, W0, H0 = _data(sparse, positive=not sparse)
    sk = SkNMF(4, solver="mu", beta_loss=beta_loss, init="custom", tol=0, max_iter=200)
    Wsk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    res = nmfkit.factorize(
        X, 4, solver="mu", beta_loss=beta_loss, init="custom", W=W0, H=H0, tol=0, max_iter=200
    )
    beta = {"kullback-leibler": 1}.get(beta_loss, beta_loss)
    ref = _beta_divergence(X, Wsk, sk.components_, beta)
    assert _beta_divergence(X, res.W, res.H, beta) <= ref * (1 + 1e-6)


def test_mu_update_w_given_numerator_is_the_computed_one_and_checked():
    """mu_update_W with the KL numerator passed in gives the update that computes
    it; a numerator of the wrong shape is a clear error."""
    from nmfkit.solvers.mu import _ratio_at_data, mu_update_W

    rng = np.random.default_rng(2)
    X = sp.csr_matrix(rng.poisson(2.0, (30, 20)).astype(float))
    W, H = rng.random((30, 4)) + 0.1, rng.random((4, 20)) + 0.1
    num = _ratio_at_data(X, W, H, 1.0) @ H.T
    np.testing.assert_allclose(mu_update_W(X, W.copy(), H, 1.0, numerator=num),
                               mu_update_W(X, W.copy(), H, 1.0), rtol=1e-12)
    with pytest.raises(ValueError, match="numerator has shape"):
        mu_update_W(X, W.copy(), H, 1.0, numerator=num[:, :3])
