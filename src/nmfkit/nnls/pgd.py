"""Projected-gradient kernel (Lin 2007) for the Gram-form NNLS problem.

Solves (or improves)::

    min_{A ≥ 0}  f(A) = ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

(``A`` k × p, ``G`` k × k, ``B`` k × p; see :mod:`nmfkit.nnls.hals`) by the
projected-gradient method with an Armijo line search along the projection
arc of C.-J. Lin, "Projected gradient methods for non-negative matrix
factorization", Neural Computation 19 (2007), Algorithm 4 ("improved
projected gradient"). All ``p`` columns share one step size, and every
product goes through ``G`` and ``B``, so the same kernel serves dense,
sparse and streamed data.
"""

from __future__ import annotations

from typing import Any

from ._xp import _diagonal, kernel_namespace, vdot

__all__ = ["pgd_nnls"]

#: Lin's sufficient-decrease parameter σ and step-size factor β.
SIGMA = 0.01
BETA = 0.1
#: Trial steps per line search (Lin's code uses 20).
MAX_TRIALS = 20


def _projected_norm(xp: Any, A: Any, grad: Any) -> float:
    """``‖∇ᴾf(A)‖_F``: the gradient where ``A > 0``, its negative part where ``A = 0``."""
    pg = xp.where(A > 0, grad, xp.clip(grad, max=0.0))
    return vdot(xp, pg, pg) ** 0.5


def pgd_nnls(
    G: Any,
    B: Any,
    A0: Any,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> tuple[Any, int]:
    """Improve ``A0`` by Lin's projected gradient with Armijo search along the arc.

    Each iteration takes the step ``A⁺ = max(0, A − α ∇f(A))`` with the
    largest ``α`` of the form ``α_prev·βᵗ`` (``β = 0.1``, ``t ∈ ℤ``) found by
    Lin's search that satisfies the sufficient-decrease condition::

        f(A⁺) − f(A) ≤ σ ⟨∇f(A), A⁺ − A⟩,      σ = 0.01

    which, f being quadratic, is checked exactly: with ``d = A⁺ − A``,
    ``f(A⁺) − f(A) = ⟨∇f, d⟩ + ½⟨d, (G + l2 I) d⟩`` (one product with
    ``G`` per trial step; the gradient is then updated by the accepted
    step's product instead of being recomputed), and a zero step is never
    accepted. The step
    size is carried from one iteration to the next: when the carried ``α``
    already satisfies the condition it is multiplied by 10 while the
    condition keeps holding (and the step still changes), otherwise it is
    divided by 10 until it holds. Every accepted step therefore decreases
    ``f``; when 20 trial steps all fail (round-off level) the kernel stops.

    The iteration stops when the projected gradient ``‖∇ᴾf(A)‖_F`` (the
    gradient where ``A > 0``, its negative part where ``A = 0``) is at most
    ``tol`` — an absolute threshold; Lin's outer loop sets it relative to
    the initial gradient and adapts it (see :func:`nmfkit.solvers.pgd.solve_pgd`)
    — or below the round-off level of the computed gradient,
    ``ε_mach·((‖G‖_F + l2)‖A‖_F + ‖B‖_F)``, whichever is larger, or
    after ``max_iter`` iterations. Rows whose Gram diagonal
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
        Maximum number of projected-gradient iterations (Lin's 1000).
    tol : float, default 1e-8
        Absolute tolerance on the projected gradient's Frobenius norm.

    Returns
    -------
    A : ndarray of shape (k, p)
        The improved iterate (a new array).
    n_iter : int
        Number of projected-gradient iterations (line searches) performed;
        0 means ``A0`` already met the tolerance (Lin's ``iter == 1``).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[2.0, 0.0], [0.0, 1.0]]); B = np.array([[4.0], [-1.0]])
    >>> A, n = pgd_nnls(G, B, np.ones((2, 1)), tol=1e-12)
    >>> np.round(A.ravel(), 8).tolist()
    [2.0, 0.0]
    """
    xp, A, G, B = kernel_namespace(A0, G, B)
    if max_iter <= 0 or A.shape[0] * A.shape[1] == 0:
        return A, 0
    live = _diagonal(xp, G) + l2 > 0
    frozen = None if live.all() else xp.asarray(~live, device=_device(A))[:, None]

    def hess(D: Any) -> Any:
        QD = G @ D
        if l2:
            QD = QD + l2 * D
        return QD

    def gradient(A: Any) -> Any:
        grad = hess(A) - B
        if l1:
            grad = grad + l1
        if frozen is not None:
            grad = xp.where(frozen, 0.0, grad)
        return grad

    grad = gradient(A)
    alpha = 1.0
    n_iter = 0
    # Round-off level of the computed gradient: below it the projected
    # gradient is noise, so the tolerance is never taken smaller.
    eps = float(xp.finfo(A.dtype).eps)
    normG = vdot(xp, G, G) ** 0.5 + l2
    normB = vdot(xp, B, B) ** 0.5

    def solved(grad: Any) -> bool:
        floor = eps * (normG * vdot(xp, A, A) ** 0.5 + normB)
        return _projected_norm(xp, A, grad) <= max(tol, floor)

    while True:
        # The gradient is updated incrementally; confirm with a fresh one.
        if solved(grad) and solved(grad := gradient(A)):
            break
        if n_iter >= max_iter:
            break
        n_iter += 1
        accepted: tuple[Any, Any] | None = None
        previous: tuple[Any, Any] | None = None
        increase = False
        for trial in range(MAX_TRIALS):
            An = xp.clip(A - alpha * grad, min=0.0)
            d = An - A
            Qd = hess(d)
            gd = vdot(xp, grad, d)
            # f(An) − f(A) = gd + ½⟨d, Qd⟩ exactly (f is quadratic).
            suff = gd + 0.5 * vdot(xp, Qd, d) <= SIGMA * gd and gd < 0.0
            if trial == 0:
                increase = suff
            if not increase:
                if suff:
                    accepted = (An, Qd)
                    break
                alpha *= BETA
            else:
                if not suff or (previous is not None and bool(xp.all(previous[0] == An))):
                    accepted = previous
                    break
                previous = (An, Qd)
                alpha /= BETA
        else:
            if increase:
                accepted = previous
        if accepted is None:
            break  # no decrease possible at round-off level
        A, Qd = accepted
        grad = grad + Qd
        if frozen is not None:
            grad = xp.where(frozen, 0.0, grad)
    return A, n_iter


def _device(a: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(a)
