"""Entry-wise cross-validation of the NMF rank (``select_rank(method="cv")``).

Orientation is scikit-learn's: X (n_samples × n_features) ≈ W H. In each
repeat a random set of entries of X is *held out*: they get weight 0
(``weights=``, 0 = missing), NMF is fitted on the remaining entries,
and the held-out entries are predicted by ``(W H)_ij``. This is Wold's
entry-wise cross-validation (the "bi-cross-validation" family of Owen &
Perry holds out blocks instead; entries are the natural unit for NMF, whose
weighted solvers fit around any pattern of missing entries).

Held-out sets
-------------
Dense X
    A uniform random ``holdout`` share of all entries.
Sparse X (zeros are data, the default)
    A uniform ``holdout`` share of the *stored* entries, plus the same
    number of unstored zeros (at most a ``holdout`` share of them), drawn
    uniformly. The held-out error is the stratified mean
    ``p·mean_stored + (1 − p)·mean_zeros`` with ``p = nnz / (n_samples·n_features)``,
    an unbiased estimate of the mean error over all entries, so sparse
    and dense X of the same data measure the same thing. The fit keeps X
    sparse: the held-out entries are weighted 0 by EM imputation
    (``X_ij ← (W H)_ij`` at the held-out positions, stored explicitly,
    between blocks of solver iterations), which majorizes the weighted
    objective for every β and so decreases it monotonically; nothing of
    size n_samples × n_features is formed.
Sparse X with ``absent="missing"`` (matrix completion)
    Only stored entries are data: a ``holdout`` share of them is held
    out and the fit uses sparse *pattern* weights over the rest (O(nnz)).

In every case a held-out entry is released (kept for training) when its
row or column would otherwise have no training entry left: such a row of
W (column of H) would be undetermined. Every k of one repeat uses the
same held-out set, so the errors of different k are paired.

The held-out error is the mean of ``2·d_β(x | (W H))`` over the held-out
entries: the mean squared error ``(x − (W H))²`` for Frobenius (the same
convention as ``reconstruction_err_ = sqrt(2·D_β)``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._core import fit_factorization
from ..exceptions import ConvergenceWarning
from ..losses import beta_divergence, resolve_beta
from ..losses.weighted import beta_terms

__all__ = ["HoldOut", "draw_holdout", "cv_run"]

#: Solver iterations between two imputations of the held-out entries (sparse X).
EM_INNER = 10


@dataclass(frozen=True)
class HoldOut:
    """Held-out entries of one repeat.

    Attributes
    ----------
    rows, cols : ndarray of int
        Positions of the held-out entries.
    values : ndarray of float64
        X at those positions.
    stored : ndarray of bool or None
        Sparse X: whether each held-out entry is a stored entry of X.
    stored_share : float
        Sparse X with zeros as data: ``nnz / (n_samples·n_features)``, the
        weight of the stored stratum; 1.0 otherwise.
    data_index : ndarray of int or None
        Sparse X: the index in ``X.data`` of each held-out stored entry.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    stored: np.ndarray | None = None
    stored_share: float = 1.0
    data_index: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.rows.size)


def _release_empty_lines(
    rows: np.ndarray, cols: np.ndarray, row_totals: Any, col_totals: Any, shape: tuple[int, int]
) -> np.ndarray:
    """Boolean mask of held-out entries to keep: drop those whose row or column
    would have no training entry left (``row_totals``/``col_totals``: the
    entries each row/column has to train on before holding out)."""
    m, n = shape
    keep = np.ones(rows.size, dtype=bool)
    full_rows = np.bincount(rows, minlength=m) >= row_totals
    keep &= ~full_rows[rows]
    full_cols = np.bincount(cols[keep], minlength=n) >= col_totals
    keep &= ~full_cols[cols]
    return keep


def _sample_zeros(
    rng: np.random.Generator, stored_lin: np.ndarray, size: int, count: int
) -> np.ndarray:
    """``count`` distinct uniform positions (linear indices) outside ``stored_lin`` (sorted)."""
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    p0 = 1.0 - stored_lin.size / size
    got = np.empty(0, dtype=np.int64)
    while got.size < count:
        need = count - got.size
        cand = rng.integers(0, size, size=int(need / p0 * 1.1) + 16, dtype=np.int64)
        pos = np.minimum(np.searchsorted(stored_lin, cand), max(stored_lin.size - 1, 0))
        if stored_lin.size:
            cand = cand[stored_lin[pos] != cand]
        allc = np.concatenate([got, cand])
        _, first = np.unique(allc, return_index=True)
        got = allc[np.sort(first)]  # distinct, in order of first draw: a uniform sample
    return got[:count]


def draw_holdout(X: Any, fraction: float, seed: int, *, zeros_are_data: bool = True) -> HoldOut:
    """Draw the held-out entries of one repeat (see the module docstring).

    Parameters
    ----------
    X : ndarray or CSR matrix with sorted indices and no duplicates
    fraction : float in (0, 0.5]
    seed : int
    zeros_are_data : bool, default True
        Sparse X only: False for matrix completion (only stored entries are data).

    Returns
    -------
    HoldOut

    Examples
    --------
    >>> import numpy as np
    >>> ho = draw_holdout(np.ones((10, 10)), 0.1, seed=0)
    >>> ho.size, float(ho.values.sum())
    (10, 10.0)
    """
    rng = np.random.default_rng(seed)
    m, n = X.shape
    if not sp.issparse(X):
        n_hold = int(round(fraction * m * n))
        lin = np.sort(rng.choice(m * n, size=n_hold, replace=False)).astype(np.int64)
        rows, cols = np.divmod(lin, n)
        keep = _release_empty_lines(rows, cols, n, m, (m, n))
        rows, cols = rows[keep], cols[keep]
        return HoldOut(rows, cols, np.asarray(X[rows, cols], dtype=np.float64))

    nnz = X.nnz
    stored_rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(X.indptr))
    stored_cols = X.indices.astype(np.int64)
    n_s = int(round(fraction * nnz))
    pick = np.sort(rng.choice(nnz, size=n_s, replace=False)).astype(np.int64)
    if not zeros_are_data:
        rows, cols = stored_rows[pick], stored_cols[pick]
        row_nnz = np.diff(X.indptr)
        col_nnz = np.bincount(stored_cols, minlength=n)
        keep = _release_empty_lines(rows, cols, row_nnz, col_nnz, (m, n))
        pick = pick[keep]
        return HoldOut(stored_rows[pick], stored_cols[pick],
                       np.asarray(X.data[pick], dtype=np.float64),
                       stored=np.ones(pick.size, dtype=bool), data_index=pick)
    size = m * n
    n_zero = size - nnz
    n_z = min(n_s, int(round(fraction * n_zero)))
    zlin = _sample_zeros(rng, stored_rows * n + stored_cols, size, n_z)
    zrows, zcols = np.divmod(zlin, n)
    rows = np.concatenate([stored_rows[pick], zrows])
    cols = np.concatenate([stored_cols[pick], zcols])
    keep = _release_empty_lines(rows, cols, n, m, (m, n))
    ks, kz = keep[:n_s], keep[n_s:]
    pick, zrows, zcols = pick[ks], zrows[kz], zcols[kz]
    return HoldOut(
        rows=np.concatenate([stored_rows[pick], zrows]),
        cols=np.concatenate([stored_cols[pick], zcols]),
        values=np.concatenate([np.asarray(X.data[pick], dtype=np.float64), np.zeros(zrows.size)]),
        stored=np.r_[np.ones(pick.size, dtype=bool), np.zeros(zrows.size, dtype=bool)],
        stored_share=nnz / size,
        data_index=pick,
    )


def _predict(W: np.ndarray, H: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(W H)[rows, cols]`` in O(len(rows)·k)."""
    W = np.asarray(W, dtype=np.float64)
    Ht = np.ascontiguousarray(np.asarray(H, dtype=np.float64).T)
    out = np.empty(rows.size)
    step = 1 << 16
    for s in range(0, rows.size, step):
        e = min(s + step, rows.size)
        np.einsum("ij,ij->i", W[rows[s:e]], Ht[cols[s:e]], out=out[s:e])
    return out


def _with_explicit_holdout(X: sp.csr_matrix, ho: HoldOut) -> tuple[sp.csr_matrix, np.ndarray]:
    """X with every held-out position stored explicitly (value 0); the positions
    of the held-out entries in the result's ``data``."""
    m, n = X.shape
    keep = np.ones(X.nnz, dtype=bool)
    keep[ho.data_index] = False
    srows = np.repeat(np.arange(m, dtype=np.int64), np.diff(X.indptr))[keep]
    scols = X.indices.astype(np.int64)[keep]
    rows = np.concatenate([srows, ho.rows])
    cols = np.concatenate([scols, ho.cols])
    data = np.concatenate([np.asarray(X.data[keep], dtype=np.float64), np.zeros(ho.size)])
    order = np.argsort(rows * n + cols, kind="stable")
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    Xf = sp.csr_matrix((data[order], cols[order], indptr), shape=(m, n))
    where = np.empty(order.size, dtype=np.int64)
    where[order] = np.arange(order.size)
    return Xf, where[srows.size:]


def _fit_em(
    X: sp.csr_matrix, ho: HoldOut, k: int, seed: int, options: dict, beta: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted NMF of sparse X with the held-out entries weighted 0, by EM imputation.

    Returns ``(W, H, D)`` with D the β-divergence on the training entries.
    Stops when an imputation step lowers D by less than ``tol``·D, or after
    ``max_iter`` solver iterations in all (with a ConvergenceWarning).
    """
    opts = dict(options)
    max_iter = int(opts.pop("max_iter", 200))
    tol = float(opts.pop("tol", 1e-4))
    init = opts.pop("init", "auto")
    Xf, where = _with_explicit_holdout(X, ho)
    common = dict(tol=0.0, canonical=False, validated=True, whom="select_rank", **opts)
    res = fit_factorization(Xf, k, init=init, random_state=seed,
                            max_iter=min(EM_INNER, max_iter), **common)
    W, H, done = res.W, res.H, res.n_iter
    prev = None
    while True:
        Xf.data[where] = _predict(W, H, ho.rows, ho.cols)
        loss = beta_divergence(Xf, W, H, beta)  # the weighted objective: 0 at held-out entries
        if prev is not None and prev - loss <= tol * prev:
            break
        if done >= max_iter or res.n_iter == 0:
            if tol > 0 and res.n_iter > 0:
                warnings.warn(
                    f"select_rank(method='cv') stopped on max_iter={max_iter} before reaching "
                    f"tol={tol}", ConvergenceWarning, stacklevel=2,
                )
            break
        prev = loss
        res = fit_factorization(Xf, k, init="custom", W=W, H=H,
                                max_iter=min(EM_INNER, max_iter - done), **common)
        W, H = res.W, res.H
        done += res.n_iter
    return W, H, loss


def cv_run(
    X: Any,
    k: int,
    holdout_seed: int,
    fit_seed: int,
    fraction: float,
    options: dict,
) -> tuple[float, float, bool]:
    """One repeat at one rank: ``(held-out error, training error, unconverged)``.

    ``options`` are :func:`nmfkit.factorize` options; ``absent="missing"``
    selects the matrix-completion scheme for sparse X.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((20, 2)) @ rng.random((2, 15))
    >>> test, train, _ = cv_run(X, 2, 1, 2, 0.1, {"tol": 1e-8, "max_iter": 2000})
    >>> bool(test < 1e-6 and train < 1e-6)
    True
    """
    opts = dict(options)
    beta = resolve_beta(opts.get("beta_loss", "frobenius"))
    completion = opts.pop("absent", "zero") == "missing"
    sparse = sp.issparse(X)
    ho = draw_holdout(X, fraction, holdout_seed, zeros_are_data=not completion)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if not sparse:
            M = np.ones(X.shape)
            M[ho.rows, ho.cols] = 0.0
            res = fit_factorization(X, k, weights=M, random_state=fit_seed, validated=True,
                                    whom="select_rank", **opts)
            W, H = res.W, res.H
            n_train = X.shape[0] * X.shape[1] - ho.size
            train_loss = 0.5 * float(res.extras["reconstruction_err"]) ** 2
        elif completion:
            keep = np.ones(X.nnz, dtype=bool)
            keep[ho.data_index] = False
            pattern = sp.csr_matrix(X, dtype=np.float64, copy=True)  # never share X's arrays
            pattern.data = keep.astype(np.float64)
            pattern.eliminate_zeros()
            res = fit_factorization(X, k, weights=pattern, random_state=fit_seed, validated=True,
                                    whom="select_rank", **opts)
            W, H = res.W, res.H
            n_train = pattern.nnz
            train_loss = 0.5 * float(res.extras["reconstruction_err"]) ** 2
        else:
            W, H, train_loss = _fit_em(X, ho, k, fit_seed, opts, beta)
            n_train = X.shape[0] * X.shape[1] - ho.size
    unconverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    d = 2.0 * beta_terms(ho.values, _predict(W, H, ho.rows, ho.cols), beta)
    if ho.stored is not None and ho.stored_share < 1.0:
        parts = [(ho.stored_share, d[ho.stored]), (1.0 - ho.stored_share, d[~ho.stored])]
        parts = [(p, v) for p, v in parts if v.size]
        total = sum(p for p, _ in parts)
        test = sum(p * float(v.mean()) for p, v in parts) / total
    else:
        test = float(d.mean()) if d.size else float("nan")
    train = 2.0 * train_loss / max(n_train, 1)
    return test, train, unconverged
