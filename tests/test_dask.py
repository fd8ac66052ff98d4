"""Dask backend: equality with the in-memory fit, the task graph, checkpoints,
dask.distributed (in-process, and a worker killed mid-fit on a process cluster)."""

from __future__ import annotations

import doctest
import os
import signal

import numpy as np
import pytest
import scipy.sparse as sp

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from dask.core import get_dependencies  # noqa: E402

import nmfkit  # noqa: E402
from nmfkit.backend import dask as ndask  # noqa: E402
from nmfkit.backend.dask import _DaskFit, blas_threads_for, fit_dask, init_dask  # noqa: E402
from nmfkit.checkpoint import read_checkpoint  # noqa: E402
from nmfkit.init import initialize  # noqa: E402
from nmfkit.losses import Penalties  # noqa: E402
from nmfkit.solvers._blockwise import make_block_kernel  # noqa: E402
from nmfkit.solvers.anls import solve_anls_bpp  # noqa: E402
from nmfkit.solvers.hals import solve_hals  # noqa: E402


@pytest.fixture(autouse=True)
def _threads():
    with dask.config.set(scheduler="threads", num_workers=2):
        yield


def _problem(seed=0, m=150, n=50, k=4, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.random((m, k)) @ rng.random((k, n)) + 0.05 * rng.random((m, n))
    if sparse:
        X = sp.csr_matrix(X * (rng.random((m, n)) < 0.3))
    return X, rng.random((m, k)), rng.random((k, n))


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def test_doctests():
    res = doctest.testmod(ndask, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("kind", ["dense", "csr_matrix", "csr_array"])
@pytest.mark.parametrize(
    "solver, ref, opts", [("hals", solve_hals, {"inner_repeat": False}),
                          ("anls_bpp", solve_anls_bpp, {})]
)
def test_dask_fit_equals_in_memory_fit(kind, solver, ref, opts):
    X, W0, H0 = _problem(sparse=kind != "dense")
    pen = Penalties(l1_W=0.05, l2_W=0.1, l1_H=0.02, l2_H=0.03)
    want = ref(X, W0, H0, max_iter=20, tol=0, penalties=pen, **opts)
    src = sp.csr_array(X) if kind == "csr_array" else X
    # uneven row chunks, and column chunks that the fit joins per row block
    Xd = da.from_array(src, chunks=((40, 40, 33, 37), (20, 30)), asarray=False)
    got = fit_dask(Xd, W0, H0, solver=solver, max_iter=20, tol=0, penalties=pen, **opts)
    assert got.extras["n_blocks"] == 4
    assert _rel(got.W, want.W) < 1e-10 and _rel(got.H, want.H) < 1e-10
    np.testing.assert_allclose(got.loss_history, want.loss_history, rtol=1e-10)


def test_dask_stops_where_in_memory_stops():
    X, W0, H0 = _problem(seed=1)
    want = solve_hals(X, W0, H0, max_iter=100, tol=1e-2, inner_repeat=False)
    got = fit_dask(da.from_array(X, chunks=(32, 50)), W0, H0, max_iter=100, tol=1e-2,
                   inner_repeat=False)
    assert got.n_iter == want.n_iter < 100 and got.stop_reason == "tol"
    assert _rel(got.H, want.H) < 1e-10


def test_no_task_holds_more_than_one_block_of_X():
    X, W0, H0 = _problem()
    Xd = da.from_array(X, chunks=(25, 20))  # 6 row blocks × 3 column chunks
    kern = make_block_kernel("hals", n_samples=150, n_features=50, nnz=X.size, k=4)
    plan = _DaskFit(Xd, 4, kernel=kern, pen=Penalties(), blas=1, split_every=3)
    W_new, G = plan.iteration(plan.split_W(W0), H0, H0 @ H0.T, 1)
    dsk = {}
    for d in [*W_new, G]:
        dsk.update(dict(d.__dask_graph__()))
    x_name = Xd.name

    def blocks_of(key):
        """Row blocks of X that ``key`` is (a raw chunk, a joined block) or none."""
        if isinstance(key, tuple) and key[0] == x_name:
            return {key[1]}
        if isinstance(key, str) and key.startswith("nmf-X-"):
            return {int(key.rsplit("-", 1)[1])}
        return set()

    holders = 0
    for key in dsk:
        touched = set().union(*(blocks_of(d) for d in get_dependencies(dsk, key)))
        assert len(touched) <= 1, (key, touched)
        if touched and isinstance(key, str) and key.startswith("nmf-W-"):
            holders += 1
            # the other inputs: one block of Wᵀ (k × rows) and the shared (H, HHᵀ)
            others = [d for d in get_dependencies(dsk, key) if not blocks_of(d)]
            assert len(others) == 1 and str(others[0]).startswith("nmf-H-")
    assert holders == plan.n_blocks == 6
    # the k × n_features sums are reduced by a tree with fan-in ≤ split_every
    tree = [k for k in dsk if isinstance(k, str) and k.startswith("nmf-G-")]
    assert len(tree) == 3  # 6 → 2 → 1
    assert all(len(get_dependencies(dsk, k)) <= 3 for k in tree)


def test_init_dask_does_not_depend_on_chunks():
    X, _, _ = _problem()
    W, H = initialize(X, 4, "random", random_state=3)
    for chunks in [(150, 50), (7, 50), (40, 9)]:
        Wd, Hd = init_dask(da.from_array(X, chunks=chunks), 4, random_state=3)
        np.testing.assert_allclose(Wd, W, rtol=1e-14)
        np.testing.assert_allclose(Hd, H, rtol=1e-14)


def test_float32_and_zero_start():
    X, _, H0 = _problem()
    res = fit_dask(da.from_array(X.astype(np.float32), chunks=(50, 50)), None,
                   H0.astype(np.float32), max_iter=10, tol=0)
    assert res.W.dtype == np.float32 and res.H.dtype == np.float32
    assert res.loss < 0.2 * res.loss_history[0]


def test_bad_inputs():
    X, W0, H0 = _problem()
    with pytest.raises(TypeError, match="dask"):
        fit_dask(X, W0, H0)
    Xn = X.copy()
    Xn[3, 3] = -1
    with pytest.raises(ValueError, match="negative"):
        fit_dask(da.from_array(Xn, chunks=50), W0, H0, max_iter=2)
    Xn[3, 3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fit_dask(da.from_array(Xn, chunks=50), W0, H0, max_iter=2)
    Xd = da.from_array(X, chunks=50)
    with pytest.raises(ValueError, match="unknown chunk"):
        fit_dask(Xd[Xd[:, 0] > 0.5], W0, H0)
    with pytest.raises(ValueError, match="objective"):
        fit_dask(Xd, W0, H0, stop_rule="pgrad")
    with pytest.raises(ValueError, match="row blocks"):
        fit_dask(Xd, W0, H0, solver="pgd")


def test_callback_sees_a_lazy_W():
    X, W0, H0 = _problem()
    seen = []

    def cb(state):
        seen.append((type(state.W).__name__, state.W.shape))
        return state.n_iter == 3

    res = fit_dask(da.from_array(X, chunks=(50, 50)), W0, H0, max_iter=10, tol=0, callback=cb)
    assert res.n_iter == 3 and res.stop_reason == "callback"
    assert seen[0] == ("Array", (150, 4))


class _Crash(Exception):
    pass


@pytest.mark.parametrize("sparse", [False, True])
def test_checkpoint_and_resume(tmp_path, sparse):
    X, W0, H0 = _problem(seed=4, sparse=sparse)
    Xd = da.from_array(X, chunks=(40, 50), asarray=False)
    kw = dict(solver="hals", max_iter=16, tol=0, inner_repeat=False)
    full = fit_dask(Xd, W0, H0, **kw)
    ck = tmp_path / "dask.ckpt.npz"

    def crash(state):
        if state.n_iter == 8:
            raise _Crash

    with pytest.raises(_Crash):
        fit_dask(Xd, W0, H0, checkpoint=ck, checkpoint_every=3, callback=crash, **kw)
    meta = read_checkpoint(ck)["meta"]
    assert meta["n_iter"] == 6 and meta["backend"] == "dask" and not meta["finished"]
    assert os.listdir(tmp_path) == [ck.name]
    res = nmfkit.resume(ck, Xd)
    assert res.n_iter == 16 and len(res.loss_history) == 17
    assert _rel(res.H, full.H) < 1e-12 and _rel(res.W, full.W) < 1e-12
    np.testing.assert_allclose(res.loss_history, full.loss_history, rtol=1e-12)
    # a dask checkpoint also resumes in memory (same data, same iterates)
    with pytest.raises(_Crash):
        fit_dask(Xd, W0, H0, checkpoint=ck, checkpoint_every=3, callback=crash, **kw)
    mem = nmfkit.resume(ck, X)
    assert _rel(mem.H, full.H) < 1e-10


def test_blas_threads_rule():
    assert blas_threads_for(2, cores=2) == 1
    assert blas_threads_for(1, cores=2) == 2
    assert blas_threads_for(4, cores=16) == 4


def test_distributed_in_process_cluster():
    distributed = pytest.importorskip("distributed")
    X, W0, H0 = _problem(seed=5, m=120)
    want = solve_hals(X, W0, H0, max_iter=8, tol=0, inner_repeat=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        got = fit_dask(da.from_array(X, chunks=(30, 50)), W0, H0, max_iter=8, tol=0,
                       inner_repeat=False)
    assert _rel(got.H, want.H) < 1e-10 and _rel(got.W, want.W) < 1e-10


def _worker_blas_threads():
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_worker_killed_mid_fit_on_a_process_cluster():
    distributed = pytest.importorskip("distributed")
    X, W0, H0 = _problem(seed=6, m=400, n=60, k=5)
    want = solve_hals(X, W0, H0, max_iter=20, tol=0, inner_repeat=False)
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        killed = []

        def kill_one(state):
            if state.n_iter == 7 and not killed:
                addr, pid = sorted(client.run(os.getpid).items())[0]
                os.kill(pid, signal.SIGKILL)  # the worker process, not its nanny
                killed.append(addr)

        got = fit_dask(da.from_array(X, chunks=(50, 60)), W0, H0, max_iter=20, tol=0,
                       inner_repeat=False, callback=kill_one, anchor_every=5)
        blas = client.run(_worker_blas_threads)
    assert killed
    assert _rel(got.H, want.H) < 1e-10 and _rel(got.W, want.W) < 1e-10
    cores = os.cpu_count() or 1
    assert all(n <= max(1, cores // 2) for ns in blas.values() for n in ns)
