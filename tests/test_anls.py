"""Exact Gram-form NNLS kernels (BPP, Lawson–Hanson) and the ANLS solvers built on them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment, nnls

import nmfkit.nnls.bpp as bpp_mod
from nmfkit.losses import Penalties
from nmfkit.losses.gradient import gradients, projected_gradient_norm
from nmfkit.nnls import active_set_nnls, bpp_nnls
from nmfkit.solvers import get_solver
from nmfkit.solvers.anls import solve_active_set, solve_anls_bpp

KERNELS = [bpp_nnls, active_set_nnls]
SOLVERS = ["anls_bpp", "active_set"]


# --------------------------------------------------------------------------- helpers


def gram_problem(rng: np.random.Generator, k: int, p: int, shift: float = 0.3):
    """G = CᵀC for a tall C, B = CᵀD with D of mixed sign (some zeros in the solution)."""
    C = rng.random((3 * k + 5, k))
    D = rng.random((C.shape[0], p)) - shift
    return C.T @ C, C.T @ D


def reference_nnls(G: np.ndarray, B: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Column-by-column scipy NNLS on the equivalent least-squares problem.

    With ``G + l2·I = L Lᵀ``: ½aᵀ(G + l2 I)a − (b − l1)ᵀa = ½‖Lᵀa − L⁻¹(b − l1)‖² + const.
    """
    L = np.linalg.cholesky(G + l2 * np.eye(G.shape[0]))
    rhs = np.linalg.solve(L, B - l1)
    return np.column_stack([nnls(L.T, rhs[:, j])[0] for j in range(B.shape[1])])


def assert_kkt(G, B, A, l1=0.0, l2=0.0, tol=1e-9):
    grad = G @ A - B + l1 + l2 * A
    assert np.all(np.isfinite(A))
    assert A.min() >= 0.0
    assert grad.min() >= -tol
    assert np.abs(A * grad).max() <= tol


def objective_cols(G, B, A, l1=0.0, l2=0.0):
    return np.einsum("ij,ij->j", A, 0.5 * (G @ A) + 0.5 * l2 * A - B + l1)


def planted(seed: int, m: int = 200, n: int = 150, k: int = 5):
    """X = W* H*, factors uniform on [0, 1) with half of their entries zeroed."""
    rng = np.random.default_rng(seed)
    W = rng.random((m, k)) * (rng.random((m, k)) >= 0.5)
    H = rng.random((k, n)) * (rng.random((k, n)) >= 0.5)
    return W @ H, W, H, rng


def matched_cosines(H_true: np.ndarray, H_est: np.ndarray) -> np.ndarray:
    """Cosine of each true row of H with its Hungarian-matched estimate."""
    A = H_true / np.linalg.norm(H_true, axis=1, keepdims=True)
    nrm = np.linalg.norm(H_est, axis=1, keepdims=True)
    Bn = H_est / np.where(nrm == 0, 1.0, nrm)
    C = A @ Bn.T
    r, c = linear_sum_assignment(-C)
    return C[r, c]


def rel_err(X, W, H) -> float:
    Xd = X.toarray() if sp.issparse(X) else X
    return float(np.linalg.norm(Xd - W @ H) / np.linalg.norm(Xd))


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    ("k", "l1", "l2", "warm"),
    [(1, 0.0, 0.0, False), (4, 0.0, 0.0, True), (9, 0.5, 0.0, False),
     (13, 0.0, 2.0, True), (20, 0.3, 0.7, False), (20, 0.0, 0.0, True)],
)
def test_kernel_matches_scipy_nnls_and_kkt(kernel, k, l1, l2, warm):
    rng = np.random.default_rng(100 + k)
    G, B = gram_problem(rng, k, 60)
    A0 = rng.random((k, 60)) - 0.4 if warm else None
    A = kernel(G, B, A0, l1=l1, l2=l2)
    ref = reference_nnls(G, B, l1, l2)
    assert A.shape == (k, 60)
    np.testing.assert_allclose(A, ref, rtol=0, atol=1e-8)
    assert_kkt(G, B, A, l1, l2)
    assert 0 < np.count_nonzero(A) < A.size  # both constraints active somewhere


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernels_agree_and_ignore_warm_start(kernel):
    rng = np.random.default_rng(7)
    G, B = gram_problem(rng, 12, 200)
    cold = kernel(G, B)
    for A0 in (rng.random((12, 200)), np.zeros((12, 200)), reference_nnls(G, B, 0, 0)):
        np.testing.assert_allclose(kernel(G, B, A0), cold, atol=1e-10)
    np.testing.assert_allclose(bpp_nnls(G, B), active_set_nnls(G, B), atol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
def test_optimal_warm_start_is_a_fixed_point(kernel):
    rng = np.random.default_rng(14)
    G, B = gram_problem(rng, 8, 50)
    A = kernel(G, B, l1=0.1)
    np.testing.assert_array_equal(kernel(G, B, A, l1=0.1), A)
    A_true = rng.random((8, 50)) * (rng.random((8, 50)) < 0.5)
    np.testing.assert_array_equal(kernel(G, G @ A_true, A_true), A_true)
    # only the non-optimal columns move
    A0 = A_true.copy()
    A0[:, :5] = rng.random((8, 5))
    A1 = kernel(G, G @ A_true, A0)
    np.testing.assert_array_equal(A1[:, 5:], A_true[:, 5:])
    np.testing.assert_allclose(A1[:, :5], A_true[:, :5], atol=1e-10)


@pytest.mark.parametrize("kernel", KERNELS)
def test_dead_component_gives_finite_zero_row(kernel):
    rng = np.random.default_rng(3)
    C = rng.random((20, 5))
    C[:, 2] = 0.0  # a dead component: zero row and column in G, zero row in B
    G, B = C.T @ C, C.T @ (rng.random((20, 30)) - 0.2)
    for A0 in (None, rng.random((5, 30))):  # a warm start that has the dead row passive
        A = kernel(G, B, A0)
        assert np.all(np.isfinite(A))
        assert np.all(A[2] == 0.0)
        assert_kkt(G, B, A)
        keep = [0, 1, 3, 4]
        np.testing.assert_allclose(A[keep], kernel(G[np.ix_(keep, keep)], B[keep]), atol=1e-12)
    # An inconsistent B (unbounded direction along the dead row) still gives finite output.
    B2 = B.copy()
    B2[2] = 1.0
    assert np.all(np.isfinite(kernel(G, B2, np.ones((5, 30)))))


@pytest.mark.parametrize("kernel", KERNELS)
def test_rank_deficient_gram_is_finite_and_optimal(kernel):
    rng = np.random.default_rng(4)
    C = rng.random((25, 6))
    C[:, 5] = C[:, 1]  # duplicated component: G is singular
    G, B = C.T @ C, C.T @ (rng.random((25, 300)) - 0.1)
    A = kernel(G, B, rng.random((6, 300)))
    assert_kkt(G, B, A, tol=1e-8)
    # Same objective as the problem without the duplicate.
    keep = [0, 1, 2, 3, 4]
    Ar = kernel(G[np.ix_(keep, keep)], B[keep])
    Gr, Br = G[np.ix_(keep, keep)], B[keep]
    np.testing.assert_allclose(
        objective_cols(G, B, A), objective_cols(Gr, Br, Ar), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("kernel", KERNELS)
def test_grouping_matches_per_column_solving(kernel):
    rng = np.random.default_rng(5)
    k = 10
    C = rng.random((40, k))
    G = C.T @ C
    # Columns with only three distinct supports (big groups) plus unique ones (small groups).
    supports = rng.random((3, k)) < 0.5
    A_true = np.column_stack(
        [rng.random(k) * supports[j % 3] for j in range(90)] + [rng.random(k) for _ in range(30)]
    )
    B = G @ A_true + 0.002 * (rng.random((k, 120)) - 0.5)
    grouped = kernel(G, B, None, l1=0.01)
    single = np.column_stack([kernel(G, B[:, [j]], None, l1=0.01)[:, 0] for j in range(120)])
    np.testing.assert_allclose(grouped, single, rtol=1e-11, atol=1e-12)
    assert_kkt(G, B, grouped, l1=0.01)


def test_grouped_solve_bookkeeping(monkeypatch):
    """Every column gets G_FF⁻¹ b_F for its own passive set, across groups and chunks."""
    rng = np.random.default_rng(6)
    k, m = 8, 400
    C = rng.random((30, k))
    G, B = C.T @ C, rng.random((k, m))
    patterns = rng.random((25, k)) < 0.6
    sizes = rng.integers(0, 25, m)
    sizes[:100] = 0  # one big group of 100+ columns
    P = patterns[sizes].T.copy()
    P[:, -30:] = rng.random((k, 30)) < 0.5  # and some singletons
    monkeypatch.setattr(bpp_mod, "_BATCH_ENTRIES", 3 * k * k * bpp_mod._BIG_GROUP)  # chunking
    # The kernels work on transposed problems: one right-hand side per row.
    X = bpp_mod._grouped_solve(G, np.ascontiguousarray(B.T), np.ascontiguousarray(P.T)).T
    for j in range(m):
        idx = np.flatnonzero(P[:, j])
        expect = np.zeros(k)
        if idx.size:
            expect[idx] = np.linalg.solve(G[np.ix_(idx, idx)], B[idx, j])
        np.testing.assert_allclose(X[:, j], expect, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
def test_iteration_cap_keeps_feasible_and_no_worse_than_start(kernel):
    rng = np.random.default_rng(8)
    G, B = gram_problem(rng, 15, 80)
    A0 = rng.random((15, 80))
    A = kernel(G, B, A0, max_iter=1)
    assert np.all(np.isfinite(A)) and A.min() >= 0
    assert np.all(objective_cols(G, B, A) <= objective_cols(G, B, A0) + 1e-12)


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_dtype_shapes_and_purity(kernel):
    rng = np.random.default_rng(9)
    G, B = gram_problem(rng, 6, 20)
    A0 = rng.random((6, 20)).astype(np.float32)
    G0, B0, A00 = G.copy(), B.copy(), A0.copy()
    A = kernel(G.astype(np.float32), B.astype(np.float32), A0)
    assert A.dtype == np.float32
    np.testing.assert_array_equal(A0, A00)
    kernel(G, B, A0)
    np.testing.assert_array_equal(G, G0)
    np.testing.assert_array_equal(B, B0)
    assert kernel(G, B[:, :0]).shape == (6, 0)
    assert np.array_equal(kernel(np.zeros((3, 3)), np.ones((3, 4))), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="A0 must have shape"):
        kernel(G, B, A0[:, :3])


def test_bpp_many_columns_smoke():
    """Thousands of right-hand sides are handled by grouping, not a column loop."""
    rng = np.random.default_rng(10)
    G, B = gram_problem(rng, 20, 3000)
    A = bpp_nnls(G, B, None, l2=0.1)
    assert_kkt(G, B, A, l2=0.1)


# --------------------------------------------------------------------------- solvers


def test_registration():
    for name, desc in [("anls_bpp", "ANLS with block principal pivoting (Kim & Park)"),
                       ("active_set", "ANLS with Lawson–Hanson active set on the Gram matrices")]:
        spec = get_solver(name)
        assert spec.description == desc
        assert spec.losses == ("frobenius",)
        assert spec.sparse
        assert spec.supports_weights(2.0) and not spec.supports_weights(1.0)
    assert get_solver("anls_bpp").func is solve_anls_bpp
    assert get_solver("active_set").func is solve_active_set


def anls_loop(X, kernel, W0, H0, n_iter):
    """Plain ANLS with the kernel; the relative error is computed directly."""
    Wt, H = W0.T.copy(), H0.copy()
    it, err = 0, np.inf
    while it < n_iter and err >= 1e-10:
        it += 1
        Wt = kernel(H @ H.T, np.asarray(X @ H.T).T, Wt)
        H = kernel(Wt @ Wt.T, np.asarray(X.T @ Wt.T).T, H)
        err = rel_err(X, Wt.T, H)
    return Wt.T, H, it, err


@pytest.mark.parametrize("kernel", KERNELS)
def test_planted_recovery_kernels_reach_1e10(kernel):
    X, W_true, H_true, rng = planted(0)
    W, H, n_iter, err = anls_loop(X, kernel, rng.random((200, 5)), rng.random((5, 150)), 500)
    assert err < 1e-10, (n_iter, err)
    assert matched_cosines(H_true, H).min() >= 0.999


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize(("fmt", "seed"), [("dense", 0), ("csr", 1)])
def test_planted_recovery_solvers(name, fmt, seed):
    X, W_true, H_true, rng = planted(seed)
    W0, H0 = rng.random((200, 5)), rng.random((5, 150))
    Xin = sp.csr_matrix(X) if fmt == "csr" else X
    res = get_solver(name).func(Xin, W0, H0, max_iter=500, tol=0)
    # Near an exact fit the loop recomputes the loss entry-wise (the Gram form cancels
    # to round-off below ~1e-8), so the run continues down to 1e-10 and beyond.
    assert rel_err(X, res.W, res.H) < 1e-10
    assert matched_cosines(H_true, res.H).min() >= 0.999
    assert res.W.min() >= 0 and res.H.min() >= 0
    h = res.loss_history
    assert np.all(np.diff(h) <= 1e-12 * h[0])  # non-increasing up to round-off


def test_planted_recovery_solver_reaches_1e10():
    X, _, _, rng = planted(0)
    res = solve_anls_bpp(X, rng.random((200, 5)), rng.random((5, 150)), max_iter=500, tol=0)
    assert rel_err(X, res.W, res.H) < 1e-10


@pytest.mark.parametrize("name", SOLVERS)
def test_kkt_at_convergence(name):
    # Exact planted data, no penalties: every gradient entry vanishes at the solution.
    X, _, _, rng = planted(2)
    res = get_solver(name).func(X, rng.random((200, 5)), rng.random((5, 150)), max_iter=500, tol=0)
    gW, gH = gradients(X, res.W, res.H, 2.0)
    scale = np.linalg.norm(X) ** 2 / np.sqrt(X.size)
    for F, g in ((res.W, gW), (res.H, gH)):
        assert F.min() >= 0
        assert g.min() >= -1e-6 * scale
        assert np.abs(F * g).max() <= 1e-6 * scale
    # Noisy data with elastic-net penalties: a non-trivial KKT point (many active bounds).
    rng = np.random.default_rng(11)
    W_t = rng.random((60, 3)) * (rng.random((60, 3)) >= 0.5)
    H_t = rng.random((3, 40)) * (rng.random((3, 40)) >= 0.5)
    X = W_t @ H_t + 0.2 * rng.random((60, 40))
    pen = Penalties(l1_W=0.5, l2_W=1.0, l1_H=0.3, l2_H=0.5)
    W0, H0 = rng.random((60, 3)), rng.random((3, 40))
    for Xin in (X, sp.csr_matrix(X)):
        res = get_solver(name).func(Xin, W0, H0, penalties=pen, max_iter=120, tol=0)
        gW, gH = gradients(Xin, res.W, res.H, 2.0, pen)
        g0 = max(np.abs(g).max() for g in gradients(X, W0, H0, 2.0, pen))
        for F, g in ((res.W, gW), (res.H, gH)):
            assert F.min() >= 0
            assert g.min() >= -1e-9 * g0
            assert np.abs(F * g).max() <= 1e-9 * g0
            assert np.count_nonzero(F == 0) > 0
        assert projected_gradient_norm(Xin, res.W, res.H, 2.0, pen) <= 1e-9 * g0


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("penalized", [False, True])
def test_objective_non_increasing(name, fmt, penalized):
    rng = np.random.default_rng(12)
    X = rng.random((80, 60)) * (rng.random((80, 60)) < 0.4)
    Xin = sp.csr_matrix(X) if fmt == "csr" else X
    pen = Penalties(l1_W=0.2, l2_W=0.1, l1_H=0.1, l2_H=0.3) if penalized else None
    res = get_solver(name).func(Xin, rng.random((80, 6)), rng.random((6, 60)), penalties=pen,
                                max_iter=60, tol=0)
    h = res.loss_history
    assert len(h) == res.n_iter + 1
    assert np.all(np.diff(h) <= 1e-12 * h[0])
    assert h[-1] < 0.5 * h[0]


def test_solvers_agree_and_update_H_false():
    rng = np.random.default_rng(13)
    X = rng.random((50, 30))
    W0, H0 = rng.random((50, 4)), rng.random((4, 30))
    a = solve_anls_bpp(X, W0, H0, max_iter=15, tol=0)
    b = solve_active_set(X, W0, H0, max_iter=15, tol=0)
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-9)
    fixed = solve_anls_bpp(X, W0, H0, update_H=False, max_iter=3, tol=0)
    np.testing.assert_array_equal(fixed.H, H0)
    np.testing.assert_allclose(fixed.W.T, bpp_nnls(H0 @ H0.T, H0 @ X.T), atol=1e-10)
