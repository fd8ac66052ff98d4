"""Metrics: fit measures (dense and sparse), sparseness, cluster scores, component reading."""

import numpy as np
import pytest
import scipy.sparse as sp

from nmfkit.metrics import (
    entropy,
    explained_variance,
    feature_scores,
    hoyer_sparseness,
    match_components,
    purity,
    relative_error,
    squared_residual,
    top_features,
)


@pytest.fixture
def fac():
    rng = np.random.default_rng(0)
    X = rng.random((30, 20)) * (rng.random((30, 20)) < 0.3)
    W = rng.random((30, 4))
    H = rng.random((4, 20))
    return X, W, H


def test_relative_error_dense_sparse_and_exact(fac):
    X, W, H = fac
    ref = np.linalg.norm(X - W @ H) / np.linalg.norm(X)
    assert relative_error(X, W, H) == pytest.approx(ref, rel=1e-12)
    for fmt in (sp.csr_matrix, sp.csc_matrix, sp.coo_array):
        assert relative_error(fmt(X), W, H) == pytest.approx(ref, rel=1e-10)
    assert squared_residual(sp.csr_matrix(X), W, H) == pytest.approx(
        np.linalg.norm(X - W @ H) ** 2, rel=1e-10)
    # an exact fit is exactly zero on sparse data too (no Gram cancellation at the zeros)
    Wb = np.kron(np.eye(2), np.ones((3, 1)))
    Hb = np.kron(np.eye(2), np.ones((1, 4))) * 3.0
    Xb = Wb @ Hb
    assert relative_error(Xb, Wb, Hb) == 0.0
    assert relative_error(sp.csr_matrix(Xb), Wb, Hb) == pytest.approx(0.0, abs=1e-7)
    assert relative_error(np.zeros((2, 2)), np.zeros((2, 1)), np.zeros((1, 2))) == 0.0
    assert relative_error(np.zeros((2, 2)), np.ones((2, 1)), np.ones((1, 2))) == np.inf


def test_relative_error_shape_errors(fac):
    X, W, H = fac
    with pytest.raises(ValueError, match="do not chain"):
        relative_error(X, W, H[:, :5])
    with pytest.raises(ValueError, match="do not chain"):
        relative_error(X, W[:, :3], H)


def test_explained_variance(fac):
    X, W, H = fac
    R2 = np.linalg.norm(X - W @ H) ** 2
    assert explained_variance(X, W, H) == pytest.approx(1 - R2 / np.linalg.norm(X) ** 2)
    assert explained_variance(X, W, H) == pytest.approx(1 - relative_error(X, W, H) ** 2)
    Xc = X - X.mean(axis=0)
    ref_c = 1 - R2 / np.linalg.norm(Xc) ** 2
    assert explained_variance(X, W, H, centered=True) == pytest.approx(ref_c)
    assert explained_variance(sp.csr_matrix(X), W, H, centered=True) == pytest.approx(ref_c)


def test_hoyer_sparseness():
    assert hoyer_sparseness([0, 0, 3, 0]) == 1.0
    assert hoyer_sparseness(np.ones(7)) == pytest.approx(0.0, abs=1e-12)
    x = np.array([1.0, 2.0, 0.0, 0.5])
    n = x.size
    ref = (np.sqrt(n) - np.abs(x).sum() / np.linalg.norm(x)) / (np.sqrt(n) - 1)
    assert hoyer_sparseness(x) == pytest.approx(ref)
    M = np.array([[1.0, 0, 0], [1, 1, 1], [0, 0, 0]])
    rows = hoyer_sparseness(M, axis=1)
    assert rows[:2] == pytest.approx([1.0, 0.0]) and np.isnan(rows[2])
    cols = hoyer_sparseness(M, axis=0)
    assert cols == pytest.approx([hoyer_sparseness(M[:, j]) for j in range(3)])
    np.testing.assert_allclose(hoyer_sparseness(sp.csr_matrix(M), axis=1), rows)
    np.testing.assert_allclose(hoyer_sparseness(sp.csr_matrix(M), axis=0), cols)
    assert hoyer_sparseness(sp.csr_matrix(M)) == pytest.approx(hoyer_sparseness(M))
    assert np.isnan(hoyer_sparseness(np.zeros(3)))
    with pytest.raises(ValueError, match="length >= 2"):
        hoyer_sparseness([1.0])
    with pytest.raises(ValueError, match="axis"):
        hoyer_sparseness(M, axis=2)


def test_purity_and_entropy():
    t = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert purity(t, t) == 1.0 and entropy(t, t) == 0.0
    p = [5, 5, 5, 7, 7, 7, 9, 9, 9]  # relabelled: still perfect
    assert purity(t, p) == 1.0 and entropy(t, p) == 0.0
    assert purity(t, [0] * 9) == pytest.approx(1 / 3)
    assert entropy(t, [0] * 9) == pytest.approx(1.0)
    # hand example: clusters {0, 0} and {0, 1, 1, 1, 2, 2, 2}
    p2 = [0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert purity(t, p2) == pytest.approx((2 + 3) / 9)
    h = lambda q: -sum(x * np.log(x) for x in q if x > 0) / np.log(3)  # noqa: E731
    ref = 2 / 9 * h([1.0]) + 7 / 9 * h([1 / 7, 3 / 7, 3 / 7])
    assert entropy(t, p2) == pytest.approx(ref)
    assert entropy([1, 1, 1], [0, 1, 2]) == 0.0  # one class
    with pytest.raises(ValueError, match="differ in length"):
        purity([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        entropy([], [])


def test_feature_scores():
    H = np.array([[1.0, 1.0, 0.0, 2.0], [0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    s = feature_scores(H)
    assert s[0] == pytest.approx(1.0) and s[1] == pytest.approx(0.0)
    assert s[2] == 0.0 and s[3] == pytest.approx(1.0)
    # scale of a component row does not change which feature it owns
    H2 = np.array([[2.0, 1.0], [1.0, 2.0]])
    p = np.array([2 / 3, 1 / 3])
    ref = 1 + (p @ np.log2(p)) / np.log2(2)
    assert feature_scores(H2) == pytest.approx([ref, ref])
    with pytest.raises(ValueError, match="at least 2 components"):
        feature_scores(np.ones((1, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        feature_scores(-np.ones((2, 3)))


def test_top_features():
    H = np.array([[0.1, 0.7, 0.2, 0.7], [0.0, 0.0, 0.0, 0.3]])
    assert top_features(H, 3) == [[1, 3, 2], [3]]
    assert top_features(H, 1, feature_names=list("abcd")) == [["b"], ["d"]]
    with pytest.raises(ValueError, match="feature_names"):
        top_features(H, 2, feature_names=["a"])
    with pytest.raises(ValueError, match="n must be"):
        top_features(H, 0)


def test_match_components():
    rng = np.random.default_rng(1)
    H = rng.random((5, 12))
    perm = np.array([3, 0, 4, 1, 2])
    H2 = H[perm] * rng.uniform(0.5, 3, (5, 1))  # rows permuted and rescaled
    p, c = match_components(H, H2)
    np.testing.assert_array_equal(perm[p], np.arange(5))
    np.testing.assert_allclose(c, 1.0)
    # rectangular both ways
    p, c = match_components(H[:3], H2)
    np.testing.assert_array_equal(perm[p], np.arange(3))
    p, c = match_components(H2, H[:2])
    assert (p >= 0).sum() == 2 and np.isnan(c[p < 0]).all()
    with pytest.raises(ValueError, match="equal column counts"):
        match_components(H, H[:, :3])
