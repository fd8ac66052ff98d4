"""Planted recovery and KKT conditions for every solver, dense and sparse."""

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from conftest import match_cosines, planted, rel_err
from nmfkit.losses.gradient import gradients

# (solver, error threshold, iterations) as in the foundation issue
CASES = [
    ("hals", 1e-10, 500),
    ("anls_bpp", 1e-10, 500),
    ("active_set", 1e-10, 500),
    ("nesterov", 1e-6, 2000),
    ("pgd", 1e-6, 2000),
    ("mu", 1e-3, 2000),
]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("solver,thresh,iters", CASES)
def test_planted_recovery(solver, thresh, iters, sparse):
    X, Wt, Ht = planted(seed=0)
    Xin = sp.csr_matrix(X) if sparse else X
    res = nmfkit.factorize(Xin, 5, solver=solver, init="nndsvda", random_state=0,
                           tol=0, max_iter=iters)
    assert rel_err(X, res.W, res.H) < thresh
    if solver != "mu":
        assert match_cosines(Ht, res.H).min() >= 0.999


@pytest.mark.parametrize("solver", ["hals", "anls_bpp", "active_set", "nesterov", "pgd"])
def test_kkt_at_convergence(solver):
    rng = np.random.default_rng(1)
    X = rng.random((60, 40))  # not exactly low rank: a genuine KKT point, not a zero fit
    res = nmfkit.factorize(X, 4, solver=solver, random_state=0, tol=0, max_iter=3000)
    W, H = res.W, res.H
    assert W.min() >= 0 and H.min() >= 0
    gW, gH = gradients(X, W, H, 2.0)
    scale = np.linalg.norm(X) ** 2
    tol = 1e-6 * scale
    assert gW.min() >= -tol and gH.min() >= -tol
    assert np.abs(W * gW).max() <= tol and np.abs(H * gH).max() <= tol


def test_mu_kkt_kl():
    rng = np.random.default_rng(2)
    X = rng.random((30, 20)) + 0.1
    res = nmfkit.factorize(X, 3, beta_loss="kullback-leibler", random_state=0, tol=0,
                           max_iter=5000)
    gW, gH = gradients(X, res.W, res.H, 1.0)
    # complementarity holds; the sign condition is not checked for MU, whose entries
    # that were floored to exactly 0 (as scikit-learn does for beta <= 1) stay 0.
    assert np.abs(res.W * gW).max() < 1e-4 and np.abs(res.H * gH).max() < 1e-4
