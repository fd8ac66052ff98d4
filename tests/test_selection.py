"""Rank selection: consensus clustering and the FRV elbow on planted ranks."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from joblib import parallel_config

from nmfkit.selection import (
    RankSelection,
    connectivity,
    consensus_matrix,
    cophenetic_correlation,
    dispersion,
    select_rank,
)
from nmfkit.selection.rank import _consensus_best, _frv_best


def planted(r, seed=0, n=80, m=50, noise=0.01):
    """Samples in r groups (each dominated by one component), sparse random basis,
    1% Gaussian noise (clipped at 0)."""
    rng = np.random.default_rng(seed)
    lab = np.arange(n) % r
    W = 0.1 * rng.random((n, r))
    W[np.arange(n), lab] = rng.uniform(1, 2, n)
    H = rng.random((r, m)) * (rng.random((r, m)) < 0.5)
    X = W @ H
    X = np.maximum(X + noise * X.std() * rng.standard_normal(X.shape), 0)
    return X, lab


FAST = dict(tol=1e-3, max_iter=100)


@pytest.fixture(scope="module")
def selections():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in (3, 5, 8):
            X, _ = planted(r, seed=r)
            ks = range(max(2, r - 2), r + 3)
            out[r] = (
                select_rank(X, ks, n_runs=5, random_state=0, **FAST),
                select_rank(X, ks, method="frv", random_state=0),
            )
    return out


@pytest.mark.parametrize("r", [3, 5, 8])
def test_planted_rank_recovered(selections, r):
    cons, frv = selections[r]
    assert abs(cons.best_k - r) <= 1, cons.to_pandas()
    assert abs(frv.best_k - r) <= 1, frv.to_pandas()


def test_answers_differ_between_ranks(selections):
    for i in (0, 1):
        assert selections[3][i].best_k != selections[8][i].best_k


def test_consensus_matrices(selections):
    cons, _ = selections[5]
    assert sorted(cons.consensus_) == cons.ks.tolist()
    for C in cons.consensus_.values():
        assert C.shape == (80, 80)
        np.testing.assert_array_equal(C, C.T)
        np.testing.assert_array_equal(np.diag(C), 1.0)
        assert C.min() >= 0 and C.max() <= 1
    # at the planted rank the runs agree: a perfect block matrix
    C = cons.consensus_[5]
    np.testing.assert_array_equal(C, connectivity(np.arange(80) % 5))
    assert cons.table["cophenetic"][cons.ks.tolist().index(5)] == 1.0


def test_table_and_pandas(selections):
    cons, frv = selections[8]
    for sel, cols in ((cons, {"k", "cophenetic", "dispersion", "filled", "rel_error_mean",
                              "rel_error_min"}),
                      (frv, {"k", "frv", "pca_frv", "improvement", "relative_improvement"})):
        assert isinstance(sel, RankSelection)
        assert set(sel.table) == cols
        assert {len(v) for v in sel.table.values()} == {len(sel.ks)}
        assert all(isinstance(v, np.ndarray) for v in sel.table.values())
        df = sel.to_pandas()
        assert isinstance(df, pd.DataFrame) and df.index.tolist() == sel.ks.tolist()
        assert isinstance(sel.best_k, int) and sel.best_k in sel.ks
        assert "largest" in sel.rule
    assert np.all(frv.table["frv"] >= frv.table["pca_frv"] - 1e-9)
    assert frv.model_.n_components_ == cons.ks.max()


def _same_with_two_jobs(backend):
    X, _ = planted(3, seed=1, n=30, m=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = select_rank(X, [2, 3, 4], n_runs=3, random_state=7, n_jobs=1, **FAST)
        with parallel_config(backend=backend):
            b = select_rank(X, [2, 3, 4], n_runs=3, random_state=7, n_jobs=2, **FAST)
    assert a.best_k == b.best_k
    for k in a.ks:
        np.testing.assert_array_equal(a.consensus_[k], b.consensus_[k])
    for key in a.table:
        np.testing.assert_array_equal(a.table[key], b.table[key])


def test_n_jobs_does_not_change_the_result():
    # threads keep the test fast; the seeds are fixed per run before dispatch
    _same_with_two_jobs("threading")


@pytest.mark.slow
def test_n_jobs_does_not_change_the_result_processes():
    _same_with_two_jobs("loky")  # worker start-up and imports take ~10 s


def test_sparse_input():
    X, _ = planted(3, seed=2, n=30, m=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = select_rank(X, [2, 3, 4], n_runs=3, random_state=1, **FAST)
        b = select_rank(sp.csr_matrix(X), [2, 3, 4], n_runs=3, random_state=1, **FAST)
        f = select_rank(sp.csr_matrix(X), [2, 3, 4], method="frv", random_state=1)
    assert a.best_k == b.best_k == f.best_k == 3


def test_cv_needs_weights():
    X, _ = planted(3, n=20, m=10)
    with pytest.raises(NotImplementedError, match="weights="):
        select_rank(X, [2, 3], method="cv")


@pytest.mark.parametrize(
    "ks,match",
    [([], "empty"), ([0, 2], ">= 1"), ([2, -1], ">= 1"), (5, "sequence"), ([2.5], "integers"),
     (None, "sequence")],
)
def test_bad_ks(ks, match):
    X, _ = planted(3, n=20, m=10)
    with pytest.raises(ValueError, match=match):
        select_rank(X, ks)


def test_bad_input():
    X, _ = planted(3, n=20, m=10)
    with pytest.raises(ValueError, match="Negative values"):
        select_rank(X - 1, [2, 3])
    with pytest.raises(ValueError, match="method"):
        select_rank(X, [2, 3], method="aic")
    with pytest.raises(ValueError, match="k >= 2"):
        select_rank(X, [1, 2])
    with pytest.raises(ValueError, match="n_runs"):
        select_rank(X, [2, 3], n_runs=0)
    with pytest.raises(ValueError, match="n_runs >= 2"):
        select_rank(X, [2, 3], n_runs=1)
    with pytest.raises(ValueError, match="does not take"):
        select_rank(X, [2, 3], method="frv", beta_loss="kullback-leibler")
    with pytest.raises(ValueError, match="does not accept 'W'"):
        select_rank(X, [2, 3], W=np.ones((20, 2)))


def test_consensus_helpers():
    assert cophenetic_correlation(consensus_matrix([[0, 0, 1, 1]] * 3)) == 1.0
    assert cophenetic_correlation(np.ones((4, 4))) == 1.0  # one agreed cluster
    C = consensus_matrix([[0, 0, 1, 1, 2, 2], [0, 1, 1, 2, 2, 0], [0, 0, 0, 1, 1, 1]])
    assert 0 < cophenetic_correlation(C) < 1
    assert dispersion(np.eye(4)) == 1.0 and dispersion(np.full((3, 3), 0.5)) == 0.0
    assert 0 < dispersion(C) < 1
    with pytest.raises(ValueError, match="same samples"):
        consensus_matrix([[0, 1], [0, 1, 1]])


def test_decision_rules():
    ks = np.array([2, 3, 4, 5, 6])
    coph = np.array([0.99, 0.97, 0.995, 0.90, 1.0])
    supported = np.array([True, True, True, True, False])
    assert _consensus_best(ks, coph, supported, 0.02) == 4  # 6 is not supported, 5 drops
    assert _consensus_best(ks, coph, supported, 0.0) == 4
    assert _consensus_best(ks, coph, supported, 0.1) == 5
    assert _consensus_best(ks, coph, np.zeros(5, bool), 0.02) == 2
    frv = np.array([0.4, 0.2, 0.1, 0.05, 0.0499, 0.0498])  # FRV(1..6)
    # improvements: 0.6, 0.2, 0.1, 0.05, 1e-4, 1e-4 → 0.01·0.6 = 0.006
    assert _frv_best(np.arange(1, 7), frv, 0.01) == 4
    assert _frv_best(np.arange(1, 7), frv, 0.2) == 2
    assert _frv_best(np.array([5, 6]), frv, 0.01) == 5
