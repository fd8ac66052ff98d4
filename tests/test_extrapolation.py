"""Ang–Gillis extrapolation with restart (HALS's default in memory, ``extrapolate="auto"``)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from conftest import count_calls, match_cosines, planted
from nmfkit.exceptions import IncompatibleOptionsError
from nmfkit.solvers._extrapolation import Extrapolation, numpy_point

EX = {"extrapolate": True}


def _start(X, k, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((X.shape[0], k)) + 0.1, rng.random((k, X.shape[1])) + 0.1


def test_schedule_grows_on_success_and_restarts_on_failure():
    s = Extrapolation(beta=0.5, eta=1.5, gamma=1.01, gamma_bar=1.005)
    s.success()  # β ← min(cap, γβ), cap ← min(1, γ̄·cap)
    assert s.beta == pytest.approx(0.505) and s.beta_max == 1.0
    s.success()
    assert s.beta == pytest.approx(0.505 * 1.01)
    s.failure()  # cap falls back to the β before this step, β shrinks by η
    assert s.beta_max == pytest.approx(0.505) and s.beta == pytest.approx(0.505 * 1.01 / 1.5)
    for _ in range(200):
        s.success()
    assert s.beta <= s.beta_max <= 1.0
    y = numpy_point(np.array([1.0, 0.0]), np.array([0.0, 2.0]), s.beta, project=True)
    assert y[1] == 0.0 and y[0] == pytest.approx(1.0 + s.beta)
    y = numpy_point(np.array([1.0, 0.0]), np.array([0.0, 2.0]), 0.5, project=False)
    assert y.tolist() == [1.5, -1.0]
    with pytest.raises(ValueError, match="eta > gamma > gamma_bar"):
        Extrapolation(eta=1.01, gamma=1.05)
    with pytest.raises(ValueError, match="beta0"):
        Extrapolation(beta=1.5)


def test_reported_objective_never_rises_and_matches_the_factors():
    X = planted(seed=3, m=150, n=120, k=6)[0]
    X = X + 0.01 * np.random.default_rng(0).random(X.shape)
    W0, H0 = _start(X, 6)
    res = nmfkit.factorize(X, 6, solver="hals", init="custom", W=W0, H=H0, max_iter=150, tol=0,
                           canonical=False, solver_options=EX)
    h = res.loss_history
    assert res.n_iter == 150 and len(h) == 151
    assert np.all(np.diff(h) <= 0.0)
    assert res.loss == pytest.approx(0.5 * np.linalg.norm(X - res.W @ res.H) ** 2, rel=1e-10)
    assert res.W.min() >= 0 and res.H.min() >= 0
    # the starting objective (from the W-update's H Xᵀ), with penalties too
    assert h[0] == pytest.approx(0.5 * np.linalg.norm(X - W0 @ H0) ** 2, rel=1e-12)
    from nmfkit.losses import Penalties
    from nmfkit.solvers._extrapolation import Extrapolation, alternating_extrapolated, numpy_ops

    pen = Penalties(l1_W=0.3, l2_W=0.2, l1_H=0.1, l2_H=0.4)
    for Xin in (X, sp.csr_matrix(X)):
        got = alternating_extrapolated(
            Xin, W0, H0, kernel=lambda A, B, G, **kw: A, name="hals", pen=pen,
            schedule=Extrapolation(), ops=numpy_ops(Xin, pen), max_iter=0, tol=0,
            max_time=None, callback=None, stop_rule="objective", verbose=0, progress=False,
            kernel_state=None,
        )
        want = 0.5 * np.linalg.norm(X - W0 @ H0) ** 2 + pen.value(W0, H0)
        assert got.loss_history[0] == pytest.approx(want, rel=1e-12)


def test_recovers_planted_factors_and_sparse_equals_dense():
    X, _, H_true = planted(seed=0, m=200, n=150, k=5)
    W0, H0 = _start(X, 5)
    kw = dict(solver="hals", init="custom", W=W0, H=H0, max_iter=400, tol=0, canonical=False,
              solver_options=EX)
    dense = nmfkit.factorize(X, 5, **kw)
    sparse = nmfkit.factorize(sp.csr_matrix(X), 5, **kw)
    assert np.linalg.norm(X - dense.W @ dense.H) / np.linalg.norm(X) < 1e-6
    assert match_cosines(H_true, dense.H).min() > 0.999
    # the same iterates from the sparse products
    np.testing.assert_allclose(sparse.W, dense.W, rtol=1e-8, atol=1e-12)
    # (objectives from the Grams: absolute precision ~1e-16·‖X‖², so near 0 compare absolutely)
    np.testing.assert_allclose(sparse.loss_history, dense.loss_history, rtol=1e-8,
                               atol=1e-14 * np.linalg.norm(X) ** 2)


def test_lower_objective_than_plain_hals_on_noisy_data():
    """On the benchmark-like noisy rank-20 case the extrapolated loop is ahead at equal work."""
    rng = np.random.default_rng(20)
    X = rng.random((600, 20)) @ rng.random((20, 300))
    X += 0.05 * X.mean() * np.abs(rng.standard_normal(X.shape))
    W0, H0 = _start(X, 20, seed=4)
    kw = dict(solver="hals", init="custom", W=W0, H=H0, max_iter=60, tol=0, canonical=False)
    ex = nmfkit.factorize(X, 20, solver_options=EX, **kw)
    plain = nmfkit.factorize(X, 20, solver_options={"extrapolate": False}, **kw)
    default = nmfkit.factorize(X, 20, **kw)  # in memory, unweighted: extrapolated
    assert ex.loss < plain.loss
    np.testing.assert_array_equal(default.loss_history, ex.loss_history)


def test_kkt_conditions_at_convergence():
    X = planted(seed=5, m=80, n=60, k=4)[0] + 0.05
    W0, H0 = _start(X, 4, seed=2)
    res = nmfkit.factorize(X, 4, solver="hals", init="custom", W=W0, H=H0, max_iter=4000,
                           tol=1e-7, stop_rule="pgrad", canonical=False, solver_options=EX)
    assert res.converged
    W, H = res.W, res.H
    gW = (W @ H - X) @ H.T
    gH = W.T @ (W @ H - X)
    scale = np.linalg.norm(X) ** 2
    # complementarity and dual feasibility, relative to the data's scale
    assert np.abs(W * gW).max() < 1e-5 * scale and np.abs(H * gH).max() < 1e-5 * scale
    assert gW.min() > -1e-4 * scale and gH.min() > -1e-4 * scale


def test_stops_on_tol_callback_and_penalties():
    X = planted(seed=6, m=60, n=50, k=3)[0] + 0.1
    res = nmfkit.factorize(X, 3, solver="hals", random_state=0, tol=1e-6, max_iter=5000,
                           solver_options=EX)
    assert res.converged and res.stop_reason == "tol" and res.n_iter < 5000
    res = nmfkit.factorize(X, 3, solver="hals", random_state=0, max_iter=50,
                           callback=lambda s: s.n_iter >= 7, solver_options=EX)
    assert res.n_iter == 7 and res.stop_reason == "callback"
    pen = nmfkit.factorize(X, 3, solver="hals", random_state=0, max_iter=300, tol=0,
                           alpha_W=0.02, l1_ratio=1.0, solver_options=EX)
    plain = nmfkit.factorize(X, 3, solver="hals", random_state=0, max_iter=300, tol=0,
                             alpha_W=0.02, l1_ratio=1.0)
    # the same penalised objective: extrapolation ends no higher than the plain loop
    assert pen.loss <= plain.loss * (1 + 1e-6)


def test_unsupported_combinations_are_clear_errors():
    X = np.random.default_rng(0).random((20, 10))
    with pytest.raises(IncompatibleOptionsError, match="weights"):
        nmfkit.factorize(X, 2, solver="hals", weights=X + 0.5, solver_options=EX)
    with pytest.raises(IncompatibleOptionsError, match="update_H"):
        nmfkit.solvers.get_solver("hals").func(X, np.ones((20, 2)), np.ones((2, 10)),
                                               update_H=False, extrapolate=True)
    with pytest.raises(ValueError, match="eta"):
        nmfkit.factorize(X, 2, solver="hals", solver_options={"extrapolate": {"eta": 1.0}})
    with pytest.raises(ValueError, match="beta0"):
        nmfkit.factorize(X, 2, solver="hals", solver_options={"extrapolate": {"beta0": 0.3}})
    res = nmfkit.factorize(X, 2, solver="hals", max_iter=30, tol=0,
                           solver_options={"extrapolate": {"beta": 0.2, "eta": 2.0}})
    assert res.n_iter == 30 and np.all(np.diff(res.loss_history) <= 0)


def test_auto_extrapolates_exactly_where_it_can_run(monkeypatch):
    """``extrapolate="auto"`` (the default) is the extrapolated loop in memory, unweighted,
    with inner repetitions, below the row-layout size; the plain loop everywhere else."""
    from nmfkit.solvers import _extrapolation
    from nmfkit.solvers import hals as hals_mod

    X = planted(seed=3, m=40, n=30, k=3)[0] + 0.05
    W0, H0 = _start(X, 3)
    calls = count_calls(monkeypatch, _extrapolation, "alternating_extrapolated")
    solve = nmfkit.solvers.get_solver("hals").func

    def extrapolated(**kw):
        calls.clear()
        res = solve(X, W0, H0, max_iter=5, tol=0, **kw)
        return bool(calls), res

    assert extrapolated()[0]
    assert extrapolated(extrapolate=True)[0]
    assert not extrapolated(extrapolate=False)[0]
    assert not extrapolated(inner_repeat=False)[0]  # stays scikit-learn's cd
    assert not extrapolated(update_H=False)[0]
    from nmfkit._weights import make_weights

    w = np.ones_like(X)
    w[::3] = 0.5
    _, ew = make_weights(X, w, missing="error", absent="zero", whom="test")
    assert ew is not None and not extrapolated(weights=ew)[0]
    if hals_mod.rows_kernel_available():
        monkeypatch.setattr(hals_mod, "ROWS_LAYOUT_MIN", 0)
        assert not extrapolated()[0]  # the row layout runs the plain loop
        assert extrapolated(extrapolate=True)[0]  # (on the column layout)
    with pytest.raises(ValueError, match="'auto'"):
        solve(X, W0, H0, max_iter=2, extrapolate="yes")


def test_checkpointed_and_blocked_fits_refuse_extrapolation(tmp_path):
    X = np.random.default_rng(0).random((30, 12))
    with pytest.raises(IncompatibleOptionsError, match="checkpoint"):
        nmfkit.NMF(2, solver_options=EX, checkpoint=tmp_path / "c.npz").fit(X)
    # extrapolate=False is the blocked loops' own behaviour and is accepted
    model = nmfkit.NMF(2, solver_options={"extrapolate": False}, checkpoint=tmp_path / "d.npz",
                       max_iter=5, tol=0, random_state=0).fit(X)
    assert model.n_iter_ == 5


@pytest.mark.parametrize("lib", ["torch", "torch-sparse", "strict"])
def test_array_api_inputs_give_the_numpy_iterates(lib):
    """The same extrapolated loop on PyTorch / array-api-strict arrays (their HALS sweeps)."""
    torch = pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    X = planted(seed=4, m=70, n=50, k=4)[0] + 0.02
    X[X < 0.3] = 0.0
    W0, H0 = _start(X, 4, seed=6)
    kw = dict(solver="hals", init="custom", tol=0, canonical=False,
              solver_options={"extrapolate": True, "launch_cost": 0.0})
    if lib == "strict":
        conv = strict.asarray
        Xin = conv(X)
    else:
        conv = torch.from_numpy
        Xs = sp.csr_matrix(X)
        Xin = torch.sparse_csr_tensor(
            torch.from_numpy(Xs.indptr.astype(np.int64)),
            torch.from_numpy(Xs.indices.astype(np.int64)),
            torch.from_numpy(Xs.data), size=Xs.shape,
        ) if lib == "torch-sparse" else conv(X)
    for n_iter, rtol in ((20, 1e-10), (200, None)):
        # (sparse data: the inner-sweep bound counts the non-zeros, so compare with SciPy)
        Xref = sp.csr_matrix(X) if lib == "torch-sparse" else X
        ref = nmfkit.factorize(Xref, 4, W=W0, H=H0, max_iter=n_iter, **kw)
        got = nmfkit.factorize(Xin, 4, W=conv(W0), H=conv(H0), max_iter=n_iter, **kw)
        assert np.all(np.diff(got.loss_history) <= 0)
        if rtol is not None:  # the same steps, restarts and iterates
            Wg = np.asarray(got.W) if lib == "strict" else got.W.numpy()
            np.testing.assert_allclose(Wg, ref.W, rtol=rtol, atol=1e-14)
            np.testing.assert_allclose(got.loss_history, ref.loss_history, rtol=rtol)
        else:
            # near convergence a restart is decided on objectives equal to round-off, so
            # the two runs may take different steps: the same objective, not the same path
            assert got.loss == pytest.approx(ref.loss, rel=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_reused_memory_keeps_every_reported_pair_intact(sparse):
    """With a large first step (many restarts, so the accepted, extrapolated and
    best factors part ways), every pair a callback sees has the objective it
    reports, and the returned pair is, bit for bit, the one the callback saw
    when the final objective was reported. (A loop that reused the best H's
    memory for its next point fails this.)"""
    rng = np.random.default_rng(1)
    X = rng.random((90, 4)) @ rng.random((4, 70)) + 0.3 * rng.random((90, 70))
    if sparse:
        X = sp.csr_matrix(X * (rng.random(X.shape) < 0.5))
    seen = []

    def callback(state):
        seen.append((state.loss, np.array(state.W), np.array(state.H)))

    res = nmfkit.factorize(
        X, 8, solver="hals", tol=0, max_iter=150, random_state=0, canonical=False,
        callback=callback, solver_options={"extrapolate": {"beta": 1.0, "eta": 1.1,
                                                           "gamma": 1.08, "gamma_bar": 1.04}},
    )
    Xd = X.toarray() if sparse else X
    for loss, W, H in seen:
        assert loss == pytest.approx(0.5 * np.linalg.norm(Xd - W @ H) ** 2, rel=1e-9)
    restarts = sum(a[0] == b[0] for a, b in zip(seen, seen[1:], strict=False))
    assert restarts >= 5  # the schedule did fail (the reported pair stayed the best)
    last = max(i for i, s in enumerate(seen) if s[0] == res.loss)
    np.testing.assert_array_equal(res.W, seen[last][1])
    np.testing.assert_array_equal(res.H, seen[last][2])
