"""The alternating loop shared by every Gram-based Frobenius solver.

Each outer iteration (W first, then H, as in scikit-learn)::

    G = HHᵀ,  B = HXᵀ   →  Wᵀ ← kernel(Wᵀ, B, G)
    G = WᵀW,  B = WᵀX   →  H  ← kernel(H, B, G)

where ``kernel`` improves the Gram-form NNLS problem of :mod:`nmfkit.nnls`.
The objective comes from the same Grams (``‖X‖² − 2⟨WᵀX, H⟩ + ⟨WᵀW, HHᵀ⟩``),
so WH is never formed. W is kept transposed (k × n_samples, C order) so the
kernels always work on contiguous rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..backend import spmm, spmm_t, squared_norm
from ..losses import Penalties, frobenius_direct, frobenius_gram_or_direct
from ._result import FitResult
from ._stopping import Monitor

__all__ = ["alternating_frobenius", "projected_gradient_sq"]

#: kernel(A, B, G, *, l1, l2, side, state) -> A ; ``side`` is "W" or "H".
Kernel = Callable[..., np.ndarray]


def _xt_products_W(X: Any, H: np.ndarray) -> np.ndarray:
    """``H Xᵀ`` of shape (k, n_samples), C order."""
    if sp.issparse(X):
        return spmm(X, H.T, transposed=True)
    return H @ X.T


def _products_H(X: Any, Wt: np.ndarray, work: dict | None = None) -> np.ndarray:
    """``Wᵀ X`` of shape (k, n_features); ``work``: scratch kept between calls (sparse X)."""
    if sp.issparse(X):
        return spmm_t(X, Wt.T, transposed=True, work=work)
    return Wt @ X


def projected_gradient_sq(
    A: np.ndarray, B: np.ndarray, G: np.ndarray, l1: float, l2: float
) -> float:
    """Squared norm of the projected gradient of the Gram-form problem at ``A``."""
    grad = G @ A - B
    if l1:
        grad += l1
    if l2:
        grad += l2 * A
    pg = np.where(A > 0, grad, np.minimum(grad, 0.0))
    return float(np.vdot(pg, pg))


def alternating_frobenius(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    kernel: Kernel,
    name: str,
    penalties: Penalties | None = None,
    weights: Any = None,
    update_H: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback: Callable | None = None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
    kernel_state: dict | None = None,
    overwrite_input: bool = False,
) -> FitResult:
    if weights is not None:
        from ._weighted import weighted_alternating

        return weighted_alternating(
            X, W, H, weights, kernel=kernel, name=name, penalties=penalties,
            update_H=update_H, max_iter=max_iter, tol=tol, max_time=max_time,
            callback=callback, stop_rule=stop_rule, verbose=verbose, progress=progress,
            kernel_state=kernel_state,
        )
    pen = penalties or Penalties()
    if getattr(kernel, "layout", "cols") == "rows":
        return _alternating_rows(
            X, W, H, kernel=kernel, name=name, pen=pen, update_H=update_H,
            max_iter=max_iter, tol=tol, max_time=max_time, callback=callback,
            stop_rule=stop_rule, verbose=verbose, progress=progress,
            kernel_state=kernel_state, overwrite_input=overwrite_input,
        )
    dtype = W.dtype
    own = np.asarray if overwrite_input else np.array  # the caller's arrays, or copies
    Wt = own(W.T, dtype=dtype, order="C")
    H = own(H, dtype=dtype, order="C")
    state = dict(kernel_state or {})
    state.setdefault("nnz", X.nnz if sp.issparse(X) else X.shape[0] * X.shape[1])
    normX2 = squared_norm(X)
    mon = Monitor(
        tol=tol,
        max_iter=max_iter,
        max_time=max_time,
        callback=callback,
        stop_rule=stop_rule,
        verbose=verbose,
        progress=progress,
        solver=name,
        beta=2.0,
    )

    cache: dict[str, np.ndarray] = {}
    work: dict = {}  # the sparse products' scratch, reused through the loop

    def fresh_BW() -> np.ndarray:
        if "BW" in cache:
            return cache.pop("BW")
        return _xt_products_W(X, H)

    def pgrad() -> float:
        HHt_ = H @ H.T
        BW = _xt_products_W(X, H)
        cache["BW"] = BW
        WtW_ = Wt @ Wt.T
        BH = _products_H(X, Wt, work)
        s = projected_gradient_sq(Wt, BW, HHt_, pen.l1_W, pen.l2_W)
        if update_H:
            s += projected_gradient_sq(H, BH, WtW_, pen.l1_H, pen.l2_H)
        return s**0.5

    def data_loss(WtX: np.ndarray, WtW: np.ndarray, HHt: np.ndarray) -> float:
        return frobenius_gram_or_direct(
            normX2, WtX, H, WtW, HHt, lambda: frobenius_direct(X, Wt.T, H)
        )

    HHt = H @ H.T
    WtW = Wt @ Wt.T
    # the starting objective from H Xᵀ, the product the first W-update needs anyway
    # (⟨WᵀX, H⟩ = ⟨HXᵀ, Wᵀ⟩), instead of an extra WᵀX
    cache["BW"] = _xt_products_W(X, H)
    data = frobenius_gram_or_direct(
        normX2, cache["BW"], Wt, HHt, WtW, lambda: frobenius_direct(X, Wt.T, H)
    )
    if mon.start(data + pen.value(Wt.T, H), pgrad if stop_rule == "pgrad" else None):
        return mon.result(np.ascontiguousarray(Wt.T), H, data_loss=data)

    while True:
        BW = fresh_BW()
        Wt = kernel(Wt, BW, HHt, l1=pen.l1_W, l2=pen.l2_W, side="W", state=state)
        WtW = Wt @ Wt.T
        WtX = _products_H(X, Wt, work)
        if update_H:
            H = kernel(H, WtX, WtW, l1=pen.l1_H, l2=pen.l2_H, side="H", state=state)
            HHt = H @ H.T
        data = data_loss(WtX, WtW, HHt)
        if mon.step(Wt.T, H, data + pen.value(Wt.T, H), pgrad):
            break
    # ½‖X − WH‖² at the returned pair, for the caller's reconstruction error
    return mon.result(np.ascontiguousarray(Wt.T), H, data_loss=data, **state.get("extras", {}))


def _alternating_rows(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    kernel: Kernel,
    name: str,
    pen: Penalties,
    update_H: bool,
    max_iter: int,
    tol: float,
    max_time: float | None,
    callback: Callable | None,
    stop_rule: str,
    verbose: int,
    progress: bool,
    kernel_state: dict | None,
    overwrite_input: bool = False,
) -> FitResult:
    """The same loop on the row layout: W (n_samples × k) and Hᵀ (n_features × k).

    For kernels with ``layout = "rows"``: the Gram-form problems are
    ``min ½⟨A, A G⟩ − ⟨B, A⟩`` with A = W, B = XHᵀ (n_samples × k), and
    A = Hᵀ, B = XᵀW (n_features × k) — exactly what the sparse and dense
    products return, so nothing is transposed or copied per iteration. With
    ``overwrite_input`` the loop works in the starting W's memory (an
    n_samples × k array less).
    """
    dtype = W.dtype
    own = np.asarray if overwrite_input else np.array  # the caller's arrays, or copies
    W = own(W, dtype=dtype, order="C")
    Ht = own(H.T, dtype=dtype, order="C")
    state = dict(kernel_state or {})
    state.setdefault("nnz", X.nnz if sp.issparse(X) else X.shape[0] * X.shape[1])
    normX2 = squared_norm(X)
    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, solver=name, beta=2.0,
    )

    def xht(Ht_: np.ndarray) -> np.ndarray:  # X Hᵀ, n_samples × k
        return spmm(X, Ht_) if sp.issparse(X) else X @ Ht_

    def xtw(W_: np.ndarray) -> np.ndarray:  # Xᵀ W, n_features × k
        return spmm_t(X, W_) if sp.issparse(X) else X.T @ W_

    cache: dict[str, np.ndarray] = {}

    def pgrad() -> float:
        BW = xht(Ht)
        cache["BW"] = BW
        s = projected_gradient_sq(W.T, BW.T, Ht.T @ Ht, pen.l1_W, pen.l2_W)
        if update_H:
            s += projected_gradient_sq(Ht.T, xtw(W).T, W.T @ W, pen.l1_H, pen.l2_H)
        return s**0.5

    def data_loss(XtW: np.ndarray, WtW: np.ndarray, HHt: np.ndarray) -> float:
        # ⟨WᵀX, H⟩ = ⟨XᵀW, Hᵀ⟩: the Gram form needs no transposes either
        return frobenius_gram_or_direct(
            normX2, XtW, Ht, WtW, HHt, lambda: frobenius_direct(X, W, Ht.T)
        )

    HHt = Ht.T @ Ht
    WtW = W.T @ W
    # the starting objective from X Hᵀ, which the first W-update needs anyway
    cache["BW"] = xht(Ht)
    loss0 = frobenius_gram_or_direct(
        normX2, cache["BW"], W, HHt, WtW, lambda: frobenius_direct(X, W, Ht.T)
    )
    data = loss0
    if mon.start(loss0 + pen.value(W, Ht.T), pgrad if stop_rule == "pgrad" else None):
        return mon.result(W, np.ascontiguousarray(Ht.T), data_loss=data)
    while True:
        BW = cache.pop("BW") if "BW" in cache else xht(Ht)
        W = kernel(W, BW, HHt, l1=pen.l1_W, l2=pen.l2_W, side="W", state=state)
        del BW  # (n_samples × k) not held while the next one is computed
        WtW = W.T @ W
        XtW = xtw(W)
        if update_H:
            Ht = kernel(Ht, XtW, WtW, l1=pen.l1_H, l2=pen.l2_H, side="H", state=state)
            HHt = Ht.T @ Ht
        data = data_loss(XtW, WtW, HHt)
        if mon.step(W, Ht.T, data + pen.value(W, Ht.T), pgrad):
            break
    return mon.result(W, np.ascontiguousarray(Ht.T), data_loss=data, **state.get("extras", {}))
