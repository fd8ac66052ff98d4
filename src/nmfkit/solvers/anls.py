"""ANLS: alternating non-negative least squares with exact NNLS sub-solves.

Each outer iteration solves the two convex sub-problems exactly (in our
orientation, X ≈ WH)::

    Wᵀ ← argmin_{A ≥ 0} ½⟨A, HHᵀ A⟩ − ⟨HXᵀ, A⟩ + l1_W ΣA + ½ l2_W ‖A‖²
    H  ← argmin_{A ≥ 0} ½⟨A, WᵀW A⟩ − ⟨WᵀX, A⟩ + l1_H ΣA + ½ l2_H ‖A‖²

warm-started from the current factor. Because every step is an exact
block minimisation, the objective is non-increasing and every limit point
is a stationary point (two-block Gauss–Seidel; Grippo & Sciandrone 2000).

* ``"anls_bpp"`` uses block principal pivoting with column grouping
  (:func:`nmfkit.nnls.bpp_nnls`; Kim & Park 2011);
* ``"active_set"`` uses Lawson–Hanson's active-set method on the Gram
  matrices (:func:`nmfkit.nnls.active_set_nnls`).

Both only touch ``X`` through ``XHᵀ`` and ``WᵀX``, so sparse ``X`` stays
sparse. Entry weights go through the shared weighted loop
(:func:`nmfkit.solvers._weighted.weighted_alternating`: an EM step for
dense weights, per-row Gram matrices for a sparsity pattern).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..nnls import active_set_nnls, bpp_nnls
from ._frobenius import alternating_frobenius
from ._registry import register_solver
from ._result import FitResult
from ._weighted import GRAM_KERNEL_WEIGHTS

__all__ = ["solve_anls_bpp", "solve_active_set"]


def _make_kernel(nnls: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Wrap an exact NNLS kernel in the ``alternating_frobenius`` contract."""

    def kernel(A, B, G, *, l1, l2, side, state):
        out = nnls(G, B, A, l1=l1, l2=l2)
        return np.ascontiguousarray(out, dtype=A.dtype)

    return kernel


def _run(
    nnls: Callable[..., np.ndarray],
    name: str,
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    penalties,
    weights,
    update_H: bool,
    max_iter: int,
    tol: float,
    max_time: float | None,
    callback,
    stop_rule: str,
    verbose: int,
    progress: bool,
) -> FitResult:
    return alternating_frobenius(
        X, W, H, kernel=_make_kernel(nnls), name=name, penalties=penalties,
        weights=weights, update_H=update_H, max_iter=max_iter, tol=tol, max_time=max_time,
        callback=callback, stop_rule=stop_rule, verbose=verbose, progress=progress,
    )


@register_solver(
    "anls_bpp",
    losses=("frobenius",),
    sparse=True,
    weights=True,
    weight_losses=("frobenius",),
    weight_method=GRAM_KERNEL_WEIGHTS,
    description="ANLS with block principal pivoting (Kim & Park)",
)
def solve_anls_bpp(
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
) -> FitResult:
    """Minimise ``½‖X − WH‖²_F`` (+ penalties) by ANLS with block principal pivoting.

    Each outer iteration computes ``HHᵀ``/``HXᵀ`` and solves the NNLS
    problem for W exactly with :func:`nmfkit.nnls.bpp_nnls` (warm-started
    from the current W), then the same for H with ``WᵀW``/``WᵀX``. Exact
    block minimisation makes the objective non-increasing; an iteration
    costs more than a HALS one but far fewer are needed near a solution.

    Parameters
    ----------
    X : ndarray or sparse matrix (n_samples, n_features)
    W, H : ndarray
        Starting factors (not modified).

    Other parameters are the common solver signature (see :func:`nmfkit.factorize`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 4)) @ rng.random((4, 20))
    >>> W0, H0 = rng.random((30, 4)), rng.random((4, 20))
    >>> res = solve_anls_bpp(X, W0, H0, max_iter=100, tol=0)
    >>> bool(res.loss < 1e-6 * res.loss_history[0])
    True
    """
    return _run(
        bpp_nnls, "anls_bpp", X, W, H, penalties=penalties, weights=weights,
        update_H=update_H, max_iter=max_iter, tol=tol, max_time=max_time,
        callback=callback, stop_rule=stop_rule, verbose=verbose, progress=progress,
    )


@register_solver(
    "active_set",
    losses=("frobenius",),
    sparse=True,
    weights=True,
    weight_losses=("frobenius",),
    weight_method=GRAM_KERNEL_WEIGHTS,
    description="ANLS with Lawson–Hanson active set on the Gram matrices",
)
def solve_active_set(
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
) -> FitResult:
    """Minimise ``½‖X − WH‖²_F`` (+ penalties) by ANLS with a Lawson–Hanson active set.

    Same alternating scheme as :func:`solve_anls_bpp`, with each NNLS
    sub-problem solved exactly by :func:`nmfkit.nnls.active_set_nnls`
    (warm-started from the current factor, columns grouped by passive set).
    The active-set method changes one variable per step, so it is slower
    than block principal pivoting when many variables change, but its
    iterates stay feasible and decrease the objective monotonically.

    Parameters
    ----------
    X : ndarray or sparse matrix (n_samples, n_features)
    W, H : ndarray
        Starting factors (not modified).

    Other parameters are the common solver signature (see :func:`nmfkit.factorize`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 4)) @ rng.random((4, 20))
    >>> W0, H0 = rng.random((30, 4)), rng.random((4, 20))
    >>> res = solve_active_set(X, W0, H0, max_iter=100, tol=0)
    >>> bool(res.loss < 1e-6 * res.loss_history[0])
    True
    """
    return _run(
        active_set_nnls, "active_set", X, W, H, penalties=penalties, weights=weights,
        update_H=update_H, max_iter=max_iter, tol=tol, max_time=max_time,
        callback=callback, stop_rule=stop_rule, verbose=verbose, progress=progress,
    )
