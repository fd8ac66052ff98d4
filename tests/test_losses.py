"""β-divergence values: hand-checked cases, sparse = dense, scikit-learn agreement."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition._nmf import _beta_divergence

from nmfkit.losses import Penalties, beta_divergence, check_beta_data, resolve_beta
from nmfkit.losses.gradient import gradients


def test_hand_checked_values():
    X = np.array([[1.0, 2.0]])
    W = np.array([[1.0]])
    H = np.array([[2.0, 2.0]])  # WH = [2, 2]
    assert beta_divergence(X, W, H, 2) == pytest.approx(0.5 * (1 + 0))
    # KL: 1*log(1/2) - 1 + 2 + 2*log(1) - 2 + 2
    assert beta_divergence(X, W, H, 1) == pytest.approx(np.log(0.5) + 1)
    # IS: 1/2 - log(1/2) - 1 + 1 - 0 - 1
    assert beta_divergence(X, W, H, 0) == pytest.approx(0.5 - np.log(0.5) - 1)


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.0, 0.5, 1.5, 3.0])
def test_matches_sklearn_dense_and_sparse(beta):
    rng = np.random.default_rng(1)
    X = rng.random((30, 20)) + 0.05
    W, H = rng.random((30, 4)), rng.random((4, 20))
    ref = _beta_divergence(X, W, H, beta)
    assert beta_divergence(X, W, H, beta) == pytest.approx(ref, rel=1e-12)
    if beta > 0:
        Xs = X * (rng.random(X.shape) < 0.3)
        ref = _beta_divergence(sp.csr_matrix(Xs), W, H, beta)
        assert beta_divergence(sp.csr_matrix(Xs), W, H, beta) == pytest.approx(ref, rel=1e-10)
        assert beta_divergence(Xs, W, H, beta) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_frobenius_gram_form_matches_entrywise_and_falls_back_at_an_exact_fit(dtype):
    # float64 dense data: ½‖X − WH‖² from one product WᵀX and the Grams
    from nmfkit.losses import frobenius_direct

    rng = np.random.default_rng(3)
    W, H = rng.random((200, 5)), rng.random((5, 120))
    X = (W @ H + 0.1 * rng.random((200, 120))).astype(dtype)
    ref = frobenius_direct(X, W, H)
    assert beta_divergence(X, W, H, 2.0) == pytest.approx(ref, rel=1e-12)
    # an exact fit: the Gram form is pure cancellation, the entry-wise value is exact
    Wq, Hq = np.round(W * 8) / 8, np.round(H * 8) / 8
    Xq = Wq @ Hq
    assert beta_divergence(Xq, Wq, Hq, 2.0) == 0.0
    assert beta_divergence(sp.csr_matrix(Xq), Wq, Hq, 2.0) == 0.0
    # near-exact: far below the Gram form's resolution, still right to 1e-6
    Xn = Xq.copy()
    Xn[0, 0] += 1e-7
    assert beta_divergence(Xn, Wq, Hq, 2.0) == pytest.approx(0.5e-14, rel=1e-6)


def test_resolve_beta_errors():
    assert resolve_beta("itakura-saito") == 0.0
    assert resolve_beta(1.5) == 1.5
    with pytest.raises(ValueError, match="valid names"):
        resolve_beta("kl")
    with pytest.raises(TypeError):
        resolve_beta([2])
    with pytest.raises(ValueError, match="finite"):
        resolve_beta(float("nan"))


def test_beta_nonpositive_rejects_zeros_including_implicit():
    X = sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="1 zero entries"):
        check_beta_data(X, 0.0)
    with pytest.raises(ValueError, match="zero"):
        check_beta_data(np.array([[0.0, 1.0]]), -0.5)
    check_beta_data(X, 0.5)


@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5])
def test_gradient_matches_finite_differences(beta):
    rng = np.random.default_rng(2)
    X = rng.random((6, 5)) + 0.1
    W, H = rng.random((6, 2)) + 0.1, rng.random((2, 5)) + 0.1
    pen = Penalties(0.1, 0.2, 0.3, 0.4)
    gW, gH = gradients(X, W, H, beta, pen)

    def f(W, H):
        return beta_divergence(X, W, H, beta) + pen.value(W, H)

    h = 1e-6
    E = np.zeros_like(W)
    E[2, 1] = h
    assert (f(W + E, H) - f(W - E, H)) / (2 * h) == pytest.approx(gW[2, 1], rel=1e-6)
    E = np.zeros_like(H)
    E[1, 3] = h
    assert (f(W, H + E) - f(W, H - E)) / (2 * h) == pytest.approx(gH[1, 3], rel=1e-6)
    gWs, gHs = gradients(sp.csr_matrix(X), W, H, beta, pen)
    np.testing.assert_allclose(gWs, gW, rtol=1e-10)
    np.testing.assert_allclose(gHs, gH, rtol=1e-10)


def test_penalty_scaling_matches_sklearn_definition():
    p = Penalties.from_alpha(alpha_W=0.5, alpha_H=0.2, l1_ratio=0.25, n_samples=8, n_features=3)
    assert p.l1_W == pytest.approx(0.5 * 0.25 * 3)
    assert p.l2_W == pytest.approx(0.5 * 0.75 * 3)
    assert p.l1_H == pytest.approx(0.2 * 0.25 * 8)
    assert p.l2_H == pytest.approx(0.2 * 0.75 * 8)


def test_gram_form_cross_term_on_float32_factors_needs_no_float64_copies():
    # the row layout's starting objective takes ⟨XHᵀ, W⟩ over n_samples × k float32
    # arrays: accumulated in float64 slice by slice, not from float64 copies
    import tracemalloc

    from nmfkit.losses.beta import _vdot64, frobenius_from_grams

    rng = np.random.default_rng(0)
    a = rng.random((400_000, 10), dtype=np.float32)
    b = rng.random((400_000, 10), dtype=np.float32)
    want = float(np.vdot(a.astype(np.float64), b.astype(np.float64)))
    assert _vdot64(a, b) == pytest.approx(want, rel=1e-12)
    assert _vdot64(a[:50], b[:50], chunk=64) == pytest.approx(
        float(np.vdot(a[:50].astype(np.float64), b[:50].astype(np.float64))), rel=1e-12)
    G = np.eye(10)
    tracemalloc.start()
    try:
        frobenius_from_grams(1e6, a, b, G, G)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # two float64 slices of 2**20 entries (16.8 MB), where float64 copies of both
    # operands would take 4 * a.nbytes (64 MB)
    assert peak < 2 * 8 * (1 << 20) + 1_000_000 < 4 * a.nbytes
