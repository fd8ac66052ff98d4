"""KL-NMF is PLSA: normalization, mass preservation, MU step = EM step, EM fixed point.

Orientation: X is documents × words. PLSA (asymmetric form) models
P(d, w) ∝ Σ_z P(z|d) P(w|z). With H's rows normalized to sum to one
(H[z] = P(w|z)) and W[d, z] = n_d P(z|d), the model matrix is WH.
"""

import numpy as np
import pytest

import nmfkit
from nmfkit.losses import beta_divergence
from nmfkit.solvers.mu import mu_update_H, mu_update_W


def plsa_normalize(W, H):
    """W ← W·diag(row sums of H), H row-normalized (WH unchanged)."""
    s = H.sum(axis=1)
    return W * s, H / s[:, None]


def em_step(X, W, H):
    """One EM iteration of PLSA in the (W, H) parametrization above."""
    P = W[:, :, None] * H[None, :, :]  # (d, z, w): n_d P(z|d) P(w|z)
    tot = P.sum(axis=1, keepdims=True)
    post = np.divide(P, tot, out=np.zeros_like(P), where=tot > 0)  # P(z | d, w)
    nz = X[:, None, :] * post  # expected counts n(d, w) P(z|d, w)
    H_new = nz.sum(axis=0)
    H_new /= H_new.sum(axis=1, keepdims=True)  # P(w|z)
    W_new = nz.sum(axis=2)  # n_d P(z|d)
    return W_new, H_new


def log_likelihood(X, W, H):
    P = W @ H
    nz = X > 0
    return float(np.sum(X[nz] * np.log(P[nz] / P.sum())))


@pytest.fixture
def corpus():
    rng = np.random.default_rng(0)
    topics = rng.dirichlet(np.full(30, 0.3), size=3)
    theta = rng.dirichlet(np.full(3, 0.5), size=40)
    X = np.vstack([rng.multinomial(60, t @ topics) for t in theta]).astype(float)
    W0 = rng.random((40, 3)) + 0.1
    H0 = rng.random((3, 30)) + 0.1
    return X, *plsa_normalize(W0, H0)


def test_mass_preserved_and_objective_is_minus_loglik(corpus):
    X, W, H = corpus
    consts = []
    for _ in range(20):
        W = mu_update_W(X, W.copy(), H, 1.0)
        assert (W @ H).sum() == pytest.approx(X.sum(), rel=1e-12)
        consts.append(beta_divergence(X, W, H, 1.0) + log_likelihood(X, W, H))
        H = mu_update_H(X, W, H.copy(), 1.0)
        W, H = plsa_normalize(W, H)
        assert (W @ H).sum() == pytest.approx(X.sum(), rel=1e-12)
        consts.append(beta_divergence(X, W, H, 1.0) + log_likelihood(X, W, H))
    np.testing.assert_allclose(consts, consts[0], rtol=1e-10)


def test_one_mu_step_equals_one_em_step(corpus):
    X, W, H = corpus
    W_em, H_em = em_step(X, W, H)
    # P(z|d) update: the MU W-step with normalized H
    W_mu = mu_update_W(X, W.copy(), H, 1.0)
    np.testing.assert_allclose(W_mu, W_em, rtol=1e-12, atol=1e-14)
    # P(w|z) update: the MU H-step from the same start, then row normalization
    H_mu = mu_update_H(X, W, H.copy(), 1.0)
    H_mu /= H_mu.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(H_mu, H_em, rtol=1e-12, atol=1e-14)


def test_converged_kl_nmf_is_an_em_fixed_point(corpus):
    X, W0, H0 = corpus
    res = nmfkit.factorize(X, 3, beta_loss="kullback-leibler", init="custom", W=W0, H=H0,
                           tol=0, max_iter=20000, canonical=False)
    W, H = plsa_normalize(res.W, res.H)
    W2, H2 = em_step(X, W, H)
    assert np.abs(H2 - H).max() < 1e-8
    assert np.abs(W2 - W).max() / W.max() < 1e-8
