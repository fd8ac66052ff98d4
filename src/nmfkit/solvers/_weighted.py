"""Weighted Frobenius NMF: ``½ Σ_ij M_ij (X − WH)²_ij`` + penalties.

An arbitrary weight matrix breaks the Gram structure every unweighted
kernel relies on, so the weighted paths are explicit:

* :func:`weighted_hals` (solver ``hals``) — exact coordinate descent on the
  weighted objective, keeping the residual ``R = X − WH`` up to date.
  Dense weights: O(n_samples·n_features·k) time per iteration and one dense
  residual (n_samples × n_features). Pattern (sparse) weights: the residual
  only at the observed entries, O(nnz·k) time and O(nnz) memory.
* :func:`weighted_alternating` (solvers ``anls_bpp``, ``active_set``,
  ``pgd``, ``nesterov``):
  - dense weights: an EM-style majorization step. With ``M̂ = M / max(M)``,
    ``½ Σ M̂ (X − W'H')²`` is majorized by the unweighted
    ``½ ‖X̃ − W'H'‖²`` with ``X̃ = WH + M̂ ⊙ (X − WH)`` at the current point,
    so one unweighted kernel step on ``X̃`` decreases the weighted objective.
    O(n_samples·n_features·k) per iteration, one dense n_samples × n_features
    buffer. Convergence slows as the share of missing mass grows.
  - pattern weights: per-row Gram matrices
    ``G_i = Σ_{j observed} M_ij h_j h_jᵀ`` (O(nnz·k²)) and one small k × k
    NNLS per row and per column (O((n_samples + n_features)·k³)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._weights import EntryWeights
from ..backend import row_blocks, values_at_nonzeros
from ..losses import Penalties
from ._result import FitResult
from ._stopping import Monitor

__all__ = ["weighted_hals", "weighted_alternating", "dense_residual", "GRAM_KERNEL_WEIGHTS"]

#: How the Gram-kernel solvers handle weights (for the registry's table).
GRAM_KERNEL_WEIGHTS = (
    "dense weights: EM majorization step, O(mnk); sparse weights: per-row Grams, "
    "O(nnz·k² + (m+n)·k³)"
)


def dense_residual(X: Any, W: np.ndarray, H: np.ndarray) -> np.ndarray:
    """``X − WH`` as a dense array (X itself is never densified as a whole copy)."""
    R = -(W @ H)
    if sp.issparse(X):
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        R[rows, X.indices] += X.data
    else:
        R += X
    return R


def _monitor(name, tol, max_iter, max_time, callback, stop_rule, verbose, progress):
    if stop_rule != "objective":
        raise ValueError("stop_rule='pgrad' is not available with weights; use 'objective'")
    return Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, solver=name, beta=2.0,
    )


def weighted_hals(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    weights: EntryWeights,
    *,
    penalties: Penalties | None = None,
    update_H: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback: Callable | None = None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
    name: str = "hals",
) -> FitResult:
    """Exact weighted HALS: each column of W / row of H set to its weighted minimiser.

    A row of W whose observed weights are all zero (or a column of H) has no
    data term; it is left unchanged, never NaN.
    """
    pen = penalties or Penalties()
    W = np.array(W, dtype=np.float64, order="F")
    H = np.array(H, dtype=np.float64, order="C")
    k = W.shape[1]
    mon = _monitor(name, tol, max_iter, max_time, callback, stop_rule, verbose, progress)

    def coord(num, d, old, l1, l2):
        # exact minimiser of ½d·x² − (num)x + l1·x + ½l2·x² over x ≥ 0; no data (d = 0):
        # the penalty's minimiser (0) when there is a penalty, else unchanged
        den = d + l2
        upd = np.maximum(num - l1, 0.0) / np.where(den > 0, den, 1.0)
        idle = old if not (l1 or l2) else np.zeros_like(old)
        return np.where(d > 0, upd, idle)

    if weights.is_pattern:
        wv, rows, cols = weights.w, weights.rows, weights.cols
        csr = weights.csr
        Mw = sp.csr_matrix((wv, csr.indices, csr.indptr), shape=csr.shape)
        MwT = Mw.T.tocsr()
        # residual-weighted matrix sharing Mw's structure; its data is refreshed in place
        WR = sp.csr_matrix((np.empty_like(wv), csr.indices, csr.indptr), shape=csr.shape)
        r = weights.x - values_at_nonzeros(W, H, weights.csr)

        def loss() -> float:
            return 0.5 * float(wv @ (r * r)) + pen.value(W, H)

        if mon.start(loss()):
            return mon.result(W, H)
        while True:
            for t in range(k):
                h = H[t]
                d = Mw @ (h * h)
                np.multiply(wv, r, out=WR.data)
                old = W[:, t].copy()
                new = coord(WR @ h + old * d, d, old, pen.l1_W, pen.l2_W)
                r -= (new - old)[rows] * h[cols]
                W[:, t] = new
            if update_H:
                for t in range(k):
                    w = W[:, t]
                    d = MwT @ (w * w)
                    np.multiply(wv, r, out=WR.data)
                    old = H[t].copy()
                    new = coord(WR.T @ w + old * d, d, old, pen.l1_H, pen.l2_H)
                    r -= (new - old)[cols] * w[rows]
                    H[t] = new
            if mon.step(W, H, loss()):
                break
        return mon.result(np.ascontiguousarray(W), H)

    M = weights.dense
    R = dense_residual(X, W, H)

    def loss_dense() -> float:
        return 0.5 * float(np.sum(M * R * R)) + pen.value(W, H)

    if mon.start(loss_dense()):
        return mon.result(np.ascontiguousarray(W), H)
    while True:
        for t in range(k):
            h = H[t]
            d = M @ (h * h)
            old = W[:, t].copy()
            new = coord(np.einsum("ij,ij,j->i", M, R, h) + old * d, d, old, pen.l1_W, pen.l2_W)
            R -= (new - old)[:, None] * h
            W[:, t] = new
        if update_H:
            for t in range(k):
                w = W[:, t]
                d = (w * w) @ M
                old = H[t].copy()
                new = coord(np.einsum("ij,ij,i->j", M, R, w) + old * d, d, old, pen.l1_H, pen.l2_H)
                R -= w[:, None] * (new - old)
                H[t] = new
        if mon.step(W, H, loss_dense()):
            break
    return mon.result(np.ascontiguousarray(W), H)


def _row_grams(weights: EntryWeights, F: np.ndarray, block: int = 1 << 15):
    """Per-row Grams ``G_i = Σ_j M_ij f_j f_jᵀ`` and ``b_i = Σ_j M_ij x_ij f_j``.

    ``F`` is (k × n_cols): the factor whose columns pair with the observed
    entries of each row. Returns (G of shape (n_rows, k, k), B of shape (n_rows, k)).
    """
    csr = weights.csr
    m = csr.shape[0]
    k = F.shape[0]
    G = np.zeros((m, k, k))
    B = np.zeros((m, k))
    indptr = csr.indptr
    r0 = 0
    while r0 < m:
        r1 = int(np.searchsorted(indptr, indptr[r0] + block, side="right")) - 1
        r1 = max(r1, r0 + 1)
        r1 = min(r1, m)
        s, e = indptr[r0], indptr[r1]
        if e > s:
            Fc = F[:, weights.cols[s:e]].T
            wF = weights.w[s:e, None] * Fc
            local_rows = weights.rows[s:e] - r0
            np.add.at(G[r0:r1], local_rows, wF[:, :, None] * Fc[:, None, :])
            np.add.at(B[r0:r1], local_rows, wF * weights.x[s:e, None])
        r0 = r1
    return G, B


def weighted_alternating(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    weights: EntryWeights,
    *,
    kernel: Callable[..., np.ndarray],
    name: str,
    penalties: Penalties | None = None,
    update_H: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback: Callable | None = None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
    kernel_state: dict | None = None,
) -> FitResult:
    """Weighted alternating loop for Gram-form kernels (EM step or per-row Grams)."""
    pen = penalties or Penalties()
    W = np.array(W, dtype=np.float64)
    H = np.array(H, dtype=np.float64, order="C")
    state = dict(kernel_state or {})
    state.setdefault("nnz", X.nnz if sp.issparse(X) else X.shape[0] * X.shape[1])
    mon = _monitor(name, tol, max_iter, max_time, callback, stop_rule, verbose, progress)

    if weights.is_pattern:
        wT = weights.transpose()

        def loss() -> float:
            y = values_at_nonzeros(W, H, weights.csr)
            d = weights.x - y
            return 0.5 * float(weights.w @ (d * d)) + pen.value(W, H)

        def solve_rows(F: np.ndarray, A: np.ndarray, wts: EntryWeights, l1, l2, side) -> None:
            G, B = _row_grams(wts, F)
            for i in range(A.shape[0]):
                if not G[i].any():
                    continue  # nothing observed in this row: leave it unchanged
                a = np.ascontiguousarray(A[i][:, None])
                A[i] = kernel(a, B[i][:, None], G[i], l1=l1, l2=l2, side=side, state=state)[:, 0]

        if mon.start(loss()):
            return mon.result(W, H)
        while True:
            solve_rows(H, W, weights, pen.l1_W, pen.l2_W, "W")
            if update_H:
                Ht = np.ascontiguousarray(H.T)
                solve_rows(W.T, Ht, wT, pen.l1_H, pen.l2_H, "H")
                H = np.ascontiguousarray(Ht.T)
            if mon.step(W, H, loss()):
                break
        return mon.result(W, H)

    M = weights.dense
    c = float(M.max())
    Mh = M / c
    pen_c = Penalties(pen.l1_W / c, pen.l2_W / c, pen.l1_H / c, pen.l2_H / c)

    def surrogate_data(Wc: np.ndarray, Hc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        R = dense_residual(X, Wc, Hc)
        return Wc @ Hc + Mh * R, R

    def loss_from(R: np.ndarray) -> float:
        total = 0.0
        for rows in row_blocks(R.shape[0], R.shape[1]):
            total += float(np.sum(M[rows] * R[rows] ** 2))
        return 0.5 * total + pen.value(W, H)

    # rows of W / columns of H with no observed entry keep their value (documented)
    idle_rows = ~np.any(M > 0, axis=1)
    idle_cols = ~np.any(M > 0, axis=0)

    Xt, R = surrogate_data(W, H)
    if mon.start(loss_from(R)):
        return mon.result(W, H)
    Wt = np.ascontiguousarray(W.T)
    while True:
        old = Wt[:, idle_rows]
        Wt = kernel(Wt, H @ Xt.T, H @ H.T, l1=pen_c.l1_W, l2=pen_c.l2_W, side="W", state=state)
        Wt[:, idle_rows] = 0.0 if pen.has_W else old
        W = Wt.T
        if update_H:
            Xt, _ = surrogate_data(W, H)
            old = H[:, idle_cols]
            H = kernel(H, Wt @ Xt, Wt @ Wt.T, l1=pen_c.l1_H, l2=pen_c.l2_H, side="H", state=state)
            H[:, idle_cols] = 0.0 if pen.has_H else old
        Xt, R = surrogate_data(W, H)
        if mon.step(W, H, loss_from(R)):
            break
    return mon.result(np.ascontiguousarray(W), H)


def weighted_nnls_rows(
    X: Any,
    H: np.ndarray,
    weights: EntryWeights,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    block: int = 256,
) -> np.ndarray:
    """Exact weighted NNLS for every row: ``min_{w ≥ 0} ½ Σ_j M_ij (x_ij − (wH)_j)²`` (+ l1, l2).

    Solves one k × k problem per row (block principal pivoting on the per-row
    Gram matrix). A row with no observed entry gets W = 0.
    """
    from ..nnls import bpp_nnls

    m = X.shape[0]
    k = H.shape[0]
    H = np.asarray(H, dtype=np.float64)
    out = np.zeros((m, k))
    if weights.is_pattern:
        G, B = _row_grams(weights, H)
        blocks = [(slice(0, m), G, B)]
    else:
        blocks = []
        for rows in row_blocks(m, X.shape[1], budget=block * X.shape[1]):
            Mb = weights.dense[rows]
            xb = X[rows]
            xb = xb.toarray() if sp.issparse(xb) else np.asarray(xb, dtype=np.float64)
            Gb = np.einsum("kj,ij,lj->ikl", H, Mb, H, optimize=True)
            Bb = (Mb * xb) @ H.T
            blocks.append((rows, Gb, Bb))
    eye = np.eye(k)
    for rows, G, B in blocks:
        idx = np.arange(m)[rows]
        live = np.any(G.reshape(len(idx), -1) != 0, axis=1)
        Gp = G[live] + l2 * eye
        Bp = B[live] - l1
        # most rows' unconstrained optimum is already non-negative (then it is the NNLS
        # solution); only the others need the pivoting solver
        try:
            sol = np.linalg.solve(Gp, Bp[..., None])[..., 0]
            ok = np.all(sol >= 0, axis=1) & np.all(np.isfinite(sol), axis=1)
        except np.linalg.LinAlgError:
            sol = np.zeros_like(Bp)
            ok = np.zeros(len(Bp), dtype=bool)
        live_idx = idx[live]
        out[live_idx[ok]] = sol[ok]
        for j in np.flatnonzero(~ok):
            out[live_idx[j]] = bpp_nnls(Gp[j], Bp[j][:, None])[:, 0]
    return out
