"""Compiled sparse × dense products (numba) against SciPy, and the fallback switch."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from conftest import count_calls, random_csr, split_entry, unsorted_rows
from nmfkit import backend
from nmfkit.backend import _sparse_compiled as C

numba = pytest.importorskip("numba")


@pytest.fixture
def compiled(monkeypatch):
    """Send every size to the compiled kernels (the thresholds skip small problems)."""
    monkeypatch.delenv("NMFKIT_SPARSE_COMPILED", raising=False)
    monkeypatch.setattr(C, "enabled", True)
    monkeypatch.setattr(C, "min_work", 0)
    monkeypatch.setattr(C, "min_work_gather", 0)
    if not C.available():
        pytest.skip("numba kernels could not be built")
    return C


def _csr(m, n, density, dtype=np.float64, index=np.int32, seed=0, empty_rows=(), empty_cols=()):
    rng = np.random.default_rng(seed)
    A = rng.random((m, n)) * (rng.random((m, n)) < density)
    A[list(empty_rows), :] = 0
    A[:, list(empty_cols)] = 0
    X = sp.csr_matrix(A.astype(dtype))
    X.indices = X.indices.astype(index)
    X.indptr = X.indptr.astype(index)
    assert X.has_canonical_format
    return X


def _close(a, b, dtype):
    tol = 1e-12 if np.dtype(dtype) == np.float64 else 2e-5
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    assert a.shape == b.shape
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


def _layouts(A):
    """The same matrix in C order, Fortran order and as a non-contiguous view."""
    wide = np.zeros((A.shape[0], 2 * A.shape[1]), dtype=A.dtype)
    wide[:, ::2] = A
    return [np.ascontiguousarray(A), np.asfortranarray(A), wide[:, ::2]]


@pytest.mark.parametrize("xdtype", [np.float32, np.float64])
@pytest.mark.parametrize("ddtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("k", [1, 7])
def test_products_match_scipy(compiled, xdtype, ddtype, index, k):
    rng = np.random.default_rng(1)
    m, n = 53, 41
    X = _csr(m, n, 0.2, xdtype, index, empty_rows=(0, 5, 52), empty_cols=(0, 17, 40))
    rdtype = np.result_type(xdtype, ddtype)
    D = rng.random((n, k)).astype(ddtype)
    E = rng.random((m, k)).astype(ddtype)
    for Dl in _layouts(D):
        got = compiled.spmm(X, Dl)
        assert got is not None
        _close(got, np.asarray(X @ D), rdtype)
        _close(backend.spmm(X, Dl), np.asarray(X @ D), rdtype)
    for El in _layouts(E):
        got = compiled.spmm_t(X, El)
        assert got is not None
        _close(got, np.asarray(X.T @ E), rdtype)
        _close(backend.spmm_t(X, El), np.asarray(X.T @ E), rdtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("k", [1, 6])
def test_values_at_nonzeros_match_dense(compiled, dtype, index, k):
    rng = np.random.default_rng(2)
    m, n = 37, 29
    X = _csr(m, n, 0.3, np.float64, index, empty_rows=(3,), empty_cols=(0, 28))
    W = rng.random((m, k)).astype(dtype)
    H = rng.random((k, n)).astype(dtype)
    rows = np.repeat(np.arange(m), np.diff(X.indptr))
    ref = (W.astype(np.float64) @ H.astype(np.float64))[rows, X.indices].astype(dtype)
    for Wl in _layouts(W):
        for Hl in _layouts(H):
            got = compiled.gather(Wl, Hl, X)
            assert got is not None
            _close(got, ref, dtype)
            _close(backend.values_at_nonzeros(Wl, Hl, X), ref, dtype)


def test_mixed_dtype_gather(compiled):
    X = _csr(20, 15, 0.4)
    rng = np.random.default_rng(3)
    W = rng.random((20, 4)).astype(np.float32)
    H = rng.random((4, 15))
    got = compiled.gather(W, H, X)
    assert got.dtype == np.float64
    rows = np.repeat(np.arange(20), np.diff(X.indptr))
    _close(got, (W.astype(np.float64) @ H)[rows, X.indices], np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_nnz_and_empty_shapes(compiled, dtype):
    X = sp.csr_matrix((6, 4), dtype=dtype)
    D = np.ones((4, 3), dtype=dtype)
    E = np.ones((6, 3), dtype=dtype)
    compiled.min_work = -1  # even nnz = 0 goes to the kernels
    compiled.min_work_gather = -1
    r = compiled.spmm(X, D)
    assert r.shape == (6, 3) and r.dtype == dtype and not r.any()
    r = compiled.spmm_t(X, E)
    assert r.shape == (4, 3) and r.dtype == dtype and not r.any()
    r = compiled.gather(E, D.T, X)
    assert r.shape == (0,) and r.dtype == dtype
    X0 = sp.csr_matrix((0, 4), dtype=dtype)
    assert compiled.spmm(X0, D).shape == (0, 3)
    assert not compiled.spmm_t(X0, np.ones((0, 3), dtype=dtype)).any()


@pytest.mark.parametrize("order", ["C", "F"])
def test_output_order(compiled, order):
    X = _csr(30, 20, 0.3)
    rng = np.random.default_rng(4)
    H = rng.random((5, 20))
    Wt = rng.random((5, 30))
    a = compiled.spmm(X, H.T, order=order)
    b = compiled.spmm_t(X, Wt.T, order=order)
    flag = "C_CONTIGUOUS" if order == "C" else "F_CONTIGUOUS"
    assert a.flags[flag] and b.flags[flag]
    _close(a, np.asarray(X @ H.T), np.float64)
    _close(b, np.asarray(X.T @ Wt.T), np.float64)


@pytest.mark.parametrize("n_chunks", [1, 2, 3, 5])
def test_spmm_t_partial_sums(compiled, monkeypatch, n_chunks):
    """The per-chunk partial sums and their reduction, whatever the thread count."""
    X = _csr(101, 23, 0.25, empty_rows=range(40, 60))
    E = np.random.default_rng(5).random((101, 4))
    monkeypatch.setitem(C._KERNELS, "threads", lambda: n_chunks)
    monkeypatch.setattr(C, "min_work_partials", 0)  # split even this small product
    _close(compiled.spmm_t(X, E), np.asarray(X.T @ E), np.float64)
    _close(compiled.spmm(X, E[:23]), np.asarray(X @ E[:23]), np.float64)
    _close(compiled.gather(E, E[:23].T, X), (E @ E[:23].T)[X.nonzero()], np.float64)


@pytest.mark.parametrize("kernels", ["1", "0"])  # compiled kernels, SciPy
def test_backend_products_in_transposed_layout(compiled, monkeypatch, kernels):
    """``transposed=True``: (X D)ᵀ and (Xᵀ D)ᵀ as C-contiguous k-row arrays, on both paths."""
    monkeypatch.setenv("NMFKIT_SPARSE_COMPILED", kernels)
    X = _csr(41, 27, 0.3, empty_rows=[3], empty_cols=[5])
    rng = np.random.default_rng(9)
    H, W = rng.random((4, 27)), rng.random((41, 4))
    a = backend.spmm(X, H.T, transposed=True)
    b = backend.spmm_t(X, W, transposed=True)
    assert a.shape == (4, 41) and b.shape == (4, 27)
    assert a.flags["C_CONTIGUOUS"] and b.flags["C_CONTIGUOUS"]
    _close(a, H @ X.toarray().T, np.float64)
    _close(b, W.T @ X.toarray(), np.float64)
    np.testing.assert_array_equal(a, backend.spmm(X, H.T).T)
    np.testing.assert_array_equal(b, backend.spmm_t(X, W).T)


def test_spmm_t_small_products_are_not_split(compiled, monkeypatch):
    """Below ``min_work_partials`` one chunk runs (no n × k partial buffers)."""
    X = _csr(50, 10, 0.5)
    E = np.random.default_rng(7).random((50, 3))
    monkeypatch.setitem(C._KERNELS, "threads", lambda: 4)
    allocated = []
    real_zeros = np.zeros

    def spy(shape, *a, **kw):
        allocated.append(shape)
        return real_zeros(shape, *a, **kw)

    monkeypatch.setattr(C.np, "zeros", spy)
    _close(compiled.spmm_t(X, E), np.asarray(X.T @ E), np.float64)
    assert (0, 10, 3) in allocated  # the partial buffer is empty: one chunk


def test_spmm_t_partial_budget(compiled, monkeypatch):
    X = _csr(50, 10, 0.5)
    E = np.random.default_rng(6).random((50, 3))
    monkeypatch.setitem(C._KERNELS, "threads", lambda: 4)
    monkeypatch.setattr(C, "partial_budget_bytes", 0)  # no room for partials: one chunk
    _close(compiled.spmm_t(X, E), np.asarray(X.T @ E), np.float64)


def test_bounds_balanced():
    indptr = np.concatenate(([0], np.cumsum(np.r_[np.full(10, 100), np.ones(990)]))).astype(
        np.int32
    )
    b = C._bounds(indptr, 4)
    assert b[0] == 0 and b[-1] == 1000 and np.all(np.diff(b) >= 0) and b.size == 5
    cost = indptr[b].astype(np.int64) + b
    ideal = np.linspace(0, cost[-1], 5)
    assert np.all(np.abs(cost - ideal) <= 101)  # each boundary within one row of the ideal
    assert C._bounds(np.array([0]), 4).tolist() == [0, 0]
    assert C._bounds(np.array([0, 3]), 4).tolist() == [0, 1]
    # each boundary is the first row whose cumulative cost reaches its share
    rng = np.random.default_rng(0)
    for n_chunks in (2, 3, 8):
        counts = rng.integers(0, 50, 300) * (rng.random(300) < 0.7)
        ip = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        cost = ip + np.arange(ip.size)
        want = [0] + [int(np.argmax(cost >= cost[-1] * c / n_chunks))
                      for c in range(1, n_chunks)] + [300]
        assert C._bounds(ip, n_chunks).tolist() == want


def test_fallbacks(compiled, monkeypatch):
    X = _csr(30, 20, 0.3)
    D = np.ones((20, 2))
    assert compiled.spmm(X, D) is not None
    _close(compiled.spmm(sp.csr_array(X), D), np.asarray(X @ D), np.float64)
    monkeypatch.setenv("NMFKIT_SPARSE_COMPILED", "0")
    assert compiled.spmm(X, D) is None and compiled.gather(D[:30], D.T, X) is None
    monkeypatch.delenv("NMFKIT_SPARSE_COMPILED")
    monkeypatch.setattr(C, "enabled", False)
    assert compiled.spmm_t(X, np.ones((30, 2))) is None
    monkeypatch.setattr(C, "enabled", True)
    monkeypatch.setattr(C, "min_work", 10**12)
    assert compiled.spmm(X, D) is None
    monkeypatch.setattr(C, "min_work", 0)
    # handled: CSR without sorted indices (test_compiled_products_take_unsorted_csr)
    Y = X.copy()
    Y.has_sorted_indices = False
    _close(compiled.spmm(Y, D), np.asarray(X @ D), np.float64)
    # not handled: other formats, integer data, non-ndarray operands
    assert compiled.spmm(X.tocsc(), D) is None
    assert compiled.spmm(X.astype(np.int64), D) is None
    assert compiled.spmm(X, D.astype(np.int64)) is None
    assert compiled.spmm(X, np.ma.asarray(D)) is None
    assert compiled.spmm(X, np.ones((21, 2))) is None
    _close(backend.spmm(X.astype(np.int64), D), np.asarray(X.astype(np.int64) @ D), np.float64)


def _fit(X, monkeypatch, use_compiled, **kw):
    if use_compiled:
        monkeypatch.setattr(C, "min_work", 0)
        monkeypatch.setattr(C, "min_work_gather", 0)
        monkeypatch.delenv("NMFKIT_SPARSE_COMPILED", raising=False)
    else:
        monkeypatch.setenv("NMFKIT_SPARSE_COMPILED", "0")
    calls = count_calls(monkeypatch, C, "_run")
    res = nmfkit.factorize(X, 4, init="random", random_state=0, tol=0, **kw)
    return res, len(calls)


@pytest.mark.parametrize("dtype", [np.float64])
@pytest.mark.parametrize(
    "kw",
    [
        dict(solver="hals", max_iter=40),
        dict(solver="mu", beta_loss="kullback-leibler", max_iter=60),
        dict(solver="mu", max_iter=40),
    ],
    ids=["hals", "mu-kl", "mu-frobenius"],
)
def test_factorize_same_with_and_without_kernels(compiled, monkeypatch, dtype, kw):
    rng = np.random.default_rng(7)
    W0 = rng.random((120, 4)) * (rng.random((120, 4)) < 0.6)
    H0 = rng.random((4, 90)) * (rng.random((4, 90)) < 0.6)
    X = sp.csr_matrix(rng.poisson(3 * (W0 @ H0)).astype(dtype))
    a, n_fast = _fit(X, monkeypatch, True, **kw)
    b, n_slow = _fit(X, monkeypatch, False, **kw)
    assert n_fast > 0 and n_slow == 0
    for u, v in ((a.W, b.W), (a.H, b.H)):
        assert np.linalg.norm(u - v) <= 1e-10 * np.linalg.norm(v)
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=1e-10)


@pytest.mark.parametrize(
    "env,expected",
    [({}, "10000"), ({"GOMP_SPINCOUNT": "5"}, "5"), ({"OMP_WAIT_POLICY": "active"}, None)],
)
def test_numba_import_sets_a_short_openmp_spin_unless_the_user_chose(env, expected):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items()
             if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = (
        "import os; from nmfkit.backend._numba import import_numba; import_numba();"
        " print(os.environ.get('GOMP_SPINCOUNT'))"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(expected)


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


@pytest.mark.parametrize("sparse", [True, False])
def test_sparse_fits_run_with_one_blas_thread_and_restore_it(sparse):
    # OpenBLAS's idle workers spin after each call and slowed numba's products
    # 2x on 2 cores; a sparse fit limits BLAS to one thread, a dense one does not
    from threadpoolctl import threadpool_limits

    from nmfkit.backend import _threads

    rng = np.random.default_rng(0)
    X = rng.random((60, 40)) * (rng.random((60, 40)) < 0.3)
    X = sp.csr_matrix(X) if sparse else X
    seen: list[list[int]] = []
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        if not before:
            pytest.skip("no BLAS library that threadpoolctl controls")
        nmfkit.factorize(X, 3, max_iter=3, tol=0, random_state=0,
                         callback=lambda s: seen.append(_blas_threads()) and None)
        assert _blas_threads() == before  # the user's setting is back
        assert seen
        if sparse:
            assert all(t == [1] * len(before) for t in seen)
        else:
            assert all(t == before for t in seen)
        # the switch, the environment variable and large Grams leave the pools alone
        for how in ("switch", "env", "gram"):
            seen.clear()
            with pytest.MonkeyPatch.context() as mp:
                if how == "switch":
                    mp.setattr(_threads, "limit_on_sparse", False)
                elif how == "env":
                    mp.setenv("NMFKIT_SPARSE_BLAS_LIMIT", "0")
                else:
                    mp.setattr(_threads, "gram_threads_min", 60 * 3**2)
                nmfkit.factorize(X, 3, max_iter=2, tol=0, random_state=0,
                                 callback=lambda s: seen.append(_blas_threads()) and None)
            assert seen and all(t == before for t in seen)


def test_compiled_products_take_unsorted_csr(monkeypatch):
    monkeypatch.setattr(C, "min_work", 0)
    monkeypatch.setattr(C, "min_work_partials", 0)
    rng = np.random.default_rng(5)
    X = sp.random(400, 300, density=0.1, format="csr", random_state=rng)
    Xu = X.copy()
    for i in range(X.shape[0]):  # reverse each row's entries
        lo, hi = Xu.indptr[i], Xu.indptr[i + 1]
        Xu.indices[lo:hi], Xu.data[lo:hi] = Xu.indices[lo:hi][::-1], Xu.data[lo:hi][::-1]
    Xu.has_sorted_indices = False
    D, E = rng.random((300, 7)), rng.random((400, 7))
    if not C.available():
        pytest.skip("numba not available")
    out, out_t = C.spmm(Xu, D), C.spmm_t(Xu, E)
    assert out is not None and out_t is not None  # the kernels ran, without a sorted copy
    np.testing.assert_allclose(out, X @ D, rtol=1e-13)
    np.testing.assert_allclose(out_t, X.T @ E, rtol=1e-13)


def test_duplicate_free_against_brute_force(monkeypatch):
    monkeypatch.setattr(C, "min_nnz_duplicate_check", 0)
    if not C.available():
        pytest.skip("numba not available")
    rng = np.random.default_rng(6)
    X = sp.random(50, 40, density=0.2, format="csr", random_state=rng)
    X.indptr[10:] = X.indptr[10:]  # (rows 0-9 keep their entries)
    for M, expected in [
        (X, True), (unsorted_rows(X), True),
        (split_entry(X, 0), False), (split_entry(X, 49), False),
        (unsorted_rows(split_entry(X, 17)), False),
        (sp.csr_matrix((3, 4)), True),  # empty
    ]:
        coo = M.tocoo()
        brute = len(set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))) == M.nnz
        assert brute == expected
        assert C.duplicate_free(M) is expected


def test_to_csr_keeps_unsorted_duplicate_free_matrix(monkeypatch):
    monkeypatch.setattr(C, "min_nnz_duplicate_check", 0)
    if not C.available():
        pytest.skip("numba not available")
    X = sp.random(60, 30, density=0.3, format="csr", random_state=7)
    Xu = unsorted_rows(X)
    assert backend.to_csr(Xu, sort=False) is Xu  # no copy, no sort
    Y = backend.to_csr(Xu)  # the default sorts a copy
    assert Y is not Xu and Y.has_canonical_format and not Xu.has_sorted_indices
    D = split_entry(Xu, 5)
    Z = backend.to_csr(D, sort=False)  # duplicates are always summed
    assert Z.has_canonical_format
    np.testing.assert_allclose(Z.toarray(), X.toarray())
    monkeypatch.setattr(C, "enabled", False)  # no compiled check: sorted as before
    assert backend.to_csr(Xu, sort=False).has_canonical_format


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
def test_fit_on_unsorted_csr_uses_it_in_place(beta_loss):
    import tracemalloc

    if not C.available():
        pytest.skip("numba not available")
    k = 10
    X = random_csr(2000, 5000, 500_000, seed=8, offset=0.1)
    assert X.nnz * k >= C.min_work  # the compiled products take it
    Xu = unsorted_rows(X)
    kw = dict(beta_loss=beta_loss, init="random", random_state=0, max_iter=4, tol=0)
    nmfkit.factorize(Xu, k, **kw)  # warm-up

    def fit_peak(M):
        tracemalloc.start()
        try:
            out = nmfkit.factorize(M, k, **kw)
            return out, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    ref, peak_sorted = fit_peak(X)
    res, peak = fit_peak(Xu)
    x_bytes = Xu.data.nbytes + Xu.indices.nbytes
    # the fit's own temporaries are the same; a sorted copy would add all of X
    assert peak < peak_sorted + 0.3 * x_bytes, (peak, peak_sorted, x_bytes)
    assert not Xu.has_sorted_indices
    np.testing.assert_allclose(res.W, ref.W, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.H, ref.H, rtol=1e-8, atol=1e-12)
    # duplicates are summed first: the same fit as on the summed matrix
    dup = nmfkit.factorize(split_entry(Xu, 3), k, **kw)
    np.testing.assert_allclose(dup.W, ref.W, rtol=1e-8, atol=1e-12)


def _kernels_run(monkeypatch):
    """Names of the compiled kernels that run from now on."""
    ran = []
    real = C._run

    def spy(kern, name, *args):
        ran.append(name)
        return real(kern, name, *args)

    monkeypatch.setattr(C, "_run", spy)
    return ran


@pytest.mark.parametrize("xdtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("tile_cols", [1, 4, 7, 40])
def test_column_tiled_products_equal_untiled(compiled, monkeypatch, xdtype, index, order,
                                             tile_cols):
    """Tiles of a few columns (and a few rows for spmm): the same sums in the same order.

    Both tiled kernels add each output's terms in the order of the untiled
    ones (spmm) or of SciPy's single-threaded loop (spmm_t), so the results
    are bitwise equal to the untiled spmm and to spmm_t in one chunk.
    """
    X = _csr(83, 37, 0.3, dtype=xdtype, index=index, empty_rows=[0, 40, 41, 82],
             empty_cols=[0, 5, 36])
    rng = np.random.default_rng(11)
    k = 5
    D = rng.random((37, k)).astype(xdtype)
    E = rng.random((83, k)).astype(xdtype)
    monkeypatch.setattr(C, "min_work_partials", 0)
    untiled = (compiled.spmm(X, D, order=order), compiled.spmm_t(X, E, order=order))
    one_chunk_t = None
    with monkeypatch.context() as mp:
        mp.setitem(C._KERNELS, "threads", lambda: 1)
        one_chunk_t = compiled.spmm_t(X, E)
    ran = _kernels_run(monkeypatch)
    monkeypatch.setattr(C, "tile_min_bytes", 0)
    monkeypatch.setattr(C, "tile_bytes", tile_cols * k * np.dtype(xdtype).itemsize)
    monkeypatch.setattr(C, "tile_rows", 6)
    for threads in (1, 2, 3):  # the number of output tiles follows the threads
        monkeypatch.setitem(C._KERNELS, "threads", lambda t=threads: t)
        a, b = compiled.spmm(X, D, order=order), compiled.spmm_t(X, E, order=order)
        flag = "C_CONTIGUOUS" if order == "C" else "F_CONTIGUOUS"
        assert a.flags[flag] and b.flags[flag]
        np.testing.assert_array_equal(a, untiled[0])
        np.testing.assert_array_equal(b, one_chunk_t)
        _close(b, untiled[1], xdtype)
        _close(a, np.asarray(X @ D), xdtype)
        _close(b, np.asarray(X.T @ E), xdtype)
    assert set(ran) == {"spmm" if tile_cols >= 37 else "spmm_tiled", "spmm_t_owned"}


def test_column_tiled_products_transposed_operands(compiled, monkeypatch):
    """Fortran-order and strided dense operands (spmm_t copies a transposed one in
    blocks of 256 rows: 600 rows make two whole blocks and a partial one)."""
    X = _csr(600, 50, 0.05, empty_rows=[7, 256, 599])
    rng = np.random.default_rng(12)
    D, E = rng.random((50, 4)), rng.random((600, 4))
    monkeypatch.setattr(C, "min_work_partials", 0)
    monkeypatch.setattr(C, "tile_min_bytes", 0)
    monkeypatch.setattr(C, "tile_bytes", 3 * 4 * 8)
    for Dl, El in zip(_layouts(D), _layouts(E), strict=True):
        np.testing.assert_array_equal(compiled.spmm(X, Dl), compiled.spmm(X, D))
        np.testing.assert_array_equal(compiled.spmm_t(X, El), compiled.spmm_t(X, E))
        _close(compiled.spmm(X, Dl), X @ D, np.float64)
        _close(compiled.spmm_t(X, El), X.T @ E, np.float64)


def test_column_tiling_needs_sorted_rows(compiled, monkeypatch):
    """Unsorted rows run the untiled kernels (tiles are found by order), still correct."""
    rng = np.random.default_rng(13)
    X = sp.random(70, 45, density=0.2, format="csr", random_state=rng)
    Xu = unsorted_rows(X)
    assert not Xu.has_sorted_indices
    D, E = rng.random((45, 3)), rng.random((70, 3))
    monkeypatch.setattr(C, "min_work_partials", 0)
    monkeypatch.setattr(C, "tile_min_bytes", 0)
    monkeypatch.setattr(C, "tile_bytes", 2 * 3 * 8)
    ran = _kernels_run(monkeypatch)
    _close(compiled.spmm(Xu, D), X @ D, np.float64)
    _close(compiled.spmm_t(Xu, E), X.T @ E, np.float64)
    assert ran == ["spmm", "spmm_t"]
    ran.clear()
    _close(compiled.spmm(X, D), X @ D, np.float64)
    _close(compiled.spmm_t(X, E), X.T @ E, np.float64)
    assert ran == ["spmm_tiled", "spmm_t_owned"]


def test_column_tiling_threshold(compiled, monkeypatch):
    """Operands below ``tile_min_bytes`` keep the untiled kernels."""
    X = _csr(40, 30, 0.3)
    rng = np.random.default_rng(14)
    monkeypatch.setattr(C, "min_work_partials", 0)
    monkeypatch.setattr(C, "tile_bytes", 8)
    monkeypatch.setattr(C, "tile_min_bytes", 30 * 3 * 8 + 1)
    ran = _kernels_run(monkeypatch)
    compiled.spmm(X, rng.random((30, 3)))
    compiled.spmm_t(X, rng.random((40, 3)))
    assert ran == ["spmm", "spmm_t"]


@pytest.mark.parametrize("order", ["C", "F"])
def test_spmm_t_work_scratch_is_reused_and_cleared(compiled, monkeypatch, order):
    """With a ``work`` dict the scratch arrays are reused, zeroed before each call,
    and replaced when the shape or dtype changes; results are those without it."""
    monkeypatch.setattr(C, "min_work_partials", 0)  # per-thread partial sums even here
    monkeypatch.setitem(C._KERNELS, "threads", lambda: 3)
    rng = np.random.default_rng(15)
    X = _csr(70, 40, 0.2)
    E1, E2 = rng.random((70, 3)), rng.random((70, 5))
    work: dict = {}
    first = compiled.spmm_t(X, E1, order=order, work=work)
    held = {key: a for key, a in work.items()}
    assert "partials" in held and held["partials"].shape == (2, 40, 3)
    assert ("sums" in held) == (order == "F")
    again = compiled.spmm_t(X, E1, order=order, work=work)  # same scratch, cleared first
    assert all(work[key] is a for key, a in held.items())
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(first, compiled.spmm_t(X, E1, order=order))
    other = compiled.spmm_t(X, E2, order=order, work=work)  # another rank: new scratch
    assert work["partials"].shape == (2, 40, 5)
    _close(other, np.asarray(X.T @ E2), np.float64)
    f32 = compiled.spmm_t(X.astype(np.float32), E1.astype(np.float32), order=order, work=work)
    assert f32.dtype == np.float32 and work["partials"].dtype == np.float32
    _close(f32, np.asarray(X.T @ E1).astype(np.float32), np.float32)
