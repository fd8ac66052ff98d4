"""Error measures and the iteration ladder, shared by the harness and the nimfa worker.

Only NumPy and SciPy are imported here (the nimfa worker runs in a separate
virtual environment with NumPy < 2 and neither scikit-learn nor nmfkit).

Error measure ``e`` (the "relative error" of the protocol), always computed
in float64 from the factors, outside every timed region:

* Frobenius: ``e = ‖X − WH‖_F / ‖X‖_F``;
* generalized Kullback–Leibler: ``e = D_KL(X | WH) / Σ X`` (divergence per
  unit of mass; WH is floored at float32's eps where X > 0, the convention of
  scikit-learn and nmfkit).

Both are monotone in the objective, so "reaches e ≤ e_min·(1+ε)" is a
statement about the objective each method minimises.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

EPSILON = float(np.finfo(np.float32).eps)
_BLOCK = 2**22  # entries of X per dense block


def _row_blocks(n_rows: int, n_cols: int):
    step = max(1, _BLOCK // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def data_norms(X) -> dict:
    """``‖X‖_F`` and ``Σ X`` in float64."""
    data = X.data if sp.issparse(X) else X
    data = np.asarray(data, dtype=np.float64).ravel()
    return {"fro": float(np.sqrt(np.dot(data, data))), "sum": float(data.sum())}


def _values_at_nonzeros(W: np.ndarray, H: np.ndarray, X) -> np.ndarray:
    X = X.tocoo() if X.format != "coo" else X
    out = np.empty(X.nnz, dtype=np.float64)
    step = max(1, 2**22 // max(W.shape[1], 1))
    for s in range(0, X.nnz, step):
        r = X.row[s : s + step]
        c = X.col[s : s + step]
        out[s : s + step] = np.einsum("ij,ji->i", W[r], H[:, c])
    return out


def frobenius_sq(X, W, H) -> float:
    """``‖X − WH‖²_F`` in float64 (dense: explicit residual by row blocks)."""
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if sp.issparse(X):
        X64 = X.astype(np.float64)
        nx2 = float(np.dot(X64.data, X64.data))
        cross = float(np.vdot(np.asarray(X64 @ H.T), W))
        quad = float(np.vdot(W.T @ W, H @ H.T))
        return max(nx2 - 2.0 * cross + quad, 0.0)
    total = 0.0
    for rows in _row_blocks(X.shape[0], X.shape[1]):
        R = np.asarray(X[rows], dtype=np.float64) - W[rows] @ H
        total += float(np.vdot(R, R))
    return total


def kl_divergence(X, W, H) -> float:
    """Generalized KL ``Σ x log(x/y) − x + y`` with y = WH (float64)."""
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    total_y = float(W.sum(axis=0) @ H.sum(axis=1))
    if sp.issparse(X):
        X = X.tocoo()
        x = np.asarray(X.data, dtype=np.float64)
        y = _values_at_nonzeros(W, H, X)
        keep = x > EPSILON
        x, y = x[keep], np.maximum(y[keep], EPSILON)
        return float(x @ np.log(x / y) - x.sum() + total_y)
    total = 0.0
    for rows in _row_blocks(X.shape[0], X.shape[1]):
        x = np.asarray(X[rows], dtype=np.float64).ravel()
        y = (W[rows] @ H).ravel()
        keep = x > EPSILON
        x, y = x[keep], np.maximum(y[keep], EPSILON)
        total += float(x @ np.log(x / y) - x.sum())
    return total + total_y


def rel_error(X, W, H, loss: str, norms: dict) -> float:
    """The protocol's error ``e`` of the factors (see the module docstring)."""
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(H))):
        return math.inf
    if loss == "frobenius":
        return math.sqrt(frobenius_sq(X, W, H)) / norms["fro"]
    if loss == "kullback-leibler":
        return kl_divergence(X, W, H) / norms["sum"]
    raise ValueError(f"unknown loss {loss!r}")


def error_from_objective(obj: float, loss: str, norms: dict) -> float:
    """``e`` from a solver's own objective (½‖X − WH‖² or D_KL, no penalties)."""
    if loss == "frobenius":
        return math.sqrt(max(2.0 * obj, 0.0)) / norms["fro"]
    return obj / norms["sum"]


def ladder(run_once, time_cap: float, *, max_iter: int = 10**7, deadline: float | None = None):
    """Run ``run_once(n) -> (seconds, error, n_done)`` for a growing iteration count.

    Counts double (1, 2, 4, ...) until a run takes at least ``time_cap``
    seconds; the last count is cut so that the predicted time of the last run
    is about ``time_cap`` (prediction from the slope of the previous runs), so
    the whole ladder costs about twice the cap. Stops early when a run did
    fewer iterations than asked (the method stopped by itself) or past
    ``deadline`` (``time.perf_counter()`` value). Returns a list of dicts
    ``{"n": asked, "n_done": done, "t": seconds, "e": error}``.
    """
    points = []
    n = 1
    while True:
        t, e, n_done = run_once(n)
        points.append({"n": n, "n_done": int(n_done), "t": float(t), "e": float(e)})
        if t >= time_cap or n_done < n or n >= max_iter or not math.isfinite(e):
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        slope = None
        if len(points) >= 2:
            a, b = points[-2], points[-1]
            if b["n"] > a["n"] and b["t"] > a["t"]:
                slope = (b["t"] - a["t"]) / (b["n"] - a["n"])
        if slope is None:
            slope = t / n
        nxt = 2 * n
        if slope > 0:
            nxt = min(nxt, n + max(1, math.ceil((time_cap - t) / slope)))
        n = min(max(nxt, n + 1), max_iter)
    return points
