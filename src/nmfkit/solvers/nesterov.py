"""NeNMF: alternating Nesterov optimal gradient (Guan, Tao, Luo & Yuan 2012)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend._xp import is_foreign
from ..losses import Penalties
from ..losses.gradient import gradients
from ..nnls import nesterov_nnls
from ._frobenius import alternating_frobenius
from ._registry import register_solver
from ._result import FitResult
from ._weighted import GRAM_KERNEL_WEIGHTS

__all__ = ["solve_nesterov"]


def _projected_sq(A: np.ndarray, grad: np.ndarray) -> float:
    pg = np.where(A > 0, grad, np.minimum(grad, 0.0))
    return float(np.vdot(pg, pg))


@register_solver(
    "nesterov",
    losses=("frobenius",),
    sparse=True,
    weights=True,
    weight_losses=("frobenius",),
    weight_method=GRAM_KERNEL_WEIGHTS,
    array_api=True,
    description="NeNMF optimal gradient, Guan et al. 2012",
)
def solve_nesterov(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float = 2.0,
    penalties=None,
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
    inner_min_iter: int = 10,
    inner_max_iter: int = 1000,
    inner_tol: float = 1e-3,
) -> FitResult:
    """Minimise ``½‖X − WH‖²_F`` (+ penalties) by NeNMF's optimal gradient method.

    Each outer iteration solves the W sub-problem and then the H
    sub-problem approximately with :func:`nmfkit.nnls.nesterov_nnls`
    (Nesterov's optimal gradient method with step ``1/L``, ``L = ‖G‖₂ + l2``,
    plus a monotone restart). The sub-problems stop, after at least
    ``inner_min_iter`` iterations, on an absolute projected-gradient
    tolerance that follows NeNMF's outer code: both start at
    ``ε · ‖∇ᴾf(W₀, H₀)‖_F`` (the projected gradient at the start) with
    ``ε = inner_tol`` — or ``max(inner_tol, tol)`` when
    ``stop_rule="pgrad"``, NeNMF's ``max(tol, 1e-3)`` — and a side's
    tolerance is divided by 10 whenever its sub-problem stops within
    ``inner_min_iter`` iterations. The current tolerances and the inner
    iteration counts are returned in ``FitResult.extras`` (``inner_tol_W``,
    ``inner_tol_H``, ``inner_iter_W``, ``inner_iter_H``).

    The inner iterates never increase the sub-problem objective, so the
    loss history is non-increasing.

    Parameters
    ----------
    X : ndarray or sparse matrix (n_samples, n_features)
    W, H : ndarray
        Starting factors (not modified).
    inner_min_iter, inner_max_iter : int, default 10 and 1000
        NeNMF's ``MinIter`` and ``MaxIter`` per sub-problem.
    inner_tol : float, default 1e-3
        Initial sub-problem tolerance relative to the initial projected gradient.

    Other parameters are the common solver signature (see :func:`nmfkit.factorize`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 4)) @ rng.random((4, 20))
    >>> W0, H0 = rng.random((30, 4)), rng.random((4, 20))
    >>> res = solve_nesterov(X, W0, H0, max_iter=300, tol=0)
    >>> bool(res.loss < 1e-3 * res.loss_history[0])
    True
    """
    pen = penalties or Penalties()
    foreign = is_foreign(W)
    if foreign:
        from ._array_api import alternating_frobenius_xp as loop
        from ._array_api import frobenius_gradients_xp, projected_sq_xp

        gW, gH = frobenius_gradients_xp(X, W, H, pen)
        init_grad = projected_sq_xp(W, gW)
        if update_H:
            init_grad += projected_sq_xp(H, gH)
    else:
        loop = alternating_frobenius
        gW, gH = gradients(X, W, H, 2.0, pen)
        init_grad = _projected_sq(np.asarray(W), gW)
        if update_H:
            init_grad += _projected_sq(np.asarray(H), gH)
    rel = max(inner_tol, tol) if stop_rule == "pgrad" else inner_tol
    start = rel * init_grad**0.5
    state: dict[str, Any] = {
        "extras": {"inner_tol_W": start, "inner_tol_H": start, "inner_iter_W": 0, "inner_iter_H": 0}
    }

    def kernel(A, B, G, *, l1, l2, side, state, xp=None):
        info = state["extras"]
        tol_key = f"inner_tol_{side}"
        A, n = nesterov_nnls(
            G,
            B,
            A,
            l1=l1,
            l2=l2,
            min_iter=inner_min_iter,
            max_iter=inner_max_iter,
            tol=info[tol_key],
        )
        info[f"inner_iter_{side}"] += n
        if n <= inner_min_iter:
            info[tol_key] *= 0.1
        return A

    if foreign and weights is not None:
        from ..exceptions import IncompatibleOptionsError

        raise IncompatibleOptionsError("weights need NumPy arrays")
    extra = {} if foreign else {"weights": weights}
    return loop(
        X,
        W,
        H,
        kernel=kernel,
        name="nesterov",
        penalties=pen,
        update_H=update_H,
        **extra,
        max_iter=max_iter,
        tol=tol,
        max_time=max_time,
        callback=callback,
        stop_rule=stop_rule,
        verbose=verbose,
        progress=progress,
        kernel_state=state,
    )
