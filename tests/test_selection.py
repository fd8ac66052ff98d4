"""Rank selection: consensus clustering, the FRV elbow and cross-validation on planted ranks."""

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
    consensus_order,
    cophenetic_correlation,
    dispersion,
    select_rank,
)
from nmfkit.selection._cv import cv_run, draw_holdout
from nmfkit.selection.rank import _consensus_best, _cv_best, _frv_best


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
                select_rank(X, ks, method="cv", n_runs=3, random_state=0),
            )
    return out


@pytest.mark.parametrize("r", [3, 5, 8])
def test_planted_rank_recovered(selections, r):
    cons, frv, cv = selections[r]
    assert abs(cons.best_k - r) <= 1, cons.to_pandas()
    assert abs(frv.best_k - r) <= 1, frv.to_pandas()
    assert cv.best_k == r, cv.to_pandas()


def test_answers_differ_between_ranks(selections):
    for i in (0, 1, 2):
        assert selections[3][i].best_k != selections[8][i].best_k


def test_consensus_matrices(selections):
    cons = selections[5][0]
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
    cons, frv, _ = selections[8]
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


# ------------------------------------------------------------------- cross-validation


def uniform_planted(r, seed=0, n=100, m=80, noise=0.01, density=0.6):
    """Uniform factors with (1 - density) of their entries zeroed, 1% noise (clipped at 0)."""
    rng = np.random.default_rng(seed)
    W = rng.random((n, r)) * (rng.random((n, r)) < density)
    H = rng.random((r, m)) * (rng.random((r, m)) < density)
    X = W @ H
    return np.maximum(X + noise * X.std() * rng.standard_normal(X.shape), 0)


@pytest.mark.parametrize("r", [3, 5, 8])
def test_cv_uniform_factors(r):
    """No cluster structure at all: the held-out error is lowest exactly at r."""
    X = uniform_planted(r, seed=10 + r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = select_rank(X, [r - 1, r, r + 1], method="cv", n_runs=2, random_state=r)
    assert sel.best_k == r, sel.to_pandas()
    # underfitting costs orders of magnitude, overfitting a little
    err = dict(zip(sel.ks.tolist(), sel.table["cv_error"], strict=True))
    assert err[r - 1] > 10 * err[r] and err[r + 1] > err[r]


def test_cv_table(selections):
    cv = selections[5][2]
    assert cv.method == "cv" and set(cv.table) == {"k", "cv_error", "cv_std", "train_error"}
    assert cv.cv_errors_.shape == (cv.ks.size, 3)
    np.testing.assert_allclose(cv.table["cv_error"], cv.cv_errors_.mean(axis=1))
    np.testing.assert_allclose(cv.table["cv_std"], cv.cv_errors_.std(axis=1, ddof=1))
    assert np.all(cv.cv_errors_ > 0) and np.all(cv.table["train_error"] > 0)
    # at the planted rank the held-out error is close to the noise level, as is the training error
    i = cv.ks.tolist().index(5)
    assert cv.table["cv_error"][i] < 2 * cv.table["train_error"][i]
    assert "lowest mean held-out error" in cv.rule and "holdout=0.1" in cv.rule
    assert cv.to_pandas().index.tolist() == cv.ks.tolist()


def test_cv_exact_low_rank_and_ties():
    rng = np.random.default_rng(0)
    X = rng.random((20, 2)) @ rng.random((2, 12))  # exactly rank 2, no noise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = select_rank(X, [1, 2, 3], method="cv", n_runs=2, random_state=0, tol=1e-12,
                          max_iter=300)
    assert sel.best_k == 2, sel.to_pandas()
    assert sel.table["cv_error"][1] < 1e-6 * sel.table["cv_error"][0]
    # errors within round-off of the lowest (1e-10 of the data scale) are ties: smallest k
    assert _cv_best(np.array([2, 3, 4]), np.array([1.0, 1e-30, 0.0]), 1.0) == 3
    assert _cv_best(np.array([2, 3, 4]), np.array([1.0, 1e-5, 0.5]), 1.0) == 3
    assert _cv_best(np.array([2, 3]), np.array([np.nan, np.nan]), 1.0) == 2


def test_cv_n_jobs_does_not_change_the_result():
    X, _ = planted(3, seed=1, n=30, m=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = select_rank(X, [2, 3, 4], method="cv", n_runs=2, random_state=7, n_jobs=1, **FAST)
        with parallel_config(backend="threading"):
            b = select_rank(X, [2, 3, 4], method="cv", n_runs=2, random_state=7, n_jobs=2,
                            **FAST)
        c = select_rank(X, [2, 3, 4], method="cv", n_runs=2, random_state=8, **FAST)
    for key in a.table:
        np.testing.assert_array_equal(a.table[key], b.table[key])
    np.testing.assert_array_equal(a.cv_errors_, b.cv_errors_)
    assert not np.array_equal(a.cv_errors_, c.cv_errors_)  # another seed, other held-out sets


def test_cv_sparse_input_stays_sparse_and_agrees():
    X, _ = planted(3, seed=2, n=40, m=30)
    X[X < np.quantile(X, 0.3)] = 0  # 30% zeros: both strata are held out
    Xs = sp.csr_matrix(X)
    before = (Xs.data.copy(), Xs.indices.copy(), Xs.indptr.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = select_rank(X, [2, 3, 4], method="cv", n_runs=2, random_state=3)
        b = select_rank(Xs, [2, 3, 4], method="cv", n_runs=2, random_state=3)
        c = select_rank(Xs, [2, 3, 4], method="cv", n_runs=2, random_state=3, absent="missing")
    assert a.best_k == b.best_k == c.best_k == 3, (a.table, b.table, c.table)
    # the user's matrix is untouched (the fits work on copies and patterns)
    for arr, old in zip((Xs.data, Xs.indices, Xs.indptr), before, strict=True):
        np.testing.assert_array_equal(arr, old)


def test_cv_em_fit_matches_the_dense_weighted_fit():
    """Sparse X is fitted by EM imputation; at the planted rank it reaches the dense
    weighted fit's held-out and training errors."""
    X, _ = planted(3, seed=4, n=40, m=30)
    Xs = sp.csr_matrix(X)
    opts = {"tol": 1e-8, "max_iter": 600}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = cv_run(X, 3, 11, 12, 0.1, opts)
        em = cv_run(Xs, 3, 11, 12, 0.1, opts)
    # different held-out sets (the sparse scheme stratifies), the same noise level
    assert em[0] == pytest.approx(dense[0], rel=0.5)
    assert em[1] == pytest.approx(dense[1], rel=0.1)


def test_draw_holdout_dense():
    X = np.random.default_rng(0).random((40, 25))
    ho = draw_holdout(X, 0.2, seed=1)
    assert ho.size == 200
    lin = ho.rows * 25 + ho.cols
    assert np.unique(lin).size == ho.size
    np.testing.assert_array_equal(ho.values, X[ho.rows, ho.cols])
    assert ho.stored is None and ho.stored_share == 1.0
    again = draw_holdout(X, 0.2, seed=1)
    np.testing.assert_array_equal(again.rows, ho.rows)
    # a row or column never loses all of its training entries
    thin = draw_holdout(np.ones((3, 2)), 0.5, seed=0)
    counts_r = np.bincount(thin.rows, minlength=3)
    counts_c = np.bincount(thin.cols, minlength=2)
    assert np.all(counts_r < 2) and np.all(counts_c < 3)


def test_draw_holdout_sparse_strata():
    rng = np.random.default_rng(0)
    X = sp.random(60, 50, density=0.2, random_state=1, format="csr") * 5
    ho = draw_holdout(X, 0.1, seed=2)
    n_stored = int(ho.stored.sum())
    assert n_stored == round(0.1 * X.nnz) and ho.size - n_stored == n_stored
    assert ho.stored_share == pytest.approx(X.nnz / 3000)
    Xd = X.toarray()
    np.testing.assert_array_equal(ho.values, Xd[ho.rows, ho.cols])
    assert np.all(Xd[ho.rows[~ho.stored], ho.cols[~ho.stored]] == 0)
    assert np.all(Xd[ho.rows[ho.stored], ho.cols[ho.stored]] > 0)
    np.testing.assert_array_equal(X.data[ho.data_index], ho.values[ho.stored])
    assert np.unique(ho.rows * 50 + ho.cols).size == ho.size
    completion = draw_holdout(X, 0.1, seed=2, zeros_are_data=False)
    assert completion.stored.all() and completion.size <= round(0.1 * X.nnz)
    # the zeros are a uniform sample: every row gets about its share
    big = sp.random(200, 200, density=0.05, random_state=3, format="csr")
    hz = draw_holdout(big, 0.2, seed=rng.integers(1000))
    zr = hz.rows[~hz.stored]
    assert abs(np.mean(zr) - 99.5) < 10


def test_cv_bad_options():
    X, _ = planted(3, n=20, m=10)
    with pytest.raises(ValueError, match="holdout"):
        select_rank(X, [2, 3], method="cv", holdout=0.9)
    with pytest.raises(ValueError, match="holdout"):
        select_rank(X, [2, 3], method="cv", holdout=0)
    with pytest.raises(ValueError, match="own weights"):
        select_rank(X, [2, 3], method="cv", weights=np.ones_like(X))
    with pytest.raises(ValueError, match="sparse X only"):
        select_rank(X, [2, 3], method="cv", absent="missing")
    with pytest.raises(ValueError, match="n_runs"):
        select_rank(X, [2, 3], method="cv", n_runs=0)


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


def test_consensus_order():
    lab = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    C = connectivity(lab)
    order = consensus_order(C)
    assert sorted(order.tolist()) == list(range(8))
    blocks = lab[order]
    assert np.count_nonzero(np.diff(blocks)) == 2  # each cluster contiguous
    assert consensus_order(np.eye(2)).tolist() == [0, 1]
    with pytest.raises(ValueError, match="square"):
        consensus_order(np.ones((2, 3)))


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


@pytest.mark.parametrize("absent", ["zero", "missing"])
def test_cv_sparse_memory_ceiling(absent):
    """Holding out entries of a huge sparse X never forms anything of its full size."""
    import tracemalloc

    m, n = 40_000, 20_000  # dense float64 form: 6.4 GB
    rng = np.random.default_rng(0)
    nnz = 160_000  # (sp.random takes minutes at this size)
    X = sp.csr_matrix((rng.random(nnz), (rng.integers(0, m, nnz), rng.integers(0, n, nnz))),
                      shape=(m, n))
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            test, train, _ = cv_run(X, 3, 1, 2, 0.1, {"max_iter": 12, "init": "random",
                                                      "absent": absent})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(test) and np.isfinite(train)
    assert peak < 0.05 * m * n * 8, peak
