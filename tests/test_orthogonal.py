"""Orthogonal NMF: clustering of non-negative blobs, exact orthogonality, contract, errors."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator

from nmfkit.models.orthogonal import OrthogonalNMF, ray_seeding


def blobs(seed=0, n=300, p=20, k=3, noise=0.5):
    """Non-negative blobs: k sparse random centres (different directions), each sample
    a centre times a random intensity in [0.5, 2] plus Gaussian noise, in absolute value."""
    rng = np.random.default_rng(seed)
    C = 5.0 * rng.random((k, p)) * (rng.random((k, p)) < 0.5)
    y = rng.integers(0, k, n)
    X = np.abs(C[y] * rng.uniform(0.5, 2.0, (n, 1)) + noise * rng.standard_normal((n, p)))
    return X, y


def off_diagonal(A):
    """Largest off-diagonal entry of the Gram of A's unit-normalised columns."""
    An = A / np.linalg.norm(A, axis=0, keepdims=True)
    G = An.T @ An
    return float(np.abs(G - np.diag(np.diag(G))).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("solver", ["em", "mu"])
def test_blobs_ari(seed, solver):
    X, y = blobs(seed)
    m = OrthogonalNMF(3, solver=solver, random_state=seed, max_iter=500).fit(X)
    assert adjusted_rand_score(y, m.labels_) >= 0.9
    np.testing.assert_array_equal(m.labels_, np.argmax(m.W_, axis=1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_orthogonal_W(seed):
    X, y = blobs(seed)
    m = OrthogonalNMF(3, random_state=seed).fit(X)
    W = m.W_
    assert off_diagonal(W) < 1e-3
    np.testing.assert_allclose(W.T @ W, np.eye(3), atol=1e-12)
    assert np.all(np.count_nonzero(W, axis=1) <= 1)  # disjoint supports: hard clusters
    assert m.orthogonality_error_ < 1e-12
    assert (W >= 0).all() and (m.components_ >= 0).all()
    lh = m.loss_history_
    assert np.all(np.diff(lh) <= 1e-12 * lh[0])  # exact block steps: monotone
    assert m.converged_
    np.testing.assert_allclose(
        m.reconstruction_err_, np.linalg.norm(X - W @ m.components_), rtol=1e-10
    )
    np.testing.assert_allclose(0.5 * m.reconstruction_err_**2, lh[-1], rtol=1e-8)


def test_mu_is_approximately_orthogonal():
    """Ding et al.'s multiplicative updates only approach orthogonality."""
    X, _ = blobs(0)
    m = OrthogonalNMF(3, solver="mu", random_state=0, max_iter=500).fit(X)
    assert 0 < m.orthogonality_error_ < 0.1
    assert m.orthogonality_error_ == pytest.approx(off_diagonal(m.W_))


def test_em_orthogonal_H():
    X, _ = blobs(1)
    m = OrthogonalNMF(3, orthogonal="H", random_state=0).fit(X)
    H = m.components_
    assert off_diagonal(H.T) < 1e-3
    np.testing.assert_allclose(H @ H.T, np.eye(3), atol=1e-12)
    assert np.all(np.count_nonzero(H, axis=0) <= 1)  # each feature in one group
    # W is the exact least-squares fit on the orthonormal H, i.e. X Hᵀ
    np.testing.assert_allclose(m.W_, X @ H.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.transform(X), m.W_, rtol=1e-9, atol=1e-12)
    lh = m.loss_history_
    assert np.all(np.diff(lh) <= 1e-12 * lh[0])


def test_transform_is_the_w_step():
    X, _ = blobs(2)
    m = OrthogonalNMF(3, random_state=0)
    W = m.fit_transform(X)
    np.testing.assert_allclose(m.transform(X), W, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(m.predict(X), m.labels_)
    np.testing.assert_allclose(m.inverse_transform(W), W @ m.components_)


def test_cluster_centers_are_label_means():
    X, _ = blobs(0)
    m = OrthogonalNMF(3, random_state=0).fit(X)
    for j in range(3):
        np.testing.assert_allclose(m.cluster_centers_[j], X[m.labels_ == j].mean(axis=0))


def test_reproducible_with_random_state():
    X, _ = blobs(3)
    a = OrthogonalNMF(3, random_state=7).fit(X)
    b = OrthogonalNMF(3, random_state=7).fit(X)
    np.testing.assert_array_equal(a.W_, b.W_)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.loss_history_, b.loss_history_)


@pytest.mark.parametrize("orthogonal", ["W", "H"])
def test_sparse_matches_dense(orthogonal):
    X, y = blobs(0)
    X[X < 1.0] = 0.0
    d = OrthogonalNMF(3, orthogonal=orthogonal, random_state=0).fit(X)
    s = OrthogonalNMF(3, orthogonal=orthogonal, random_state=0).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(d.labels_, s.labels_)
    np.testing.assert_allclose(d.components_, s.components_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(d.reconstruction_err_, s.reconstruction_err_, rtol=1e-8)
    np.testing.assert_allclose(
        d.transform(X), s.transform(sp.csc_matrix(X)), rtol=1e-8, atol=1e-10
    )


def test_custom_init_and_other_inits():
    X, y = blobs(0)
    ref = OrthogonalNMF(3, random_state=0).fit(X)
    W0, H0 = ref.W_ + 0.1, ref.components_
    m = OrthogonalNMF(3, init="custom").fit(X, W=W0, H=H0)
    assert adjusted_rand_score(y, m.labels_) == 1.0
    assert m.n_iter_ <= 2
    for init in ["spa", "nndsvd", "random"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = OrthogonalNMF(3, init=init, random_state=0, max_iter=500).fit(X)
        assert np.all(np.diff(m.loss_history_) <= 1e-12 * m.loss_history_[0])
        assert off_diagonal(m.W_) < 1e-3
    with pytest.raises(ValueError, match="requires both W and H"):
        OrthogonalNMF(3, init="custom").fit(X, H=H0)
    with pytest.raises(ValueError, match="wrong shape"):
        OrthogonalNMF(3, init="custom").fit(X, W=W0, H=H0[:2])


def test_empty_clusters_are_reseeded():
    """A start with a dead component still ends with k non-empty clusters."""
    X, y = blobs(1)
    H0 = np.vstack([X[y == 0].mean(axis=0), X[y == 0].mean(axis=0) + 1e-3, np.zeros(20)])
    m = OrthogonalNMF(3, init="custom").fit(X, W=np.ones((300, 3)), H=H0)
    assert len(np.unique(m.labels_)) == 3
    assert adjusted_rand_score(y, m.labels_) >= 0.9


def test_ray_seeding_picks_distinct_directions():
    X, y = blobs(0)
    seeds = ray_seeding(X, 3, random_state=0)
    assert len(set(y[seeds].tolist())) == 3
    np.testing.assert_array_equal(seeds, ray_seeding(X, 3, random_state=0))


def test_more_components_than_samples_or_features():
    X = np.abs(np.random.default_rng(0).normal(size=(4, 3)))
    for orth in ["W", "H"]:
        m = OrthogonalNMF(5, orthogonal=orth, random_state=0).fit(X)
        assert m.components_.shape == (5, 3) and np.isfinite(m.reconstruction_err_)


def test_errors():
    X, _ = blobs(0)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        OrthogonalNMF(3).fit(Xn)
    with pytest.raises(ValueError, match="Negative values"):
        OrthogonalNMF(3).fit(X - 1.0)
    with pytest.raises(ValueError, match="Negative values"):
        OrthogonalNMF(3).fit(sp.csr_matrix(X - 1.0))
    with pytest.raises(InvalidParameterError, match="n_components"):
        OrthogonalNMF(0).fit(X)
    with pytest.raises(InvalidParameterError, match="orthogonal"):
        OrthogonalNMF(2, orthogonal="both").fit(X)
    with pytest.raises(ValueError, match="2D"):
        OrthogonalNMF(2).fit(X[0])
    m = OrthogonalNMF(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        m.transform(X[:, :5])


def test_clone_and_params():
    m = OrthogonalNMF(3, orthogonal="H", solver="mu", n_init=2, random_state=1)
    c = clone(m)
    assert c.get_params() == m.get_params()
    assert c.get_params()["orthogonal"] == "H"


@pytest.mark.parametrize("params", [{}, {"orthogonal": "H"}], ids=["W", "H"])
def test_check_estimator(params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(OrthogonalNMF(2, **params), on_fail=None)
    failed = [r for r in results if r["status"] != "passed"]
    assert not failed, [(r["check_name"], r["status"], str(r["exception"])) for r in failed]
