"""Alternating projected gradient (Lin 2007) for the Frobenius loss."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend._xp import is_foreign
from ..losses import Penalties
from ..losses.gradient import gradients
from ..nnls import pgd_nnls
from ._frobenius import alternating_frobenius
from ._registry import register_solver
from ._result import FitResult
from ._weighted import GRAM_KERNEL_WEIGHTS

__all__ = ["solve_pgd"]


@register_solver(
    "pgd",
    losses=("frobenius",),
    sparse=True,
    weights=True,
    weight_losses=("frobenius",),
    weight_method=GRAM_KERNEL_WEIGHTS,
    array_api=True,
    description="projected gradient, Lin 2007",
)
def solve_pgd(
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
    inner_max_iter: int = 1000,
    inner_tol: float = 1e-3,
) -> FitResult:
    """Minimise ``½‖X − WH‖²_F`` (+ penalties) by alternating projected gradient.

    Each outer iteration solves the W sub-problem and then the H
    sub-problem approximately with :func:`nmfkit.nnls.pgd_nnls` (projected
    gradient with an Armijo search along the projection arc, Lin 2007).
    The sub-problems stop on an absolute projected-gradient tolerance that
    follows Lin's outer code: both start at
    ``ε · ‖∇f(W₀, H₀)‖_F`` (the full gradient at the start, penalties
    included), with ``ε = inner_tol`` — or ``max(inner_tol, tol)`` when
    ``stop_rule="pgrad"``, Lin's ``max(0.001, tol)`` — and a side's
    tolerance is divided by 10 whenever its sub-problem is already solved
    to it before any step (Lin's ``iter == 1``). The current tolerances
    and the inner iteration counts are returned in ``FitResult.extras``
    (``inner_tol_W``, ``inner_tol_H``, ``inner_iter_W``, ``inner_iter_H``).

    Every accepted step decreases the sub-problem objective, so the loss
    history is non-increasing.

    Parameters
    ----------
    X : ndarray or sparse matrix (n_samples, n_features)
    W, H : ndarray
        Starting factors (not modified).
    inner_max_iter : int, default 1000
        Maximum projected-gradient iterations per sub-problem (Lin's 1000).
    inner_tol : float, default 1e-3
        Initial sub-problem tolerance relative to the initial gradient norm.

    Other parameters are the common solver signature (see :func:`nmfkit.factorize`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 4)) @ rng.random((4, 20))
    >>> W0, H0 = rng.random((30, 4)), rng.random((4, 20))
    >>> res = solve_pgd(X, W0, H0, max_iter=300, tol=0)
    >>> bool(res.loss < 1e-3 * res.loss_history[0])
    True
    """
    pen = penalties or Penalties()
    foreign = is_foreign(W)
    if foreign:
        from ..backend._xp import namespace_of, xp_vdot
        from ._array_api import alternating_frobenius_xp as loop
        from ._array_api import frobenius_gradients_xp

        gW, gH = frobenius_gradients_xp(X, W, H, pen)
        xp = namespace_of(gW)
        init_grad = xp_vdot(xp, gW, gW)
        if update_H:
            init_grad += xp_vdot(xp, gH, gH)
    else:
        loop = alternating_frobenius
        gW, gH = gradients(X, W, H, 2.0, pen)
        init_grad = float(np.vdot(gW, gW))
        if update_H:
            init_grad += float(np.vdot(gH, gH))
    rel = max(inner_tol, tol) if stop_rule == "pgrad" else inner_tol
    start = rel * init_grad**0.5
    state: dict[str, Any] = {
        "extras": {"inner_tol_W": start, "inner_tol_H": start, "inner_iter_W": 0, "inner_iter_H": 0}
    }

    def kernel(A, B, G, *, l1, l2, side, state, xp=None):
        info = state["extras"]
        tol_key = f"inner_tol_{side}"
        A, n = pgd_nnls(G, B, A, l1=l1, l2=l2, max_iter=inner_max_iter, tol=info[tol_key])
        info[f"inner_iter_{side}"] += n
        if n == 0:
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
        name="pgd",
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
