"""ADMM kernel for the Gram-form NNLS problem (Huang, Sidiropoulos & Liavas 2016).

Solves (or improves)::

    min_{A ≥ 0}  ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

(``A`` k × p, ``G`` k × k, ``B`` k × p; see :mod:`nmfkit.nnls.hals`) by the
alternating direction method of multipliers on the splitting ``A = Ã``: the
quadratic goes to ``Ã``, the constraint and the penalties to ``A``. With the
scaled dual variable ``U`` and the penalty parameter ``ρ``, one iteration is::

    Ã ← (G + ρI)⁻¹ (B + ρ(A + U))              (one cached Cholesky factor)
    A ← max(0, ρ(Ã − U) − l1) / (ρ + l2)        (proximal step of the penalties)
    U ← U + A − Ã

This is Algorithm 1 of K. Huang, N. D. Sidiropoulos and A. P. Liavas, "A
flexible and efficient algorithmic framework for constrained matrix and tensor
factorization", IEEE Trans. Signal Process. 64 (2016), written for ``A`` = the
transposed factor of the paper. ``ρ = trace(G)/k`` by default (their choice,
which makes ``G + ρI`` well conditioned), the Cholesky factor of ``G + ρI`` is
computed once per call, and the dual variable ``U`` is both an input and an
output so a caller can warm-start it from one outer iteration to the next (the
paper's key to needing only a few inner iterations). The kernel is a pure
function: it keeps no state and does not modify its arguments.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

__all__ = ["admm_nnls"]


def admm_nnls(
    G: np.ndarray,
    B: np.ndarray,
    A: np.ndarray,
    U: np.ndarray | None = None,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    rho: float | None = None,
    max_iter: int = 10,
    tol: float = 1e-2,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Improve ``A`` by ADMM iterations with a warm-started dual ``U``.

    The iteration stops after ``max_iter`` iterations or when both relative
    residuals of Huang, Sidiropoulos & Liavas are at most ``tol``::

        primal  ‖A − Ã‖_F ≤ tol·‖A‖_F
        dual    ‖A − A_prev‖_F ≤ tol·‖U‖_F

    (a zero ``A`` or ``U`` counts as converged only when the matching
    residual is zero too).

    Parameters
    ----------
    G : ndarray of shape (k, k)
        Symmetric positive semi-definite Gram matrix.
    B : ndarray of shape (k, p)
        Linear term.
    A : ndarray of shape (k, p)
        Starting point (not modified); the primal warm start.
    U : ndarray of shape (k, p), optional
        Scaled dual variable from a previous call (not modified); zeros when
        omitted.
    l1, l2 : float, default 0
        Penalty weights.
    rho : float, optional
        ADMM penalty parameter; ``trace(G)/k`` when omitted (1 when that is 0).
    max_iter : int, default 10
        Maximum number of ADMM iterations.
    tol : float, default 1e-2
        Threshold on both relative residuals.

    Returns
    -------
    A : ndarray of shape (k, p)
        The non-negative (proximal) iterate.
    U : ndarray of shape (k, p)
        The updated scaled dual variable, to pass to the next call.
    n_iter : int
        ADMM iterations performed.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[2.0, 0.0], [0.0, 1.0]]); B = np.array([[4.0], [-1.0]])
    >>> A, U, n = admm_nnls(G, B, np.zeros((2, 1)), max_iter=500, tol=1e-10)
    >>> np.round(A.ravel(), 8).tolist()
    [2.0, 0.0]
    """
    k = G.shape[0]
    dtype = np.result_type(A.dtype, G.dtype, B.dtype)
    if rho is None:
        rho = float(np.trace(G)) / k
    rho = float(rho)
    if not rho > 0.0 or not np.isfinite(rho):
        rho = 1.0
    factor = cho_factor(np.asarray(G, dtype=dtype) + rho * np.eye(k, dtype=dtype), lower=True)
    A = np.array(A, dtype=dtype)
    U = np.zeros_like(A) if U is None else np.array(U, dtype=dtype)
    shrink = 1.0 / (rho + l2)
    tol2 = float(tol) ** 2
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is returned
        A_prev = A
        At = cho_solve(factor, B + rho * (A + U), check_finite=False)
        A = At - U
        if l1:
            A -= l1 / rho
        if l2:
            A *= rho * shrink
        np.maximum(A, 0.0, out=A)
        R = A - At
        U += R
        r_num = float(np.vdot(R, R))
        r_den = float(np.vdot(A, A))
        D = A - A_prev
        s_num = float(np.vdot(D, D))
        s_den = float(np.vdot(U, U))
        if r_num <= tol2 * r_den and s_num <= tol2 * s_den:
            break
    return A, U, n_iter
