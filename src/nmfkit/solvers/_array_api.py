"""The solvers' loops for arrays of any array-API namespace (PyTorch, CuPy, ...).

:func:`solve_hals`, :func:`solve_mu`, :func:`solve_pgd` and
:func:`solve_nesterov` call into this module when their factors are not
NumPy arrays. The iterations are those of the NumPy path (same order of
updates, same floors and exponents, the same stopping family through
:class:`Monitor`), written with array-API operations only so that they run
where the data lives: everything stays on the device and only scalars (the
objective, the sweep changes) travel to the host. Run with NumPy's compat
namespace the loops give the NumPy path's iterates (tested to 1e-12).

Data is a dense array or an :class:`nmfkit.backend.XpSparse`. Not handled
here: entry weights, the graph/TV/sparseness penalties (NumPy only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend._xp import XpSparse, namespace_of, xp_squared_norm
from ..losses import EPSILON, Penalties
from ..losses.array_api import (
    beta_divergence_xp,
    frobenius_direct_xp,
    frobenius_from_grams_xp,
    gram_loss_needs_direct,
    penalty_value_xp,
)
from ._result import FitResult
from ._stopping import Monitor

__all__ = [
    "alternating_frobenius_xp", "mu_xp", "copy_xp", "frobenius_gradients_xp", "xp_loop_ops",
]

_F64_EPS = 2.220446049250313e-16


def copy_xp(xp: Any, a: Any) -> Any:
    """A fresh copy of ``a`` on its device (the solvers never modify their inputs)."""
    return xp.asarray(a, copy=True)


def _xht(X: Any, H: Any) -> Any:
    """``H Xᵀ`` (k × n_samples)."""
    if isinstance(X, XpSparse):
        return X.matmul(H.T).T
    return H @ X.T


def _wtx(X: Any, Wt: Any) -> Any:
    """``Wᵀ X`` (k × n_features) from ``Wt`` = Wᵀ."""
    if isinstance(X, XpSparse):
        return X.rmatmul(Wt.T).T
    return Wt @ X


def _pg_sq(xp: Any, A: Any, B: Any, G: Any, l1: float, l2: float) -> float:
    grad = G @ A - B
    if l1:
        grad = grad + l1
    if l2:
        grad = grad + l2 * A
    pg = xp.where(A > 0, grad, xp.clip(grad, max=0.0))
    return float(xp.sum(pg * pg))


def alternating_frobenius_xp(
    X: Any,
    W: Any,
    H: Any,
    *,
    kernel: Callable[..., Any],
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
    """The alternating Gram loop of :func:`nmfkit.solvers._frobenius.alternating_frobenius`.

    ``kernel(A, B, G, *, l1, l2, side, state, xp) -> A`` improves the
    Gram-form NNLS problem (A = Wᵀ or H).
    """
    xp = namespace_of(W, H)
    pen = penalties or Penalties()
    Wt = copy_xp(xp, W.T)
    H = copy_xp(xp, H)
    state = dict(kernel_state or {})
    state.setdefault("nnz", X.nnz if isinstance(X, XpSparse) else X.shape[0] * X.shape[1])
    normX2 = xp_squared_norm(xp, X)
    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, solver=name, beta=2.0,
    )
    cache: dict[str, Any] = {}

    def fresh_BW() -> Any:
        if "BW" in cache:
            return cache.pop("BW")
        return _xht(X, H)

    def pgrad() -> float:
        BW = _xht(X, H)
        cache["BW"] = BW
        s = _pg_sq(xp, Wt, BW, H @ H.T, pen.l1_W, pen.l2_W)
        if update_H:
            s += _pg_sq(xp, H, _wtx(X, Wt), Wt @ Wt.T, pen.l1_H, pen.l2_H)
        return s**0.5

    def loss_of(WtX: Any, WtW: Any, HHt: Any) -> float:
        loss = frobenius_from_grams_xp(normX2, WtX, H, WtW, HHt, xp)
        if gram_loss_needs_direct(loss, normX2):  # cancellation: recompute entry-wise
            loss = frobenius_direct_xp(X, Wt.T, H, xp)
        return loss + penalty_value_xp(pen, Wt.T, H, xp)

    HHt = H @ H.T
    WtX = _wtx(X, Wt)
    WtW = Wt @ Wt.T
    if mon.start(loss_of(WtX, WtW, HHt), pgrad if stop_rule == "pgrad" else None):
        return mon.result(copy_xp(xp, Wt.T), H)
    while True:
        BW = fresh_BW()
        Wt = kernel(Wt, BW, HHt, l1=pen.l1_W, l2=pen.l2_W, side="W", state=state, xp=xp)
        WtW = Wt @ Wt.T
        WtX = _wtx(X, Wt)
        if update_H:
            H = kernel(H, WtX, WtW, l1=pen.l1_H, l2=pen.l2_H, side="H", state=state, xp=xp)
            HHt = H @ H.T
        if mon.step(Wt.T, H, loss_of(WtX, WtW, HHt), pgrad):
            break
    return mon.result(copy_xp(xp, Wt.T), H, **state.get("extras", {}))


def frobenius_gradients_xp(X: Any, W: Any, H: Any, pen: Penalties) -> tuple[Any, Any]:
    """``(∇_W f, ∇_H f)`` of ``½‖X − WH‖²`` + penalties, in float64 on the device."""
    from ..backend._xp import to_float64

    xp = namespace_of(W, H)
    W64, H64 = to_float64(xp, W), to_float64(xp, H)
    XHt = to_float64(xp, _xht(X, H).T)
    WtX = to_float64(xp, _wtx(X, W.T))
    gW = W64 @ (H64 @ H64.T) - XHt
    gH = (W64.T @ W64) @ H64 - WtX
    if pen.l1_W:
        gW = gW + pen.l1_W
    if pen.l2_W:
        gW = gW + pen.l2_W * W64
    if pen.l1_H:
        gH = gH + pen.l1_H
    if pen.l2_H:
        gH = gH + pen.l2_H * H64
    return gW, gH


def projected_sq_xp(A: Any, grad: Any) -> float:
    """Squared norm of the projected gradient at ``A``."""
    xp = namespace_of(A, grad)
    pg = xp.where(A > 0, grad, xp.clip(grad, max=0.0))
    return float(xp.sum(pg * pg))


# --------------------------------------------------------------------- MU
def _finish(xp: Any, num: Any, den: Any, F: Any, l1: float, l2: float, gamma: float) -> Any:
    if l1 > 0:
        den = den + l1
    if l2 > 0:
        den = den + l2 * F
    den = xp.where(den == 0, EPSILON, den)
    delta = num / den
    if gamma != 1:
        delta = delta**gamma
    return F * delta


def _ratio(xp: Any, x: Any, wh: Any, beta: float) -> Any:
    """``x ⊙ wh^(β−2)`` with scikit-learn's floor (dense, or the stored values)."""
    if beta < 2:
        wh = xp.where(wh < EPSILON, EPSILON, wh)
    if beta == 1:
        return x / wh
    if beta == 0:
        return (wh**-1) ** 2 * x
    return wh ** (beta - 2) * x


def _wh_pow(xp: Any, W: Any, H: Any, beta: float, right: bool) -> Any:
    """``(WH)^(β−1) Hᵀ`` (right) or ``Wᵀ (WH)^(β−1)`` in row blocks of WH."""
    from ..backend import row_blocks

    parts = []
    out = None
    for rows in row_blocks(W.shape[0], H.shape[1]):
        WH = W[rows, :] @ H
        if beta < 1:
            WH = xp.where(WH < EPSILON, EPSILON, WH)
        WH = WH ** (beta - 1)
        if right:
            parts.append(WH @ H.T)
        else:
            t = W[rows, :].T @ WH
            out = t if out is None else out + t
    return xp.concat(parts, axis=0) if right else out


def mu_xp(
    X: Any,
    W: Any,
    H: Any,
    *,
    beta: float,
    gamma: float,
    penalties: Penalties | None = None,
    update_H: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback: Callable | None = None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
) -> FitResult:
    """Multiplicative updates for any β, the loop of :func:`nmfkit.solvers.mu.solve_mu`."""
    if stop_rule != "objective":
        raise ValueError(
            "stop_rule='pgrad' with solver 'mu' is available for NumPy arrays only; "
            "use stop_rule='objective'"
        )
    xp = namespace_of(W, H)
    pen = penalties or Penalties()
    W = copy_xp(xp, W)
    H = copy_xp(xp, H)
    sparse = isinstance(X, XpSparse)
    normX2 = xp_squared_norm(xp, X) if beta == 2 else None
    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, solver="mu", beta=beta,
    )
    share = sparse and beta != 2 and W.dtype == xp.float64 == H.dtype
    cache: dict[str, Any] = {}

    def objective() -> float:
        if share:
            cache["wh"] = X.values_at(W, H)
            d = beta_divergence_xp(X, W, H, beta, xp, wh_at_data=cache["wh"])
        else:
            d = beta_divergence_xp(X, W, H, beta, xp, normX2=normX2)
        return d + penalty_value_xp(pen, W, H, xp)

    def step_W(W: Any) -> Any:
        if beta == 2:
            num = X.matmul(H.T) if sparse else X @ H.T
            den = W @ (H @ H.T)
        else:
            if sparse:
                wh = cache.pop("wh", None)
                wh = X.values_at(W, H) if wh is None else wh
                num = X.with_values(_ratio(xp, X.values, wh, beta)).matmul(H.T)
            else:
                num = _ratio(xp, X, W @ H, beta) @ H.T
            if beta == 1:
                den = xp.broadcast_to(xp.sum(H, axis=1)[None, :], W.shape)
            elif sparse:
                den = _wh_pow(xp, W, H, beta, right=True)
            else:
                WH = W @ H
                if beta < 1:
                    WH = xp.where(WH < EPSILON, EPSILON, WH)
                den = WH ** (beta - 1) @ H.T
        return _finish(xp, num, den, W, pen.l1_W, pen.l2_W, gamma)

    def step_H(H: Any) -> Any:
        if sparse:
            R = X.with_values(_ratio(xp, X.values, X.values_at(W, H), beta))
            num = R.rmatmul(W).T
        else:
            num = W.T @ _ratio(xp, X, W @ H, beta)
        if beta == 1:
            w_sum = xp.sum(W, axis=0)
            w_sum = xp.where(w_sum == 0, 1.0, w_sum)
            den = xp.broadcast_to(w_sum[:, None], H.shape)
        elif sparse:
            den = _wh_pow(xp, W, H, beta, right=False)
        else:
            WH = W @ H
            if beta < 1:
                WH = xp.where(WH < EPSILON, EPSILON, WH)
            den = W.T @ WH ** (beta - 1)
        return _finish(xp, num, den, H, pen.l1_H, pen.l2_H, gamma)

    if mon.start(objective()):
        return mon.result(W, H)
    while True:
        W = step_W(W)
        if beta < 1:
            W = xp.where(W < _F64_EPS, 0.0, W)
        if update_H:
            if beta == 2:
                WtX = X.rmatmul(W).T if sparse else W.T @ X
                WtW = W.T @ W
                H = _finish(xp, WtX, WtW @ H, H, pen.l1_H, pen.l2_H, gamma)
                loss = frobenius_from_grams_xp(normX2, WtX, H, WtW, H @ H.T, xp)
                if gram_loss_needs_direct(loss, normX2):
                    loss = frobenius_direct_xp(X, W, H, xp)
                loss += penalty_value_xp(pen, W, H, xp)
            else:
                H = step_H(H)
                if beta <= 1:
                    H = xp.where(H < _F64_EPS, 0.0, H)
                loss = objective()
        else:
            loss = objective()
        if mon.step(W, H, loss):
            break
    return mon.result(W, H)


def xp_loop_ops(X: Any, pen: Penalties, xp: Any):
    """The extrapolated loop's array operations (:class:`LoopOps`) for namespace ``xp``."""
    from ._extrapolation import LoopOps

    normX2 = xp_squared_norm(xp, X)

    def objective(Wt: Any, H: Any, WtX: Any, WtW: Any) -> float:
        loss = frobenius_from_grams_xp(normX2, WtX, H, WtW, H @ H.T, xp)
        if gram_loss_needs_direct(loss, normX2):  # cancellation: recompute entry-wise
            loss = frobenius_direct_xp(X, Wt.T, H, xp)
        return loss + penalty_value_xp(pen, Wt.T, H, xp)

    def objective_xht(Wt: Any, H: Any, HXt: Any, HHt: Any) -> float:
        # the same Gram form with the roles of W and H exchanged
        loss = frobenius_from_grams_xp(normX2, HXt, Wt, HHt, Wt @ Wt.T, xp)
        if gram_loss_needs_direct(loss, normX2):
            loss = frobenius_direct_xp(X, Wt.T, H, xp)
        return loss + penalty_value_xp(pen, Wt.T, H, xp)

    def point(new: Any, accepted: Any, beta: float, project: bool) -> Any:
        y = new + beta * (new - accepted)
        return xp.clip(y, min=0.0) if project else y

    return LoopOps(
        products_W=_xht, products_H=_wtx, objective=objective, objective_xht=objective_xht,
        pgrad_sq=lambda A, B, G, l1, l2: _pg_sq(xp, A, B, G, l1, l2),
        copy=lambda a: copy_xp(xp, a), point=point, transpose=lambda a: copy_xp(xp, a.T),
    )
