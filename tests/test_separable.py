"""Separable NMF: exact recovery of planted anchors (dense and sparse), noise, contract."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils.estimator_checks import check_estimator

from nmfkit.models.separable import SeparableNMF, separable_select, snpa_select, xray_select

K = 5
METHODS = [
    ("spa", {}),
    ("snpa", {}),
    ("snpa", {"snpa_projection": "cone"}),
    ("xray", {}),
    ("xray", {"xray_rule": "dist"}),
]
IDS = ["spa", "snpa-hull", "snpa-cone", "xray-max", "xray-dist"]


def separable(seed=0, n=150, m=60, k=K, noise=0.0, sparse=False):
    """X = W H with an identity block of W at shuffled rows, rows of W on the simplex.

    Non-anchor rows are kept away from the anchors (largest weight at most
    0.8) so that the anchors are the unique extreme rows. ``noise`` is the
    relative Frobenius size of an additive Gaussian perturbation (clipped at
    0; for sparse data only on the stored entries).
    """
    rng = np.random.default_rng(seed)
    if sparse:
        H = rng.random((k, m)) * (rng.random((k, m)) < 0.3)
        H[np.arange(k), rng.integers(0, m, k)] += 1.0  # no zero row
        W = np.zeros((n, k))
        for i in range(n):  # two anchors per sample, weights in [0.2, 0.8]
            a, b = rng.choice(k, 2, replace=False)
            u = rng.uniform(0.2, 0.8)
            W[i, a], W[i, b] = u, 1.0 - u
    else:
        H = rng.random((k, m))
        W = 0.6 * rng.dirichlet(np.ones(k), size=n) + 0.4 / k
    anchors = rng.choice(n, k, replace=False)
    W[anchors] = np.eye(k)
    X = W @ H
    if noise:
        N = rng.standard_normal(X.shape)
        if sparse:
            N *= X > 0
        N *= noise * np.linalg.norm(X) / np.linalg.norm(N)
        X = np.maximum(X + N, 0.0)
    return (sp.csr_matrix(X) if sparse else X), anchors


def _rel(X, W, H):
    Xd = X.toarray() if sp.issparse(X) else X
    return np.linalg.norm(Xd - W @ H) / np.linalg.norm(Xd)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(("method", "kw"), METHODS, ids=IDS)
def test_noise_free_anchors_exact(method, kw, sparse):
    X, anchors = separable(sparse=sparse)
    model = SeparableNMF(K, method=method, **kw)
    W = model.fit_transform(X)
    assert set(model.anchors_.tolist()) == set(anchors.tolist())
    assert W.shape == (X.shape[0], K) and np.all(W >= 0)
    Xd = X.toarray() if sparse else X
    np.testing.assert_array_equal(model.components_, Xd[model.anchors_])
    assert _rel(X, W, model.components_) < 1e-10
    assert model.reconstruction_err_ / np.linalg.norm(Xd) < 1e-10


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(("method", "kw"), METHODS, ids=IDS)
def test_noisy_anchors_exact(method, kw, sparse):
    X, anchors = separable(seed=1, noise=1e-3, sparse=sparse)
    model = SeparableNMF(K, method=method, **kw)
    W = model.fit_transform(X)
    assert set(model.anchors_.tolist()) == set(anchors.tolist())
    assert _rel(X, W, model.components_) < 1e-2


def test_normalize_option_rescaled_rows():
    # Rows scaled by arbitrary positive factors: the rows of W no longer sum
    # to one, which SPA/SNPA assume; normalize=True restores their guarantee.
    X, anchors = separable(seed=2)
    s = np.random.default_rng(0).uniform(0.2, 5.0, X.shape[0])
    Xs = X * s[:, None]
    for method in ["spa", "snpa", "xray"]:
        J = separable_select(Xs, K, method=method, normalize=True)
        assert set(J.tolist()) == set(anchors.tolist()), method


def test_transform_inverse_and_float32():
    X, _ = separable(seed=3)
    m = SeparableNMF(K, method="xray").fit(X)
    W = m.transform(X[100:])
    assert W.shape == (50, K)
    assert _rel(X[100:], W, m.components_) < 1e-10
    np.testing.assert_allclose(m.inverse_transform(W), W @ m.components_)
    X32 = X.astype(np.float32)
    m32 = SeparableNMF(K).fit(X32)
    assert m32.components_.dtype == np.float32 and m32.transform(X32).dtype == np.float32


def test_k_larger_than_n_samples_is_clear_error():
    X = np.random.default_rng(0).random((4, 10))
    with pytest.raises(ValueError, match="n_components=5 .* n_samples = 4"):
        SeparableNMF(5).fit(X)
    with pytest.raises(ValueError, match="n_samples = 4"):
        snpa_select(X, 5)
    with pytest.raises(ValueError, match="n_samples = 4"):
        xray_select(X, 5)


def test_negative_and_bad_options():
    X = np.random.default_rng(0).random((10, 4))
    with pytest.raises(ValueError, match="Negative"):
        SeparableNMF(2).fit(-X)
    with pytest.raises(ValueError, match="method"):
        SeparableNMF(2, method="nope").fit(X)
    with pytest.raises(ValueError, match="rule"):
        xray_select(X, 2, rule="nope")


@pytest.mark.parametrize("method", ["spa", "snpa", "xray"])
def test_rank_deficient_picks_distinct_rows(method):
    # rank 2 but k = 4: the extra picks are distinct rows, no error.
    rng = np.random.default_rng(0)
    X = rng.random((20, 2)) @ rng.random((2, 8))
    J = separable_select(X, 4, method=method)
    assert len(set(J.tolist())) == 4


@pytest.mark.parametrize("method", ["spa", "snpa", "xray"])
def test_sparse_input_never_densified(method, monkeypatch):
    X, anchors = separable(seed=4, sparse=True)
    shapes = []
    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.csc_array):
        orig = cls.toarray

        def spy(self, *a, _orig=orig, **kw):
            shapes.append(self.shape)
            return _orig(self, *a, **kw)

        monkeypatch.setattr(cls, "toarray", spy)
    model = SeparableNMF(K, method=method, xray_rule="dist").fit(X)
    assert set(model.anchors_.tolist()) == set(anchors.tolist())
    assert X.shape not in shapes and all(s[0] <= K for s in shapes if s[1] == X.shape[1])


def test_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ["spa", "snpa", "xray"]:
            results = check_estimator(SeparableNMF(2, method=method), on_fail=None)
            failed = [r for r in results if r["status"] != "passed"]
            assert not failed, [(r["check_name"], str(r["exception"])) for r in failed]
