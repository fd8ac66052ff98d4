"""Tests for nmfkit.init: random, NNDSVD(a/ar), SPA, custom factors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition._nmf import _initialize_nmf

from nmfkit.init import (
    INIT_METHODS,
    ZERO_MEAN_FALLBACK,
    check_custom_init,
    initialize,
    resolve_init,
    spa_select,
)

METHODS = ["random", "nndsvd", "nndsvda", "nndsvdar", "spa"]
SKLEARN_METHODS = ["random", "nndsvd", "nndsvda", "nndsvdar"]


class NoDenseCSR(sp.csr_matrix):
    """CSR matrix that fails the test if anything tries to densify it."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("sparse X was densified (toarray)")

    def todense(self, *args, **kwargs):
        raise AssertionError("sparse X was densified (todense)")

    def __array__(self, *args, **kwargs):
        raise AssertionError("sparse X was densified (__array__)")


def _data(sparse: bool, dtype=np.float64, shape=(30, 20), seed=0):
    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(size=shape))
    if sparse:
        X[X < 0.8] = 0.0
        return sp.csr_matrix(X).astype(dtype)
    return X.astype(dtype)


def _separable(n_samples=40, n_features=15, k=5, sparse=False, seed=0):
    """X = W H whose rows of H are rows of X (anchors at shuffled positions)."""
    rng = np.random.default_rng(seed)
    H = rng.uniform(0.1, 1.0, size=(k, n_features))
    if sparse:
        H[rng.random(H.shape) < 0.5] = 0.0
        H[np.arange(k), np.arange(k)] = 1.0  # keep full row rank
    W = rng.dirichlet(np.ones(k), size=n_samples) * rng.uniform(0.5, 0.95, (n_samples, 1))
    if sparse:  # mixtures of two anchors only, so X stays sparse
        W = np.zeros((n_samples, k))
        for i in range(n_samples):
            a, b = rng.choice(k, 2, replace=False)
            t = rng.uniform(0.2, 0.8)
            W[i, a], W[i, b] = 0.9 * t, 0.9 * (1 - t)
    anchors = rng.choice(n_samples, size=k, replace=False)
    W[anchors] = np.eye(k)
    X = W @ H
    return (sp.csr_matrix(X) if sparse else X), anchors, W, H


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_shapes_dtypes_nonnegative(method, sparse, dtype):
    X = _data(sparse)
    X = (X * 10).astype(dtype) if dtype == np.int64 else X.astype(dtype)
    W, H = initialize(X, 4, method, random_state=0)
    expected = np.float32 if dtype == np.float32 else np.float64
    assert W.shape == (30, 4) and H.shape == (4, 20)
    assert W.dtype == expected and H.dtype == expected
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    assert W.min() >= 0 and H.min() >= 0
    assert np.linalg.norm(W) > 0 and np.linalg.norm(H) > 0


@pytest.mark.parametrize("method", METHODS)
def test_sparse_never_densified(method):
    X = NoDenseCSR(_data(True))
    W, H = initialize(X, 4, method, random_state=0)
    W2, H2 = initialize(_data(True), 4, method, random_state=0)
    np.testing.assert_array_equal(W, W2)
    np.testing.assert_array_equal(H, H2)


@pytest.mark.parametrize("method", METHODS)
def test_input_not_modified(method):
    X = _data(False)
    X0 = X.copy()
    initialize(X, 4, method, random_state=0)
    np.testing.assert_array_equal(X, X0)


# ------------------------------------------------------------------ scikit-learn


@pytest.mark.parametrize("method", SKLEARN_METHODS)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", [0, 42])
def test_matches_sklearn_float64(method, sparse, seed):
    X = _data(sparse, seed=seed)
    W_ref, H_ref = _initialize_nmf(X, 5, init=method, random_state=seed)
    W, H = initialize(X, 5, method, random_state=seed)
    np.testing.assert_allclose(W, W_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", SKLEARN_METHODS)
def test_matches_sklearn_random_state_instance(method):
    X = _data(False)
    W_ref, H_ref = _initialize_nmf(X, 5, init=method, random_state=np.random.RandomState(7))
    W, H = initialize(X, 5, method, random_state=np.random.RandomState(7))
    np.testing.assert_allclose(W, W_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", SKLEARN_METHODS)
@pytest.mark.parametrize("sparse", [False, True])
def test_matches_sklearn_float32(method, sparse):
    X = _data(sparse, dtype=np.float32)
    W_ref, H_ref = _initialize_nmf(X, 5, init=method, random_state=0)
    W, H = initialize(X, 5, method, random_state=0)
    assert W.dtype == W_ref.dtype == np.float32
    np.testing.assert_allclose(W, W_ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(H, H_ref, rtol=1e-5, atol=1e-7)


def test_auto_matches_sklearn_default():
    X = _data(False)
    W_ref, H_ref = _initialize_nmf(X, 5, init=None, random_state=0)
    W, H = initialize(X, 5, random_state=0)
    np.testing.assert_allclose(W, W_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-12)
    W2, H2 = initialize(X, 5, None, random_state=0)
    np.testing.assert_array_equal(W, W2)


# --------------------------------------------------------------- resolution rules


def test_resolve_init_auto():
    assert resolve_init("auto", 5, 30, 20) == "nndsvda"
    assert resolve_init(None, 20, 30, 20) == "nndsvda"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_init("auto", 21, 30, 20) == "random"
        assert resolve_init("random", 50, 30, 20) == "random"
    assert resolve_init("custom", 50, 30, 20) == "custom"


@pytest.mark.parametrize("method", ["nndsvd", "nndsvda", "nndsvdar", "spa"])
def test_fallback_to_random_warns(method):
    X = _data(False, shape=(10, 6))
    with pytest.warns(UserWarning, match="falling back to init='random'"):
        W, H = initialize(X, 8, method, random_state=0)
    W_ref, H_ref = initialize(X, 8, "random", random_state=0)
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(H, H_ref)
    assert W.shape == (10, 8) and H.shape == (8, 6)


def test_auto_with_large_k_is_random_without_warning():
    X = _data(True, shape=(10, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        W, H = initialize(X, 8, "auto", random_state=1)
    W_ref, H_ref = _initialize_nmf(X, 8, init=None, random_state=1)
    np.testing.assert_allclose(W, W_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", ["nmf", "NNDSVD", "", 3, ["random"]])
def test_unknown_init_lists_valid_names(bad):
    with pytest.raises(ValueError, match="Invalid init") as info:
        initialize(_data(False), 3, bad)
    for name in INIT_METHODS:
        assert repr(name) in str(info.value)


def test_init_methods_names():
    assert set(INIT_METHODS) == {"random", "nndsvd", "nndsvda", "nndsvdar", "spa", "custom", "auto"}


def test_initialize_custom_points_to_check_custom_init():
    with pytest.raises(ValueError, match="check_custom_init"):
        initialize(_data(False), 3, "custom")


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_n_components(k):
    with pytest.raises(ValueError, match="n_components"):
        initialize(_data(False), k, "random")


def test_bad_inputs():
    X = _data(False)
    with pytest.raises(ValueError, match="negative"):
        initialize(X - 1.0, 3)
    Xn = X.copy()
    Xn[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        initialize(Xn, 3)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        initialize(sp.csr_matrix(Xi), 3)
    with pytest.raises(ValueError, match="2-D"):
        initialize(X[0], 3)
    with pytest.raises(ValueError, match="eps"):
        initialize(X, 3, eps=-1.0)


# ------------------------------------------------------------ degenerate inputs


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse", [False, True])
def test_all_zero_X_gives_no_nan(method, sparse):
    X = np.zeros((8, 6))
    X = sp.csr_matrix(X) if sparse else X
    W, H = initialize(X, 3, method, random_state=0)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    assert W.min() >= 0 and H.min() >= 0
    if method in ("random", "nndsvda", "nndsvdar", "spa"):
        assert W.min() > 0 and H.min() > 0


def test_all_zero_X_random_scale():
    W, H = initialize(np.zeros((50, 40)), 2, "random", random_state=0)
    avg = np.sqrt(ZERO_MEAN_FALLBACK / 2)
    assert 0 < W.mean() < 2 * avg and 0 < H.mean() < 2 * avg


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse", [False, True])
def test_zero_rows_and_columns(method, sparse):
    X = _data(False)
    X[[0, 5, 7]] = 0.0
    X[:, [1, 2]] = 0.0
    X = sp.csr_matrix(X) if sparse else X
    W, H = initialize(X, 4, method, random_state=0)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    assert W.min() >= 0 and H.min() >= 0


@pytest.mark.parametrize("method", METHODS)
def test_rank_deficient_X(method):
    rng = np.random.default_rng(0)
    X = rng.random((20, 2)) @ rng.random((2, 10))  # rank 2, ask for 5
    W, H = initialize(X, 5, method, random_state=0)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H))
    assert W.min() >= 0 and H.min() >= 0


# -------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sparse", [False, True])
def test_reproducible_bit_for_bit(method, sparse):
    X = _data(sparse)
    W1, H1 = initialize(X, 4, method, random_state=123)
    W2, H2 = initialize(X, 4, method, random_state=123)
    assert W1.tobytes() == W2.tobytes() and H1.tobytes() == H2.tobytes()


@pytest.mark.parametrize("method", ["random", "nndsvdar"])
def test_seed_changes_random_methods(method):
    X = _data(False)
    W1, _ = initialize(X, 4, method, random_state=1)
    W2, _ = initialize(X, 4, method, random_state=2)
    assert not np.array_equal(W1, W2)


# --------------------------------------------------------------------------- SPA


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sparse", [False, True])
def test_spa_recovers_anchors(sparse, seed):
    X, anchors, _, _ = _separable(sparse=sparse, seed=seed)
    sel = spa_select(X, len(anchors))
    assert sel.dtype == np.intp
    assert sorted(sel.tolist()) == sorted(anchors.tolist())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spa_sparse_matches_dense_without_densifying(seed):
    X, anchors, _, _ = _separable(sparse=True, seed=seed)
    sel_sparse = spa_select(NoDenseCSR(X), len(anchors))
    sel_dense = spa_select(X.toarray(), len(anchors))
    np.testing.assert_array_equal(sel_sparse, sel_dense)


@pytest.mark.parametrize("sparse", [False, True])
def test_spa_recovers_anchors_float32(sparse):
    X, anchors, _, _ = _separable(sparse=sparse, seed=3)
    X = X.astype(np.float32)
    assert sorted(spa_select(X, len(anchors)).tolist()) == sorted(anchors.tolist())


@pytest.mark.parametrize("sparse", [False, True])
def test_spa_init_fits_separable_data(sparse):
    X, anchors, W_true, H_true = _separable(sparse=sparse, seed=4)
    k = len(anchors)
    W, H = initialize(X, k, "spa", eps=1e-6)
    Xd = X.toarray() if sparse else X
    sel = spa_select(X, k)
    # H0 is made of rows of X (entries below eps lifted to eps).
    np.testing.assert_allclose(H, np.maximum(Xd[sel], 1e-6), rtol=0, atol=1e-15)
    assert W.min() >= 1e-6 and H.min() >= 1e-6
    # W0 is the NNLS fit of X on H0: on exact separable data it reconstructs X.
    rel = np.linalg.norm(Xd - W @ H) / np.linalg.norm(Xd)
    assert rel < 1e-4
    perm = np.argsort(sel)
    np.testing.assert_allclose(W[anchors[np.argsort(anchors)]][:, perm], np.eye(k), atol=1e-4)


def test_spa_select_small_example_and_tie_rule():
    X = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 2.0]])
    assert spa_select(X, 2).tolist() == [2, 0]
    assert spa_select(X, 3).tolist() == [2, 0, 1]
    # Equal residual norms: the first maximal row wins deterministically.
    assert spa_select(np.eye(3), 3).tolist() == [0, 1, 2]


def test_spa_select_rank_deficient_gives_distinct_rows():
    rng = np.random.default_rng(0)
    X = rng.random((12, 2)) @ rng.random((2, 6))
    sel = spa_select(X, 6)
    assert len(set(sel.tolist())) == 6
    sel0 = spa_select(np.zeros((5, 3)), 3)
    assert sel0.tolist() == [0, 1, 2]


@pytest.mark.parametrize("k", [0, 11, 2.0, None])
def test_spa_select_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        spa_select(np.ones((10, 3)), k)


def test_spa_select_not_2d():
    with pytest.raises(ValueError, match="2-D"):
        spa_select(np.ones(4), 1)


# ------------------------------------------------------------------ custom init


def test_check_custom_init_valid_copies_and_casts():
    W0 = np.ones((5, 2))
    H0 = np.full((2, 3), 2, dtype=np.int64)
    W, H = check_custom_init(W0, H0, 5, 3, 2, np.float32)
    assert W.dtype == H.dtype == np.float32
    assert W.flags.c_contiguous and H.flags.c_contiguous
    W[:] = 7.0
    assert W0[0, 0] == 1.0  # a copy, even when no cast is needed
    W64, _ = check_custom_init(W0, H0, 5, 3, 2, np.float64)
    assert W64 is not W0 and not np.shares_memory(W64, W0)
    Wl, Hl = check_custom_init([[1, 2]], [[0.5], [0.0]], 1, 1, 2, "float64")
    assert Wl.shape == (1, 2) and Hl.shape == (2, 1)


def test_check_custom_init_wrong_shape():
    msg = r"W has the wrong shape: expected \(n_samples, n_components\) = \(5, 2\), got \(5, 3\)"
    with pytest.raises(ValueError, match=msg):
        check_custom_init(np.ones((5, 3)), np.ones((2, 3)), 5, 3, 2, np.float64)
    msg = r"H has the wrong shape: expected .* = \(2, 3\), got \(3, 2\)"
    with pytest.raises(ValueError, match=msg):
        check_custom_init(np.ones((5, 2)), np.ones((3, 2)), 5, 3, 2, np.float64)


def test_check_custom_init_negative_count():
    H = np.ones((2, 3))
    H[0, :2] = -0.5
    with pytest.raises(ValueError, match="H has 2 negative entries"):
        check_custom_init(np.ones((5, 2)), H, 5, 3, 2, np.float64)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_custom_init_non_finite(bad):
    W = np.ones((5, 2))
    W[1, 1] = bad
    with pytest.raises(ValueError, match=r"W contains NaN or infinity \(1 entries\)"):
        check_custom_init(W, np.ones((2, 3)), 5, 3, 2, np.float64)


def test_check_custom_init_not_2d():
    with pytest.raises(ValueError, match="W must be a 2-D array, got ndim=1"):
        check_custom_init(np.ones(10), np.ones((2, 3)), 5, 3, 2, np.float64)
    with pytest.raises(ValueError, match="H must be a 2-D array, got ndim=3"):
        check_custom_init(np.ones((5, 2)), np.ones((2, 3, 1)), 5, 3, 2, np.float64)


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b"]] * 5),
        np.ones((5, 2), dtype=complex),
        np.array([[object(), 1.0]] * 5, dtype=object),
        sp.csr_matrix(np.ones((5, 2))),
    ],
)
def test_check_custom_init_type_errors(bad):
    with pytest.raises(TypeError, match="W must be"):
        check_custom_init(bad, np.ones((2, 3)), 5, 3, 2, np.float64)


def test_check_custom_init_object_numbers_accepted():
    W = np.array([[1, 2.0]] * 5, dtype=object)
    Wc, _ = check_custom_init(W, np.ones((2, 3)), 5, 3, 2, np.float64)
    assert Wc.dtype == np.float64


def test_check_custom_init_missing_and_overflow():
    with pytest.raises(ValueError, match="H is None"):
        check_custom_init(np.ones((5, 2)), None, 5, 3, 2, np.float64)
    with pytest.raises(ValueError, match="too large for dtype float32"):
        check_custom_init(np.full((5, 2), 1e300), np.ones((2, 3)), 5, 3, 2, np.float32)
    with pytest.raises(TypeError, match="floating dtype"):
        check_custom_init(np.ones((5, 2)), np.ones((2, 3)), 5, 3, 2, np.int64)
