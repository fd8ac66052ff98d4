"""Total-variation NMF (TV of the basis images) and graph-regularized NMF (GNMF)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_moons
from sklearn.metrics import adjusted_rand_score

from nmfkit import NMF, factorize
from nmfkit.constraints import knn_graph, total_variation
from nmfkit.constraints.laplacian import (
    GraphLaplacian,
    LaplacianPenalty,
    TotalVariation,
    check_graph,
    gnmf_update,
    mm_update,
)
from nmfkit.exceptions import ConvergenceWarning, IncompatibleOptionsError

CBCL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cbcl_faces" / "CBCL.mat"


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def blocks(seed: int = 0, noise: float = 0.3):
    """200 mixtures of four piecewise-constant 12 × 12 images, plus positive noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((4, 12, 12))
    img[0, 1:6, 1:6] = 1
    img[1, 6:11, 2:9] = 1
    img[2, 2:10, 8:11] = 1
    img[3, 3:9, 3:9] = 1
    img[3, 5:7, 5:7] = 0
    H = img.reshape(4, -1)
    return rng.random((200, 4)) @ H + noise * rng.random((200, 144)), H


def tv_curve(X, shape, lams, k, max_iter):
    out = []
    for lam in lams:
        m = NMF(k, solver="mu", random_state=0, max_iter=max_iter, tol=0, tv_H=lam,
                image_shape=shape).fit(X)
        out.append(float(total_variation(m.components_, shape, normalize=True).mean()))
    return out


# ------------------------------------------------------------------ TV
def test_tv_of_basis_images_falls_as_lambda_grows_synthetic():
    X, _ = blocks()
    lams = [0.0, 0.1, 1.0, 10.0]
    tv = tv_curve(X, (12, 12), lams, 4, 150)
    print(f"\nsynthetic TV (unit-norm basis images) vs λ {lams}: {np.round(tv, 3).tolist()}")
    assert np.all(np.diff(tv) < 0), tv


@pytest.mark.skipif(not CBCL.is_file(), reason=f"CBCL faces not found at {CBCL}")
def test_tv_of_basis_images_falls_as_lambda_grows_faces():
    from scipy.io import loadmat

    raw = loadmat(CBCL)["X"]  # 361 pixels × 2429 faces, each column 19 × 19 column-major
    idx = np.random.default_rng(0).choice(raw.shape[1], 300, replace=False)
    X = np.stack([raw[:, j].reshape(19, 19, order="F").ravel() for j in idx]) / 255.0
    lams = [0.0, 0.1, 1.0, 10.0]
    tv = tv_curve(X, (19, 19), lams, 16, 120)
    print(f"\nCBCL faces TV (unit-norm basis images) vs λ {lams}: {np.round(tv, 3).tolist()}")
    assert np.all(np.diff(tv) < 0), tv


def test_tv_value_and_mm_terms():
    rng = np.random.default_rng(1)
    H = rng.random((3, 20))
    tv = TotalVariation(2.0, (4, 5), eps=1e-9)
    assert tv.value(H) == pytest.approx(2.0 * total_variation(H, (4, 5)).sum(), rel=1e-7)
    # D_ω H − A_ω H is the gradient of τ Σ √(d² + ε²)
    smooth = TotalVariation(2.0, (4, 5), eps=0.3)
    D, A = smooth.mm_terms(H)
    g = np.zeros_like(H)
    for idx in np.ndindex(*H.shape):
        e = np.zeros_like(H)
        e[idx] = 1e-6
        g[idx] = (smooth.value(H + e) - smooth.value(H - e)) / 2e-6
    np.testing.assert_allclose(D - A, g, rtol=1e-5, atol=1e-7)


def test_mm_and_gnmf_steps_share_fixed_points():
    rng = np.random.default_rng(2)
    F, B, Q = rng.random((5, 2)), rng.random((5, 2)), rng.random((5, 2))
    P = B + Q  # a fixed point of both updates
    np.testing.assert_allclose(mm_update(F.copy(), B, P, Q), F)
    np.testing.assert_allclose(gnmf_update(F.copy(), B, P, Q), F)


@pytest.mark.parametrize(
    "opts",
    [
        dict(tv_H=1.0, image_shape=(12, 12)),
        dict(graph_neighbors=5),
        dict(graph_neighbors=5, graph_weight=1000.0, tv_H=3.0, image_shape=(12, 12)),
        dict(graph_neighbors=5, tv_H=0.5, image_shape=(12, 12), alpha_W=1e-3, l1_ratio=0.5),
    ],
)
def test_objective_is_monotone_and_matches_the_factors(opts):
    X, _ = blocks(3)
    m = NMF(4, random_state=0, max_iter=120, tol=0, **opts).fit(X)
    assert m.solver_ == "mu"
    h = m.loss_history_
    assert np.all(np.diff(h) <= 1e-12 * h[0]), np.diff(h).max()
    # the last objective is that of the returned factors (canonical form only reorders)
    W, H = m.W_, m.components_
    f = 0.5 * np.linalg.norm(X - W @ H) ** 2
    if "graph_neighbors" in opts:
        A = knn_graph(X, 5)
        L = sp.diags(np.asarray(A.sum(axis=1)).ravel()) - A
        f += 0.5 * m.graph_weight * float(np.sum(W * (L @ W)))
    tol = 1e-6 * f
    if opts.get("tv_H"):
        f += opts["tv_H"] * total_variation(H, (12, 12)).sum()
        # the solver's TV is smoothed by ε = 1e-3/√n_features per edge
        tol += opts["tv_H"] * 1e-3 / 12 * (2 * 12 * 11) * H.shape[0]
    if opts.get("alpha_W"):
        a, r = opts["alpha_W"], opts["l1_ratio"]
        f += a * r * (X.shape[1] * W.sum() + X.shape[0] * H.sum())
        f += 0.5 * a * (1 - r) * (X.shape[1] * (W**2).sum() + X.shape[0] * (H**2).sum())
    assert h[-1] == pytest.approx(f, abs=tol)


def test_sparse_input_matches_dense():
    X, _ = blocks(4)
    kw = dict(random_state=0, max_iter=30, tol=0, graph_neighbors=5, tv_H=1.0,
              image_shape=(12, 12))
    a = factorize(X, 4, **kw)
    b = factorize(sp.csr_matrix(X), 4, **kw)
    np.testing.assert_allclose(b.W, a.W, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b.H, a.H, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- graph
def lifted_moons(seed: int, rate: float):
    """Two moons (a gap opened between them), lifted to 100 non-negative count features.

    Each point's features are Poisson counts with rate ``rate · exp(−‖p − c‖² / 0.08)``
    around a 10 × 10 grid of centres c: a noisy non-negative image of its position.
    """
    rng = np.random.default_rng(seed)
    P, y = make_moons(200, noise=0.05, random_state=seed)
    P[y == 1, 1] -= 0.25
    cx = np.linspace(P[:, 0].min(), P[:, 0].max(), 10)
    cy = np.linspace(P[:, 1].min(), P[:, 1].max(), 10)
    C = np.array([(a, b) for a in cx for b in cy])
    lam = rate * np.exp(-((P[:, None, :] - C[None]) ** 2).sum(-1) / (2 * 0.2**2))
    return rng.poisson(lam).astype(float), P, y


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_graph_from_side_information_raises_ari(seed):
    """``fit(X, graph=A)`` with the 5-NN graph of the 2-D positions (Cai et al.'s p and λ)."""
    X, P, y = lifted_moons(seed, 2.0)
    kw = dict(random_state=0, max_iter=600, tol=1e-6)
    plain = NMF(2, solver="mu", **kw).fit(X)
    gnmf = NMF(2, **kw).fit(X, graph=knn_graph(P, 5))
    a0 = adjusted_rand_score(y, plain.W_.argmax(axis=1))
    a1 = adjusted_rand_score(y, gnmf.W_.argmax(axis=1))
    print(f"\nmoons seed {seed}: ARI plain {a0:.3f} -> graph {a1:.3f}")
    assert a1 >= 0.95 and a1 > a0 + 0.2, (a0, a1)


def test_graph_neighbors_raises_ari():
    """``NMF(graph_neighbors=10)`` builds the graph from X itself (less noisy counts)."""
    X, _, y = lifted_moons(0, 10.0)
    kw = dict(random_state=0, max_iter=600, tol=1e-6)
    a0 = adjusted_rand_score(y, NMF(2, solver="mu", **kw).fit(X).W_.argmax(axis=1))
    a1 = adjusted_rand_score(
        y, NMF(2, graph_neighbors=10, **kw).fit(X).W_.argmax(axis=1)
    )
    print(f"\nmoons graph_neighbors=10: ARI plain {a0:.3f} -> graph {a1:.3f}")
    assert a1 > a0 + 0.1, (a0, a1)


def test_knn_graph_and_check_graph():
    X = np.random.default_rng(0).random((30, 4))
    A = knn_graph(X, 3)
    assert abs(A - A.T).nnz == 0 and set(np.unique(A.data)) == {1.0}
    assert A.diagonal().sum() == 0 and np.all(np.asarray(A.sum(axis=1)) >= 3)
    Hk = knn_graph(X, 3, mode="heat")
    assert np.all((Hk.data > 0) & (Hk.data <= 1))
    G = check_graph(A.toarray() + np.eye(30), 30)  # self-loops are dropped
    assert sp.issparse(G) and G.diagonal().sum() == 0
    g = GraphLaplacian(G, 2.0)
    W = np.random.default_rng(1).random((30, 2))
    L = np.diag(g.degree) - G.toarray()
    assert g.value(W) == pytest.approx(float(np.trace(W.T @ L @ W)))


def test_clear_errors():
    X, _ = blocks(5)
    with pytest.raises(ValueError, match="image_shape"):
        NMF(3, tv_H=1.0).fit(X)
    with pytest.raises(ValueError, match="144 features"):
        NMF(3, tv_H=1.0, image_shape=(10, 10)).fit(X)
    with pytest.raises(ValueError, match="two positive integers"):
        NMF(3, tv_H=1.0, image_shape=(12.0, 12)).fit(X)
    with pytest.raises(IncompatibleOptionsError, match="'mu'"):
        NMF(3, solver="hals", tv_H=1.0, image_shape=(12, 12)).fit(X)
    with pytest.raises(IncompatibleOptionsError, match="'mu'"):
        NMF(3, solver="anls_bpp", graph_neighbors=4).fit(X)
    with pytest.raises(IncompatibleOptionsError, match="Frobenius"):
        NMF(3, beta_loss="kullback-leibler", graph_neighbors=4).fit(X)
    with pytest.raises(IncompatibleOptionsError, match="weights"):
        NMF(3, graph_neighbors=4).fit(X, weights=np.where(X > 0.5, 1.0, 0.0))
    with pytest.raises(ValueError, match=r"\(200, 200\)"):
        NMF(3).fit(X, graph=np.ones((10, 10)))
    with pytest.raises(ValueError, match="symmetric"):
        NMF(3).fit(X, graph=np.triu(np.ones((200, 200))))
    with pytest.raises(ValueError, match="non-negative"):
        NMF(3).fit(X, graph=-np.ones((200, 200)))
    with pytest.raises(ValueError, match="either"):
        NMF(3, graph_neighbors=4).fit(X, graph=np.ones((200, 200)))
    with pytest.raises(ValueError, match="graph_neighbors"):
        NMF(3, graph_neighbors=200).fit(X)


def test_laplacian_penalty_off_is_plain():
    X, _ = blocks(6)
    assert LaplacianPenalty.build(n_samples=200, n_features=144, tv_H=0.0,
                                  image_shape=(12, 12)).names == ()
    a = NMF(3, random_state=0, max_iter=20).fit(X)
    b = NMF(3, random_state=0, max_iter=20, image_shape=(12, 12), graph_weight=5.0).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.solver_ == b.solver_ == "hals"


def test_extreme_magnitudes_are_the_same_problem():
    """X·1e80 (rescaled inside) with the penalty weights in the matching units gives the same fit.

    The solver works with unit-norm rows of H, so W carries the data's units:
    ``½‖X − WH‖² + τ TV(H) + (λ/2) tr(WᵀLW) + l1_W ΣW`` at scale s equals s² times the
    original with τ·s², λ unchanged and l1_W·s.
    """
    X, _ = blocks(7)
    rng = np.random.default_rng(0)
    W0, H0 = rng.random((200, 4)), rng.random((4, 144))
    kw = dict(init="custom", max_iter=40, tol=0, graph_neighbors=5, image_shape=(12, 12),
              l1_ratio=1.0, alpha_H=0.0)
    a = NMF(4, tv_H=1.0, alpha_W=1e-3, **kw).fit(X, W=W0, H=H0)
    b = NMF(4, tv_H=1e160, alpha_W=1e-3 * 1e80, **kw).fit(X * 1e80, W=W0 * 1e40, H=H0 * 1e40)
    np.testing.assert_allclose(b.components_, a.components_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(b.W_, a.W_ * 1e80, rtol=1e-8, atol=1e68)
    assert b.loss_history_[-1] == pytest.approx(a.loss_history_[-1] * 1e160, rel=1e-9)


def test_doctests():
    import doctest

    from nmfkit.constraints import laplacian

    res = doctest.testmod(laplacian)
    assert res.failed == 0 and res.attempted > 0
