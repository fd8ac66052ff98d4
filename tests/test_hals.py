"""HALS: equality with scikit-learn's cd and the benefit of inner repetitions."""

import time

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF as SkNMF
from sklearn.decomposition._nmf import _beta_divergence

import nmfkit
from conftest import count_calls
from nmfkit.nnls import hals_sweep


def test_sweep_hand_checked():
    G = np.array([[2.0, 1.0], [1.0, 2.0]])
    B = np.array([[3.0], [3.0]])
    A, n = hals_sweep(np.zeros((2, 1)), B, G, max_sweeps=200, rel_tol=0.0)
    np.testing.assert_allclose(A.ravel(), [1.0, 1.0], atol=1e-12)  # G⁻¹B = [1, 1]


@pytest.mark.parametrize("l2", [0.0, 0.02])
@pytest.mark.parametrize("k", [3, 9])  # under one group of four rows; two groups and one left
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_sweep_equals_numpy_reference(k, dtype, l2):
    pytest.importorskip("numba")
    from nmfkit.nnls._hals_compiled import COLUMN_BLOCK

    rng = np.random.default_rng(k)
    p = 2 * COLUMN_BLOCK + 37  # two whole column blocks and a partial one
    F = rng.random((k, 2 * k))
    G = (F @ F.T).astype(dtype)
    G[1] = G[:, 1] = 0.0  # a dead component, unless l2 > 0
    A0 = rng.random((k, p)).astype(dtype)
    B = (G @ rng.random((k, p)) - 0.2).astype(dtype)
    A_c, n_c = hals_sweep(A0.copy(), B, G, l1=0.01, l2=l2, max_sweeps=6, rel_tol=0.0)
    A_r, n_r = hals_sweep(A0.copy(), B, G, l1=0.01, l2=l2, max_sweeps=6, rel_tol=0.0,
                          compiled=False)
    assert n_c == n_r == 6
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(A_c, A_r, rtol=tol, atol=tol)
    if l2 == 0.0:
        np.testing.assert_array_equal(A_c[1], A0[1])  # the dead component is left alone
    assert (A_c >= 0).all() and not np.array_equal(A_c, A0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compiled_sweep_stops_where_the_reference_stops(dtype):
    """The compiled kernel sums each block's squared changes in its own order;
    the Gillis–Glineur rule must still stop it after the reference's number of
    sweeps."""
    pytest.importorskip("numba")
    from nmfkit.nnls import _hals_compiled as hc

    rng = np.random.default_rng(11)
    k, p = 6, hc.COLUMN_BLOCK + 45  # a whole block and a short one (w not a multiple of 8)
    F = rng.random((k, 3 * k))
    G = (F @ F.T).astype(dtype)
    A0 = rng.random((k, p)).astype(dtype)
    B = (G @ rng.random((k, p))).astype(dtype)
    counts = []
    for compiled in (True, False):
        _, n = hals_sweep(A0.copy(), B, G, max_sweeps=40, rel_tol=0.05, compiled=compiled)
        counts.append(n)
    assert counts[0] == counts[1] and 2 < counts[0] < 40
    # the kernel's partial sums cover v[:w] exactly once, for every remainder of w / 8
    hc._kernel("sweep")  # binds the compiled helpers
    v = np.arange(1.0, 30.0)
    for w in range(len(v)):
        assert hc._sum8_jit(v, w) == v[:w].sum()


_THREADED_SWEEPS = """
import numba, numpy as np
from nmfkit.nnls import _hals_compiled as hc
numba.set_num_threads(2)
rng = np.random.default_rng(4)
k, p = 7, 3 * hc.COLUMN_BLOCK + 37
F = rng.random((k, 2 * k)); G = F @ F.T
A0 = rng.random((k, p)); B = G @ rng.random((k, p)) - 0.2
out = []
for name in ("sweep", "sweep_threads"):
    A = A0.copy()
    n = hc._kernel(name)(A, B, G, 0.01, 0.0, 50, 0.05)
    out.append((A, n))
(a, n), (b, m) = out
hits = [len(hc._kernel(name).stats.cache_hits) for name in ("sweep", "sweep_threads")]
print(int(np.array_equal(a, b)), n, m, min(hits))
"""


def test_threaded_column_sweeps_equal_serial_ones():
    """Blocks of columns on two numba threads: the same iterates and the same
    number of sweeps (the stopping rule sums the blocks' changes in order); both
    kernels are loaded from numba's cache by a later process."""
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    runs = [subprocess.run([sys.executable, "-c", _THREADED_SWEEPS], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    for out in runs:
        assert out[0] == "1" and out[1] == out[2] and 1 < int(out[1]) < 50
    # the second process loads both kernels from numba's disk cache (a kernel
    # holding a compiled helper in its closure missed it in every new process)
    assert int(runs[1][3]) >= 1


@pytest.mark.parametrize("sparse", [True, False])
def test_column_sweeps_use_threads_only_while_blas_is_held(sparse, monkeypatch):
    """Sparse fits hold BLAS to one thread, and only then do the column-layout
    sweeps run on numba's threads (beside BLAS's idle spinners they were slower)."""
    numba = pytest.importorskip("numba")
    from threadpoolctl import threadpool_info

    from nmfkit.nnls import _hals_compiled as hc

    if not any(d["user_api"] == "blas" for d in threadpool_info()):
        pytest.skip("no BLAS library that threadpoolctl controls")
    calls = {"sweep": 0, "sweep_threads": 0}

    def spy(name):
        kern = hc._kernel(name)

        def run(*args):
            calls[name] += 1
            return kern(*args)

        return run

    spies = {name: spy(name) for name in calls}
    monkeypatch.setattr(hc, "_BUILT", {**hc._BUILT, **spies})
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    rng = np.random.default_rng(0)
    n = 2 * hc.COLUMN_BLOCK + 5  # W's sweeps: enough columns for two blocks; H's: 40
    X = rng.random((n, 40)) * (rng.random((n, 40)) < 0.3)
    fits = [nmfkit.factorize(sp.csr_matrix(X) if sparse else X, 3, max_iter=3, tol=0,
                             random_state=0, solver="hals")]
    assert calls["sweep"] > 0  # H's 40 columns make one block: never threaded
    assert (calls["sweep_threads"] > 0) == sparse
    if sparse:  # the threaded sweeps gave what the serial ones give
        monkeypatch.setattr(numba, "get_num_threads", lambda: 1)
        fits.append(nmfkit.factorize(sp.csr_matrix(X), 3, max_iter=3, tol=0, random_state=0,
                                     solver="hals"))
        np.testing.assert_array_equal(fits[0].W, fits[1].W)
        np.testing.assert_array_equal(fits[0].H, fits[1].H)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_plain_hals_equals_sklearn_cd(sparse, alpha):
    rng = np.random.default_rng(3)
    X = rng.random((60, 40)) @ rng.random((40, 30))
    if sparse:
        X = sp.csr_matrix(X * (rng.random(X.shape) < 0.3))
    W0, H0 = rng.random((60, 5)), rng.random((5, 30))
    sk = SkNMF(5, solver="cd", init="custom", tol=0, max_iter=100, shuffle=False,
               alpha_W=alpha, l1_ratio=0.5)
    Wsk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    res = nmfkit.factorize(
        X, 5, solver="hals", init="custom", W=W0, H=H0, tol=0, max_iter=100, alpha_W=alpha,
        l1_ratio=0.5, solver_options={"inner_repeat": False}, canonical=False,
    )
    np.testing.assert_allclose(res.W, Wsk, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.H, sk.components_, rtol=1e-10, atol=1e-12)
    ref = _beta_divergence(X, Wsk, sk.components_, 2)
    assert abs(_beta_divergence(X, res.W, res.H, 2) - ref) <= 1e-10 * ref


def test_inner_repeat_beats_sklearn_cd_at_equal_time():
    """Median over 20 seeds of the objective reached in sklearn cd's wall time."""
    rng = np.random.default_rng(0)
    X = rng.random((1000, 10)) @ rng.random((10, 400)) + 0.01 * rng.random((1000, 400))
    ours, theirs = [], []
    for seed in range(20):
        r = np.random.default_rng(seed)
        W0, H0 = r.random((1000, 10)), r.random((10, 400))
        t = time.perf_counter()
        sk = SkNMF(10, solver="cd", init="custom", tol=0, max_iter=20, shuffle=False)
        Wsk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
        budget = time.perf_counter() - t
        theirs.append(_beta_divergence(X, Wsk, sk.components_, 2))
        res = nmfkit.factorize(X, 10, solver="hals", init="custom", W=W0, H=H0, tol=0,
                               max_iter=10_000, max_time=budget)
        ours.append(_beta_divergence(X, res.W, res.H, 2))
    assert np.median(ours) <= np.median(theirs)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "kw",
    [{}, {"solver_options": {"extrapolate": False}}, {"alpha_W": 0.01, "l1_ratio": 0.5},
     {"rows": True}, {"tol": 1e-3}],
    ids=["extrapolated", "plain", "penalised", "rows", "tol-stop"],
)
def test_reconstruction_error_from_the_loops_own_loss_is_exact(sparse, kw, monkeypatch):
    # float64 and sparse float32 Frobenius fits take ‖X − WH‖ from the loop's last
    # Gram-form loss (no extra product); it must be the returned pair's
    from nmfkit.solvers import hals as hals_mod

    kw = dict(kw)
    if kw.pop("rows", False):
        monkeypatch.setattr(hals_mod, "ROWS_LAYOUT_MIN", 0)
    rng = np.random.default_rng(5)
    X = rng.random((70, 6)) @ rng.random((6, 50)) * (rng.random((70, 50)) < 0.6)
    Xin = sp.csr_matrix(X) if sparse else X
    import nmfkit._core as core

    calls = count_calls(monkeypatch, core, "beta_divergence")
    res = nmfkit.factorize(Xin, 5, solver="hals", max_iter=40, random_state=0, **kw)
    # (the extrapolated loop's objective includes the penalties: no data_loss then)
    assert ("data_loss" in res.extras) != ("alpha_W" in kw)
    assert len(calls) == ("alpha_W" in kw)  # no second product when the loop knows it
    want = np.linalg.norm(X - res.W @ res.H)
    assert res.extras["reconstruction_err"] == pytest.approx(want, rel=1e-10)
    # dense float32 data keeps the entry-wise float64 computation; sparse float32
    # takes the loop's loss too (a recomputation would use a float32 XᵀW as well).
    # Checked on the factors before their float32 canonical rescaling: float32 round-off
    calls.clear()
    res32 = nmfkit.factorize(Xin.astype(np.float32), 5, solver="hals", max_iter=5,
                             random_state=0, **kw)
    assert len(calls) == (not sparse or "alpha_W" in kw)
    W64, H64 = res32.W.astype(np.float64), res32.H.astype(np.float64)
    assert res32.extras["reconstruction_err"] == pytest.approx(
        np.linalg.norm(X.astype(np.float32).astype(np.float64) - W64 @ H64),
        rel=1e-5 if sparse else 1e-6)  # the loop's float32 Grams: about 1e-6
