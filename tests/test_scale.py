"""The estimator-facing entry points: fit_scaled dispatch and partial_fit_step."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from nmfkit import scale
from nmfkit.scale import fit_scaled, is_dask_array, needs_scaled_fit, partial_fit_step


def _X(seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((80, 4)) @ rng.random((4, 25)) + 0.05 * rng.random((80, 25))


def test_doctests():
    res = doctest.testmod(scale, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


def test_single_block_fit_equals_factorize_bit_for_bit(tmp_path):
    X = _X()
    rng = np.random.default_rng(1)
    W0, H0 = rng.random((80, 4)), rng.random((4, 25))
    kw = dict(W=W0, H=H0, max_iter=30, tol=0, alpha_W=0.01, l1_ratio=0.5)
    # checkpointed fits run the plain updates: the in-memory fit without extrapolation
    want = nmfkit.factorize(X, 4, solver="hals", solver_options={"extrapolate": False}, **kw)
    got = fit_scaled(X, 4, checkpoint=tmp_path / "c.npz", checkpoint_every=7, **kw)
    assert np.array_equal(got.W, want.W) and np.array_equal(got.H, want.H)
    # every iteration's objective bit for bit; the starting one is summed in another
    # order (in memory it comes from the first W-update's HXᵀ, here from WᵀX)
    assert np.array_equal(got.loss_history[1:], want.loss_history[1:])
    assert got.loss_history[0] == pytest.approx(want.loss_history[0], rel=1e-13)
    assert got.extras["reconstruction_err"] == pytest.approx(
        want.extras["reconstruction_err"], rel=1e-10
    )


def test_random_init_is_factorize_random_init(tmp_path):
    X = _X(2)
    want = nmfkit.factorize(X, 4, init="random", solver="anls_bpp", random_state=3, max_iter=15,
                            tol=0)
    p = tmp_path / "x.npy"
    np.save(p, X)
    got = fit_scaled(p, 4, solver="anls_bpp", random_state=3, max_iter=15, tol=0, block_rows=9)
    np.testing.assert_allclose(got.H, want.H, rtol=1e-8, atol=1e-12)


def test_dask_dispatch():
    da = pytest.importorskip("dask.array")
    import dask

    X = _X(3)
    want = nmfkit.factorize(X, 4, init="random", random_state=0, max_iter=10, tol=0,
                            solver_options={"inner_repeat": False})
    Xd = da.from_array(X, chunks=(20, 25))
    assert is_dask_array(Xd) and needs_scaled_fit(Xd) and not is_dask_array(X)
    with dask.config.set(scheduler="threads"):
        got = fit_scaled(Xd, 4, random_state=0, max_iter=10, tol=0,
                         solver_options={"inner_repeat": False})
    np.testing.assert_allclose(got.H, want.H, rtol=1e-8, atol=1e-12)


def test_fit_scaled_refusals(tmp_path):
    X = _X()
    with pytest.raises(ValueError, match="Frobenius"):
        fit_scaled(X, 2, beta_loss="kullback-leibler", checkpoint="x")
    with pytest.raises(ValueError, match="weights"):
        fit_scaled(X, 2, weights=np.ones(X.shape))
    with pytest.raises(ValueError, match="row blocks"):
        fit_scaled(X, 2, solver="mu")
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(ValueError, match="in memory"):
        fit_scaled(tmp_path / "x.npy", 2, init="nndsvd")


def test_in_memory_auto_init_is_factorize_auto_init(tmp_path):
    X = _X(6)
    want = nmfkit.factorize(X, 3, max_iter=20, tol=0,  # init "auto": NNDSVD
                            solver_options={"extrapolate": False})
    got = fit_scaled(X, 3, init="auto", max_iter=20, tol=0, checkpoint=tmp_path / "c.npz")
    # (the SVD inside NNDSVD may differ in its last bits between two calls)
    np.testing.assert_allclose(got.H, want.H, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got.W, want.W, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("solver, method", [("auto", "frobenius"), ("anls_bpp", "frobenius"),
                                            ("mu", "mu")])
def test_partial_fit_step(solver, method):
    X = _X(4)
    state, W = partial_fit_step(None, X[:40], n_components=3, solver=solver, random_state=0)
    assert state.method == method and W.shape == (40, 3)
    state, W = partial_fit_step(state, sp.csr_matrix(X[40:]), n_components=3, solver=solver)
    assert state.n_steps == 2 and state.n_samples_seen == 80


def test_partial_fit_step_kl_and_custom():
    X = _X(5)
    H = np.full((2, 25), 0.5)
    state, _ = partial_fit_step(None, X, n_components=2, beta_loss="kullback-leibler", H=H)
    assert state.method == "mu" and state.beta == 1.0
    with pytest.raises(ValueError, match="use solver='mu'"):
        partial_fit_step(None, X, n_components=2, solver="hals", beta_loss=1.0)


# ----------------------------------------------------------------------- the estimator


def test_estimator_checkpoint_resume_and_dask(tmp_path):
    X = _X(7)
    kw = dict(random_state=0, max_iter=25, tol=0)
    plain = nmfkit.NMF(4, solver_options={"extrapolate": False}, **kw).fit(X)
    ck = tmp_path / "nmf.npz"
    model = nmfkit.NMF(4, checkpoint=ck, checkpoint_every=5, **kw).fit(X)
    assert np.array_equal(model.components_, plain.components_)
    assert nmfkit.resume(ck, X).n_iter == 25
    da = pytest.importorskip("dask.array")
    import dask

    opts = dict(init="random", solver_options={"inner_repeat": False}, **kw)
    with dask.config.set(scheduler="threads"):
        dmodel = nmfkit.NMF(4, **opts).fit(da.from_array(X, chunks=(20, 25)))
    np.testing.assert_allclose(dmodel.components_, nmfkit.NMF(4, **opts).fit(X).components_,
                               rtol=1e-10, atol=1e-13)
    assert dmodel.n_features_in_ == 25 and dmodel.transform(X[:2]).shape == (2, 4)
    with pytest.raises(ValueError, match="n_init"):
        nmfkit.NMF(4, n_init=2, checkpoint=ck).fit(X)


@pytest.mark.parametrize("solver", ["auto", "mu"])
def test_estimator_partial_fit(solver, tmp_path):
    X = _X(8)
    model = nmfkit.NMF(3, solver=solver, random_state=0)
    for s in range(0, 80, 20):
        assert model.partial_fit(X[s:s + 20]) is model
    assert model.n_steps_ == 4 and model.components_.shape == (3, 25)
    assert model.transform(X).shape == (80, 3)
    model.save(tmp_path / "m.npz")
    assert np.array_equal(nmfkit.load(tmp_path / "m.npz").components_, model.components_)
    # continuing from a full fit starts from its components
    fitted = nmfkit.NMF(3, random_state=0, max_iter=50).fit(X)
    H = fitted.components_.copy()
    fitted.partial_fit(X[:20])
    assert fitted.n_steps_ == 1 and not np.array_equal(fitted.components_, H)
    # NaN as missing with missing="nan"
    Xn = X.copy()
    Xn[0, 0] = np.nan
    nmfkit.NMF(3, missing="nan", random_state=0).partial_fit(Xn)
