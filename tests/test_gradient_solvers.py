"""Gradient-type Gram-form NNLS kernels (Lin's PGD, NeNMF) and their solvers."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

from conftest import match_cosines, planted, rel_err
from nmfkit.losses import Penalties
from nmfkit.losses.gradient import gradients
from nmfkit.nnls import nesterov_nnls, pgd_nnls
from nmfkit.solvers import get_solver, list_solvers
from nmfkit.solvers.nesterov import solve_nesterov
from nmfkit.solvers.pgd import solve_pgd

KERNELS = {"pgd": pgd_nnls, "nesterov": nesterov_nnls}
SOLVERS = {"pgd": solve_pgd, "nesterov": solve_nesterov}


def objective(G, B, A, l1=0.0, l2=0.0):
    return 0.5 * np.vdot(A, G @ A) - np.vdot(B, A) + l1 * A.sum() + 0.5 * l2 * np.vdot(A, A)


def gram_problem(seed, m=30, k=6, p=8, shift=0.0):
    """``G = CᵀC``, ``B = CᵀD − shift`` (a shift makes some optimal entries 0)."""
    rng = np.random.default_rng(seed)
    C = rng.random((m, k))
    D = rng.random((m, p))
    return C.T @ C, C.T @ D - shift, rng.random((k, p))


def scipy_reference(G, B, l1=0.0, l2=0.0):
    """Column-by-column ``scipy.optimize.nnls`` of the same problem.

    With ``R`` the Cholesky factor of ``G + l2 I`` and ``d = R⁻ᵀ(B − l1)``,
    ``½‖R a − d‖²`` equals the kernel objective up to a constant.
    """
    R = np.linalg.cholesky(G + l2 * np.eye(len(G))).T
    D = np.linalg.solve(R.T, B - l1)
    return np.column_stack([nnls(R, D[:, j], maxiter=1000)[0] for j in range(B.shape[1])])


def run_to_convergence(name, G, B, A0, **kw):
    extra = {"min_iter": 1} if name == "nesterov" else {}
    return KERNELS[name](G, B, A0, max_iter=100_000, tol=1e-11, **kw, **extra)


# ----------------------------------------------------------------- kernels


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.5), (0.2, 0.7)])
@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_kernel_matches_scipy_nnls_and_kkt(name, l1, l2):
    G, B, A0 = gram_problem(1, shift=1.5)
    A, n = run_to_convergence(name, G, B, A0, l1=l1, l2=l2)
    ref = scipy_reference(G, B, l1, l2)
    assert np.any(ref == 0) and np.any(ref > 0)  # both kinds of KKT conditions occur
    np.testing.assert_allclose(A, ref, atol=1e-6)
    grad = G @ A - B + l1 + l2 * A
    assert A.min() >= 0
    assert grad.min() >= -1e-6
    assert np.abs(A * grad).max() < 1e-6
    assert 0 < n < 100_000


@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_kernel_is_pure_and_vectorized(name):
    G, B, A0 = gram_problem(2)
    keep = A0.copy()
    A, _ = run_to_convergence(name, G, B, A0)
    np.testing.assert_array_equal(A0, keep)
    # Solving all columns at once equals solving them one by one.
    for j in range(B.shape[1]):
        aj, _ = run_to_convergence(name, G, B[:, [j]], A0[:, [j]])
        np.testing.assert_allclose(aj[:, 0], A[:, j], atol=1e-7)


@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_kernel_dead_row_stays_finite(name):
    G, B, A0 = gram_problem(3, shift=1.0)
    G[2, :] = 0.0
    G[:, 2] = 0.0
    B[2] = 5.0  # unbounded direction if the row were allowed to move
    A, _ = run_to_convergence(name, G, B, A0)
    assert np.all(np.isfinite(A))
    np.testing.assert_array_equal(A[2], A0[2])
    live = [0, 1, 3, 4, 5]
    ref = scipy_reference(G[np.ix_(live, live)], B[live])
    np.testing.assert_allclose(A[live], ref, atol=1e-6)
    # An all-zero Gram leaves A unchanged.
    Z, n = KERNELS[name](np.zeros_like(G), B, A0)
    np.testing.assert_array_equal(Z, A0)


def ill_conditioned_problem():
    rng = np.random.default_rng(1)
    C = rng.random((40, 8))
    C[:, 1] = C[:, 0] + 0.01 * rng.random(40)
    return C.T @ C, C.T @ rng.random((40, 6)) - 2.0, rng.random((8, 6))


def plain_nesterov_objectives(G, B, A, n):
    """Textbook accelerated projected gradient, no safeguard (a reference)."""
    L = np.linalg.norm(G, 2)
    Z, t, out = A.copy(), 1.0, []
    for _ in range(n):
        Y = np.maximum(Z - (G @ Z - B) / L, 0.0)
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        Z, A, t = Y + (t - 1.0) / t_next * (Y - A), Y, t_next
        out.append(objective(G, B, A))
    return np.array(out)


@pytest.mark.parametrize("l1,l2", [(0.0, 0.0), (0.1, 0.2)])
@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_kernel_steps_never_increase_objective(name, l1, l2):
    G, B, A0 = ill_conditioned_problem()
    if name == "nesterov" and not (l1 or l2):
        # Without the restart safeguard the momentum does increase f here.
        assert np.any(np.diff(plain_nesterov_objectives(G, B, A0, 60)) > 0)
    extra = {"min_iter": 0} if name == "nesterov" else {}
    prev = objective(G, B, A0, l1, l2)
    for j in range(1, 61):  # the j-step iterate, for every j
        A, n = KERNELS[name](G, B, A0, l1=l1, l2=l2, max_iter=j, tol=0.0, **extra)
        f = objective(G, B, A, l1, l2)
        assert f <= prev + 1e-13 * abs(prev), (j, f, prev)
        prev = f
    assert n == 60  # iterations are counted


def test_pgd_returns_zero_iterations_when_solved():
    G, B, A0 = gram_problem(4, shift=1.0)
    A, _ = run_to_convergence("pgd", G, B, A0)
    again, n = pgd_nnls(G, B, A, tol=1e-6)
    assert n == 0
    np.testing.assert_array_equal(again, A)


def test_nesterov_respects_min_and_max_iter():
    G, B, A0 = gram_problem(5, shift=1.0)
    _, n = nesterov_nnls(G, B, A0, min_iter=7, tol=1e10)  # tolerance met from the start
    assert n == 7
    _, n = nesterov_nnls(G, B, A0, min_iter=7, max_iter=3, tol=1e10)
    assert n == 3


# ----------------------------------------------------------------- solvers


def test_registered():
    names = {d["name"]: d for d in list_solvers()}
    for name, func in SOLVERS.items():
        assert get_solver(name).func is func
        assert names[name]["losses"] == ["frobenius"]
        assert names[name]["sparse"] is True
    assert "Lin 2007" in names["pgd"]["description"]
    assert "Guan" in names["nesterov"]["description"]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_planted_recovery_from_random_start(name, sparse):
    X, Wt, Ht = planted(seed=0)
    rng = np.random.default_rng(42)
    W0, H0 = rng.random((200, 5)), rng.random((5, 150))
    normX = np.linalg.norm(X)

    def reached(state):  # stop once the target is met (loss = ½‖X − WH‖²)
        return bool(math.sqrt(2.0 * state.loss) / normX < 1e-7)  # the Monitor wants True

    Xin = sp.csr_matrix(X) if sparse else X
    res = SOLVERS[name](Xin, W0, H0, max_iter=2000, tol=0, callback=reached)
    assert res.stop_reason == "callback" and res.n_iter < 2000
    assert rel_err(X, res.W, res.H) < 1e-6
    assert match_cosines(Ht, res.H).min() >= 0.999
    h = res.loss_history
    assert np.all(np.diff(h) <= 1e-12 * h[0])


@pytest.mark.parametrize(
    "pen", [Penalties(), Penalties(0.5, 0.3, 0.2, 0.4)], ids=["plain", "penalised"]
)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_loss_history_non_increasing(name, sparse, pen):
    rng = np.random.default_rng(7)
    X = rng.random((50, 40)) * (rng.random((50, 40)) < 0.6)
    Xin = sp.csr_matrix(X) if sparse else X
    W0, H0 = rng.random((50, 6)), rng.random((6, 40))
    res = SOLVERS[name](Xin, W0, H0, penalties=pen, max_iter=150, tol=0)
    h = res.loss_history
    assert res.n_iter == 150
    assert h[-1] < 0.5 * h[0]
    assert np.all(np.diff(h) <= 1e-12 * h[0])
    assert set(res.extras) == {"inner_tol_W", "inner_tol_H", "inner_iter_W", "inner_iter_H",
                               "data_loss"}
    # the loop's ½‖X − WH‖² at the returned pair (without the penalties)
    R = X - res.W @ res.H
    assert res.extras["data_loss"] == pytest.approx(0.5 * np.vdot(R, R), rel=1e-10)


@pytest.mark.parametrize(
    "pen", [Penalties(), Penalties(1.0, 0.5, 1.0, 0.5)], ids=["plain", "penalised"]
)
@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_kkt_at_convergence(name, pen):
    X, _, _ = planted(seed=3, m=80, n=60, k=4)
    rng = np.random.default_rng(5)
    W0, H0 = rng.random((80, 4)), rng.random((4, 60))
    res = SOLVERS[name](X, W0, H0, penalties=pen, max_iter=150, tol=0)
    W, H = res.W, res.H
    gW, gH = gradients(X, W, H, 2.0, pen)
    sW, sH = np.abs(X @ H.T).max(), np.abs(W.T @ X).max()  # gradient scales
    assert W.min() >= 0 and H.min() >= 0
    assert gW.min() >= -1e-6 * sW and gH.min() >= -1e-6 * sH
    assert np.abs(W * gW).max() <= 1e-6 * sW and np.abs(H * gH).max() <= 1e-6 * sH


@pytest.mark.parametrize("name", ["pgd", "nesterov"])
def test_update_H_false_and_pgrad_rule(name):
    X, _, _ = planted(seed=1, m=40, n=30, k=3)
    rng = np.random.default_rng(0)
    W0, H0 = rng.random((40, 3)), rng.random((3, 30))
    res = SOLVERS[name](X, W0, H0, update_H=False, max_iter=20, tol=0)
    np.testing.assert_array_equal(res.H, H0)
    assert res.loss < res.loss_history[0]
    res = SOLVERS[name](X, W0, H0, stop_rule="pgrad", tol=1e-4, max_iter=2000)
    assert res.stop_reason in ("tol", "exact")
