"""The solvers on non-NumPy arrays: array-api-strict and PyTorch (CPU), against NumPy.

``make test`` installs both (``NMFKIT_REQUIRE_BACKENDS=1`` turns a missing one
into an error instead of a skip, so CI cannot silently skip this file).

On a machine with a CUDA GPU the same tests also run on PyTorch CUDA tensors
and CuPy arrays (dense, and torch sparse / ``cupyx.scipy.sparse``);
``NMFKIT_TEST_GPU=1`` makes a missing GPU backend an error. GPU iterates are
compared with NumPy's to ``GPU_RTOL``: cuBLAS/cuSPARSE sum in another order,
so the roundings differ from the first product on.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from nmfkit.exceptions import IncompatibleOptionsError

REQUIRE = os.environ.get("NMFKIT_REQUIRE_BACKENDS") == "1"


def _import(name: str):
    if REQUIRE:
        return __import__(name)
    return pytest.importorskip(name)


strict = _import("array_api_strict")
torch = _import("torch")

RTOL = 1e-10
#: hals with the NumPy path's inner-repetition bound, for iterate-by-iterate comparisons
SAME = {"launch_cost": 0.0}


def to_torch(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def to_strict(a):
    return strict.asarray(np.ascontiguousarray(a))


def to_numpy(a):
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def torch_csr(Xs: sp.csr_matrix, layout: str = "csr"):
    T = torch.sparse_csr_tensor(
        torch.from_numpy(Xs.indptr.astype(np.int64)),
        torch.from_numpy(Xs.indices.astype(np.int64)),
        torch.from_numpy(Xs.data),
        size=Xs.shape,
    )
    return T.to_sparse_coo() if layout == "coo" else T


def _gpu_backends() -> dict:
    """Converters to the GPU libraries this machine can run (none without CUDA)."""
    conv = {}
    if torch.cuda.is_available():
        conv["torch-cuda"] = lambda a: to_torch(a).to("cuda")
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            conv["cupy"] = lambda a: cupy.asarray(np.ascontiguousarray(a))
    except Exception:  # no cupy, or cupy without a CUDA driver
        pass
    if os.environ.get("NMFKIT_TEST_GPU") == "1" and len(conv) < 2:
        raise RuntimeError(f"NMFKIT_TEST_GPU=1 but only {sorted(conv)} of torch-cuda, cupy run")
    return conv


GPU_BACKENDS = _gpu_backends()
GPU_RTOL = 1e-8
BACKENDS = {"torch": to_torch, "strict": to_strict, **GPU_BACKENDS}


#: the GPU libraries as test parameters (one skipped parameter when there is no GPU)
GPU_PARAMS = sorted(GPU_BACKENDS) or [
    pytest.param("none", marks=pytest.mark.skip(
        reason="no CUDA GPU here; benchmarks/gpu_device_check.sh runs these on one"))
]


def rtol_for(backend: str, cpu: float = RTOL) -> float:
    return max(cpu, GPU_RTOL) if backend in GPU_BACKENDS else cpu


def _sparse_libs() -> dict:
    libs = {
        "torch-csr": lambda Xs: torch_csr(Xs),
        "torch-coo": lambda Xs: torch_csr(Xs, "coo"),
    }
    if "torch-cuda" in GPU_BACKENDS:
        libs["torch-cuda-csr"] = lambda Xs: torch_csr(Xs).to("cuda")
        libs["torch-cuda-coo"] = lambda Xs: torch_csr(Xs, "coo").to("cuda")
    if "cupy" in GPU_BACKENDS:
        import cupyx.scipy.sparse as csp

        libs["cupyx-csr"] = lambda Xs: csp.csr_matrix(Xs)
        libs["cupyx-coo"] = lambda Xs: csp.coo_matrix(Xs.tocoo())
    return libs


SPARSE_LIBS = _sparse_libs()


def fit_numpy_and(conv, X, kw: dict):
    """``NMF(**kw)`` fitted on NumPy X and on ``conv(X)``: (ref, W_ref, est, W)."""
    ref = nmfkit.NMF(**kw)
    Wr = ref.fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        est = nmfkit.NMF(**kw)
        W = est.fit_transform(conv(X))
    return ref, Wr, est, W


def dense_like(lib: str):
    """The dense converter that goes with a sparse library (same library and device)."""
    if lib.startswith("torch-cuda"):
        return GPU_BACKENDS["torch-cuda"]
    if lib.startswith("cupyx"):
        return GPU_BACKENDS["cupy"]
    return to_torch


def rel(a, b) -> float:
    a, b = to_numpy(a), np.asarray(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.random((60, 5)) @ rng.random((5, 45))
    X[X < 0.6] = 0.0
    W0 = rng.random((60, 5)) + 0.05
    H0 = rng.random((5, 45)) + 0.05
    return X, W0, H0


CASES = [
    ("hals", 2.0), ("pgd", 2.0), ("nesterov", 2.0),
    ("mu", 2.0), ("mu", 1.0), ("mu", 1.5), ("mu", 0.5), ("mu", 0.0),
]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("solver,beta", CASES)
def test_dense_iterates_equal_numpy(data, backend, solver, beta):
    X, W0, H0 = data
    Xb = X + 0.05 if beta <= 0 else X
    conv = BACKENDS[backend]
    kw = dict(solver=solver, beta_loss=beta, init="custom", max_iter=60, tol=0)
    if solver == "hals":  # the NumPy path's inner-repetition bound (no launch overhead)
        kw["solver_options"] = SAME
    ref = nmfkit.factorize(Xb, 5, W=W0, H=H0, **kw)
    got = nmfkit.factorize(conv(Xb), 5, W=conv(W0), H=conv(H0), **kw)
    assert type(got.W) is type(conv(W0))  # the result stays in the input's library
    tol = rtol_for(backend)
    assert rel(got.W, ref.W) < tol and rel(got.H, ref.H) < tol
    np.testing.assert_allclose(got.loss_history, ref.loss_history, rtol=tol)
    assert got.n_iter == ref.n_iter == 60


@pytest.mark.parametrize("lib", sorted(SPARSE_LIBS))
@pytest.mark.parametrize(
    "solver,beta", [("hals", 2.0), ("nesterov", 2.0), ("mu", 2.0), ("mu", 1.0), ("mu", 1.5)]
)
def test_sparse_equals_scipy(data, lib, solver, beta):
    X, W0, H0 = data
    Xs = sp.csr_matrix(X)
    kw = dict(solver=solver, beta_loss=beta, init="custom", max_iter=40, tol=0)
    if solver == "hals":
        kw["solver_options"] = SAME
    ref = nmfkit.factorize(Xs, 5, W=W0, H=H0, **kw)
    conv = dense_like(lib)
    got = nmfkit.factorize(SPARSE_LIBS[lib](Xs), 5, W=conv(W0), H=conv(H0), **kw)
    assert type(got.W) is type(conv(W0))
    if isinstance(got.W, torch.Tensor):
        assert got.W.layout == torch.strided and got.W.device == conv(W0).device
    tol = rtol_for(lib.replace("-csr", "").replace("-coo", "").replace("cupyx", "cupy"))
    assert rel(got.W, ref.W) < tol and rel(got.H, ref.H) < tol
    np.testing.assert_allclose(got.loss_history, ref.loss_history, rtol=max(tol, 1e-9))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("init", ["random", "nndsvd", "nndsvda", "nndsvdar"])
def test_init_on_device_equals_numpy(data, backend, init):
    from nmfkit.init import initialize

    X, _, _ = data
    kw = dict(init=init, random_state=3, max_iter=20, tol=0, solver_options=SAME)
    ref = nmfkit.factorize(X, 5, **kw)
    got = nmfkit.factorize(BACKENDS[backend](X), 5, **kw)
    tol = rtol_for(backend, 1e-9)
    assert rel(got.W, ref.W) < tol and rel(got.H, ref.H) < tol
    W0, H0 = initialize(X, 5, init, random_state=3)
    assert W0.shape == (60, 5) and H0.shape == (5, 45)


def test_auto_solver_and_init_follow_numpy(data):
    X, _, _ = data
    for beta in (2.0, 1.0):
        kw = dict(beta_loss=beta, random_state=0, max_iter=50)
        if beta == 2:
            kw["solver_options"] = SAME
        ref = nmfkit.factorize(X, 5, **kw)
        got = nmfkit.factorize(to_torch(X), 5, **kw)
        assert got.solver == ref.solver == ("hals" if beta == 2 else "mu")
        assert got.n_iter == ref.n_iter
        assert rel(got.W, ref.W) < 1e-9


def test_planted_recovery_on_torch():
    from conftest import match_cosines, planted

    X, _, H_true = planted(seed=0, m=120, n=90, k=4)
    inputs = [to_torch(X)] + [conv(X) for conv in GPU_BACKENDS.values()]
    inputs += [make(sp.csr_matrix(X)) for lib, make in SPARSE_LIBS.items() if "coo" not in lib]
    for Xin in inputs:
        res = nmfkit.factorize(Xin, 4, solver="hals", tol=0, max_iter=600, random_state=0)
        err = np.linalg.norm(X - to_numpy(res.W @ res.H)) / np.linalg.norm(X)
        assert err < 1e-8
        assert match_cosines(H_true, to_numpy(res.H)).min() > 0.999


def test_inner_bound_counts_launch_overhead():
    from nmfkit.nnls import hals_inner_bound
    from nmfkit.solvers.hals import _launch_overhead

    # ρ = 1 + 2000 / (10·(4 + 1)) = 41 → ⌊1 + 0.5·41⌋ = 21; with overhead 150: ρ = 11 → 6
    assert hals_inner_bound(10, 2000.0, 4, 0.5) == 21
    assert hals_inner_bound(10, 2000.0, 4, 0.5, overhead=150.0) == 6
    assert _launch_overhead(np.ones((2, 2))) == 0.0
    assert _launch_overhead(torch.ones(2, 2)) == 0.0  # CPU device: the NumPy path's bound
    for conv in GPU_BACKENDS.values():  # GPU arrays: kernel launches count
        assert _launch_overhead(conv(np.ones((2, 2)))) > 0.0
    # the dense 20000² k=50 case on a GPU: one sweep per factor and iteration
    assert hals_inner_bound(20000, 20000.0**2 + 20000 * 50, 50, 0.5, overhead=4 * 2e8) == 1


def test_mu_monotone_on_torch(data):
    X, W0, H0 = data
    for beta in (2.0, 1.0, 0.5):
        res = nmfkit.factorize(
            to_torch(X + 0.01), 5, solver="mu", beta_loss=beta, W=to_torch(W0),
            H=to_torch(H0), max_iter=80, tol=0,
        )
        h = res.loss_history
        assert np.all(np.diff(h) <= 8 * np.finfo(float).eps * h[:-1])


def test_float32_and_integer_dtypes():
    rng = np.random.default_rng(2)
    X = (rng.random((30, 20)) * 5).astype(np.float32)
    r32 = nmfkit.factorize(torch.from_numpy(X), 3, random_state=0, max_iter=30)
    assert r32.W.dtype == torch.float32 and r32.H.dtype == torch.float32
    ri = nmfkit.factorize(torch.from_numpy(X.astype(np.int64)), 3, random_state=0, max_iter=30)
    assert ri.W.dtype == torch.float64
    rs = nmfkit.factorize(strict.asarray(X), 3, random_state=0, max_iter=30)
    assert rs.W.dtype == strict.float32


def test_pgrad_rule_and_callback_on_torch(data):
    X, W0, H0 = data
    seen = []
    kw = dict(
        solver="hals", init="custom", stop_rule="pgrad", tol=1e-3, max_iter=500,
        solver_options=SAME,
    )
    ref = nmfkit.factorize(X, 5, W=W0, H=H0, **kw)
    got = nmfkit.factorize(
        to_torch(X), 5, W=to_torch(W0), H=to_torch(H0),
        callback=lambda s: seen.append(type(s.W)), **kw,
    )
    assert got.n_iter == ref.n_iter and got.converged
    assert seen and all(t is torch.Tensor for t in seen)


def test_n_init_and_overflow_scale():
    rng = np.random.default_rng(4)
    X = rng.random((40, 3)) @ rng.random((3, 30))
    kw = dict(n_init=3, random_state=5, init="random", max_iter=40, solver_options=SAME)
    ref = nmfkit.factorize(X, 3, **kw)
    got = nmfkit.factorize(to_torch(X), 3, **kw)
    assert rel(got.W, ref.W) < 1e-9
    big = nmfkit.factorize(to_torch(X * 1e300), 3, random_state=0, max_iter=100)
    assert bool(torch.all(torch.isfinite(big.W))) and bool(torch.all(torch.isfinite(big.H)))
    recon = to_numpy(big.W @ big.H) / 1e300
    assert np.linalg.norm(recon - X) / np.linalg.norm(X) < 1e-2


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_estimator_on_torch(data, beta):
    X, _, _ = data
    kw = dict(n_components=5, beta_loss=beta, random_state=0, max_iter=300, tol=1e-8)
    if beta == 2:
        kw["solver_options"] = SAME
    ref, Wr, est, W = fit_numpy_and(to_torch, X, kw)
    assert isinstance(W, torch.Tensor) and isinstance(est.components_, torch.Tensor)
    assert est.n_features_in_ == 45 and est.n_iter_ == ref.n_iter_
    assert rel(est.components_, ref.components_) < 1e-9 and rel(W, Wr) < 1e-9
    Wt = est.transform(to_torch(X[:10]))
    assert isinstance(Wt, torch.Tensor)
    # Frobenius: HALS to a 1e-12 objective change vs the NumPy path's exact BPP solve
    assert rel(Wt, ref.transform(X[:10])) < (1e-6 if beta == 2 else 1e-10)
    back = est.inverse_transform(Wt)
    assert isinstance(back, torch.Tensor) and tuple(back.shape) == (10, 45)
    assert est.score(to_torch(X)) == pytest.approx(ref.score(X), rel=1e-6)
    with pytest.raises(ValueError, match="features"):
        est.transform(to_torch(X[:, :10]))


def test_clear_errors_on_torch():
    X = torch.rand(20, 10, dtype=torch.float64)
    with pytest.raises(ValueError, match="negative"):
        nmfkit.factorize(-X, 2)
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        nmfkit.factorize(bad, 2)
    with pytest.raises(ValueError, match="2-D"):
        nmfkit.factorize(X[0], 2)
    with pytest.raises(ValueError, match="empty"):
        nmfkit.factorize(X[:0], 2)
    with pytest.raises(ValueError, match="complex"):
        nmfkit.factorize(X.to(torch.complex128), 2)
    with pytest.raises(IncompatibleOptionsError, match="'hals', 'mu', 'pgd', 'nesterov'"):
        nmfkit.factorize(X, 2, solver="anls_bpp")
    with pytest.raises(IncompatibleOptionsError, match="weights"):
        nmfkit.factorize(X, 2, weights=np.ones((20, 10)))
    with pytest.raises(IncompatibleOptionsError, match="spa"):
        nmfkit.factorize(X, 2, init="spa")
    with pytest.raises(ValueError, match="shape"):
        nmfkit.factorize(X, 2, W=torch.rand(20, 3, dtype=torch.float64),
                         H=torch.rand(2, 10, dtype=torch.float64))
    with pytest.raises(ValueError, match="zeros"):
        nmfkit.factorize(X * 0, 2, beta_loss="itakura-saito")


@pytest.mark.parametrize("lib", sorted(SPARSE_LIBS))
def test_xp_sparse_shim_against_scipy(lib):
    from nmfkit.backend._xp import XpSparse

    rng = np.random.default_rng(5)
    Xs = sp.random(30, 20, density=0.3, format="csr", random_state=5)
    Xs[3] = 0.0  # an empty row
    Xs.eliminate_zeros()
    conv = dense_like(lib)
    S = XpSparse.from_native(SPARSE_LIBS[lib](Xs))
    rows, cols = Xs.nonzero()
    np.testing.assert_array_equal(to_numpy(S.rows), rows)
    np.testing.assert_array_equal(to_numpy(S.cols), cols)
    D, E = rng.random((20, 3)), rng.random((30, 4))
    np.testing.assert_allclose(to_numpy(S.matmul(conv(D))), Xs @ D, rtol=1e-14)
    np.testing.assert_allclose(to_numpy(S.rmatmul(conv(E))), Xs.T @ E, rtol=1e-14)
    v = rng.random(Xs.nnz)
    S2 = S.with_values(conv(v))
    X2 = sp.csr_matrix((v, Xs.indices, Xs.indptr), shape=Xs.shape)
    np.testing.assert_allclose(to_numpy(S2.rmatmul(conv(E))), X2.T @ E, rtol=1e-14)
    np.testing.assert_allclose(to_numpy(S2.dense_rows(2, 9)), X2[2:9].toarray(), rtol=0)
    W, H = rng.random((30, 3)), rng.random((3, 20))
    got = to_numpy(S.values_at(conv(W), conv(H), block=7))
    np.testing.assert_allclose(got, (W @ H)[rows, cols], rtol=1e-14)


def test_cuda_kernel_only_for_cuda_arrays(monkeypatch):
    from nmfkit.nnls._hals_cuda import cuda_sweeps_available

    assert not cuda_sweeps_available(np.ones((2, 2)))
    assert not cuda_sweeps_available(torch.ones(2, 2))  # CPU tensor
    assert not cuda_sweeps_available(to_strict(np.ones((2, 2))))
    for conv in GPU_BACKENDS.values():
        assert cuda_sweeps_available(conv(np.ones((2, 2))))
        monkeypatch.setenv("NMFKIT_CUDA_KERNELS", "0")
        assert not cuda_sweeps_available(conv(np.ones((2, 2))))
        monkeypatch.delenv("NMFKIT_CUDA_KERNELS")


@pytest.mark.parametrize("backend", GPU_PARAMS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_sweep_kernel_equals_numpy_sweep(backend, dtype, monkeypatch):
    """The one-kernel CUDA sweep: NumPy's sweeps (dead row, strided A, stopping rule)."""
    from nmfkit.nnls import _hals_cuda, hals_sweep, hals_sweep_xp

    conv = GPU_BACKENDS[backend]
    rng = np.random.default_rng(3)
    k, p = 7, 1000
    M = rng.random((k, 3 * k))
    G = M @ M.T
    G[4], G[:, 4] = 0.0, 0.0  # a dead component: its row stays as it is
    B = rng.random((k, p)) * 3 - 1
    At = rng.random((p, k))  # A = Atᵀ, strided like the solver's Wᵀ
    calls = []
    real = _hals_cuda.cuda_sweep
    monkeypatch.setattr(_hals_cuda, "cuda_sweep", lambda *a: calls.append(1) or real(*a))
    from nmfkit.backend._xp import namespace_of

    tol = 1e-12 if dtype == "float64" else 1e-5
    for sweeps, l1, l2 in ((1, 0.1, 0.0), (6, 0.1, 0.0), (6, 0.0, 0.2)):
        A = conv(At.astype(dtype)).T
        assert _hals_cuda.cuda_sweeps_available(A)
        got, done = hals_sweep_xp(A, conv(B.astype(dtype)), conv(G.astype(dtype)),
                                  namespace_of(A), l1=l1, l2=l2, max_sweeps=sweeps)
        ref, ref_done = hals_sweep(At.T.copy(), B, G, l1=l1, l2=l2, max_sweeps=sweeps,
                                   compiled=False)
        assert done == ref_done and rel(got, ref) < tol
        if l2 == 0.0:
            np.testing.assert_array_equal(to_numpy(got)[4], At.T[4].astype(dtype))
    assert len(calls) >= 3


@pytest.mark.parametrize("backend", GPU_PARAMS)
def test_estimator_and_errors_on_gpu(data, backend):
    """GPU arrays: the estimator returns the input's library, dtypes and errors as on NumPy."""
    conv = GPU_BACKENDS[backend]
    X, _, _ = data
    kw = dict(n_components=5, random_state=0, max_iter=200, tol=1e-8, solver_options=SAME)
    ref, Wr, est, W = fit_numpy_and(conv, X, kw)
    assert type(W) is type(conv(X)) and type(est.components_) is type(conv(X))
    assert rel(est.components_, ref.components_) < GPU_RTOL and rel(W, Wr) < GPU_RTOL
    Wt = est.transform(conv(X[:10]))
    assert type(Wt) is type(conv(X)) and rel(Wt, ref.transform(X[:10])) < 1e-6
    assert est.score(conv(X)) == pytest.approx(ref.score(X), rel=1e-6)
    r32 = nmfkit.factorize(conv(X.astype(np.float32)), 3, random_state=0, max_iter=30)
    assert str(r32.W.dtype).endswith("float32") and str(r32.H.dtype).endswith("float32")
    with pytest.raises(ValueError, match="negative"):
        nmfkit.factorize(conv(-X - 1.0), 2)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nmfkit.factorize(conv(bad), 2)
    with pytest.raises(IncompatibleOptionsError, match="'hals', 'mu', 'pgd', 'nesterov'"):
        nmfkit.factorize(conv(X), 2, solver="anls_bpp")


def test_generic_loops_on_numpy_equal_numpy_path(data):
    """The array-API loops, run with NumPy's compat namespace, give the NumPy path's iterates."""
    import array_api_compat.numpy as xnp

    from nmfkit.nnls import hals_sweep_xp
    from nmfkit.solvers._array_api import alternating_frobenius_xp, mu_xp

    X, W0, H0 = data

    def kernel(A, B, G, *, l1, l2, side, state, xp):
        return hals_sweep_xp(A, B, G, xp, max_sweeps=1)[0]

    got = alternating_frobenius_xp(X, W0, H0, kernel=kernel, name="hals", max_iter=50, tol=0)
    ref = nmfkit.solvers.get_solver("hals").func(
        X, W0, H0, max_iter=50, tol=0, inner_repeat=False
    )
    assert rel(got.W, ref.W) < 1e-12 and rel(got.H, ref.H) < 1e-12
    got = mu_xp(X, W0, H0, beta=1.0, gamma=1.0, max_iter=50, tol=0)
    ref = nmfkit.solvers.get_solver("mu").func(X, W0, H0, beta=1.0, max_iter=50, tol=0)
    assert rel(got.W, ref.W) < 1e-12
    assert xnp is not None


def test_import_nmfkit_imports_no_optional_library():
    code = (
        "import sys, nmfkit; bad = [m for m in ('torch', 'cupy', 'array_api_strict', 'dask',"
        " 'numba', 'jax') if m in sys.modules]; import numpy as np;"
        " nmfkit.factorize(np.ones((4, 3)), 1, max_iter=2);"
        " bad += [m for m in ('torch', 'cupy', 'array_api_strict', 'jax') if m in sys.modules];"
        " print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_gpu_benchmark_script_smoke_on_cpu(tmp_path):
    """benchmarks/gpu.py runs end to end (on torch's CPU device here) and writes its table."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    out = tmp_path / "gpu.md"
    proc = subprocess.run(
        [sys.executable, str(script), "--device", "cpu", "--n", "120", "--k", "4",
         "--iters", "3", "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = out.read_text()
    for method in ("| hals | torch |", "| mu | torch |", "| torch | hals β=2 | sparse |"):
        assert method in table
