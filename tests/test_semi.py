"""Semi-NMF: mixed-sign data, the k-means bound, planted clusters, contract, errors."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator

from nmfkit import NMF
from nmfkit.models.semi import SemiNMF, lloyd_kmeans


def mixed_blobs(seed=0, n=200, p=10, k=4, noise=0.5):
    """Mixed-sign clusters: centres N(0, 3²), samples centre + N(0, noise²)."""
    rng = np.random.default_rng(seed)
    C = 3.0 * rng.standard_normal((k, p))
    y = rng.integers(0, k, n)
    return C[y] + noise * rng.standard_normal((n, p)), y


def lloyd(X, k, seed, n_iter=100):
    """Textbook Lloyd's algorithm (written here, independent of the library)."""
    rng = np.random.default_rng(seed)
    C = X[rng.choice(X.shape[0], k, replace=False)].copy()
    for _ in range(n_iter):
        labels = np.argmin(((X[:, None, :] - C[None, :, :]) ** 2).sum(-1), axis=1)
        newC = np.array(
            [X[labels == j].mean(0) if np.any(labels == j) else C[j] for j in range(k)]
        )
        if np.allclose(newC, C):
            break
        C = newC
    return labels, C


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_never_above_kmeans_solution(seed):
    X, _ = mixed_blobs(seed, noise=2.0)
    labels, C = lloyd(X, 4, seed)
    W0 = np.eye(4)[labels]
    kmeans_obj = 0.5 * np.linalg.norm(X - W0 @ C) ** 2
    m = SemiNMF(4, init="custom", max_iter=100, tol=0).fit(X, W=W0, H=C)
    lh = m.loss_history_
    assert lh[0] == pytest.approx(kmeans_obj, rel=1e-12)
    assert np.all(lh <= kmeans_obj * (1 + 1e-12))
    assert np.all(np.diff(lh) <= 1e-12 * lh[0])
    assert lh[-1] < kmeans_obj  # the relaxation strictly improves on the noisy data
    W, H = m.W_, m.components_
    assert 0.5 * np.linalg.norm(X - W @ H) ** 2 == pytest.approx(lh[-1], rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_planted_clusters(seed):
    X, y = mixed_blobs(seed)
    m = SemiNMF(4, random_state=seed).fit(X)
    assert adjusted_rand_score(y, m.labels_) >= 0.95
    np.testing.assert_array_equal(m.labels_, np.argmax(m.W_, axis=1))
    assert np.all(np.diff(m.loss_history_) <= 1e-12 * m.loss_history_[0])


def test_mixed_sign_accepted_where_nmf_rejects():
    X, _ = mixed_blobs(0)
    assert (X < 0).any()
    with pytest.raises(ValueError, match="Negative values"):
        NMF(4).fit(X)
    m = SemiNMF(4, random_state=0)
    W = m.fit_transform(X)
    assert (W >= 0).all() and (m.components_ < 0).any()
    np.testing.assert_allclose(m.reconstruction_err_, np.linalg.norm(X - W @ m.components_))
    # fit_transform ends with the same exact NNLS step as transform
    np.testing.assert_array_equal(m.transform(X), W)
    np.testing.assert_allclose(m.inverse_transform(W), W @ m.components_)


def test_random_init_and_reproducibility():
    X, y = mixed_blobs(1)
    a = SemiNMF(4, init="random", random_state=3, max_iter=500).fit(X)
    b = SemiNMF(4, init="random", random_state=3, max_iter=500).fit(X)
    np.testing.assert_array_equal(a.W_, b.W_)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert np.all(np.diff(a.loss_history_) <= 1e-12 * a.loss_history_[0])


def test_sparse_matches_dense():
    X, _ = mixed_blobs(2)
    X[np.abs(X) < 2.0] = 0.0
    d = SemiNMF(4, random_state=0).fit(X)
    s = SemiNMF(4, random_state=0).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(d.labels_, s.labels_)
    np.testing.assert_allclose(d.components_, s.components_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d.reconstruction_err_, s.reconstruction_err_, rtol=1e-8)


def test_lloyd_kmeans_helper():
    X, y = mixed_blobs(0)
    labels, C = lloyd_kmeans(X, 4, random_state=0)
    assert adjusted_rand_score(y, labels) == 1.0
    for j in range(4):
        np.testing.assert_allclose(C[j], X[labels == j].mean(axis=0))
    ls, _ = lloyd_kmeans(sp.csr_matrix(X), 4, random_state=0)
    np.testing.assert_array_equal(ls, labels)
    # more clusters than distinct points does not crash
    labels, C = lloyd_kmeans(np.ones((3, 2)), 5, random_state=0)
    assert C.shape == (5, 2)


def test_more_components_than_samples():
    X = np.random.default_rng(0).normal(size=(3, 4))
    m = SemiNMF(5, random_state=0).fit(X)
    assert m.components_.shape == (5, 4) and np.isfinite(m.reconstruction_err_)


def test_errors():
    X, _ = mixed_blobs(0)
    Xn = X.copy()
    Xn[1, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        SemiNMF(2).fit(Xn)
    with pytest.raises(InvalidParameterError, match="n_components"):
        SemiNMF(0).fit(X)
    with pytest.raises(ValueError, match="2D"):
        SemiNMF(2).fit(X[0])
    with pytest.raises(ValueError, match="requires both W and H"):
        SemiNMF(2, init="custom").fit(X, W=np.ones((200, 2)))
    with pytest.raises(ValueError, match="negative"):
        SemiNMF(2, init="custom").fit(X, W=-np.ones((200, 2)), H=np.ones((2, 10)))
    with pytest.raises(ValueError, match="wrong shape"):
        SemiNMF(2, init="custom").fit(X, W=np.ones((200, 3)), H=np.ones((2, 10)))
    m = SemiNMF(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        m.transform(X[:, :3])


def test_clone_and_params():
    m = SemiNMF(3, init="random", max_iter=50, random_state=2)
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "components_")


def test_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(SemiNMF(2), on_fail=None)
    failed = [r for r in results if r["status"] != "passed"]
    assert not failed, [(r["check_name"], r["status"], str(r["exception"])) for r in failed]
