"""AO-ADMM (Huang, Sidiropoulos & Liavas 2016): the Gram-form ADMM kernel and the solver."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

import nmfkit
import nmfkit.nnls.admm as admm_kernel_module
import nmfkit.solvers.admm as admm_solver_module
from conftest import match_cosines, planted, rel_err
from nmfkit.exceptions import IncompatibleOptionsError
from nmfkit.losses import Penalties, beta_divergence
from nmfkit.nnls import admm_nnls
from nmfkit.solvers import get_solver, list_solvers
from nmfkit.solvers.admm import solve_admm

# --------------------------------------------------------------------------- helpers


def gram_problem(rng: np.random.Generator, k: int, p: int, shift: float = 0.3):
    """G = CᵀC for a tall C, B = CᵀD with D of mixed sign (some zeros in the solution)."""
    C = rng.random((3 * k + 5, k))
    D = rng.random((C.shape[0], p)) - shift
    return C.T @ C, C.T @ D


def reference_nnls(G: np.ndarray, B: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Column-by-column scipy NNLS on the equivalent least-squares problem."""
    L = np.linalg.cholesky(G + l2 * np.eye(G.shape[0]))
    rhs = np.linalg.solve(L, B - l1)
    return np.column_stack([nnls(L.T, rhs[:, j])[0] for j in range(B.shape[1])])


def poisson_data(seed: int = 0, m: int = 200, n: int = 150, k: int = 5, mean: float = 5.0):
    """Counts drawn from a rank-k gamma–gamma intensity, and a positive random start."""
    rng = np.random.default_rng(seed)
    Lam = rng.gamma(0.5, 1.0, (m, k)) @ rng.gamma(0.5, 1.0, (k, n))
    X = rng.poisson(Lam * (mean / Lam.mean())).astype(float)
    W0 = rng.random((m, k)) + 0.1
    H0 = rng.random((k, n)) + 0.1
    s = np.sqrt(X.mean() / (W0 @ H0).mean())
    return X, W0 * s, H0 * s


# --------------------------------------------------------------------------- kernel


@pytest.mark.parametrize("module", [admm_kernel_module, admm_solver_module])
def test_doctests(module):
    res = doctest.testmod(module)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.5), (0.2, 0.7)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_matches_scipy_nnls(seed, l1, l2):
    rng = np.random.default_rng(seed)
    k, p = 6, 40
    G, B = gram_problem(rng, k, p)
    ref = reference_nnls(G, B, l1, l2)
    A0 = rng.random((k, p))
    A0_copy = A0.copy()
    A, U, n_iter = admm_nnls(G, B, A0, l1=l1, l2=l2, max_iter=20_000, tol=1e-14)
    np.testing.assert_array_equal(A0, A0_copy)  # pure: inputs untouched
    assert A.min() >= 0.0
    assert n_iter < 20_000
    np.testing.assert_allclose(A, ref, atol=1e-6 * max(1.0, np.abs(ref).max()))


def test_kernel_resumes_from_returned_dual():
    """(A, U) carry the whole state: 2 × 7 iterations equal 14 iterations."""
    rng = np.random.default_rng(3)
    G, B = gram_problem(rng, 5, 30)
    A0 = rng.random((5, 30))
    A1, U1, _ = admm_nnls(G, B, A0, max_iter=7, tol=0.0)
    A2, U2, _ = admm_nnls(G, B, A1, U1, max_iter=7, tol=0.0)
    A14, U14, _ = admm_nnls(G, B, A0, max_iter=14, tol=0.0)
    np.testing.assert_allclose(A2, A14, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(U2, U14, rtol=1e-12, atol=1e-14)


def test_kernel_warm_dual_needs_fewer_iterations():
    """The paper's point: with the converged dual, a re-solve stops at once."""
    rng = np.random.default_rng(4)
    G, B = gram_problem(rng, 5, 30)
    A, U, _ = admm_nnls(G, B, np.zeros((5, 30)), max_iter=5000, tol=1e-12)
    _, _, n_warm = admm_nnls(G, B, A, U, max_iter=100, tol=1e-6)
    _, _, n_cold = admm_nnls(G, B, A, None, max_iter=100, tol=1e-6)
    assert n_warm == 1
    assert n_cold > 1


def test_kernel_degenerate_gram():
    """A zero Gram matrix (all components dead) and a dead row stay finite."""
    B = np.zeros((3, 4))
    A, U, _ = admm_nnls(np.zeros((3, 3)), B, np.ones((3, 4)), max_iter=20)
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(U))
    G = np.diag([2.0, 0.0, 1.0])
    A, _, _ = admm_nnls(G, np.array([[2.0], [0.0], [-1.0]]), np.zeros((3, 1)),
                        max_iter=2000, tol=1e-12)
    np.testing.assert_allclose(A.ravel(), [1.0, 0.0, 0.0], atol=1e-8)


# --------------------------------------------------------------------------- registry


def test_registry_flags():
    spec = {d["name"]: d for d in list_solvers()}["admm"]
    assert spec["losses"] == ["frobenius", "kullback-leibler"]
    assert spec["sparse"] is True
    assert spec["weights"] is False
    assert "Huang" in spec["description"]


def test_itakura_saito_rejected_centrally():
    X = np.random.default_rng(0).random((10, 8)) + 0.1
    with pytest.raises(IncompatibleOptionsError, match="admm.*itakura-saito.*'mu'"):
        nmfkit.factorize(X, 2, solver="admm", beta_loss="itakura-saito")


def test_weights_rejected_centrally():
    X = np.random.default_rng(0).random((10, 8))
    M = np.ones_like(X)
    M[0, 0] = 0.0
    with pytest.raises(IncompatibleOptionsError, match="admm.*weights"):
        nmfkit.factorize(X, 2, solver="admm", weights=M)


# --------------------------------------------------------------------------- Frobenius


@pytest.mark.parametrize("sparse", [False, True])
def test_planted_recovery(sparse):
    X, W_true, H_true = planted(0, m=200, n=150, k=5, density=0.5)
    Xin = sp.csr_matrix(X) if sparse else X
    rng = np.random.default_rng(10)
    W0, H0 = rng.random((200, 5)), rng.random((5, 150))
    target = 0.5 * (1e-7 * np.linalg.norm(X)) ** 2  # ½‖X − WH‖² at relative error 1e-7

    res = solve_admm(Xin, W0, H0, max_iter=2000, tol=0,
                     callback=lambda st: st.loss < target)
    assert res.n_iter < 2000
    assert rel_err(X, res.W, res.H) < 1e-6
    assert match_cosines(H_true, res.H).min() >= 0.999
    assert match_cosines(W_true.T, res.W.T).min() >= 0.999
    assert res.extras["inner_iter_W"] >= res.n_iter


def test_dense_and_sparse_give_the_same_iterates():
    X, _, _ = planted(1)
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((200, 5)), rng.random((5, 150))
    a = solve_admm(X, W0, H0, max_iter=30, tol=0)
    b = solve_admm(sp.csr_matrix(X), W0, H0, max_iter=30, tol=0)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-8, atol=1e-10)
    # the Gram-form loss is exact to round-off relative to ½‖X‖²
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=0,
                               atol=1e-10 * a.loss_history[0])


def test_frobenius_penalties_reach_a_stationary_point():
    rng = np.random.default_rng(5)
    X = rng.random((60, 40))
    pen = Penalties(l1_W=0.5, l2_W=1.0, l1_H=0.3, l2_H=0.2)
    W0, H0 = rng.random((60, 4)), rng.random((4, 40))
    res = solve_admm(X, W0, H0, penalties=pen, max_iter=3000, tol=1e-7, stop_rule="pgrad")
    assert res.stop_reason == "tol"
    ref = get_solver("anls_bpp").func(X, W0, H0, penalties=pen, max_iter=3000, tol=1e-10)
    assert res.loss <= ref.loss * (1 + 1e-4), (res.loss, ref.loss)


def test_update_H_false_and_dtype():
    rng = np.random.default_rng(6)
    X = (rng.random((30, 3)) @ rng.random((3, 20))).astype(np.float32)
    W0 = rng.random((30, 3)).astype(np.float32)
    H0 = rng.random((3, 20)).astype(np.float32)
    for beta in (2.0, 1.0):
        res = solve_admm(X, W0, H0, beta=beta, update_H=False, max_iter=20, tol=0)
        np.testing.assert_array_equal(res.H, H0)
        assert res.W.dtype == np.float32
        assert res.loss < res.loss_history[0]


# --------------------------------------------------------------------------- KL


def test_kl_decreases_and_matches_mu():
    X, W0, H0 = poisson_data(0)
    n_iter = 100
    mu = get_solver("mu").func(X, W0, H0, beta=1.0, max_iter=n_iter, tol=0)
    res = solve_admm(X, W0, H0, beta=1.0, max_iter=n_iter, tol=0)
    h = res.loss_history
    assert res.n_iter == n_iter
    assert h[-1] < h[0]
    assert h[-1] < h[1:11].min()  # overall decrease (ADMM is not monotone step by step)
    assert np.isclose(h[-1], beta_divergence(X, res.W, res.H, 1.0), rtol=1e-12)
    assert res.loss <= 1.01 * mu.loss, (res.loss, mu.loss)


def test_kl_sparse_matches_dense():
    X, W0, H0 = poisson_data(1, m=60, n=40, k=3, mean=1.0)
    a = solve_admm(X, W0, H0, beta=1.0, max_iter=25, tol=0)
    b = solve_admm(sp.csr_matrix(X), W0, H0, beta=1.0, max_iter=25, tol=0)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-10)


def test_kl_scale_equivariant():
    """With the default ρ, X → cX gives iterates scaled by √c.

    (The loss history is only homogeneous where WH > 0 at the positive
    entries of X: elsewhere the divergence uses the floor ε.)
    """
    X, W0, H0 = poisson_data(2, m=50, n=40, k=3)
    c = 1000.0
    a = solve_admm(X, W0, H0, beta=1.0, max_iter=20, tol=0)
    b = solve_admm(c * X, np.sqrt(c) * W0, np.sqrt(c) * H0, beta=1.0, max_iter=20, tol=0)
    np.testing.assert_allclose(b.W, np.sqrt(c) * a.W, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b.H, np.sqrt(c) * a.H, rtol=1e-7, atol=1e-9)


def test_kl_stop_rule_ignores_increases():
    """The first ADMM iterations may raise the KL loss; that is not convergence."""
    X, W0, H0 = poisson_data(3)
    res = solve_admm(X, W0, H0, beta=1.0, max_iter=500, tol=1e-4)
    h = res.loss_history
    assert res.stop_reason == "tol"
    assert abs(h[-2] - h[-1]) < 1e-4 * h[-2]
    assert h[-1] < h[0]
    pg = solve_admm(X, W0, H0, beta=1.0, max_iter=300, tol=1e-2, stop_rule="pgrad")
    assert pg.stop_reason == "tol"


def test_kl_penalties():
    X, W0, H0 = poisson_data(4, m=60, n=50, k=3)
    pen = Penalties(l1_W=2.0, l2_W=1.0, l1_H=2.0, l2_H=1.0)
    res = solve_admm(X, W0, H0, beta=1.0, penalties=pen, max_iter=200, tol=0)
    plain = solve_admm(X, W0, H0, beta=1.0, max_iter=200, tol=0)
    assert res.loss < res.loss_history[0]
    assert np.isclose(res.loss, beta_divergence(X, res.W, res.H, 1.0) + pen.value(res.W, res.H))
    assert np.abs(res.H).sum() < np.abs(plain.H).sum()


# --------------------------------------------------------------------------- front doors


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize("sparse", [False, True])
def test_factorize_front_door(beta_loss, sparse):
    X, _, _ = poisson_data(5, m=80, n=60, k=4)
    Xin = sp.csr_matrix(X) if sparse else X
    res = nmfkit.factorize(Xin, 4, solver="admm", beta_loss=beta_loss, random_state=0,
                           max_iter=400)
    assert res.solver == "admm"
    assert res.W.shape == (80, 4) and res.H.shape == (4, 60)
    assert res.loss < res.loss_history[0]
    beta = 2.0 if beta_loss == "frobenius" else 1.0
    hals_or_mu = nmfkit.factorize(Xin, 4, solver="hals" if beta == 2 else "mu",
                                  beta_loss=beta_loss, random_state=0, max_iter=400)
    assert res.loss <= 1.05 * hals_or_mu.loss


def test_estimator_kl():
    X, _, _ = poisson_data(6, m=80, n=60, k=4)
    model = nmfkit.NMF(n_components=4, solver="admm", beta_loss="kullback-leibler",
                       random_state=0, max_iter=400)
    W = model.fit_transform(X)
    assert W.shape == (80, 4)
    assert model.components_.shape == (4, 60)
    assert model.n_iter_ >= 1
    W2 = model.transform(X[:10])
    assert W2.shape == (10, 4) and np.all(W2 >= 0)
    assert np.isfinite(model.reconstruction_err_)
