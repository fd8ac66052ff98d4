"""Ang–Gillis extrapolation with restart for the alternating Frobenius loop.

Ang & Gillis (2019, "Accelerating nonnegative matrix factorization
algorithms using extrapolation", Neural Computation 31(2)) wrap any
alternating NNLS scheme: each factor's update starts from, and the other
factor's update is computed at, an extrapolated point
``Y = A_new + β (A_new − A_accepted)``. The first factor's point is
projected onto ``≥ 0`` (it is one half of the reported iterate), the
second's is not. When the objective of the reported pair rises, the step
is discarded (restart from the accepted factors) and ``β`` shrinks by
``η``; otherwise ``β`` grows by ``γ`` up to a cap that itself grows by
``γ̄`` and falls back to the last good ``β`` after a restart.

Here W is updated first (as everywhere in nmfkit), so W's point is the
projected one and the reported pair is ``(W_y, H_new)``, whose objective
comes from the Grams the H-update needs anyway. The loop reports the best
pair so far, so the recorded objective never rises; a restarted step does
not count as convergence for ``tol``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import squared_norm
from ..losses import Penalties, frobenius_direct, frobenius_gram_or_direct
from ._result import FitResult
from ._stopping import Monitor

__all__ = ["Extrapolation", "LoopOps", "alternating_extrapolated", "numpy_ops", "numpy_point"]


@dataclass
class Extrapolation:
    """The step-size schedule: ``β`` and its cap, updated after every step.

    Defaults are Ang & Gillis' values for HALS (β₀ = 0.5, η = 1.5,
    γ = 1.01, γ̄ = 1.005); they require ``η > γ > γ̄ > 1``.

    Examples
    --------
    >>> s = Extrapolation()
    >>> s.success(); round(s.beta, 4)
    0.505
    >>> s.failure(); round(s.beta, 4), s.beta_max
    (0.3367, 0.505)
    """

    beta: float = 0.5
    eta: float = 1.5
    gamma: float = 1.01
    gamma_bar: float = 1.005
    beta_max: float = 1.0
    _beta_prev: float | None = None

    def __post_init__(self) -> None:
        if not (self.eta > self.gamma > self.gamma_bar > 1.0):
            raise ValueError(
                f"extrapolation needs eta > gamma > gamma_bar > 1, got eta={self.eta}, "
                f"gamma={self.gamma}, gamma_bar={self.gamma_bar}"
            )
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"extrapolation beta0 must be in [0, 1], got {self.beta}")

    def success(self) -> None:
        self._beta_prev = self.beta
        self.beta = min(self.beta_max, self.gamma * self.beta)
        self.beta_max = min(1.0, self.gamma_bar * self.beta_max)

    def failure(self) -> None:
        self.beta_max = self._beta_prev if self._beta_prev is not None else self.beta
        self._beta_prev = self.beta
        self.beta /= self.eta


@dataclass
class LoopOps:
    """The array operations the extrapolated loop needs, for one array library.

    ``products_W(X, H) = H Xᵀ`` and ``products_H(X, Wᵀ) = Wᵀ X``;
    ``objective(Wᵀ, H, WᵀX, WᵀW)`` is the penalised objective, and
    ``objective_xht(Wᵀ, H, HXᵀ, HHᵀ)`` the same from the W-update's products
    (``⟨WᵀX, H⟩ = ⟨HXᵀ, Wᵀ⟩``);
    ``pgrad_sq(A, B, G, l1, l2)`` the squared projected-gradient norm;
    ``copy(a)`` a fresh copy; ``point(new, accepted, beta, project)`` the
    extrapolated point (a new array).
    """

    products_W: Callable[[Any, Any], Any]
    products_H: Callable[[Any, Any], Any]
    objective: Callable[[Any, Any, Any, Any], float]
    objective_xht: Callable[[Any, Any, Any, Any], float]
    pgrad_sq: Callable[..., float]
    copy: Callable[[Any], Any]
    point: Callable[[Any, Any, float, bool], Any]
    transpose: Callable[[Any], Any]


def numpy_point(new: np.ndarray, accepted: np.ndarray, beta: float, project: bool) -> np.ndarray:
    """``new + β (new − accepted)``, clipped at 0 when ``project`` (a new array).

    Examples
    --------
    >>> numpy_point(np.array([1.0, 0.0]), np.array([0.0, 2.0]), 0.5, True).tolist()
    [1.5, 0.0]
    """
    y = new - accepted
    y *= beta
    y += new
    if project:
        np.maximum(y, 0.0, out=y)
    return y


def numpy_ops(X: Any, pen: Penalties) -> LoopOps:
    """:class:`LoopOps` for NumPy arrays and SciPy sparse X (the column layout)."""
    from ._frobenius import _products_H, _xt_products_W, projected_gradient_sq

    normX2 = squared_norm(X)
    work: dict = {}  # the sparse products' scratch, reused for as long as the loop runs

    def products_H(X_: Any, Wt: np.ndarray) -> np.ndarray:
        return _products_H(X_, Wt, work)

    def objective(Wt: np.ndarray, H_: np.ndarray, WtX: np.ndarray, WtW: np.ndarray) -> float:
        loss = frobenius_gram_or_direct(
            normX2, WtX, H_, WtW, H_ @ H_.T, lambda: frobenius_direct(X, Wt.T, H_)
        )
        return loss + pen.value(Wt.T, H_)

    def objective_xht(Wt: np.ndarray, H_: np.ndarray, HXt: np.ndarray, HHt: np.ndarray) -> float:
        # the same Gram form with the roles of W and H exchanged
        loss = frobenius_gram_or_direct(
            normX2, HXt, Wt, HHt, Wt @ Wt.T, lambda: frobenius_direct(X, Wt.T, H_)
        )
        return loss + pen.value(Wt.T, H_)

    return LoopOps(
        products_W=_xt_products_W, products_H=products_H, objective=objective,
        objective_xht=objective_xht,
        pgrad_sq=projected_gradient_sq, copy=lambda a: np.array(a, order="C"), point=numpy_point,
        transpose=lambda a: np.ascontiguousarray(a.T),
    )


def alternating_extrapolated(
    X: Any,
    W: Any,
    H: Any,
    *,
    kernel: Callable[..., Any],
    name: str,
    pen: Penalties,
    schedule: Extrapolation,
    ops: LoopOps,
    max_iter: int,
    tol: float,
    max_time: float | None,
    callback: Callable | None,
    stop_rule: str,
    verbose: int,
    progress: bool,
    kernel_state: dict | None,
    kernel_kwargs: dict | None = None,
) -> FitResult:
    """The column-layout alternating loop with extrapolation (W kept as Wᵀ, k × n_samples).

    ``kernel(A, B, G, *, l1, l2, side, state, **kernel_kwargs)`` improves
    ``A`` in place; the array operations come from ``ops`` (NumPy:
    :func:`numpy_ops`; other libraries: ``solvers._array_api.xp_loop_ops``).
    """
    kkw = dict(kernel_kwargs or {})
    Wt_y = ops.copy(W.T)  # where the next W-update starts
    H_y = ops.copy(H)  # where the next H-update starts / where W's is taken
    Wt_acc, H_acc = ops.copy(Wt_y), ops.copy(H_y)  # the last accepted (not extrapolated) updates
    state = dict(kernel_state or {})
    state.setdefault("nnz", X.nnz if hasattr(X, "nnz") else X.shape[0] * X.shape[1])
    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, solver=name, beta=2.0,
    )
    best_Wt, best_H = Wt_acc, H_acc

    def pgrad() -> float:
        s = ops.pgrad_sq(best_Wt, ops.products_W(X, best_H), best_H @ best_H.T,
                         pen.l1_W, pen.l2_W)
        s += ops.pgrad_sq(best_H, ops.products_H(X, best_Wt), best_Wt @ best_Wt.T,
                          pen.l1_H, pen.l2_H)
        return s**0.5

    # the starting objective from H Xᵀ, which the first W-update needs anyway
    BW, GW = ops.products_W(X, H_y), H_y @ H_y.T
    best = prev = ops.objective_xht(Wt_y, H_y, BW, GW)
    # without penalties the objective is ½‖X − WH‖² at the reported pair
    data = (lambda: {"data_loss": best}) if not pen.any else dict
    if mon.start(best, pgrad if stop_rule == "pgrad" else None):
        return mon.result(ops.transpose(best_Wt), best_H, **data())
    while True:
        if BW is None:
            BW, GW = ops.products_W(X, H_y), H_y @ H_y.T
        Wn = kernel(Wt_y, BW, GW, l1=pen.l1_W, l2=pen.l2_W, side="W", state=state, **kkw)
        BW = GW = None
        Wt_y = ops.point(Wn, Wt_acc, schedule.beta, True)
        WtX = ops.products_H(X, Wt_y)
        WtW = Wt_y @ Wt_y.T
        Hn = kernel(H_y, WtX, WtW, l1=pen.l1_H, l2=pen.l2_H, side="H", state=state, **kkw)
        loss = ops.objective(Wt_y, Hn, WtX, WtW)
        improved = loss <= prev
        prev = loss
        new_best = loss < best
        if new_best:
            best, best_Wt, best_H = loss, ops.copy(Wt_y), ops.copy(Hn)
        if improved:
            H_y = ops.point(Hn, H_acc, schedule.beta, False)
            Wt_acc, H_acc = Wn, Hn
            schedule.success()
        else:  # restart from the accepted factors with a smaller step
            Wt_y, H_y = ops.copy(Wt_acc), ops.copy(H_acc)
            schedule.failure()
        if mon.step(best_Wt.T, best_H, best, pgrad, check_tol=new_best):
            break
    state.setdefault("extras", {})["extrapolation_beta"] = schedule.beta
    return mon.result(ops.transpose(best_Wt), best_H, **data(), **state["extras"])
