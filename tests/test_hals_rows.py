"""HALS on the row layout (compiled, parallel over rows) against the column layout."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import nmfkit
from nmfkit.nnls._hals_compiled import compiled_sweep, compiled_sweep_rows
from nmfkit.solvers import hals as hals_mod

pytest.importorskip("numba")


@pytest.fixture
def problem():
    rng = np.random.default_rng(11)
    X = rng.random((90, 6)) @ rng.random((6, 70))
    X[X < 0.8] = 0.0
    return X, rng.random((90, 6)) + 0.05, rng.random((6, 70)) + 0.05


@pytest.mark.parametrize("p", [300, 2051])  # one chunk; several, none a whole row group
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_sweeps_equal_column_sweeps(dtype, p):
    rng = np.random.default_rng(0)
    k = 7
    A = rng.random((k, p)).astype(dtype)
    F = rng.random((k, 9))
    G = (F @ F.T).astype(dtype)
    G[3] = G[:, 3] = 0.0  # a dead component (G[3, 3] = 0)
    B = (G @ rng.random((k, p)) - 0.3).astype(dtype)
    A_cols, A_rows = A.copy(), np.ascontiguousarray(A.T)
    n1 = compiled_sweep(A_cols, B, G, 0.01, 0.02, 25, 0.05)
    n2 = compiled_sweep_rows(A_rows, np.ascontiguousarray(B.T), G, 0.01, 0.02, 25, 0.05)
    assert n1 == n2 > 1
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(A_rows.T, A_cols, rtol=tol, atol=tol)
    assert (A_rows >= 0).all()
    A_rows = np.ascontiguousarray(A.T)
    compiled_sweep_rows(A_rows, np.ascontiguousarray(B.T), G, 0.0, 0.0, 5, 0.05)
    np.testing.assert_array_equal(A_rows[:, 3], A[3])  # a dead component is left unchanged


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "options",
    [{}, {"alpha_W": 0.01, "l1_ratio": 0.5}, {"stop_rule": "pgrad", "tol": 1e-6}],
)
def test_fit_on_row_layout_equals_column_layout(problem, monkeypatch, sparse, options):
    X, W0, H0 = problem
    Xin = sp.csr_matrix(X) if sparse else X
    # the plain loops on both layouts (the column layout would extrapolate by default)
    kw = dict(solver="hals", init="custom", W=W0, H=H0, max_iter=80, tol=0,
              solver_options={"extrapolate": False})
    kw.update(options)
    monkeypatch.setattr(hals_mod, "ROWS_LAYOUT_MIN", np.inf)
    cols = nmfkit.factorize(Xin, 6, **kw)
    monkeypatch.setattr(hals_mod, "ROWS_LAYOUT_MIN", 0)
    rows = nmfkit.factorize(Xin, 6, **kw)
    assert rows.n_iter == cols.n_iter
    np.testing.assert_allclose(rows.W, cols.W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rows.H, cols.H, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rows.loss_history, cols.loss_history, rtol=1e-9)


def test_row_layout_reaches_exact_fit(monkeypatch):
    from conftest import planted

    X, _, _ = planted(seed=2, m=150, n=100, k=4)
    monkeypatch.setattr(hals_mod, "ROWS_LAYOUT_MIN", 0)
    res = nmfkit.factorize(X, 4, solver="hals", tol=0, max_iter=500, random_state=0)
    assert np.linalg.norm(X - res.W @ res.H) / np.linalg.norm(X) < 1e-10
    fixed = nmfkit.NMF(4, solver="hals", max_iter=300, tol=1e-12, random_state=0).fit(X)
    assert fixed.reconstruction_err_ / np.linalg.norm(X) < 1e-8


def _row_sweeps_reference(A, B, G, l1, l2, max_sweeps, rel_tol):
    """The row-layout sweeps written out one row and coordinate at a time (NumPy)."""
    from nmfkit.nnls._hals_compiled import _subtract_product

    R = B.copy()
    _subtract_product(R, A, G)
    p, k = A.shape
    first = None
    for s in range(max_sweeps):
        change = 0.0
        for i in range(p):
            for t in range(k):
                d = float(G[t, t]) + l2
                if d <= 0.0:
                    continue
                old = A[i, t]
                # in float64, as the kernel does, then stored in A's dtype
                new = float(old) + (float(R[i, t]) - l1 - l2 * float(old)) / d
                A[i, t] = max(new, 0.0)
                delta = A[i, t] - old
                if delta != 0.0:
                    change += float(delta) * float(delta)
                    R[i] -= delta * G[t]
        if s == 0:
            first = change
            if first == 0.0:
                return 1
        elif change <= rel_tol * rel_tol * first:
            return s + 1
    return max_sweeps


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("max_sweeps", [1, 2, 4])
@pytest.mark.parametrize("p", [37, 600])
def test_row_sweeps_equal_reference_bitwise(dtype, max_sweeps, p):
    """Every sweep gives the iterates of the plain row-by-row algorithm bit for bit:
    rows in groups with a short last one (37 rows, one chunk; 600 rows, two chunks
    of 300), coordinates that change and coordinates that stay at zero side by side
    in a group (the kernel lists the changed rows before their residual updates)."""
    rng = np.random.default_rng(3)
    k = 6
    F = rng.random((k, 8))
    G = (F @ F.T).astype(dtype)
    G[2] = G[:, 2] = 0.0  # a dead component
    A = rng.random((p, k)).astype(dtype)
    A[rng.random((p, k)) < 0.3] = 0.0
    B = (rng.random((p, k)) @ G - 0.2).astype(dtype)
    A_ref = A.copy()
    n_ref = _row_sweeps_reference(A_ref, B, G, 0.01, 0.02, max_sweeps, 0.0)
    A_k = A.copy()
    n_k = compiled_sweep_rows(A_k, B.copy(), G, 0.01, 0.02, max_sweeps, 0.0)
    assert n_k == n_ref == max_sweeps
    np.testing.assert_array_equal(A_k, A_ref)
    # both kinds of coordinates occurred: some moved off zero or changed, some stayed at 0
    assert 0 < np.count_nonzero(A_k == 0) < A_k.size - p  # column 2 (dead) is untouched
    assert np.count_nonzero(A_k != A) > p
