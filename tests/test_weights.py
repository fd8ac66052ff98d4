"""Entry weights, missing data and imputation (every solver)."""

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from nmfkit import NMF
from nmfkit.losses import beta_divergence

SOLVERS = ["hals", "mu", "anls_bpp", "active_set", "pgd", "nesterov"]


def _planted(seed=0, m=150, n=100, k=4):
    rng = np.random.default_rng(seed)
    W = rng.random((m, k))
    H = rng.random((k, n))
    return W @ H, rng


def _start(rng, m, n, k):
    return rng.random((m, k)) + 0.1, rng.random((k, n)) + 0.1


@pytest.mark.parametrize("solver", SOLVERS)
def test_unit_weights_give_exactly_the_unweighted_result(solver):
    X, rng = _planted(1, 40, 30, 3)
    W0, H0 = _start(rng, 40, 30, 3)
    kw = dict(solver=solver, init="custom", W=W0, H=H0, tol=0, max_iter=20)
    a = nmfkit.factorize(X, 3, **kw)
    b = nmfkit.factorize(X, 3, weights=np.ones_like(X), **kw)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.H, b.H)


@pytest.mark.parametrize("solver", SOLVERS)
def test_constant_weights_through_weighted_path(solver):
    X, rng = _planted(2, 40, 30, 3)
    X = X + 0.05 * rng.random(X.shape)
    W0, H0 = _start(rng, 40, 30, 3)
    opts = {"inner_repeat": False} if solver == "hals" else None
    kw = dict(solver=solver, init="custom", W=W0, H=H0, tol=0, max_iter=30,
              canonical=False)
    a = nmfkit.factorize(X, 3, solver_options=opts, **kw)
    b = nmfkit.factorize(X, 3, weights=np.full(X.shape, 2.5), **kw)
    assert b.loss == pytest.approx(2.5 * a.loss, rel=1e-10)
    np.testing.assert_allclose(b.W @ b.H, a.W @ a.H, rtol=1e-10, atol=1e-10)


def _missing_case(seed=0):
    X, rng = _planted(seed)
    mask = rng.random(X.shape) < 0.3  # 30 % missing
    Xm = X.copy()
    Xm[mask] = 1e6
    weights = (~mask).astype(float)
    return X, Xm, mask, weights


@pytest.mark.parametrize("solver", SOLVERS)
def test_imputation_of_planted_matrix(solver):
    X, Xm, mask, weights = _missing_case()
    iters = {"mu": 4000, "pgd": 2500, "nesterov": 1500}.get(solver, 2000)
    init = "random" if solver == "mu" else "nndsvda"
    model = NMF(4, solver=solver, init=init, random_state=0, tol=0, max_iter=iters)
    model.fit(Xm, weights=weights)
    filled = model.impute(Xm, weights=weights)
    np.testing.assert_array_equal(filled[~mask], X[~mask])
    err = np.linalg.norm(filled[mask] - X[mask]) / np.linalg.norm(X[mask])
    # MU converges slowly here (4e-4 after 5000 iterations, 6.3e-5 after 25000): the
    # default run checks 1e-3 and test_mu_imputation_reaches_1e4 (make test-slow) 1e-4.
    thresh = 1e-3 if solver == "mu" else 1e-4
    assert err < thresh, err


@pytest.mark.parametrize("solver", ["hals", "anls_bpp"])
def test_imputation_with_missing_nan(solver):
    X, Xm, mask, _ = _missing_case(1)
    Xn = X.copy()
    Xn[mask] = np.nan
    model = NMF(4, solver=solver, missing="nan", random_state=0, tol=0, max_iter=3000)
    model.fit(Xn)
    filled = model.impute(Xn)
    assert np.isfinite(filled).all()
    err = np.linalg.norm(filled[mask] - X[mask]) / np.linalg.norm(X[mask])
    assert err < 1e-4, err
    with pytest.raises(ValueError, match="NaN"):
        NMF(4).fit(Xn)


def test_sparse_absent_missing_keeps_explicit_zeros():
    from conftest import planted

    X, _, _ = planted(seed=3, m=60, n=50, k=3)  # exact zeros where supports do not meet
    rng = np.random.default_rng(3)
    obs = rng.random(X.shape) < 0.7
    rows, cols = np.nonzero(obs)
    Xs = sp.csr_matrix((X[rows, cols], (rows, cols)), shape=X.shape)
    n_zero = int((Xs.data == 0).sum())
    assert Xs.nnz == obs.sum() and n_zero > 100  # observed zeros are stored explicitly
    m = NMF(3, absent="missing", random_state=0, tol=0, max_iter=2000).fit(Xs)
    fit = m.W_ @ m.components_
    assert np.abs(fit - X)[obs].max() < 1e-3
    assert np.abs(fit[obs & (X == 0)]).max() < 1e-3  # observed zeros were fitted as zeros
    # dropping the explicit zeros makes them missing: a different problem
    Xd = Xs.copy()
    Xd.eliminate_zeros()
    res_drop = nmfkit.factorize(Xd, 3, absent="missing", init="custom", W=m.W_,
                                H=m.components_, max_iter=0)
    res_keep = nmfkit.factorize(Xs, 3, absent="missing", init="custom", W=m.W_,
                                H=m.components_, max_iter=0)
    res_dense = nmfkit.factorize(X, 3, weights=obs.astype(float), init="custom", W=m.W_,
                                 H=m.components_, max_iter=0)
    assert res_keep.loss == pytest.approx(res_dense.loss, rel=1e-10)
    assert res_drop.loss < res_keep.loss


@pytest.mark.parametrize("beta", [2.0, 1.0])
@pytest.mark.parametrize("pattern", [False, True])
def test_weighted_mu_monotone(beta, pattern):
    X, rng = _planted(4, 40, 30, 3)
    M = rng.random(X.shape) * (rng.random(X.shape) < 0.7)
    weights = sp.csr_matrix(M) if pattern else M
    W0, H0 = _start(rng, 40, 30, 3)
    res = nmfkit.factorize(X, 3, solver="mu", beta_loss=beta, weights=weights, init="custom",
                           W=W0, H=H0, tol=0, max_iter=200)
    h = res.loss_history
    assert np.all(np.diff(h) <= 8 * np.spacing(h[:-1]))
    assert h[-1] < 0.5 * h[0]


@pytest.mark.parametrize("solver", ["hals", "mu", "anls_bpp"])
def test_heteroscedastic_entries_with_huge_sigma_are_ignored(solver):
    X, rng = _planted(5, 50, 40, 3)
    X = X + 0.01 * rng.random(X.shape)
    W0, H0 = _start(rng, 50, 40, 3)
    weights = np.ones_like(X) * (1 / 0.01**2)
    sel = rng.random(X.shape) < 0.1
    weights[sel] = 1 / 1e8**2
    kw = dict(solver=solver, init="custom", W=W0, H=H0, tol=0, max_iter=100, weights=weights)
    a = nmfkit.factorize(X, 3, **kw)
    X2 = X.copy()
    X2[sel] = X2[sel] * 3 + 5
    b = nmfkit.factorize(X2, 3, **kw)
    assert np.abs(a.W - b.W).max() < 1e-8 and np.abs(a.H - b.H).max() < 1e-8


def test_bad_weights_clear_errors():
    X = np.random.default_rng(6).random((5, 4))
    with pytest.raises(ValueError, match="shape"):
        NMF(2).fit(X, weights=np.ones((4, 4)))
    with pytest.raises(ValueError, match="negative"):
        NMF(2).fit(X, weights=-np.ones_like(X))
    w = np.ones_like(X)
    w[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        NMF(2).fit(X, weights=w)
    with pytest.raises(ValueError, match="every weight is zero"):
        NMF(2).fit(X, weights=np.zeros_like(X))
    with pytest.raises(TypeError):
        NMF(2).fit(X, weights=np.full(X.shape, "a"))
    with pytest.raises(ValueError, match="absent='missing' applies to sparse"):
        NMF(2, absent="missing").fit(X)
    Xn = X.copy()
    Xn[1, 1] = -3
    with pytest.raises(ValueError, match="1 negative observed"):
        NMF(2).fit(Xn, weights=np.ones_like(X) * 2)
    w = np.ones_like(X)
    w[1, 1] = 0
    NMF(2, max_iter=20).fit(Xn, weights=w)  # negative value at a missing entry is fine


@pytest.mark.parametrize("solver", SOLVERS)
def test_all_zero_weight_row_and_column(solver):
    X, rng = _planted(7, 30, 20, 2)
    w = np.ones_like(X)
    w[4] = 0
    w[:, 7] = 0
    W0, H0 = _start(rng, 30, 20, 2)
    res = nmfkit.factorize(X, 2, solver=solver, weights=w, init="custom", W=W0, H=H0,
                           max_iter=50, tol=0, canonical=False)
    assert np.isfinite(res.W).all() and np.isfinite(res.H).all()
    np.testing.assert_array_equal(res.W[4], W0[4])  # documented: left at its start
    np.testing.assert_array_equal(res.H[:, 7], H0[:, 7])
    m = NMF(2, solver=solver, random_state=0, max_iter=50).fit(X, weights=w)
    Wt = m.transform(X, weights=w)
    assert np.all(Wt[4] == 0)  # documented: no observed entry -> zero row


def test_transform_and_fold_in_with_weights():
    from conftest import planted

    X, _, _ = planted(seed=8, m=80, n=60, k=3)  # identifiable: sparse planted factors
    rng = np.random.default_rng(8)
    m = NMF(3, random_state=0, tol=0, max_iter=1000).fit(X[:, :50])
    # new users (rows) with half their entries missing
    w = (rng.random((10, 50)) < 0.5).astype(float)
    Wn = m.transform(X[:10, :50] * w + 1e6 * (1 - w), weights=w)
    np.testing.assert_allclose(Wn @ m.components_, X[:10, :50], atol=1e-3)
    # new items (columns)
    Hn = m.fold_in_features(X[:, 50:])
    np.testing.assert_allclose(m.W_ @ Hn, X[:, 50:], atol=1e-3)
    wc = (rng.random((80, 10)) < 0.5).astype(float)
    Hn2 = m.fold_in_features(X[:, 50:] * wc + 1e6 * (1 - wc), weights=wc)
    np.testing.assert_allclose(m.W_ @ Hn2, X[:, 50:], atol=1e-3)
    # exact NNLS: the fold-in of the training columns reproduces their fitted H
    np.testing.assert_allclose(m.fold_in_features(m.W_ @ m.components_), m.components_,
                               atol=1e-8)
    assert m.score(X[:, :50], weights=np.ones((80, 50))) == pytest.approx(
        -beta_divergence(X[:, :50], m.transform(X[:, :50]), m.components_, 2), rel=1e-8
    )


@pytest.mark.slow
def test_mu_imputation_reaches_1e4():
    """MU meets the issue's 1e-4 too, given 25000 iterations (6.3e-5 measured, ~30 s)."""
    X, Xm, mask, weights = _missing_case()
    model = NMF(4, solver="mu", init="random", random_state=0, tol=0, max_iter=25000)
    model.fit(Xm, weights=weights)
    filled = model.impute(Xm, weights=weights)
    err = np.linalg.norm(filled[mask] - X[mask]) / np.linalg.norm(X[mask])
    assert err < 1e-4, err
