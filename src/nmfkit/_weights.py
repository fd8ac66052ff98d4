"""Entry weights: missing data and per-entry uncertainty.

One keyword, ``weights=``, everywhere: an array of X's shape, ≥ 0, where
0 = missing, 1 = observed and ``1/σ²`` = an entry with uncertainty σ. Two
representations are used internally:

* **dense** — an (n_samples × n_features) array; every entry has a weight.
* **pattern** — a CSR structure whose stored entries are the observed ones
  (with their weights); every entry not stored has weight 0. This is what
  sparse ``weights`` mean, and what ``absent="missing"`` builds from the
  stored entries of a sparse X (explicit stored zeros included: they are
  observed zeros). Work and memory are O(nnz) — nothing of size
  n_samples × n_features is formed.

The weighted objective is ``Σ_ij M_ij d_β(X_ij | (WH)_ij)`` + penalties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["EntryWeights", "make_weights", "MISSING_OPTIONS", "ABSENT_OPTIONS"]

MISSING_OPTIONS = ("error", "nan")
ABSENT_OPTIONS = ("zero", "missing")


@dataclass
class EntryWeights:
    """Validated weights in one of two layouts (see module docstring)."""

    shape: tuple[int, int]
    dense: np.ndarray | None = None  # (m, n) float64
    csr: sp.csr_matrix | None = None  # pattern: stored entries observed
    x: np.ndarray | None = None  # X at the pattern's entries (pattern layout)
    rows: np.ndarray | None = None  # row index of every stored entry

    @property
    def is_pattern(self) -> bool:
        return self.csr is not None

    @property
    def w(self) -> np.ndarray:
        """Weights of the stored entries (pattern layout)."""
        assert self.csr is not None
        return self.csr.data

    @property
    def cols(self) -> np.ndarray:
        assert self.csr is not None
        return self.csr.indices

    def max(self) -> float:
        return float(self.w.max() if self.is_pattern else self.dense.max())

    def row_sums(self) -> np.ndarray:
        if self.is_pattern:
            return np.bincount(self.rows, self.w, minlength=self.shape[0])
        return self.dense.sum(axis=1)

    def col_sums(self) -> np.ndarray:
        if self.is_pattern:
            return np.bincount(self.cols, self.w, minlength=self.shape[1])
        return self.dense.sum(axis=0)

    def transpose(self) -> EntryWeights:
        """Weights of Xᵀ (used to run the H-update as a W-update)."""
        if not self.is_pattern:
            return EntryWeights((self.shape[1], self.shape[0]), dense=self.dense.T)
        order = np.lexsort((self.rows, self.cols))
        t = sp.csr_matrix(self.csr.T)
        t.sort_indices()
        return EntryWeights(
            (self.shape[1], self.shape[0]),
            csr=t,
            x=self.x[order],
            rows=np.repeat(np.arange(t.shape[0]), np.diff(t.indptr)),
        )


def _as_float(a: Any, name: str) -> Any:
    if sp.issparse(a):
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a.data):
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        return sp.csr_matrix(a, dtype=np.float64)
    try:
        arr = np.asarray(a)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} could not be read as an array: {exc}") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}") from None
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex values")
    return arr.astype(np.float64, copy=False)


def _check_values(vals: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(vals)
    if bad.any():
        raise ValueError(f"{name} contains {int(bad.sum())} NaN or infinite entries")
    neg = vals < 0
    if neg.any():
        raise ValueError(f"{name} contains {int(neg.sum())} negative entries; weights must be >= 0")


def make_weights(
    X: Any,
    weights: Any = None,
    *,
    missing: str = "error",
    absent: str = "zero",
    whom: str = "nmfkit",
) -> tuple[Any, EntryWeights | None]:
    """Combine ``weights``, ``missing`` and ``absent`` into validated weights.

    Returns ``(X, weights)`` where X has NaN and unobserved entries replaced
    by 0 (dense X is copied first; the caller's data is never modified)
    and ``weights`` is None for ordinary, unweighted NMF (also when every
    weight is exactly 1). X must already be a validated 2-D float array or
    CSR matrix (NaN and negative values allowed at this point: they are
    checked here, where the weights are known).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, np.nan], [2.0, 3.0]])
    >>> X2, w = make_weights(X, missing="nan")
    >>> X2.tolist(), w.dense.tolist()
    ([[1.0, 0.0], [2.0, 3.0]], [[1.0, 0.0], [1.0, 1.0]])
    """
    if missing not in MISSING_OPTIONS:
        raise ValueError(f"missing must be one of {MISSING_OPTIONS}, got {missing!r}")
    if absent not in ABSENT_OPTIONS:
        raise ValueError(f"absent must be one of {ABSENT_OPTIONS}, got {absent!r}")
    m, n = X.shape
    is_sp = sp.issparse(X)
    if absent == "missing" and not is_sp and weights is None:
        raise ValueError(
            "absent='missing' applies to sparse X only (dense X has no absent entries); "
            "pass weights= (0 = missing) with dense X"
        )
    if missing == "nan" and is_sp:
        raise ValueError(
            "missing='nan' applies to dense X; for sparse X leave unobserved entries out "
            "and use absent='missing', or pass weights="
        )

    W = None
    if weights is not None:
        W = _as_float(weights, "weights")
        if W.ndim != 2 or W.shape != (m, n):
            raise ValueError(f"weights must have X's shape {(m, n)}, got {W.shape}")
        _check_values(W.data if sp.issparse(W) else W, "weights")

    if not is_sp:
        X = np.array(X, copy=True) if (missing == "nan" or W is not None) else X
        nan = np.isnan(X)
        if W is None and missing == "error":
            if nan.any():  # pragma: no cover - check_data rejects NaN before
                raise ValueError(f"{whom}: X contains {int(nan.sum())} NaN entries")
            return X, None
        if W is None:
            M = (~nan).astype(np.float64)
        elif sp.issparse(W):
            Wc = sp.csr_matrix(W)
            Wc.sort_indices()
            rows = np.repeat(np.arange(m), np.diff(Wc.indptr))
            xv = X[rows, Wc.indices]
            return _finish_pattern(X, Wc, xv, rows, missing, whom)
        else:
            M = W.copy()
            if missing == "nan":
                M[nan] = 0.0
        _check_observed(X, M > 0, nan, missing, whom)
        X[(M == 0) | nan] = 0.0
        if not M.any():
            raise ValueError(f"{whom}: every weight is zero: no entry of X is observed")
        if np.all(M == 1.0):
            return X, None
        return X, EntryWeights((m, n), dense=M)

    # sparse X
    if absent == "missing":
        pat = sp.csr_matrix(X, dtype=np.float64, copy=True)
        pat.sort_indices()
        xv = pat.data.copy()
        rows = np.repeat(np.arange(m), np.diff(pat.indptr))
        if W is None:
            pat.data = np.ones_like(xv)
        else:
            pat.data = np.asarray(
                W[rows, pat.indices] if not sp.issparse(W) else sp.csr_matrix(W)[rows, pat.indices]
            ).ravel()
        return _finish_pattern(X, pat, xv, rows, missing, whom)
    if W is None:
        if np.isnan(X.data).any():
            raise ValueError(f"{whom}: X contains NaN entries")
        return X, None
    if sp.issparse(W):
        Wc = sp.csr_matrix(W)
        Wc.sort_indices()
        rows = np.repeat(np.arange(m), np.diff(Wc.indptr))
        xv = np.asarray(X[rows, Wc.indices]).ravel()
        return _finish_pattern(X, Wc, xv, rows, missing, whom)
    # sparse X with dense weights
    obs = W > 0
    Xc = X.copy()
    bad = np.isnan(Xc.data)
    if bad.any():
        r = np.repeat(np.arange(m), np.diff(Xc.indptr))[bad]
        if obs[r, Xc.indices[bad]].any():
            raise ValueError(f"{whom}: X has NaN entries where weights are > 0")
        Xc.data[bad] = 0.0
    r = np.repeat(np.arange(m), np.diff(Xc.indptr))
    neg = (Xc.data < 0) & obs[r, Xc.indices]
    if neg.any():
        raise ValueError(
            f"Negative values in data passed to {whom}: {int(neg.sum())} negative observed entries"
        )
    Xc.data[(Xc.data < 0) | ~obs[r, Xc.indices]] = 0.0
    if not obs.any():
        raise ValueError(f"{whom}: every weight is zero: no entry of X is observed")
    if np.all(W == 1.0):
        return Xc, None
    return Xc, EntryWeights((m, n), dense=W)


def _check_observed(X: np.ndarray, obs: np.ndarray, nan: np.ndarray, missing: str, whom: str):
    bad_nan = nan & obs
    if bad_nan.any():
        hint = "" if missing == "nan" else " (use missing='nan' to treat NaN as missing)"
        raise ValueError(
            f"{whom}: X contains {int(bad_nan.sum())} NaN entries with non-zero weight{hint}"
        )
    with np.errstate(invalid="ignore"):
        neg = (X < 0) & obs
    if neg.any():
        raise ValueError(
            f"Negative values in data passed to {whom}: {int(neg.sum())} negative observed entries"
        )


def _finish_pattern(X, pat, xv, rows, missing, whom):
    nan = np.isnan(xv)
    obs = pat.data > 0
    if (nan & obs).any():
        raise ValueError(f"{whom}: X contains {int((nan & obs).sum())} NaN observed entries")
    neg = (xv < 0) & obs
    if neg.any():
        raise ValueError(
            f"Negative values in data passed to {whom}: {int(neg.sum())} negative observed entries"
        )
    xv = np.where(obs, xv, 0.0)
    if not obs.any():
        raise ValueError(f"{whom}: every weight is zero: no entry of X is observed")
    if sp.issparse(X):
        Xc = X.copy()
        Xc.data = np.where(np.isnan(Xc.data) | (Xc.data < 0), 0.0, Xc.data)
    else:
        Xc = np.where(np.isnan(X) | (X < 0), 0.0, X)
    return Xc, EntryWeights(X.shape, csr=pat, x=xv, rows=rows)
