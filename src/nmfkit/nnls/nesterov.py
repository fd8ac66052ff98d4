"""Nesterov optimal-gradient kernel (NeNMF) for the Gram-form NNLS problem.

Solves (or improves)::

    min_{A ≥ 0}  f(A) = ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

(``A`` k × p, ``G`` k × k, ``B`` k × p; see :mod:`nmfkit.nnls.hals`) by the
optimal gradient method of N. Guan, D. Tao, Z. Luo and B. Yuan, "NeNMF: an
optimal gradient method for non-negative matrix factorization", IEEE Trans.
Signal Processing 60 (2012), with a function-value restart (O'Donoghue &
Candès 2015) that makes every iterate decrease ``f``.
"""

from __future__ import annotations

import math
from typing import Any

from ._xp import _diagonal, kernel_namespace, vdot

__all__ = ["nesterov_nnls"]


def nesterov_nnls(
    G: Any,
    B: Any,
    A0: Any,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_iter: int = 1000,
    tol: float = 1e-8,
    min_iter: int = 10,
) -> tuple[Any, int]:
    """Improve ``A0`` by Nesterov's optimal gradient method (NeNMF's inner solver).

    With ``L = ‖G‖₂ + l2`` (the Lipschitz constant of ``∇f``), ``Z₀ = A₀``
    and ``α₀ = 1``, iteration ``j`` does::

        A_j     = max(0, Z_j − ∇f(Z_j) / L)
        α_{j+1} = (1 + √(4α_j² + 1)) / 2
        Z_{j+1} = A_j + (α_j − 1)/α_{j+1} · (A_j − A_{j−1})

    One product with ``G`` per iteration suffices: ``G Z`` follows from
    ``G A_j`` and ``G A_{j−1}`` by linearity. The change of the objective
    ``f(A_j) − f(A_{j−1})`` is computed exactly from these products at
    O(kp) cost (as ``⟨∇f(A_{j−1}), D⟩ + ½⟨D, (G + l2 I) D⟩``,
    ``D = A_j − A_{j−1}``, free of the cancellation of a difference of
    objective values); when it would be positive, the momentum is reset
    (``α = 1``) and a plain projected-gradient step is taken from
    ``A_{j−1}`` instead, which cannot increase ``f`` (step ``1/L``). The
    iterates ``A_j`` are therefore monotone. When even that step fails to
    decrease ``f`` (round-off level), the kernel stops.

    After at least ``min_iter`` iterations, the iteration stops when the
    projected gradient ``‖∇ᴾf(A_j)‖_F`` is at most ``tol`` (an absolute
    threshold; NeNMF's outer loop sets it relative to the initial projected
    gradient and adapts it, see :func:`nmfkit.solvers.nesterov.solve_nesterov`)
    or below the round-off level of the computed gradient,
    ``ε_mach·((‖G‖_F + l2)‖A‖_F + ‖B‖_F)``, whichever is larger. When
    ``A0`` is already below that round-off level, it is returned at once
    (``n_iter = 0``).
    NeNMF evaluates the rule at the extrapolated point ``Z``; here it is
    evaluated at ``A_j``, the point returned. Rows whose Gram diagonal
    ``G[t, t] + l2`` is 0 (dead components) are left unchanged.

    Parameters
    ----------
    G : ndarray of shape (k, k)
        Symmetric positive semi-definite Gram matrix.
    B : ndarray of shape (k, p)
        Linear term.
    A0 : ndarray of shape (k, p)
        Non-negative starting point (not modified).
    l1, l2 : float, default 0
        Elastic-net weights.
    max_iter : int, default 1000
        Maximum number of iterations (NeNMF's ``MaxIter``).
    tol : float, default 1e-8
        Absolute tolerance on the projected gradient's Frobenius norm.
    min_iter : int, default 10
        Iterations done before the stopping rule is checked (NeNMF's ``MinIter``).

    Returns
    -------
    A : ndarray of shape (k, p)
        The improved iterate (a new array).
    n_iter : int
        Number of iterations performed.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[2.0, 0.0], [0.0, 1.0]]); B = np.array([[4.0], [-1.0]])
    >>> A, n = nesterov_nnls(G, B, np.ones((2, 1)), tol=1e-12)
    >>> np.round(A.ravel(), 8).tolist()
    [2.0, 0.0]
    """
    xp, A, G, B = kernel_namespace(A0, G, B)
    if max_iter <= 0 or A.shape[0] * A.shape[1] == 0:
        return A, 0
    live = _diagonal(xp, G) + l2 > 0
    if not live.any():
        return A, 0
    frozen = None if live.all() else xp.asarray(~live, device=_device(A))[:, None]
    L = float(xp.linalg.matrix_norm(G, ord=2)) + l2

    def gradient(GA: Any, A: Any) -> Any:
        grad = GA - B
        if l1:
            grad = grad + l1
        if l2:
            grad = grad + l2 * A
        if frozen is not None:
            grad = xp.where(frozen, 0.0, grad)
        return grad

    def step(GZ: Any, Z: Any) -> Any:
        return xp.clip(Z - gradient(GZ, Z) / L, min=0.0)

    def change(GY: Any, Y: Any, grad: Any) -> float:
        # f(Y) − f(A) = ⟨∇f(A), D⟩ + ½⟨D, (G + l2 I) D⟩ with D = Y − A, from
        # products already at hand; unlike a difference of two values of f
        # it has no cancellation, so it stays reliable close to the optimum.
        D = Y - A
        QD = GY - GA
        if l2:
            QD = QD + l2 * D
        return vdot(xp, grad + 0.5 * QD, D)

    eps = float(xp.finfo(A.dtype).eps)
    normG = vdot(xp, G, G) ** 0.5 + l2
    normB = vdot(xp, B, B) ** 0.5

    def projected_norm(grad: Any) -> float:
        pg = xp.where(A > 0, grad, xp.clip(grad, max=0.0))
        return math.sqrt(vdot(xp, pg, pg))

    def noise_floor() -> float:
        return eps * (normG * vdot(xp, A, A) ** 0.5 + normB)

    GA = G @ A
    grad = gradient(GA, A)
    if projected_norm(grad) <= noise_floor():
        return A, 0  # already optimal to round-off: iterating cannot help
    Z, GZ = A, GA
    t = 1.0
    n_iter = 0
    min_iter = min(min_iter, max_iter)
    while n_iter < max_iter:
        n_iter += 1
        Y = step(GZ, Z)
        GY = G @ Y
        if change(GY, Y, grad) > 0.0:
            # Momentum overshot: restart with a plain gradient step from A.
            t = 1.0
            Y = xp.clip(A - grad / L, min=0.0)
            GY = G @ Y
            if change(GY, Y, grad) > 0.0:
                break  # round-off level: no decrease possible
            Z, GZ = Y, GY
        else:
            t_next = 0.5 * (1.0 + math.sqrt(4.0 * t * t + 1.0))
            c = (t - 1.0) / t_next
            Z = (Y - A) * c + Y
            GZ = (GY - GA) * c + GY
            t = t_next
        A, GA = Y, GY
        grad = gradient(GA, A)
        if n_iter >= min_iter and projected_norm(grad) <= max(tol, noise_floor()):
            break
    return A, n_iter


def _device(a: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(a)
