"""SequentialNMF: FRV curve, stability of earlier components, scikit-learn contract."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from nmfkit.metrics import match_components, relative_error
from nmfkit.models.sequential import SequentialNMF, nnls_coefficients, uncentred_svd_frv


def planted_blocks(seed=0, n=80, m=60, k=4, noise=0.01):
    """Samples in k groups, each mostly one component; components on disjoint
    feature blocks with decreasing strength (so the order of discovery is clear)."""
    rng = np.random.default_rng(seed)
    lab = np.arange(n) % k
    W = 0.05 * rng.random((n, k))
    W[np.arange(n), lab] += rng.uniform(0.5, 1.5, n)
    H = np.zeros((k, m))
    for i, b in enumerate(np.array_split(np.arange(m), k)):
        H[i, b] = rng.uniform(0.5, 1.5, b.size) * (k - i)
    X = W @ H
    X = np.maximum(X + noise * X.std() * rng.standard_normal(X.shape), 0)
    return X, W, H


@pytest.fixture(scope="module")
def fitted():
    X, W, H = planted_blocks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SequentialNMF(6, random_state=0, max_iter=300, tol=1e-6).fit(X)
    return X, H, model


def test_frv_non_increasing_and_above_svd(fitted):
    X, _, model = fitted
    assert model.frv_.shape == model.pca_frv_.shape == (6,)
    assert np.all(np.diff(model.frv_) <= 0)
    assert np.all(np.diff(model.pca_frv_) <= 0)
    # Eckart–Young: no rank-k NMF beats the rank-k (uncentred) SVD
    assert np.all(model.frv_ >= model.pca_frv_ - 1e-9)
    s = np.linalg.svd(X, compute_uv=False)
    ref = 1 - np.cumsum(s**2)[:6] / np.sum(X**2)
    np.testing.assert_allclose(model.pca_frv_, ref, atol=1e-12)
    # frv_ is the relative error of the stored fit, squared
    W = model.transform(X)
    assert model.frv_[-1] <= relative_error(X, W, model.components_) ** 2 + 1e-9
    assert model.reconstruction_err_ == pytest.approx(np.sqrt(model.frv_[-1] * np.sum(X**2)))


def test_earlier_components_stay_stable(fitted):
    _, H_true, model = fitted
    hist = model.components_history_
    assert [h.shape for h in hist] == [(k, 60) for k in range(1, 7)]
    for k in range(2, 5):  # adding the k-th of the 4 planted components
        perm, cos = match_components(hist[k - 2], hist[k - 1])
        assert cos.min() >= 0.95, (k, cos)
    # the rank-4 fit recovers the planted basis
    _, cos = match_components(H_true, hist[3])
    assert cos.min() >= 0.99
    # components come in order of strength (the order in which they were added)
    perm, _ = match_components(H_true, hist[3])
    assert perm.tolist() == [0, 1, 2, 3]
    # beyond the planted rank the fit only chases the 1% noise
    assert model.frv_[3] < 1e-3 and model.frv_[2] > 10 * model.frv_[3]


def test_sparse_and_float32():
    X, _, _ = planted_blocks(seed=1, n=40, m=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = SequentialNMF(4, random_state=0, max_iter=200).fit(X)
        Xs = sp.csr_matrix(X)
        sparse = SequentialNMF(4, random_state=0, max_iter=200).fit(Xs)
        m32 = SequentialNMF(3, random_state=0, max_iter=100)
        W32 = m32.fit_transform(X.astype(np.float32))
    np.testing.assert_allclose(sparse.frv_, dense.frv_, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(Xs.toarray(), X)  # the input is left untouched
    np.testing.assert_allclose(sparse.pca_frv_, dense.pca_frv_, rtol=1e-6, atol=1e-9)
    assert W32.dtype == np.float32 and m32.components_.dtype == np.float32
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    assert sparse.transform(Xs).shape == (40, 4)


def test_transform_is_nnls_optimum(fitted):
    X, _, model = fitted
    W = model.transform(X)
    H = model.components_
    assert W.min() >= 0
    G = W @ H @ H.T - X @ H.T  # KKT of min_W≥0 ‖X − WH‖²: G ≥ 0, W·G = 0
    scale = np.linalg.norm(X) * np.linalg.norm(H)
    assert G.min() >= -1e-8 * scale and np.abs(W * G).max() <= 1e-8 * scale
    np.testing.assert_allclose(nnls_coefficients(X, H), W)
    np.testing.assert_allclose(model.inverse_transform(W), W @ H)


def test_reproducible_clone_pickle():
    X, _, _ = planted_blocks(seed=2, n=30, m=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = SequentialNMF(3, random_state=5, max_iter=50).fit(X)
        b = SequentialNMF(3, random_state=5, max_iter=50).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.frv_, b.frv_)
    c = clone(a)
    assert c.get_params() == a.get_params() and not hasattr(c, "components_")
    a2 = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a2.transform(X), a.transform(X))


def test_bad_input():
    X = np.random.default_rng(0).random((10, 6))
    with pytest.raises(ValueError, match="Negative values"):
        SequentialNMF(2).fit(X - 0.5)
    with pytest.raises(ValueError, match="n_components"):
        SequentialNMF(0).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        SequentialNMF(-1).fit(X)
    with pytest.raises(ValueError, match="init"):
        SequentialNMF(2, init="custom").fit(X)
    model = SequentialNMF(2, max_iter=500).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :3])


def test_more_components_than_data_rank():
    """Past the exact rank the residual is zero: the new components start tiny
    and the FRV stays at zero (with a warning about collapsed components at most)."""
    X = np.kron(np.eye(2), np.ones((4, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SequentialNMF(4, random_state=0, max_iter=100).fit(X)
    assert model.frv_[1] < 1e-10 and np.all(model.frv_[2:] <= model.frv_[1] + 1e-12)
    np.testing.assert_allclose(model.pca_frv_[1:], 0.0, atol=1e-12)


def test_uncentred_svd_frv_sparse_matches_dense():
    rng = np.random.default_rng(3)
    X = rng.random((50, 40)) * (rng.random((50, 40)) < 0.2)
    dense = uncentred_svd_frv(X, 45)
    sparse = uncentred_svd_frv(sp.csr_matrix(X), 45, random_state=0)
    np.testing.assert_allclose(sparse, dense, atol=1e-10)
    assert dense[39:].max() == 0.0


def test_check_estimator():
    """Every scikit-learn estimator check passes (none is skipped or xfailed).

    check_fit2d_1sample / 1feature, dtype, sparse, idempotence, pickling and
    subset-invariance checks all apply: transform is an exact NNLS solve."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(SequentialNMF(2, max_iter=100), on_fail=None)
    failed = [r for r in results if r["status"] != "passed"]
    assert not failed, [(r["check_name"], r["status"], str(r["exception"])) for r in failed]
