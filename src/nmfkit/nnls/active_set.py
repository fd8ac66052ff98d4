"""Lawson–Hanson active-set method for the Gram-form NNLS problem.

Solves exactly, column by column, ::

    min_{A ≥ 0}  ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

(see :mod:`nmfkit.nnls.hals` for the shared kernel contract) with the
active-set algorithm of Lawson & Hanson (1974, ch. 23), written on the
Gram matrices and run on all columns in lock step with the column grouping
of Van Benthem & Keenan (2004, "fast combinatorial NNLS"): every step
solves the unconstrained problems on the current passive sets, one
factorization per distinct passive set.

For one column the iterate ``x`` is always feasible and the objective never
increases:

* *inner step*: ``s = G_FF⁻¹ b_F`` on the passive set ``F``; if ``s_F > 0``
  then ``x ← s``, otherwise move from ``x`` towards ``s`` until the first
  variable hits zero and drop the variables at zero from ``F``;
* *outer step* (when ``x`` solves the problem on ``F``): with the negative
  gradient ``w = b − G x``, stop when ``w_{~F} ≤ 0`` (KKT), else add the
  index of the largest ``w`` to ``F``.
"""

from __future__ import annotations

import numpy as np

from .bpp import _REL_TOL, _grouped_solve, exact_nnls_driver

__all__ = ["active_set_nnls"]


def _lawson_hanson(G: np.ndarray, Bt: np.ndarray, X: np.ndarray, max_iter: int) -> np.ndarray:
    """Lock-step Lawson–Hanson, one problem per row, from the feasible ``X`` (p × k, modified)."""
    p, k = Bt.shape
    gmax = float(np.max(np.diag(G)))
    bmax = np.max(np.abs(Bt), axis=1, initial=0.0)
    P = X > 0
    # Rows whose iterate solves the equality-constrained problem on P
    # ("outer" phase); the others first run inner steps. Cold rows
    # (empty P, X = 0) trivially solve it.
    outer = ~P.any(axis=1)
    active = np.ones(p, dtype=bool)
    last = np.full(p, -1, dtype=np.intp)  # index added by the last outer step
    for _ in range(max_iter):
        # Outer step on the rows that are optimal on their passive set.
        oc = np.flatnonzero(outer & active)
        if oc.size:
            Xo = X[oc]
            W = Bt[oc] - Xo @ G
            tol_w = _REL_TOL * (bmax[oc] + gmax * np.sum(Xo, axis=1))
            W[P[oc]] = -np.inf
            j = np.argmax(W, axis=1)
            done = W[np.arange(oc.size), j] <= tol_w
            active[oc[done]] = False
            grow = oc[~done]
            P[grow, j[~done]] = True
            last[grow] = j[~done]
            outer[grow] = False
        ic = np.flatnonzero(active)
        if ic.size == 0:
            break
        # Inner step: unconstrained solve on the passive sets (grouped).
        Pc = P[ic]
        S = _grouped_solve(G, Bt[ic], Pc)
        bad = Pc & (S <= 0)
        infeas = bad.any(axis=1)
        ok = ~infeas
        X[ic[ok]] = S[ok]
        outer[ic[ok]] = True
        last[ic[ok]] = -1
        if not infeas.any():
            continue
        sub = np.flatnonzero(infeas)
        rows = ic[sub]
        Xi, Si, Bi = X[rows], S[sub], bad[sub]
        gap = Xi - Si
        ratio = np.where(Bi, Xi / np.where(Bi & (gap > 0), gap, 1.0), np.inf)
        r = np.argmin(ratio, axis=1)
        alpha = ratio[np.arange(rows.size), r]
        # A just-added variable whose unconstrained value is not positive
        # means the multiplier test was decided by round-off: stop there.
        stuck = (alpha <= 0) & (last[rows] >= 0)
        if stuck.any():
            sr = rows[stuck]
            P[sr, last[sr]] = False
            active[sr] = False
        mv = ~stuck
        rows, Xi, Si, r, alpha = rows[mv], Xi[mv], Si[mv], r[mv], alpha[mv]
        Xi += alpha[:, None] * (Si - Xi)
        Xi[np.arange(rows.size), r] = 0.0
        tol_x = _REL_TOL * np.max(np.abs(Xi), axis=1, initial=0.0)
        keep = P[rows] & (Xi > tol_x[:, None])
        Xi[~keep] = 0.0
        X[rows] = Xi
        P[rows] = keep
    return X


def active_set_nnls(
    G: np.ndarray,
    B: np.ndarray,
    A0: np.ndarray | None = None,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_iter: int | None = None,
) -> np.ndarray:
    """Exact Gram-form NNLS by the Lawson–Hanson active-set method.

    Solves, independently for every column of ``A`` (k × p), ::

        min_{A ≥ 0}  ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

    running Lawson–Hanson on all columns in lock step; columns with equal
    passive sets share one factorization. ``l1`` enters as ``B − l1`` and
    ``l2`` as ``G + l2·I``.

    Parameters
    ----------
    G : ndarray of shape (k, k)
        Symmetric positive semi-definite Gram matrix (e.g. ``WᵀW``).
    B : ndarray of shape (k, p)
        Linear term (e.g. ``WᵀX``).
    A0 : ndarray of shape (k, p), optional
        Warm start: ``max(A0, 0)`` is the feasible starting point and its
        support the initial passive set; a column that already satisfies
        the optimality conditions (to round-off) is returned unchanged. The
        iterates never increase the objective, so the result is never worse
        than the warm start.
    l1, l2 : float, default 0
        L1 and squared-L2 penalty weights (≥ 0).
    max_iter : int, optional
        Bound on lock-step iterations, each one grouped solve (default
        ``10·k + 50``; Lawson–Hanson need about ``2·|F|`` from a cold
        start). Columns not finished then keep their current feasible
        iterate.

    Returns
    -------
    A : ndarray of shape (k, p)
        The minimiser, ``A ≥ 0``, in the dtype of ``A0`` (or ``B``).

    Notes
    -----
    A component whose Gram diagonal (plus ``l2``) is zero — a dead
    component of NMF — has no quadratic term; its row is set to 0. Singular
    passive sub-matrices are solved by a minimum-norm least-squares
    fallback, so the output is always finite. The kernel is pure.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> B = np.array([[3.0, -1.0], [3.0, 4.0]])
    >>> active_set_nnls(G, B).round(6).tolist()
    [[1.0, 0.0], [1.0, 2.0]]
    """
    def cold(Gl: np.ndarray, Bl: np.ndarray, it: int) -> np.ndarray:
        return _lawson_hanson(Gl, Bl, np.zeros(Bl.shape), it)

    def warm(Gl: np.ndarray, Bs: np.ndarray, start: np.ndarray, it: int) -> np.ndarray:
        return _lawson_hanson(Gl, Bs, start, it)

    return exact_nnls_driver(G, B, A0, l1, l2, max_iter, cold, warm)
