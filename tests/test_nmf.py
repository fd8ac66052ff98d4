"""The NMF estimator: scikit-learn contract, canonical form, inputs and errors."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator

import nmfkit
from conftest import random_csr, split_entry, unsorted_rows
from nmfkit import NMF, ConvergenceWarning
from nmfkit.losses import beta_divergence


def test_check_estimator_no_skips():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(NMF(n_components=2, max_iter=500), on_fail=None)
    failed = [r for r in results if r["status"] != "passed"]
    assert not failed, [(r["check_name"], r["status"], str(r["exception"])) for r in failed]


def test_clone_and_pickle_roundtrip():
    X = np.random.default_rng(0).random((20, 8))
    m = NMF(3, random_state=0, max_iter=300).fit(X)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.transform(X), m.transform(X))
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "components_")


def test_canonical_form():
    rng = np.random.default_rng(1)
    X = rng.random((40, 4)) @ rng.random((4, 30))
    m = NMF(4, random_state=0, max_iter=500)
    W = m.fit_transform(X)
    np.testing.assert_allclose(np.linalg.norm(m.components_, axis=1), 1.0, rtol=1e-12)
    contrib = np.linalg.norm(W, axis=0)
    assert np.all(np.diff(contrib) <= 0)
    assert m.reconstruction_err_ == pytest.approx(np.linalg.norm(X - W @ m.components_), rel=1e-6)


def test_n_init_keeps_best_and_is_reproducible():
    rng = np.random.default_rng(2)
    X = rng.random((30, 20))
    single = [
        NMF(5, init="random", random_state=s, max_iter=50, tol=0).fit(X).loss_history_[-1]
        for s in range(3)
    ]
    a = NMF(5, init="random", n_init=4, random_state=7, max_iter=50, tol=0).fit(X)
    b = NMF(5, init="random", n_init=4, random_state=7, max_iter=50, tol=0).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.loss_history_[-1] <= max(single)


def test_seeded_runs_bit_identical():
    X = np.random.default_rng(3).random((25, 12))
    for init in ["random", "nndsvd", "nndsvda", "nndsvdar", "spa"]:
        a = NMF(3, init=init, random_state=0, max_iter=30).fit_transform(X)
        b = NMF(3, init=init, random_state=0, max_iter=30).fit_transform(X)
        np.testing.assert_array_equal(a, b)


def test_convergence_warning_on_max_iter_and_max_time():
    X = np.random.default_rng(4).random((30, 20))
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        NMF(5, max_iter=2, tol=1e-12).fit(X)
    X_big = np.random.default_rng(4).random((400, 300))  # far from converged in 0.05 s
    with pytest.warns(ConvergenceWarning, match="max_time"):
        NMF(20, max_iter=10**7, tol=1e-300, max_time=0.05).fit(X_big)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        m = NMF(5, max_iter=2, tol=0).fit(X)  # tol=0: never meant to converge
    assert m.stop_reason_ == "max_iter" and not m.converged_


def test_callback_can_stop():
    X = np.random.default_rng(5).random((20, 10))
    seen = []

    def cb(state):
        seen.append(state.loss)
        if state.n_iter == 3:
            raise StopIteration

    m = NMF(2, callback=cb, max_iter=100, tol=0).fit(X)
    assert m.n_iter_ == 3 and m.stop_reason_ == "callback" and len(seen) == 3
    m = NMF(2, callback=lambda s: s.n_iter >= 5, max_iter=100, tol=0).fit(X)
    assert m.n_iter_ == 5


def test_float32_preserved_sparse_kept():
    rng = np.random.default_rng(6)
    X = rng.random((30, 20)).astype(np.float32)
    m = NMF(3, random_state=0)
    W = m.fit_transform(X)
    assert W.dtype == np.float32 and m.components_.dtype == np.float32
    Xs = sp.random(50, 40, density=0.2, format="coo", random_state=0)
    W = NMF(3, random_state=0).fit_transform(Xs)
    assert W.shape == (50, 3) and np.isfinite(W).all()
    W = NMF(3, random_state=0).fit_transform(sp.csc_array(Xs))
    assert np.isfinite(W).all()
    Xi = (rng.random((10, 6)) * 10).astype(np.int64)
    assert NMF(2, random_state=0).fit(Xi).components_.dtype == np.float64


def test_pandas_names_and_set_output():
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.random((15, 4)), columns=list("abcd"))
    m = NMF(2, random_state=0, max_iter=400).set_output(transform="pandas")
    out = m.fit_transform(df)
    assert list(m.feature_names_in_) == list("abcd")
    assert list(m.get_feature_names_out()) == ["nmf0", "nmf1"]
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["nmf0", "nmf1"]


def test_transform_inverse_and_score():
    rng = np.random.default_rng(8)
    X = rng.random((30, 3)) @ rng.random((3, 12))
    m = NMF(3, random_state=0, max_iter=2000, tol=1e-10).fit(X)
    W = m.transform(X)
    np.testing.assert_allclose(m.inverse_transform(W), X, atol=1e-4)
    assert m.score(X) == pytest.approx(-beta_divergence(X, W, m.components_, 2))
    gs = GridSearchCV(NMF(random_state=0, max_iter=300), {"n_components": [1, 3]}, cv=3)
    gs.fit(X)
    assert gs.best_params_["n_components"] == 3


def test_kl_transform_and_score():
    rng = np.random.default_rng(9)
    X = rng.poisson(3.0, (30, 12)).astype(float)
    m = NMF(3, beta_loss="kullback-leibler", random_state=0, max_iter=300).fit(X)
    W = m.transform(X)
    assert W.shape == (30, 3) and np.all(W >= 0)
    assert np.isfinite(m.score(X))
    assert m.solver_ == "mu"


@pytest.mark.parametrize(
    "X,exc,match",
    [
        (np.array([[1.0, -2.0], [-1.0, 3.0]]), ValueError, "2 negative entries"),
        (np.array([[1.0, np.nan], [1.0, 3.0]]), ValueError, "NaN"),
        (np.array([[1.0, np.inf], [1.0, 3.0]]), ValueError, "infinity"),
        (np.array([[1 + 1j, 2.0]]), ValueError, "[Cc]omplex"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), ValueError, ""),
        (np.zeros((0, 3)), ValueError, "0 sample"),
        (np.zeros((3, 0)), ValueError, "0 feature"),
        (np.ones(5), ValueError, "2D"),
        (np.ones((2, 2, 2)), ValueError, "dim 3"),
    ],
)
def test_bad_input_clear_errors(X, exc, match):
    with pytest.raises(exc, match=match):
        NMF(1).fit(X)
    with pytest.raises(exc, match=match):
        nmfkit.factorize(X, 1)


def test_bad_options():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="n_components"):
        NMF(0).fit(X)
    with pytest.raises((TypeError, ValueError), match="n_components"):
        NMF(2.5).fit(X)
    with pytest.raises(TypeError, match="integer"):
        nmfkit.factorize(X, 2.0)
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        nmfkit.factorize(X, 0)
    with pytest.raises(ValueError, match="unknown solver 'foo'.*'hals'"):
        NMF(2, solver="foo").fit(X)
    with pytest.raises(ValueError, match="init"):
        NMF(2, init="bogus").fit(X)
    with pytest.raises(ValueError, match="beta_loss"):
        NMF(2, beta_loss="bogus").fit(X)
    with pytest.raises(ValueError, match="does not support the kullback-leibler loss.*'mu'"):
        NMF(2, solver="hals", beta_loss="kullback-leibler").fit(X)
    with pytest.raises(ValueError, match="shape"):
        NMF(2, init="custom").fit(X, W=np.ones((4, 3)), H=np.ones((2, 3)))
    with pytest.raises(ValueError, match="negative"):
        NMF(2, init="custom").fit(X, W=-np.ones((4, 2)), H=np.ones((2, 3)))


def test_rank_larger_than_dims_allowed_with_warning():
    X = np.random.default_rng(10).random((4, 3))
    with pytest.warns(UserWarning, match="random"):
        W = NMF(5, init="nndsvda", random_state=0, max_iter=50).fit_transform(X)
    assert W.shape == (4, 5) and np.isfinite(W).all()


def test_zero_rows_columns_and_all_zero():
    rng = np.random.default_rng(11)
    X = rng.random((10, 8))
    X[3] = 0
    X[:, 5] = 0
    for solver in ["hals", "mu"]:
        m = NMF(3, solver=solver, random_state=0, max_iter=200)
        W = m.fit_transform(X)
        assert np.isfinite(W).all() and np.isfinite(m.components_).all()
        assert np.allclose(W[3] @ m.components_, 0, atol=1e-6)
    W = NMF(2, random_state=0).fit_transform(np.zeros((5, 4)))
    assert np.isfinite(W).all()


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_extreme_magnitudes_rescaled(scale):
    rng = np.random.default_rng(12)
    X = rng.random((20, 3)) @ rng.random((3, 15))
    m = NMF(3, random_state=0, max_iter=500, tol=1e-8)
    W = m.fit_transform(X * scale)
    assert np.isfinite(W).all() and np.isfinite(m.components_).all()
    assert np.isfinite(m.reconstruction_err_)
    rel = np.linalg.norm(X - (W / scale) @ m.components_) / np.linalg.norm(X)
    assert rel < 1e-2


def test_list_solvers_registry():
    names = {s["name"] for s in nmfkit.list_solvers()}
    assert {"mu", "hals", "anls_bpp", "active_set", "pgd", "nesterov"} <= names
    for s in nmfkit.list_solvers():
        assert {"name", "losses", "sparse", "weights", "penalties"} <= set(s)


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_transform_of_unsorted_and_duplicated_csr(beta_loss):
    rng = np.random.default_rng(3)
    X = sp.random(300, 400, density=0.05, format="csr", random_state=rng) * 5
    model = NMF(6, beta_loss=beta_loss, solver="mu" if beta_loss != "frobenius" else "auto",
                random_state=0, max_iter=60).fit(X)
    ref = model.transform(X)
    Xu = unsorted_rows(X)
    assert not Xu.has_sorted_indices
    np.testing.assert_allclose(model.transform(Xu), ref, rtol=1e-10, atol=1e-12)
    # an entry stored as two parts (3 + (−1) = 2 where X has 2): the same matrix
    X2 = X.copy()
    i = int(np.flatnonzero(np.diff(X2.indptr))[0])
    X2.data[X2.indptr[i]] = 2.0
    dup = split_entry(X2, i, [3.0, -1.0])
    assert not dup.has_canonical_format
    np.testing.assert_allclose(model.transform(dup), model.transform(X2), rtol=1e-10, atol=1e-12)
    neg = X.copy()
    neg.data[0] = -1.0
    with pytest.raises(ValueError, match="[Nn]egative"):
        model.transform(unsorted_rows(neg))


def test_frobenius_transform_does_not_copy_unsorted_csr():
    import tracemalloc

    rng = np.random.default_rng(4)
    X = sp.random(2000, 5000, density=0.02, format="csr", random_state=rng)
    model = NMF(5, random_state=0, max_iter=20).fit(X)
    Xu = unsorted_rows(X)
    model.transform(Xu)  # compile / warm up
    x_bytes = Xu.data.nbytes + Xu.indices.nbytes
    tracemalloc.start()
    try:
        model.transform(Xu)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # sorting would copy X (data and indices: 2.4 MB here); W and X Hᵀ are 80 kB each
    assert peak < 0.5 * x_bytes, (peak, x_bytes)


def test_estimator_fit_on_unsorted_csr_does_not_copy_it():
    import tracemalloc

    from nmfkit.backend import _sparse_compiled

    if not _sparse_compiled.available():
        pytest.skip("numba not available")
    k = 10
    X = random_csr(2000, 5000, 500_000, seed=9, offset=0.1)
    Xu = unsorted_rows(X)

    def fit_peak(M):
        tracemalloc.start()
        try:
            model = NMF(k, init="random", random_state=0, max_iter=3, tol=0).fit(M)
            return model, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    fit_peak(Xu)  # warm-up
    ref, peak_sorted = fit_peak(X)
    model, peak = fit_peak(Xu)
    assert peak < peak_sorted + 0.3 * (Xu.data.nbytes + Xu.indices.nbytes), (peak, peak_sorted)
    assert not Xu.has_sorted_indices
    np.testing.assert_allclose(model.components_, ref.components_, rtol=1e-8, atol=1e-12)
