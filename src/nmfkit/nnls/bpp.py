"""Block principal pivoting (Kim & Park 2011) for the Gram-form NNLS problem.

Solves exactly, column by column, ::

    min_{A ≥ 0}  ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

(see :mod:`nmfkit.nnls.hals` for the shared kernel contract) with the block
principal pivoting method of J. Kim and H. Park, "Fast nonnegative matrix
factorization: an active-set-like method and comparisons", SIAM J. Sci.
Comput. 33(6), 2011 (Algorithm 2, multiple right-hand sides).

For one column ``b`` with passive set ``F`` (the variables allowed to be
non-zero) the candidate solution is ``x_F = G_FF⁻¹ b_F``, ``x_{~F} = 0``
with dual ``y = G x − b`` (``y_F = 0``). The column is optimal when
``x_F ≥ 0`` and ``y_{~F} ≥ 0``. Otherwise every infeasible variable is
exchanged between the two sets at once (full exchange); when that fails
to reduce the number of infeasible variables ``p̄ = 3`` times in a row, the
backup rule exchanges only the infeasible variable of largest index until
the count drops again, which guarantees finite termination.

Columns sharing a passive set share one factorization of ``G_FF``
(column grouping, Van Benthem & Keenan 2004); large groups are solved with
one multi-right-hand-side Cholesky solve each, the many small ones with one
batched factorization, so no Python loop runs over the columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

__all__ = ["bpp_nnls"]

#: Relative tolerance used to decide the sign of primal/dual variables.
_REL_TOL = 1e-12
#: Largest number of float64 entries in one batch of stacked k × k matrices.
_BATCH_ENTRIES = 1 << 22
#: Groups with at least this many columns are factorized and solved on their own.
_BIG_GROUP = 16
#: Backup-rule patience (Kim & Park's p̄).
_P_BAR = 3


def _prepare(
    G: np.ndarray, B: np.ndarray, l1: float, l2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float64 ``G + l2·I``, ``(B − l1)ᵀ`` (one problem per row) and the live mask.

    The kernels work on the transposed right-hand sides, shape (p, k) in C
    order, so that selecting columns of the problem is a contiguous row
    selection. A component whose (regularised) Gram diagonal is not
    positive is dead: the objective does not depend on it quadratically, so
    it is fixed at 0 and removed from the problem.
    """
    G = np.array(G, dtype=np.float64)
    B = np.asarray(B)
    if G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise ValueError(f"G must be a square matrix, got shape {G.shape}")
    if B.ndim != 2 or B.shape[0] != G.shape[0]:
        raise ValueError(f"B must have shape ({G.shape[0]}, p), got {B.shape}")
    Bt = np.array(B.T, dtype=np.float64, order="C")
    if l2:
        G.flat[:: G.shape[0] + 1] += l2
    if l1:
        Bt -= l1
    live = np.diag(G) > 0
    return G, Bt, live


def _result_dtype(B: np.ndarray, A0: np.ndarray | None) -> np.dtype:
    ref = A0 if A0 is not None else B
    dt = np.asarray(ref).dtype
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def _group_rows(P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group the equal rows of the boolean matrix ``P`` (m × k).

    Returns ``(first, inverse)``: ``first[g]`` is one row of group ``g`` and
    ``inverse[j]`` the group of row ``j``.
    """
    packed = np.packbits(P, axis=1)  # (m, nbytes)
    nb = packed.shape[1]
    if nb <= 8:
        buf = np.zeros((packed.shape[0], 8), dtype=np.uint8)
        buf[:, :nb] = packed
        keys = buf.view(np.uint64).ravel()
    else:
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, nb))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first, inverse.ravel()


_POTRF, _POTRS = sla.get_lapack_funcs(("potrf", "potrs"), dtype=np.float64)


def _solve_one(G: np.ndarray, Bt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Solve ``G_FF x_F = b_F`` for the ``s`` rows of ``Bt`` (s × k) sharing ``F = mask``.

    Cholesky of the reduced ``G_FF`` serves all right-hand sides. When it
    fails or a pivot falls below ``1e-12·max diag`` (singular ``G_FF``, e.g.
    duplicated components), the minimum-norm least-squares solution is used
    instead, so the result is always finite. Returns (s × k).
    """
    out = np.zeros_like(Bt)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return out
    sub = G[np.ix_(idx, idx)]
    rhs = Bt[:, idx].T
    c, info = _POTRF(sub, lower=True, clean=False)
    if info == 0 and np.min(np.diag(c)) ** 2 > _REL_TOL * np.max(np.diag(sub)):
        sol, info = _POTRS(c, rhs, lower=True)
    else:
        info = -1
    if info != 0 or not np.all(np.isfinite(sol)):
        sol = sla.lstsq(sub, rhs, check_finite=False, lapack_driver="gelsd")[0]
        if not np.all(np.isfinite(sol)):  # pragma: no cover - defensive
            sol = np.zeros_like(rhs)
    out[:, idx] = sol.T
    return out


def _factor_masked(
    G: np.ndarray, idx: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Batched Cholesky factors of the reduced passive matrices of ``ng`` groups.

    Group ``g`` has passive indices ``idx[g, valid[g]]`` (listed first, then
    padding); its matrix is ``G_FF`` bordered by the identity on the padding,
    of the common size ``f = idx.shape[1]``. Returns ``(L, bad)``; ``bad[g]``
    flags a ``G_FF`` that is not numerically positive definite (the
    factorization failed or a pivot fell below ``1e-12·max diag``), whose
    factor is replaced by the identity.
    """
    ng, f = idx.shape
    Vf = valid.astype(np.float64)
    M = G[idx[:, :, None], idx[:, None, :]]
    M *= Vf[:, :, None]
    M *= Vf[:, None, :]
    diag = M.reshape(ng, f * f)[:, :: f + 1]
    diag += 1.0 - Vf
    bad = np.zeros(ng, dtype=bool)
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        L = np.empty_like(M)
        for g in range(ng):
            c, info = _POTRF(M[g], lower=True, clean=True)
            L[g] = c
            bad[g] = info != 0
    piv = np.diagonal(L, axis1=1, axis2=2) ** 2
    bad |= np.any(~(piv > _REL_TOL * np.max(diag, axis=1, keepdims=True)), axis=1)
    if bad.any():
        L[bad] = np.eye(f)
    return L, bad


def _cho_solve_rows(L: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Solve ``L_j L_jᵀ x_j = r_j`` for every row ``j`` of ``R`` (m, f), ``L`` (m, f, f).

    Forward and back substitution vectorized over the rows: 2f NumPy steps
    of ``O(m·f)`` each.
    """
    f = L.shape[1]
    d = np.diagonal(L, axis1=1, axis2=2)
    Z = np.empty_like(R)
    for i in range(f):
        acc = R[:, i]
        if i:
            acc = acc - np.einsum("cj,cj->c", L[:, i, :i], Z[:, :i])
        Z[:, i] = acc / d[:, i]
    X = np.empty_like(R)
    for i in range(f - 1, -1, -1):
        acc = Z[:, i]
        if i < f - 1:
            acc = acc - np.einsum("cj,cj->c", L[:, i + 1 :, i], X[:, i + 1 :])
        X[:, i] = acc / d[:, i]
    return X


def _grouped_solve(G: np.ndarray, Bt: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``X`` (m × k) with ``X[j, F_j] = G_{F_j F_j}⁻¹ Bt[j, F_j]`` and zeros elsewhere.

    Problems (rows) with equal passive sets ``F_j = P[j]`` are grouped so
    each distinct ``G_FF`` is factorized once (Van Benthem & Keenan's
    combinatorial grouping):

    * a group of at least ``_BIG_GROUP`` problems gets its own Cholesky
      factorization of ``G_FF`` and one multi-right-hand-side solve (BLAS-3);
    * the many small groups, sorted by ``|F|``, are factorized in batches of
      reduced ``|F|``-sized matrices by one batched Cholesky call each and
      solved by substitution vectorized over their problems,

    so no Python loop runs over the problems or over the small groups.
    """
    m, k = Bt.shape
    X = np.zeros((m, k))
    if m == 0 or k == 0:
        return X
    first, inv = _group_rows(P)
    ng = first.size
    Pg = P[first]  # (ng, k)
    fsize = Pg.sum(axis=1)
    counts = np.bincount(inv, minlength=ng)
    big = (fsize > 0) & (counts >= _BIG_GROUP)
    if big.any():
        order = np.argsort(inv, kind="stable")
        starts = np.zeros(ng + 1, dtype=np.intp)
        np.cumsum(counts, out=starts[1:])
        for g in np.flatnonzero(big):
            rows = order[starts[g] : starts[g + 1]]
            X[rows] = _solve_one(G, Bt[rows], Pg[g])
    small = np.flatnonzero((fsize > 0) & ~big)
    if small.size == 0:
        return X
    # Small groups by decreasing |F|; their rows sorted the same way.
    small = small[np.argsort(-fsize[small], kind="stable")]
    rank = np.full(ng, -1, dtype=np.intp)
    rank[small] = np.arange(small.size)
    rrank = rank[inv]
    srows = np.flatnonzero(rrank >= 0)
    srows = srows[np.argsort(rrank[srows], kind="stable")]
    srank = rrank[srows]
    # Passive indices of each group first (stable), then the others.
    perm = np.argsort(~Pg, axis=1, kind="stable")
    i0 = 0
    while i0 < small.size:
        f = int(fsize[small[i0]])
        n_g = max(1, _BATCH_ENTRIES // (f * f * _BIG_GROUP))
        gs = small[i0 : i0 + n_g]
        lo, hi = np.searchsorted(srank, [i0, i0 + gs.size])
        rows, local = srows[lo:hi], srank[lo:hi] - i0
        idx = perm[gs, :f]
        valid = np.arange(f) < fsize[gs][:, None]
        L, bad = _factor_masked(G, idx, valid)
        I, V = idx[local], valid[local]
        R = Bt[rows[:, None], I]
        R *= V
        S = _cho_solve_rows(L[local], R)
        X[np.broadcast_to(rows[:, None], I.shape)[V], I[V]] = S[V]
        for j in np.flatnonzero(bad):
            grows = rows[local == j]
            X[grows] = _solve_one(G, Bt[grows], Pg[gs[j]])
        i0 += gs.size
    return X


def _tolerances(G: np.ndarray, Bt: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem thresholds below which a primal/dual value counts as zero."""
    gmax = float(np.max(np.diag(G))) if G.size else 0.0
    xabs = np.abs(X)
    tol_x = _REL_TOL * np.max(xabs, axis=1, initial=0.0)
    tol_y = _REL_TOL * (np.max(np.abs(Bt), axis=1, initial=0.0) + gmax * np.sum(xabs, axis=1))
    return tol_x[:, None], tol_y[:, None]


def _optimal_rows(G: np.ndarray, Bt: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Rows of the feasible ``X`` that already satisfy the KKT conditions.

    ``x ≥ 0``, ``∇ = xG − b`` vanishes on ``x > 0`` and is ``≥ 0`` elsewhere,
    both up to the round-off thresholds of :func:`_tolerances`. Such rows
    are returned unchanged by the kernels, which makes an optimal warm start
    a fixed point (bit for bit).
    """
    Y = X @ G - Bt
    _, tol_y = _tolerances(G, Bt, X)
    pos = X > 0
    return ~np.any(np.where(pos, np.abs(Y), -Y) > tol_y, axis=1)


def _objective_rows(G: np.ndarray, Bt: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Per-problem ``½ xᵀGx − bᵀx`` (rows of ``X`` and ``Bt``)."""
    return np.einsum("ij,ij->i", X, 0.5 * (X @ G) - Bt)


def _bpp_core(
    G: np.ndarray, Bt: np.ndarray, P: np.ndarray, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Block principal pivoting, one problem per row of ``Bt`` (positive Gram diagonal).

    ``P`` (p × k) is the initial passive set (modified). Returns
    ``(X, converged)`` with ``X`` (p × k) clipped at zero.
    """
    p, k = Bt.shape
    if P.any():
        X = _grouped_solve(G, Bt, P)
        Y = X @ G - Bt
    else:
        X = np.zeros((p, k))
        Y = -Bt
    Y[P] = 0.0
    tol_x, tol_y = _tolerances(G, Bt, X)
    infeas = P & (X < -tol_x)
    nonopt = ~P & (Y < -tol_y)
    flip = infeas | nonopt
    n_bad = flip.sum(axis=1)
    ninf = np.full(p, k + 1, dtype=np.intp)
    pcount = np.full(p, _P_BAR, dtype=np.intp)
    rows = np.flatnonzero(n_bad)
    flip = flip[rows]
    it = 0
    while rows.size and it < max_iter:
        it += 1
        bad = n_bad[rows]
        better = bad < ninf[rows]
        patient = ~better & (pcount[rows] >= 1)
        backup = ~better & ~patient
        ninf[rows[better]] = bad[better]
        pcount[rows[better]] = _P_BAR
        pcount[rows[patient]] -= 1
        # Full exchange where the infeasible count dropped or patience remains;
        # otherwise the backup rule exchanges only the largest infeasible index.
        if backup.any():
            fb = flip[backup]
            last = k - 1 - np.argmax(fb[:, ::-1], axis=1)
            fb[:] = False
            fb[np.arange(last.size), last] = True
            flip[backup] = fb
        Psub = P[rows] ^ flip
        P[rows] = Psub
        Bs = Bt[rows]
        Xs = _grouped_solve(G, Bs, Psub)
        Ys = Xs @ G - Bs
        Ys[Psub] = 0.0
        X[rows] = Xs
        tx, ty = _tolerances(G, Bs, Xs)
        flip = (Psub & (Xs < -tx)) | (~Psub & (Ys < -ty))
        nb = flip.sum(axis=1)
        n_bad[rows] = nb
        keep = nb > 0
        rows, flip = rows[keep], flip[keep]
    converged = np.ones(p, dtype=bool)
    converged[rows] = False
    np.maximum(X, 0.0, out=X)
    return X, converged


def bpp_nnls(
    G: np.ndarray,
    B: np.ndarray,
    A0: np.ndarray | None = None,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_iter: int | None = None,
) -> np.ndarray:
    """Exact Gram-form NNLS by block principal pivoting with column grouping.

    Solves, independently for every column of ``A`` (k × p), ::

        min_{A ≥ 0}  ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

    by Kim & Park's block principal pivoting: full exchange of all
    infeasible variables, with the backup rule (``p̄ = 3``; single exchange
    of the largest infeasible index while the number of infeasible
    variables does not decrease). Columns with equal passive sets share one
    factorization. ``l1`` enters as ``B − l1`` and ``l2`` as ``G + l2·I``.

    Parameters
    ----------
    G : ndarray of shape (k, k)
        Symmetric positive semi-definite Gram matrix (e.g. ``WᵀW``).
    B : ndarray of shape (k, p)
        Linear term (e.g. ``WᵀX``).
    A0 : ndarray of shape (k, p), optional
        Warm start: the initial passive set is ``A0 > 0``, and a column of
        ``A0`` that already satisfies the optimality conditions (to
        round-off) is returned unchanged. Otherwise the result does not
        depend on it (up to round-off, or among the minimisers of a singular
        problem); it only saves pivoting steps.
    l1, l2 : float, default 0
        L1 and squared-L2 penalty weights (≥ 0).
    max_iter : int, optional
        Bound on pivoting steps (default ``10·k + 50``; Kim & Park report
        a handful in practice). A column still infeasible then is clipped
        at zero, and replaced by its ``A0`` column if that has a lower
        objective, so the result never does worse than the warm start.

    Returns
    -------
    A : ndarray of shape (k, p)
        The minimiser, ``A ≥ 0``, in the dtype of ``A0`` (or ``B``).

    Notes
    -----
    A component whose Gram diagonal (plus ``l2``) is zero — a dead
    component of NMF — has no quadratic term; its row is set to 0. When a
    passive sub-matrix ``G_FF`` is singular (rank-deficient ``G``) the
    batched Cholesky factorization fails and the group is solved by a
    minimum-norm least-squares fallback, so the output is always finite.
    The kernel is pure: it keeps no state between calls.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> B = np.array([[3.0, -1.0], [3.0, 4.0]])
    >>> bpp_nnls(G, B).round(6).tolist()
    [[1.0, 0.0], [1.0, 2.0]]
    """
    def cold(Gl: np.ndarray, Bl: np.ndarray, it: int) -> np.ndarray:
        return _bpp_core(Gl, Bl, np.zeros(Bl.shape, dtype=bool), it)[0]

    def warm(Gl: np.ndarray, Bs: np.ndarray, start: np.ndarray, it: int) -> np.ndarray:
        Xs, conv = _bpp_core(Gl, Bs, start > 0, it)
        if not conv.all():  # iteration cap: never worse than the warm start
            worse = ~conv & (_objective_rows(Gl, Bs, Xs) > _objective_rows(Gl, Bs, start))
            Xs[worse] = start[worse]
        return Xs

    return exact_nnls_driver(G, B, A0, l1, l2, max_iter, cold, warm)


def exact_nnls_driver(
    G: np.ndarray,
    B: np.ndarray,
    A0: np.ndarray | None,
    l1: float,
    l2: float,
    max_iter: int | None,
    cold: Any,
    warm: Any,
) -> np.ndarray:
    """Shared frame of the exact kernels: penalties, dead components, warm starts.

    ``cold(G, B, max_iter)`` solves from zero; ``warm(G, B, start, max_iter)``
    improves the rows of a warm start that are not already optimal.
    """
    dtype = _result_dtype(B, A0)
    Gf, Bt, live = _prepare(G, B, l1, l2)
    p, k = Bt.shape
    if A0 is not None and np.shape(A0) != (k, p):
        raise ValueError(f"A0 must have shape {(k, p)}, got {np.shape(A0)}")
    At = np.zeros((p, k))
    if k == 0 or p == 0 or not live.any():
        return np.ascontiguousarray(At.T, dtype=dtype)
    if max_iter is None:
        max_iter = 10 * k + 50
    sub = not live.all()
    Gl = Gf[np.ix_(live, live)] if sub else Gf
    Bl = Bt[:, live] if sub else Bt
    if A0 is None:
        X = cold(Gl, Bl, int(max_iter))
    else:
        A0t = np.asarray(A0).T
        X = np.array(A0t[:, live] if sub else A0t, dtype=np.float64, order="C")
        np.maximum(X, 0.0, out=X)
        todo = np.flatnonzero(~_optimal_rows(Gl, Bl, X))
        if todo.size:
            X[todo] = warm(Gl, Bl[todo], X[todo], int(max_iter))
    if sub:
        At[:, live] = X
    else:
        At = X
    At += 0.0  # no negative zeros
    return np.ascontiguousarray(At.T, dtype=dtype)
