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

import numpy as np

__all__ = ["nesterov_nnls"]


def nesterov_nnls(
    G: np.ndarray,
    B: np.ndarray,
    A0: np.ndarray,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_iter: int = 1000,
    tol: float = 1e-8,
    min_iter: int = 10,
) -> tuple[np.ndarray, int]:
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
    dtype = np.result_type(A0, G, B, np.float32)
    A = np.array(A0, dtype=dtype, order="C", copy=True)
    G = np.asarray(G, dtype=dtype)
    B = np.asarray(B, dtype=dtype)
    if max_iter <= 0 or A.size == 0:
        return A, 0
    live = (np.diag(G) + l2) > 0
    if not live.any():
        return A, 0
    frozen = None if live.all() else ~live
    L = float(np.linalg.norm(G, 2)) + l2

    def gradient(GA: np.ndarray, A: np.ndarray) -> np.ndarray:
        grad = GA - B
        if l1:
            grad += l1
        if l2:
            grad += l2 * A
        if frozen is not None:
            grad[frozen] = 0.0
        return grad

    def step(GZ: np.ndarray, Z: np.ndarray) -> np.ndarray:
        Y = Z - gradient(GZ, Z) / L
        np.maximum(Y, 0.0, out=Y)
        return Y

    def change(GY: np.ndarray, Y: np.ndarray, grad: np.ndarray) -> float:
        # f(Y) − f(A) = ⟨∇f(A), D⟩ + ½⟨D, (G + l2 I) D⟩ with D = Y − A, from
        # products already at hand; unlike a difference of two values of f
        # it has no cancellation, so it stays reliable close to the optimum.
        D = Y - A
        QD = GY - GA
        if l2:
            QD += l2 * D
        return float(np.vdot(grad + 0.5 * QD, D))

    eps = float(np.finfo(dtype).eps)
    normG = float(np.linalg.norm(G)) + l2
    normB = float(np.linalg.norm(B))
    def projected_norm(grad: np.ndarray) -> float:
        pg = np.where(A > 0, grad, np.minimum(grad, 0.0))
        return math.sqrt(float(np.vdot(pg, pg)))

    def noise_floor() -> float:
        return eps * (normG * float(np.linalg.norm(A)) + normB)

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
            Y = A - grad / L
            np.maximum(Y, 0.0, out=Y)
            GY = G @ Y
            if change(GY, Y, grad) > 0.0:
                break  # round-off level: no decrease possible
            Z, GZ = Y, GY
        else:
            t_next = 0.5 * (1.0 + math.sqrt(4.0 * t * t + 1.0))
            c = (t - 1.0) / t_next
            Z = Y - A
            Z *= c
            Z += Y
            GZ = GY - GA
            GZ *= c
            GZ += GY
            t = t_next
        A, GA = Y, GY
        grad = gradient(GA, A)
        if n_iter >= min_iter and projected_norm(grad) <= max(tol, noise_floor()):
            break
    return A, n_iter
