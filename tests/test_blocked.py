"""Out-of-core fits: row-block sources, the Matrix Market store, the blocked loop,
checkpoints, and a fit under a capped address space."""

from __future__ import annotations

import doctest
import gzip
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import nmfkit
from nmfkit import blocked, checkpoint
from nmfkit.blocked import (
    ArrayRowBlocks,
    BlockStore,
    NpyRowBlocks,
    as_row_blocks,
    blocked_memory_bound,
    fit_blocked,
    init_blocked,
    mtx_to_blocks,
)
from nmfkit.checkpoint import read_checkpoint, resume
from nmfkit.init import initialize
from nmfkit.io import DataFileError
from nmfkit.losses import Penalties
from nmfkit.solvers import _blockwise
from nmfkit.solvers.anls import solve_active_set, solve_anls_bpp
from nmfkit.solvers.hals import solve_hals


def _problem(seed=0, m=90, n=40, k=4, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.random((m, k)) @ rng.random((k, n)) + 0.05 * rng.random((m, n))
    if sparse:
        X = sp.random(m, n, density=0.3, random_state=seed, format="csr") + sp.csr_matrix(
            (rng.random((m, n)) < 0.05) * X
        )
        X = sp.csr_matrix(X)
    W0, H0 = rng.random((m, k)), rng.random((k, n))
    return X, W0, H0


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("module", [blocked, checkpoint, _blockwise])
def test_doctests(module):
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "solver, ref, opts",
    [
        ("hals", solve_hals, {"inner_repeat": False}),
        ("anls_bpp", solve_anls_bpp, {}),
        ("active_set", solve_active_set, {}),
    ],
)
def test_blocked_equals_in_memory(sparse, solver, ref, opts):
    X, W0, H0 = _problem(sparse=sparse)
    want = ref(X, W0, H0, max_iter=25, tol=0, **opts)
    got = fit_blocked(X, W0, H0, solver=solver, block_rows=17, max_iter=25, tol=0, **opts)
    assert got.extras["n_blocks"] == 6
    assert _rel(got.W, want.W) < 1e-10 and _rel(got.H, want.H) < 1e-10
    np.testing.assert_allclose(got.loss_history, want.loss_history, rtol=1e-10)


@pytest.mark.parametrize("inner_repeat", [False, True])
def test_single_block_is_the_in_memory_loop_bit_for_bit(inner_repeat):
    X, W0, H0 = _problem(seed=3, m=200, n=30, k=5)
    pen = Penalties(l1_W=0.01, l2_H=0.02)
    want = solve_hals(X, W0, H0, max_iter=15, tol=0, inner_repeat=inner_repeat, penalties=pen,
                      extrapolate=False)
    got = fit_blocked(
        X, W0, H0, block_rows=200, max_iter=15, tol=0, inner_repeat=inner_repeat, penalties=pen
    )
    assert np.array_equal(got.W, want.W) and np.array_equal(got.H, want.H)
    # every iteration's objective bit for bit; the starting one is summed in another
    # order (in memory it comes from the first W-update's HXᵀ, here from WᵀX)
    assert np.array_equal(got.loss_history[1:], want.loss_history[1:])
    assert got.loss_history[0] == pytest.approx(want.loss_history[0], rel=1e-13)


def test_blocked_stops_on_tol_like_in_memory():
    X, W0, H0 = _problem(seed=1)
    want = solve_anls_bpp(X, W0, H0, max_iter=500, tol=1e-4)
    got = fit_blocked(X, W0, H0, solver="anls_bpp", block_rows=32, max_iter=500, tol=1e-4)
    assert got.n_iter == want.n_iter and got.stop_reason == want.stop_reason == "tol"


def test_float32_stays_float32_and_W0_none():
    X, _, H0 = _problem()
    res = fit_blocked(X.astype(np.float32), None, H0.astype(np.float32), block_rows=20,
                      max_iter=30, tol=0)
    assert res.W.dtype == np.float32 and res.H.dtype == np.float32
    assert np.all(np.diff(res.loss_history) <= 1e-6 * res.loss_history[0])


def test_sources_memmap_npy_h5_zarr(tmp_path):
    X, W0, H0 = _problem(seed=2, m=70, n=25)
    want = fit_blocked(X, W0, H0, block_rows=70, max_iter=10, tol=0, inner_repeat=False)
    p = tmp_path / "x.npy"
    np.save(p, X)
    sources = {
        "memmap": np.load(p, mmap_mode="r"),
        "npy": p,
        "npy-src": NpyRowBlocks(p, block_rows=9),
    }
    try:
        import h5py

        with h5py.File(tmp_path / "x.h5", "w") as f:
            f.create_dataset("X", data=X, chunks=(8, 25))
        sources["h5"] = h5py.File(tmp_path / "x.h5", "r")["X"]
    except ImportError:
        pass
    try:
        import zarr

        z = zarr.open_array(str(tmp_path / "x.zarr"), mode="w", shape=X.shape, chunks=(16, 25),
                            dtype="f8")
        z[:] = X
        sources["zarr"] = zarr.open_array(str(tmp_path / "x.zarr"), mode="r")
    except ImportError:
        pass
    for name, s in sources.items():
        src = as_row_blocks(s, block_rows=None if name in ("h5", "zarr") else 11)
        got = fit_blocked(src, W0, H0, max_iter=10, tol=0, inner_repeat=False)
        assert _rel(got.H, want.H) < 1e-10, name


def test_default_blocks_follow_storage_chunks():
    assert blocked._default_block_rows(10**6, 1000, 8, 48) % 48 == 0
    assert blocked._default_block_rows(10**6, 10**7, 8, 48) == 48  # at least one chunk
    assert blocked._default_block_rows(10, 1000, 8, None) == 10


def test_npy_reader_errors(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        NpyRowBlocks(tmp_path / "nope.npy")
    np.save(tmp_path / "f.npy", np.asfortranarray(np.ones((3, 4))))
    with pytest.raises(DataFileError, match="Fortran"):
        NpyRowBlocks(tmp_path / "f.npy")
    np.save(tmp_path / "v.npy", np.ones(3))
    with pytest.raises(DataFileError, match="2-D"):
        NpyRowBlocks(tmp_path / "v.npy")
    np.save(tmp_path / "i.npy", np.arange(6).reshape(3, 2))
    assert NpyRowBlocks(tmp_path / "i.npy").block(0).dtype == np.float64
    (tmp_path / "a.mtx").write_text("x")
    with pytest.raises(DataFileError, match="mtx_to_blocks"):
        as_row_blocks(tmp_path / "a.mtx")


def test_bad_inputs():
    X, W0, H0 = _problem()
    Xn = X.copy()
    Xn[5, 3] = -1.0
    with pytest.raises(ValueError, match="negative"):
        fit_blocked(Xn, W0, H0, block_rows=10)
    Xn[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_blocked(Xn, W0, H0, block_rows=10)
    with pytest.raises(ValueError, match="row blocks"):
        fit_blocked(X, W0, H0, solver="mu")
    with pytest.raises(ValueError, match="objective"):
        fit_blocked(X, W0, H0, stop_rule="pgrad")
    with pytest.raises(ValueError, match="H0"):
        fit_blocked(X, W0, H0[:, :5])
    with pytest.raises(ValueError, match="block_rows"):
        ArrayRowBlocks(X, block_rows=0)


def test_init_blocked_matches_random_init():
    X, _, _ = _problem()
    W, H = initialize(X, 4, "random", random_state=7)
    Wb, Hb = init_blocked(X, 4, random_state=7, block_rows=13)
    np.testing.assert_allclose(Wb, W, rtol=1e-14)
    np.testing.assert_allclose(Hb, H, rtol=1e-14)


# ----------------------------------------------------------------------- Matrix Market


def _write_mtx(path, A, symmetry="general", field="real", shuffle=True, seed=0):
    """A coordinate Matrix Market file with the entries in random order."""
    A = sp.coo_matrix(A)
    r, c, v = A.row, A.col, A.data
    if symmetry != "general":
        keep = r >= c
        r, c, v = r[keep], c[keep], v[keep]
    order = np.random.default_rng(seed).permutation(r.size) if shuffle else np.arange(r.size)
    lines = [f"%%MatrixMarket matrix coordinate {field} {symmetry}", "% a comment",
             f"{A.shape[0]} {A.shape[1]} {r.size}"]
    for i in order:
        val = "" if field == "pattern" else f" {float(v[i])!r}"
        lines.append(f"{r[i] + 1} {c[i] + 1}{val}")
    path.write_text("\n".join(lines) + "\n")


def _stacked(store):
    return sp.vstack([b for _, b in store]).tocsr()


def test_mtx_store_general_shuffled_small_chunks(tmp_path):
    A = sp.random(123, 17, density=0.2, random_state=1, format="csr")
    _write_mtx(tmp_path / "a.mtx", A)
    store = mtx_to_blocks(tmp_path / "a.mtx", tmp_path / "st", block_rows=10, chunk_bytes=97)
    assert store.n_blocks == 13 and store.nnz == A.nnz
    assert abs(_stacked(store) - A).max() == 0
    assert sorted(os.listdir(tmp_path / "st")) == sorted(["meta.json", *store.files])  # no spill
    meta = json.loads((tmp_path / "st" / "meta.json").read_text())
    assert meta["format"] == "nmfkit-row-blocks" and meta["shape"] == [123, 17]
    again = as_row_blocks(tmp_path / "st")
    assert isinstance(again, BlockStore) and again.nnz == A.nnz
    with pytest.raises(FileExistsError):
        mtx_to_blocks(tmp_path / "a.mtx", tmp_path / "st")
    mtx_to_blocks(tmp_path / "a.mtx", tmp_path / "st", block_rows=50, overwrite=True)
    assert BlockStore(tmp_path / "st").n_blocks == 3


def test_mtx_store_symmetric_pattern_array_gzip(tmp_path):
    S = sp.random(30, 30, density=0.2, random_state=2)
    S = sp.csr_matrix(S + S.T)
    _write_mtx(tmp_path / "s.mtx", S, symmetry="symmetric")
    got = _stacked(mtx_to_blocks(tmp_path / "s.mtx", tmp_path / "s", block_rows=7))
    assert abs(got - S).max() == 0

    P = sp.random(20, 9, density=0.3, random_state=3, format="csr")
    P.data[:] = 1.0
    _write_mtx(tmp_path / "p.mtx", P, field="pattern")
    got = _stacked(mtx_to_blocks(tmp_path / "p.mtx", tmp_path / "p", block_rows=6))
    assert abs(got - P).max() == 0

    D = np.random.default_rng(4).random((11, 5))
    D[D < 0.3] = 0
    scipy.io.mmwrite(tmp_path / "d.mtx", D)
    got = _stacked(mtx_to_blocks(tmp_path / "d.mtx", tmp_path / "d", block_rows=4, chunk_bytes=50))
    np.testing.assert_array_equal(got.toarray(), D)

    with open(tmp_path / "s.mtx", "rb") as f, gzip.open(tmp_path / "s.mtx.gz", "wb") as g:
        g.write(f.read())
    assert abs(_stacked(mtx_to_blocks(tmp_path / "s.mtx.gz", tmp_path / "g")) - S).max() == 0


@pytest.mark.parametrize(
    "text, match",
    [
        ("hello\n", "header"),
        ("%%MatrixMarket matrix coordinate complex general\n2 2 1\n1 1 1 0\n", "complex"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1.0\n", "expected 2"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1.0\n", "outside"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 abc\n", "not a number"),
        ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 nan\n", "NaN"),
        ("%%MatrixMarket matrix coordinate real general\n", "size line"),
    ],
)
def test_mtx_errors(tmp_path, text, match):
    (tmp_path / "bad.mtx").write_text(text)
    with pytest.raises(DataFileError, match=match):
        mtx_to_blocks(tmp_path / "bad.mtx", tmp_path / "out")
    assert not (tmp_path / "out" / "meta.json").exists()


def test_fit_on_store_equals_sparse_in_memory(tmp_path):
    X, W0, H0 = _problem(seed=5, sparse=True)
    scipy.io.mmwrite(tmp_path / "x.mtx", X)
    store = mtx_to_blocks(tmp_path / "x.mtx", tmp_path / "x", block_rows=25)
    want = solve_anls_bpp(X, W0, H0, max_iter=20, tol=0)
    got = fit_blocked(store, W0, H0, solver="anls_bpp", max_iter=20, tol=0)
    assert _rel(got.H, want.H) < 1e-10 and _rel(got.W, want.W) < 1e-10


def test_incomplete_store_is_refused(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(DataFileError, match="meta.json"):
        BlockStore(tmp_path / "half")


# ----------------------------------------------------------------------- checkpoints


class _Crash(Exception):
    pass


def _crash_at(n):
    def cb(state):
        if state.n_iter == n:
            raise _Crash

    return cb


@pytest.mark.parametrize("solver", ["hals", "anls_bpp"])
def test_checkpoint_resume_reaches_the_uninterrupted_result(tmp_path, solver):
    X, W0, H0 = _problem(seed=6)
    kw = dict(solver=solver, block_rows=20, max_iter=40, tol=1e-7, inner_repeat=True)
    full = fit_blocked(X, W0, H0, **kw)
    ck = tmp_path / "fit.ckpt.npz"
    with pytest.raises(_Crash):
        fit_blocked(X, W0, H0, checkpoint=ck, checkpoint_every=4, callback=_crash_at(11), **kw)
    state = read_checkpoint(ck)
    assert state["meta"]["n_iter"] == 8 and not state["meta"]["finished"]
    assert [f for f in os.listdir(tmp_path) if f != ck.name] == []  # atomic: no temp files
    res = resume(ck, X)
    assert res.n_iter == full.n_iter and res.stop_reason == full.stop_reason
    assert np.array_equal(res.W, full.W) and np.array_equal(res.H, full.H)
    assert np.array_equal(res.loss_history, full.loss_history)
    # the resumed run wrote its final state; resuming again just returns it
    done = resume(ck, X)
    assert read_checkpoint(ck)["meta"]["finished"]
    assert np.array_equal(done.H, full.H) and done.n_iter == full.n_iter


def test_checkpoint_file_is_plain_npz(tmp_path):
    X, W0, H0 = _problem()
    ck = tmp_path / "c.npz"
    fit_blocked(X, W0, H0, max_iter=3, tol=0, checkpoint=ck, checkpoint_every=1)
    with np.load(ck, allow_pickle=False) as z:
        assert set(z.files) == {"W", "H", "loss_history", "__nmfkit_checkpoint__"}
        meta = json.loads(bytes(z["__nmfkit_checkpoint__"]).decode())
    assert meta["format"] == "nmfkit-checkpoint" and meta["n_iter"] == 3 and meta["finished"]


def test_resume_refuses_other_data(tmp_path):
    X, W0, H0 = _problem()
    ck = tmp_path / "c.npz"
    with pytest.raises(_Crash):
        fit_blocked(X, W0, H0, max_iter=10, tol=0, checkpoint=ck, checkpoint_every=2,
                    callback=_crash_at(3))
    with pytest.raises(ValueError, match="not the matrix"):
        resume(ck, X * 1.01)
    with pytest.raises(ValueError, match="shape"):
        resume(ck, X[:-1])
    with pytest.raises(TypeError, match="unexpected"):
        resume(ck, X, solver="mu")
    assert nmfkit.resume is resume
    res = nmfkit.resume(ck, X, max_iter=12)
    assert res.n_iter == 12


# ----------------------------------------------------------------------- capped memory

_CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, tracemalloc
    import numpy as np
    from nmfkit.blocked import NpyRowBlocks, fit_blocked, blocked_memory_bound

    path, headroom, k, block_rows, iters = sys.argv[1], *map(int, sys.argv[2:6])
    src = NpyRowBlocks(path, block_rows=block_rows)
    H0 = np.random.default_rng(1).random((k, src.shape[1]))

    def vsz():
        return int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")

    limit = vsz() + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:                     # the cap bites: the whole matrix cannot be loaded
        np.load(path)
        whole = True
    except MemoryError:
        whole = False
    tracemalloc.start()
    res = fit_blocked(src, None, H0, max_iter=iters, tol=0)
    peak = tracemalloc.get_traced_memory()[1]
    bound = blocked_memory_bound(src.shape[0], src.shape[1], k, src.block_bytes(0),
                                 src.block_rows)
    print(json.dumps(dict(limit=limit, whole=whole, peak=peak, bound=bound,
                          history=res.loss_history.tolist())))
    """
)


def _capped_fit(tmp_path, n, m, k, filled_every, headroom=96 << 20, block_rows=1000, iters=2):
    """Write an n × m float64 .npy (planted rank k, data in every ``filled_every``-th
    slab of rows and holes elsewhere) and fit it in a child with RLIMIT_AS capped."""
    p = tmp_path / "big.npy"
    rng = np.random.default_rng(0)
    H = rng.random((k, m))
    X = np.lib.format.open_memmap(p, mode="w+", dtype=np.float64, shape=(n, m))
    slab = 4000
    for j, s in enumerate(range(0, n, slab)):
        if j % filled_every == 0:
            e = min(n, s + slab)
            X[s:e] = rng.random((e - s, k)) @ H + 0.01 * rng.random((e - s, m))
    X.flush()
    del X
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(p), str(headroom), str(k), str(block_rows),
             str(iters)],
            capture_output=True, text=True, env=env, timeout=600,
        )
    finally:
        size = p.stat().st_size
        p.unlink()  # do not leave a gigabyte behind in pytest's kept tmp dirs
    assert out.returncode == 0, out.stderr[-3000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert not info["whole"]
    # the whole address space is capped below the matrix's size, and what the fit may map
    # beyond the interpreter and its imports is a small fraction of it
    assert info["limit"] < size and headroom * 8 < size
    h = np.asarray(info["history"])
    assert len(h) == iters + 1
    assert np.all(np.isfinite(h)) and np.all(np.diff(h) <= 0) and h[-1] < 0.05 * h[0]
    assert info["peak"] <= info["bound"]  # the documented bound holds
    return info


def test_fit_under_capped_address_space(tmp_path):
    # 1.02 GB matrix; the child may map only ~0.45 GB in all (its imports included),
    # 96 MiB beyond what it had mapped after its imports.
    _capped_fit(tmp_path, n=64_000, m=2_000, k=3, filled_every=8)


@pytest.mark.slow
def test_fit_under_capped_address_space_dense(tmp_path):
    # every row holds data: 1.6 GB of planted data against a ~0.45 GB cap
    _capped_fit(tmp_path, n=100_000, m=2_000, k=5, filled_every=1, iters=4)


def test_memory_bound_formula():
    b = blocked_memory_bound(1000, 100, 5, block_bytes=80_000, block_rows=100)
    assert b == 3 * 80_000 + 8 * (1000 * 5 + 12 * 100 * 5 + 6 * 100 * 5 + 75)
