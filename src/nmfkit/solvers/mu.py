"""Multiplicative updates for any β-divergence (Lee & Seung; Févotte & Idier 2011).

W-update (H is symmetric)::

    W ← W ⊙ ( [(X ⊙ (WH)^(β−2)) Hᵀ] / [(WH)^(β−1) Hᵀ + l1_W + l2_W W] )^γ(β)

with the majorization–minimization exponent γ(β) = 1/(2−β) for β < 1,
1 for 1 ≤ β ≤ 2 and 1/(β−1) for β > 2, which makes the objective
non-increasing for every β. The arithmetic (ε-floors, order of updates,
zeroing of tiny entries for β ≤ 1) follows scikit-learn's ``solver="mu"``
so both give the same iterates from the same start.

On sparse X: Frobenius uses ``XHᵀ`` and Gram matrices; KL touches only
the stored entries (O(nnz·k) per iteration); any other β computes the
needed powers of WH in row blocks of bounded size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..backend import row_blocks, spmm, spmm_t, squared_norm, values_at_nonzeros
from ..backend._xp import is_foreign
from ..losses import (
    EPSILON,
    GRAM_LOSS_FLOOR,
    Penalties,
    beta_divergence,
    frobenius_direct,
    frobenius_from_grams,
)
from ._mu_compiled import (
    kl_divergence_csr,
    kl_numerator_H,
    kl_numerator_W,
    kl_numerator_W_and_divergence,
    kl_numerators_available,
)
from ._registry import register_solver
from ._result import FitResult
from ._stopping import Monitor

__all__ = ["solve_mu", "mu_gamma", "mu_update_W", "mu_update_H"]

_F64_EPS = float(np.finfo(np.float64).eps)

#: KL on CSR data with the compiled kernels: take each iteration's objective from
#: the next W-update's pass over the non-zeros (:func:`_fused_kl_loop`; the same
#: iterates and objectives as computing it on its own). The benchmark's Poisson
#: counts (2000 × 1500, 10% non-zero), 2 cores, ms per iteration, medians of 4 in
#: turn: k = 10 10.6 → 9.6, k = 20 14.4 → 12.5, k = 50 31.7 → 24.8, float32 k = 20
#: 16.5 → 14.2. False: the three-pass loop.
LAGGED_KL_OBJECTIVE = True


def mu_gamma(beta: float) -> float:
    """Févotte–Idier exponent making MU a majorization–minimization scheme."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def _ratio_at_data(
    X: Any, W: np.ndarray, H: np.ndarray, beta: float, wh_data: np.ndarray | None = None
) -> Any:
    """``X ⊙ (WH)^(β−2)`` (only at stored entries for sparse X).

    ``wh_data``: WH at X's stored entries when already known (it is overwritten).
    """
    if sp.issparse(X):
        vals = values_at_nonzeros(W, H, X) if wh_data is None else wh_data
        xd = X.data
        out_data = vals
    else:
        out_data = W @ H
        xd = X
    if beta < 2:
        out_data[out_data < EPSILON] = EPSILON
    if beta == 1:
        np.divide(xd, out_data, out=out_data)
    elif beta == 0:
        out_data **= -1
        out_data **= 2
        out_data *= xd
    else:
        out_data **= beta - 2
        out_data *= xd
    if sp.issparse(X):
        return sp.csr_matrix((out_data, X.indices, X.indptr), shape=X.shape)
    return out_data


def _wh_pow_right(W: np.ndarray, H: np.ndarray, beta: float) -> np.ndarray:
    """``(WH)^(β−1) Hᵀ`` in row blocks (n_samples × k)."""
    out = np.empty(W.shape, dtype=W.dtype)
    for rows in row_blocks(W.shape[0], H.shape[1]):
        WH = W[rows] @ H
        if beta < 1:
            WH[WH < EPSILON] = EPSILON
        WH **= beta - 1
        out[rows] = WH @ H.T
    return out


def _wh_pow_left(W: np.ndarray, H: np.ndarray, beta: float) -> np.ndarray:
    """``Wᵀ (WH)^(β−1)`` accumulated over row blocks (k × n_features)."""
    out = np.zeros(H.shape, dtype=H.dtype)
    for rows in row_blocks(W.shape[0], H.shape[1]):
        WH = W[rows] @ H
        if beta < 1:
            WH[WH < EPSILON] = EPSILON
        WH **= beta - 1
        out += W[rows].T @ WH
    return out


def _finish(num: np.ndarray, den: np.ndarray, F: np.ndarray, l1: float, l2: float, gamma: float):
    if l1 > 0:
        den = den + l1
    if l2 > 0:
        den = den + l2 * F
    den[den == 0] = EPSILON
    delta = num / den
    if gamma != 1:
        delta **= gamma
    F *= delta
    return F


def mu_update_W(
    X: Any, W: np.ndarray, H: np.ndarray, beta: float, l1: float = 0.0, l2: float = 0.0,
    gamma: float | None = None, wh_data: np.ndarray | None = None,
    numerator: np.ndarray | None = None,
) -> np.ndarray:
    """One multiplicative update of W (in place); returns W.

    ``wh_data`` (sparse X, β ≠ 2): WH at the stored entries, if the caller has it;
    ``numerator`` (β = 1): the update's numerator ``(X ⊘ WH) Hᵀ``, if the caller has it.
    """
    gamma = mu_gamma(beta) if gamma is None else gamma
    if numerator is not None and beta == 1:
        if numerator.shape != W.shape:
            raise ValueError(
                f"mu_update_W: numerator has shape {numerator.shape}, W has {W.shape}"
            )
        den = np.broadcast_to(np.sum(H, axis=1)[np.newaxis, :], W.shape).copy()
        return _finish(numerator, den, W, l1, l2, gamma)
    if beta == 2:
        num = spmm(X, H.T) if sp.issparse(X) else X @ H.T
        den = W @ (H @ H.T)
    else:
        if beta == 1 and kl_numerators_available(X, W, H):
            num = kl_numerator_W(X, W, H, EPSILON)  # one fused pass over the non-zeros
        else:
            R = _ratio_at_data(X, W, H, beta, wh_data)
            num = spmm(R, H.T) if sp.issparse(R) else R @ H.T
        if beta == 1:
            den = np.broadcast_to(np.sum(H, axis=1)[np.newaxis, :], W.shape).copy()
        elif sp.issparse(X):
            den = _wh_pow_right(W, H, beta)
        else:
            WH = W @ H
            if beta < 1:
                WH[WH < EPSILON] = EPSILON
            WH **= beta - 1
            den = WH @ H.T
    return _finish(num, den, W, l1, l2, gamma)


def mu_update_H(
    X: Any, W: np.ndarray, H: np.ndarray, beta: float, l1: float = 0.0, l2: float = 0.0,
    gamma: float | None = None,
) -> np.ndarray:
    """One multiplicative update of H (in place); returns H."""
    gamma = mu_gamma(beta) if gamma is None else gamma
    if beta == 2:
        num = spmm_t(X, W).T if sp.issparse(X) else W.T @ X
        den = (W.T @ W) @ H
    else:
        if beta == 1 and kl_numerators_available(X, W, H):
            num = kl_numerator_H(X, W, H, EPSILON)  # one fused pass over the non-zeros
        else:
            R = _ratio_at_data(X, W, H, beta)
            num = spmm_t(R, W).T if sp.issparse(R) else W.T @ R
        if beta == 1:
            w_sum = np.sum(W, axis=0)
            w_sum[w_sum == 0] = 1.0
            den = np.broadcast_to(w_sum[:, np.newaxis], H.shape).copy()
        elif sp.issparse(X):
            den = _wh_pow_left(W, H, beta)
        else:
            WH = W @ H
            if beta < 1:
                WH[WH < EPSILON] = EPSILON
            WH **= beta - 1
            den = W.T @ WH
    return _finish(num, den, H, l1, l2, gamma)


def _dense_X(X: Any) -> np.ndarray:
    if not sp.issparse(X):
        return X
    out = np.zeros(X.shape)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    out[rows, X.indices] = X.data
    return out


def _weighted_parts(Xd: Any, W: np.ndarray, H: np.ndarray, beta: float, weights):
    """``P = M ⊙ X ⊙ Y^(β−2)`` and ``Q = M ⊙ Y^(β−1)`` with ``Y = WH``."""
    if weights.is_pattern:
        y = values_at_nonzeros(W, H, weights.csr)
        if beta < 2:
            y[y < EPSILON] = EPSILON
        p = weights.w * weights.x * y ** (beta - 2) if beta != 2 else weights.w * weights.x
        q = weights.w * y ** (beta - 1) if beta != 2 else weights.w * y
        csr = weights.csr
        mk = lambda d: sp.csr_matrix((d, csr.indices, csr.indptr), shape=csr.shape)  # noqa: E731
        return mk(p), mk(q)
    Y = W @ H
    if beta < 2:
        Y[Y < EPSILON] = EPSILON
    M = weights.dense
    if beta == 2:
        return M * Xd, M * Y
    return M * Xd * Y ** (beta - 2), M * Y ** (beta - 1)


def _weighted_mu(X, W, H, beta, pen, weights, update_H, mon, gamma) -> FitResult:
    """Weighted multiplicative updates (majorization–minimization for every β)::

        W ← W ⊙ ([(M ⊙ X ⊙ Y^(β−2)) Hᵀ] / [(M ⊙ Y^(β−1)) Hᵀ + l1_W + l2_W W])^γ(β)
    """
    from ..losses.weighted import weighted_beta_divergence

    Xd = None if weights.is_pattern else _dense_X(X)

    def objective() -> float:
        return weighted_beta_divergence(X, W, H, beta, weights) + pen.value(W, H)

    if mon.start(objective()):
        return mon.result(W, H)
    def keep_unobserved(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # a row/column with no observed entry has 0/0: leave it at its value
        idle = (den == 0) & (num == 0)
        if idle.any():
            num[idle] = 1.0
            den[idle] = 1.0
        return num, den

    while True:
        P, Q = _weighted_parts(Xd, W, H, beta, weights)
        num, den = keep_unobserved(np.asarray(P @ H.T), np.asarray(Q @ H.T))
        W = _finish(num, den, W, pen.l1_W, pen.l2_W, gamma)
        if beta < 1:
            W[W < _F64_EPS] = 0.0
        if update_H:
            P, Q = _weighted_parts(Xd, W, H, beta, weights)
            num = np.asarray(P.T @ W).T if sp.issparse(P) else W.T @ P
            den = np.asarray(Q.T @ W).T if sp.issparse(Q) else W.T @ Q
            num, den = keep_unobserved(num, den)
            H = _finish(num, den, H, pen.l1_H, pen.l2_H, gamma)
            if beta <= 1:
                H[H < _F64_EPS] = 0.0
        if mon.step(W, H, objective()):
            break
    return mon.result(W, H)


def _objective_of_W(normX2, pen, lap, H, XHt, HHt):
    """``W ↦`` the objective with H fixed, from Gram products."""

    def f(W: np.ndarray) -> float:
        data = 0.5 * normX2 - float(np.vdot(XHt, W)) + 0.5 * float(np.vdot(W.T @ W, HHt))
        return data + pen.value(W, H) + lap.value(W, H)

    return f


def _objective_of_H(normX2, pen, lap, W, WtX, WtW):
    """``H ↦`` the objective with W fixed, from Gram products."""

    def f(H: np.ndarray) -> float:
        data = 0.5 * normX2 - float(np.vdot(WtX, H)) + 0.5 * float(np.vdot(WtW, H @ H.T))
        return data + pen.value(W, H) + lap.value(W, H)

    return f


def _safeguarded_step(F, B, P, Q, objective):
    """GNMF's step when it does not increase ``objective``, else the guaranteed MM step."""
    from ..constraints.laplacian import gnmf_update, mm_update

    if Q is None:  # no cross term: the Lee–Seung step is already MM
        return mm_update(F, B, P, None)
    trial = gnmf_update(F.copy(), B, P, Q)
    if objective(trial) <= objective(F):
        return trial
    return mm_update(F, B, P, Q)


def _laplacian_mu(X, W, H, pen, lap, update_H, mon) -> FitResult:
    """Frobenius MU with a graph penalty on W and/or a TV penalty on H.

    Each factor tries GNMF's update and falls back to the guaranteed MM step
    when that would not decrease the objective (TV weights recomputed from
    the current H before every H-update); see :mod:`nmfkit.constraints.laplacian`.
    So ``½‖X − WH‖² + penalties + lap.value(W, H)`` never increases. The start
    is rescaled to unit-norm rows of H (WH unchanged), which fixes the units
    of the penalty weights.
    """
    normX2 = squared_norm(X)
    if update_H:
        nrm = np.sqrt(np.sum(H.astype(np.float64) ** 2, axis=1))
        live = nrm > 0
        H[live] /= nrm[live, None].astype(H.dtype)
        W[:, live] *= nrm[live].astype(W.dtype)

    def wtx(W_: np.ndarray) -> np.ndarray:
        return spmm_t(X, W_).T if sp.issparse(X) else W_.T @ X

    def reported(WtX: np.ndarray, WtW: np.ndarray) -> float:
        loss = frobenius_from_grams(normX2, WtX, H, WtW)
        if loss < GRAM_LOSS_FLOOR * 0.5 * normX2:  # cancellation: recompute entry-wise
            loss = frobenius_direct(X, W, H)
        return loss + pen.value(W, H) + lap.value(W, H)

    if mon.start(reported(wtx(W), W.T @ W)):
        return mon.result(W, H)
    while True:
        HHt = H @ H.T
        XHt = spmm(X, H.T) if sp.issparse(X) else X @ H.T
        P = W @ HHt
        if pen.l1_W:
            P += pen.l1_W
        if pen.l2_W:
            P += pen.l2_W * W
        Q = None
        if lap.graph is not None:
            Pg, Q = lap.graph.mm_terms(W)
            P = P + Pg
        W = _safeguarded_step(W, XHt, P, Q, _objective_of_W(normX2, pen, lap, H, XHt, HHt))
        WtX = wtx(W)
        WtW = W.T @ W
        if update_H:
            P = WtW @ H
            if pen.l1_H:
                P += pen.l1_H
            if pen.l2_H:
                P += pen.l2_H * H
            Q = None
            if lap.tv is not None:
                Pt, Q = lap.tv.mm_terms(H)
                P = P + Pt
            H = _safeguarded_step(H, WtX, P, Q, _objective_of_H(normX2, pen, lap, W, WtX, WtW))
        if mon.step(W, H, reported(WtX, WtW)):
            break
    return mon.result(W, H)


def _fused_kl_loop(X, W, H, pen, gamma, mon, pgrad, stop_rule) -> FitResult:
    """The KL loop on CSR data with the compiled kernels: each iteration's objective
    comes from the next W-update's pass over the non-zeros (the numerator needs WH
    at the same pair), two passes per iteration instead of three. The iterates, the
    objectives and the stopping decisions are those of the loop in :func:`solve_mu`;
    a stop leaves the last numerator unused."""
    num_W, d = kl_numerator_W_and_divergence(X, W, H, EPSILON)
    if mon.start(d + pen.value(W, H), pgrad if stop_rule == "pgrad" else None):
        return mon.result(W, H)
    while True:
        mu_update_W(X, W, H, 1.0, pen.l1_W, pen.l2_W, gamma, numerator=num_W)
        mu_update_H(X, W, H, 1.0, pen.l1_H, pen.l2_H, gamma)
        H[H < _F64_EPS] = 0.0
        num_W, d = kl_numerator_W_and_divergence(X, W, H, EPSILON)
        if mon.step(W, H, d + pen.value(W, H), pgrad):
            break
    return mon.result(W, H)


@register_solver(
    "mu",
    losses="any",
    sparse=True,
    weights=True,
    penalties=("l1", "l2", "graph", "tv"),
    weight_losses="any",
    array_api=True,
    weight_method="weighted multiplicative updates (MM for every beta); "
    "dense weights O(mnk), sparse weights O(nnz·k)",
    description="multiplicative updates, any beta (Févotte–Idier MM exponent)",
)
def solve_mu(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float = 2.0,
    penalties: Penalties | None = None,
    weights=None,
    update_H: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback=None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
    random_state=None,
    laplacian=None,
) -> FitResult:
    """Minimise ``D_β(X | WH)`` (+ penalties) by multiplicative updates.

    The objective is non-increasing at every iteration for every β (the
    exponent γ(β) makes each update a majorization–minimization step).
    Zero entries of W or H stay zero; start from a strictly positive point.

    ``laplacian`` (a :class:`nmfkit.constraints.laplacian.LaplacianPenalty`,
    Frobenius loss, no weights) adds a graph penalty on W and/or a
    total-variation penalty on H to the objective; see
    :mod:`nmfkit.constraints.laplacian` for the updates.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((20, 15)) + 0.1
    >>> res = solve_mu(X, rng.random((20, 3)) + .1, rng.random((3, 15)) + .1, beta=1.0, tol=0)
    >>> bool(np.all(np.diff(res.loss_history) <= 1e-12))
    True
    """
    pen = penalties or Penalties()
    gamma = mu_gamma(beta)
    if is_foreign(W):
        if weights is not None or (laplacian is not None and laplacian.names):
            from ..exceptions import IncompatibleOptionsError

            raise IncompatibleOptionsError(
                "weights and the graph/TV penalties need NumPy arrays"
            )
        from ._array_api import mu_xp

        return mu_xp(
            X, W, H, beta=beta, gamma=gamma, penalties=pen, update_H=update_H,
            max_iter=max_iter, tol=tol, max_time=max_time, callback=callback,
            stop_rule=stop_rule, verbose=verbose, progress=progress,
        )
    W = np.array(W, order="C")
    H = np.array(H, order="C")
    normX2 = squared_norm(X) if beta == 2 else None
    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, solver="mu", beta=beta,
    )

    # sparse X, β ≠ 2: WH at the stored entries is needed by the objective and by the
    # next W-update at the same (W, H): gather it once (float64 only, so values match)
    share = sp.issparse(X) and beta != 2 and W.dtype == np.float64 == H.dtype
    cache: dict[str, np.ndarray] = {}

    fused_kl = beta == 1 and kl_numerators_available(X, W, H)

    def objective() -> float:
        if fused_kl:  # one pass over the non-zeros, nothing nnz-sized kept
            return kl_divergence_csr(X, W, H, EPSILON) + pen.value(W, H)
        if share:
            cache["wh"] = values_at_nonzeros(W, H, X)
            d = beta_divergence(X, W, H, beta, wh_at_data=cache["wh"])
            return d + pen.value(W, H)
        return beta_divergence(X, W, H, beta, normX2=normX2) + pen.value(W, H)

    def pgrad() -> float:
        from ..losses.gradient import projected_gradient_norm

        return projected_gradient_norm(X, W, H, beta, pen, update_H=update_H)

    if laplacian is not None and laplacian.names:
        from ..exceptions import IncompatibleOptionsError

        what = " and ".join(laplacian.names)
        if beta != 2:
            raise IncompatibleOptionsError(
                f"the {what} penalty is implemented for the Frobenius loss only"
            )
        if weights is not None:
            raise IncompatibleOptionsError(f"the {what} penalty does not support weights")
        if stop_rule != "objective":
            raise ValueError(f"stop_rule='pgrad' is not available with the {what} penalty")
        return _laplacian_mu(X, W, H, pen, laplacian, update_H, mon)
    if weights is not None:
        if stop_rule != "objective":
            raise ValueError("stop_rule='pgrad' is not available with weights; use 'objective'")
        return _weighted_mu(X, W, H, beta, pen, weights, update_H, mon, gamma)
    if fused_kl and update_H and LAGGED_KL_OBJECTIVE:
        return _fused_kl_loop(X, W, H, pen, gamma, mon, pgrad, stop_rule)
    if mon.start(objective(), pgrad if stop_rule == "pgrad" else None):
        return mon.result(W, H)
    while True:
        mu_update_W(X, W, H, beta, pen.l1_W, pen.l2_W, gamma, wh_data=cache.pop("wh", None))
        if beta < 1:
            W[W < _F64_EPS] = 0.0
        if update_H:
            if beta == 2:
                WtX = spmm_t(X, W).T if sp.issparse(X) else W.T @ X
                WtW = W.T @ W
                den = WtW @ H
                H = _finish(WtX.copy(), den, H, pen.l1_H, pen.l2_H, gamma)
                loss = frobenius_from_grams(normX2, WtX, H, WtW)
                if loss < GRAM_LOSS_FLOOR * 0.5 * normX2:
                    loss = frobenius_direct(X, W, H)
                loss += pen.value(W, H)
            else:
                mu_update_H(X, W, H, beta, pen.l1_H, pen.l2_H, gamma)
                if beta <= 1:
                    H[H < _F64_EPS] = 0.0
                loss = objective()
        else:
            loss = objective()
        if mon.step(W, H, loss, pgrad):
            break
    return mon.result(W, H)
