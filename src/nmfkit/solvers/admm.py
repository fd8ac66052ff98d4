"""AO-ADMM: alternating optimization with ADMM sub-solvers (Huang, Sidiropoulos & Liavas 2016).

K. Huang, N. D. Sidiropoulos and A. P. Liavas, "A flexible and efficient
algorithmic framework for constrained matrix and tensor factorization",
IEEE Trans. Signal Process. 64(19), 2016. Each outer iteration updates W and
then H, each by a few ADMM iterations started from the current factor and
from the dual variables left by the previous outer iteration.

**Frobenius** (β = 2). In our orientation (X ≈ WH) the sub-problems are::

    Wᵀ ← argmin_{A ≥ 0} ½⟨A, HHᵀ A⟩ − ⟨HXᵀ, A⟩ + l1_W ΣA + ½ l2_W ‖A‖²
    H  ← argmin_{A ≥ 0} ½⟨A, WᵀW A⟩ − ⟨WᵀX, A⟩ + l1_H ΣA + ½ l2_H ‖A‖²

each improved by :func:`nmfkit.nnls.admm_nnls` (splitting ``A = Ã``,
``ρ = trace(G)/k``, one Cholesky factor of ``G + ρI`` per sub-problem) inside
the shared Gram loop :func:`~nmfkit.solvers._frobenius.alternating_frobenius`;
sparse ``X`` is only touched through ``XHᵀ`` and ``WᵀX``.

**Kullback–Leibler** (β = 1). The paper's splitting for a non-quadratic loss:
an auxiliary ``Y`` for the product (constraint ``Y = WH``, scaled dual ``V``,
shared by the W- and H-updates) takes the loss, and the factor itself is split
as in the Frobenius case. For the H-update (with ``F = W``; the W-update is
the same on the transposed problem) one ADMM iteration is::

    Ã ← (G + ηI)⁻¹ (Fᵀ(Y + V) + η(H + U)),     G = FᵀF,  η = trace(G)/k
    H ← max(0, ρη(Ã − U) − l1_H) / (ρη + l2_H)
    Y ← argmin_Y Σ (Y − X ⊙ log Y) + ½ρ‖Y − (FÃ − V)‖²     (closed form)
    U ← U + H − Ã ,   V ← V + Y − FÃ

with ``ρ`` the penalty on ``Y = WH`` and ``ρη`` the one on ``H = Ã``. The
ratio ``η`` is the Frobenius case's ``trace(G)/k``, so the least-squares step
uses the same well-conditioned Cholesky factor, computed once per
sub-problem. ``ρ`` defaults to ``2·mean(x | x > 0) / mean(X)²``, twice the
curvature ``x/y²`` of the KL term averaged over the positive entries of X at
the mean level ``y = mean(X)``; it makes the iterates equivariant under
``X → cX`` (``ρ → ρ/c``). The factor 2 and the KL inner defaults (at most 20
iterations, residuals below 1e-3) come from Poisson benchmarks: a smaller ρ
(e.g. ``1/mean(X)``) or looser sub-problems speed up the first iterations but
let the outer iterates oscillate between neighbouring local minima instead of
settling; a penalty tied to the factors' scale (``trace(G)/k``) is not
equivariant and was far slower. On count data with many zeros (≳ 70 %) the
KL loss still oscillates at about 1e-3 relative and ``solver="mu"`` reaches a
lower objective.

The proximal step of the KL term is, entry by entry with ``T = FÃ − V − 1/ρ``::

    Y = ½ (T + √(T² + 4X/ρ)) = T⁺ + (2X/ρ) / (√(T² + 4X/ρ) + |T|)

(the second form, used here, has no cancellation). Where ``X`` is zero it is
``max(T, 0)``, which is not zero, so ``Y`` and ``V`` are dense whatever the
sparsity of ``X``: on sparse ``X`` the KL path keeps these two
n_samples × n_features arrays in memory (X itself is never densified; it is
read in row blocks, and the square root is only evaluated at its stored
entries). Restricting ``Y`` to the stored entries would need a different Gram
matrix for every column (the least-squares step would lose its single cached
Cholesky factor), which is not this algorithm; for large sparse count data
use ``solver="mu"``, which is O(nnz·k) per iteration.

ADMM iterates are not monotone: the KL loss history typically rises in the
first iterations. With ``stop_rule="objective"`` the KL path therefore stops
when the *size* of the relative change, ``|f_{t-1} − f_t| / f_{t-1}``, is below
``tol`` (an increase is not convergence). The Frobenius path uses the shared
rule; its history is non-increasing in practice down to round-off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve

from ..backend import row_blocks
from ..losses import Penalties, beta_divergence
from ..nnls import admm_nnls
from ._frobenius import alternating_frobenius
from ._registry import register_solver
from ._result import FitResult
from ._stopping import Monitor

__all__ = ["solve_admm"]


@register_solver(
    "admm",
    losses=("frobenius", "kullback-leibler"),
    sparse=True,
    weights=False,
    description="AO-ADMM, Huang, Sidiropoulos & Liavas 2016",
)
def solve_admm(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float = 2.0,
    penalties: Penalties | None = None,
    weights: Any = None,
    update_H: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback: Any = None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
    random_state: Any = None,
    inner_max_iter: int | None = None,
    inner_tol: float | None = None,
    rho: float | None = None,
) -> FitResult:
    """Minimise ``½‖X − WH‖²_F`` or ``D_KL(X | WH)`` (+ penalties) by AO-ADMM.

    The objective, in our orientation, is::

        D_β(X | WH) + l1_W ‖W‖₁ + ½ l2_W ‖W‖²_F + l1_H ‖H‖₁ + ½ l2_H ‖H‖²_F

    with β = 2 (``½‖X − WH‖²_F``) or β = 1 (generalized KL divergence).
    Each outer iteration runs at most ``inner_max_iter`` ADMM iterations on
    the W sub-problem and then on the H sub-problem, stopping early when the
    relative primal and dual residuals (Huang et al.'s rule) are below
    ``inner_tol``; the dual variables are kept from one outer iteration to the
    next (warm start). See the module docstring for the iterations.
    The total inner iterations are returned in ``FitResult.extras``
    (``inner_iter_W``, ``inner_iter_H``).

    Parameters
    ----------
    X : ndarray or sparse matrix (n_samples, n_features)
    W, H : ndarray
        Starting factors (not modified).
    inner_max_iter : int, optional
        Maximum ADMM iterations per sub-problem: 5 for Frobenius (PLANC's
        AO-ADMM default), 20 for KL. A Frobenius inner iteration costs
        O(k²·n) (Gram form); a KL one two products of X's size,
        O(n_samples·n_features·k).
    inner_tol : float, optional
        Threshold on the relative residuals ``‖A − Ã‖/‖A‖`` and
        ``‖A − A_prev‖/‖U‖`` (and, for KL, ``‖Y − FÃ‖/‖Y‖``): 1e-2 for
        Frobenius (PLANC's), 1e-3 for KL, whose outer iterations oscillate
        when the sub-problems are solved more loosely.
    rho : float, optional
        KL only: the ADMM penalty on ``Y = WH``; ``2·mean(x | x > 0) / mean(X)²``
        by default. (For Frobenius, ρ = trace(G)/k in every sub-problem.)

    Other parameters are the common solver signature (see :func:`nmfkit.factorize`);
    ``weights`` are not supported (the registry rejects them).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 4)) @ rng.random((4, 20))
    >>> W0, H0 = rng.random((30, 4)), rng.random((4, 20))
    >>> res = solve_admm(X, W0, H0, max_iter=300, tol=0)
    >>> bool(res.loss < 1e-6 * res.loss_history[0])
    True
    >>> res = solve_admm(X, W0, H0, beta=1.0, max_iter=100, tol=0)
    >>> bool(res.loss < 1e-3 * res.loss_history[0])
    True
    """
    if weights is not None:
        raise ValueError("solver 'admm' does not support weights")
    pen = penalties or Penalties()
    if beta == 1:
        return _solve_kl(
            X, W, H, pen=pen, update_H=update_H, max_iter=max_iter, tol=tol,
            max_time=max_time, callback=callback, stop_rule=stop_rule, verbose=verbose,
            progress=progress, inner_max_iter=20 if inner_max_iter is None else int(inner_max_iter),
            inner_tol=1e-3 if inner_tol is None else float(inner_tol), rho=rho,
        )
    if beta != 2:
        raise ValueError(f"solver 'admm' minimises the Frobenius and KL losses, not beta={beta:g}")
    n_inner = 5 if inner_max_iter is None else int(inner_max_iter)
    tol_inner = 1e-2 if inner_tol is None else float(inner_tol)
    state: dict[str, Any] = {"extras": {"inner_iter_W": 0, "inner_iter_H": 0}}

    def kernel(A, B, G, *, l1, l2, side, state):
        key = f"U_{side}"
        U = state.get(key)
        A, U, n = admm_nnls(
            G, B, A, U, l1=l1, l2=l2, max_iter=n_inner, tol=tol_inner
        )
        state[key] = U
        state["extras"][f"inner_iter_{side}"] += n
        return np.ascontiguousarray(A)

    return alternating_frobenius(
        X, W, H, kernel=kernel, name="admm", penalties=pen, update_H=update_H,
        max_iter=max_iter, tol=tol, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, kernel_state=state,
    )


# --------------------------------------------------------------------------- KL


def _kl_prox(
    T: np.ndarray,
    x: np.ndarray,
    inv_rho: float,
    out: np.ndarray | None = None,
    work: np.ndarray | None = None,
) -> np.ndarray:
    """``½(T + √(T² + 4x/ρ))`` entry-wise, as ``T⁺ + (2x/ρ) / (√(T² + 4x/ρ) + |T|)``.

    The second form has no cancellation for ``T < 0`` and no branch; it is
    ``max(T, 0)`` where ``x = 0``. ``out`` and ``work`` are optional buffers of
    ``T``'s shape (fresh large temporaries cost page faults on every call).
    """
    out = np.empty_like(T) if out is None else out
    work = np.empty_like(T) if work is None else work
    np.multiply(T, T, out=work)
    np.multiply(x, 4.0 * inv_rho, out=out)
    work += out
    np.sqrt(work, out=work)
    np.abs(T, out=out)
    work += out
    np.maximum(work, np.finfo(work.dtype).tiny, out=work)
    np.multiply(x, 2.0 * inv_rho, out=out)
    out /= work
    np.maximum(T, 0.0, out=work)
    out += work
    return out


class _KLState:
    """Auxiliary ``Y ≈ WH`` and its scaled dual ``V`` (dense, n_samples × n_features).

    X is read in row blocks; for sparse X the positions and values of each
    block's stored entries are extracted once. Three block-sized work buffers
    are reused by every inner iteration.
    """

    def __init__(self, X: Any, W: np.ndarray, H: np.ndarray, rho: float) -> None:
        self.X = X
        self.sparse = sp.issparse(X)
        self.inv_rho = 1.0 / rho
        m, n = X.shape
        dtype = W.dtype
        self.blocks = list(row_blocks(m, n))
        self.entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if self.sparse:
            for rows in self.blocks:
                xb = X[rows]
                r = np.repeat(np.arange(xb.shape[0]), np.diff(xb.indptr))
                self.entries.append((r, xb.indices, np.asarray(xb.data, dtype=dtype)))
        self.Y = np.empty((m, n), dtype=dtype)
        for rows in self.blocks:
            np.matmul(W[rows], H, out=self.Y[rows])
        self.V = np.zeros_like(self.Y)
        b = self.blocks[0].stop - self.blocks[0].start if self.blocks else 0
        self._buf = [np.empty((b, n), dtype=dtype) for _ in range(3)]

    def rhs(self, side: str, F: np.ndarray) -> np.ndarray:
        """``Fᵀ(Y + V)`` in the sub-problem's layout (k × n_features or k × n_samples)."""
        if side == "H":
            out = np.zeros((F.shape[1], self.Y.shape[1]), dtype=self.Y.dtype)
        else:
            out = np.empty((F.shape[0], self.Y.shape[0]), dtype=self.Y.dtype)
        for rows in self.blocks:
            S = self._buf[0][: rows.stop - rows.start]
            np.add(self.Y[rows], self.V[rows], out=S)
            if side == "H":
                out += F[rows].T @ S
            else:
                out[:, rows] = F @ S.T
        return out

    def step(self, side: str, F: np.ndarray, At: np.ndarray, need_rhs: bool):
        """Y- and V-updates for the product ``P`` of ``F`` and ``Ã``; the next right-hand side.

        Returns ``(Fᵀ(Y + V) or None, ‖Y − P‖², ‖Y‖²)``.
        """
        rhs = np.zeros(At.shape, dtype=self.Y.dtype) if need_rhs else None
        res2 = 0.0
        y2 = 0.0
        for b, rows in enumerate(self.blocks):
            nb = rows.stop - rows.start
            P, T, work = (buf[:nb] for buf in self._buf)
            if side == "H":
                np.matmul(F[rows], At, out=P)
            else:
                np.matmul(At[:, rows].T, F, out=P)
            Yb, Vb = self.Y[rows], self.V[rows]
            np.subtract(P, Vb, out=T)
            T -= self.inv_rho
            if self.sparse:
                np.maximum(T, 0.0, out=Yb)
                r, c, x = self.entries[b]
                if x.size:
                    Yb[r, c] = _kl_prox(T[r, c], x, self.inv_rho)
            else:
                x = np.asarray(self.X[rows], dtype=T.dtype)
                _kl_prox(T, x, self.inv_rho, out=Yb, work=work)
            R = np.subtract(Yb, P, out=P)
            Vb += R
            res2 += float(np.vdot(R, R))
            y2 += float(np.vdot(Yb, Yb))
            if need_rhs:
                S = np.add(Yb, Vb, out=T)
                if side == "H":
                    rhs += F[rows].T @ S
                else:
                    rhs[:, rows] = F @ S.T
        return rhs, res2, y2


def _kl_subproblem(
    kl: _KLState,
    side: str,
    F: np.ndarray,
    A: np.ndarray,
    U: np.ndarray,
    *,
    rho: float,
    l1: float,
    l2: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """ADMM on one factor of the KL problem. ``F`` is W (side "H") or H (side "W")."""
    k = A.shape[0]
    G = F.T @ F if side == "H" else F @ F.T
    eta = float(np.trace(G)) / k
    if not eta > 0.0 or not np.isfinite(eta):
        eta = 1.0
    factor = cho_factor(G + eta * np.eye(k, dtype=G.dtype), lower=True)
    pen_rho = rho * eta
    rhs = kl.rhs(side, F)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is returned
        A_prev = A
        At = cho_solve(factor, rhs + eta * (A + U), check_finite=False)
        A = At - U
        if l1:
            A -= l1 / pen_rho
        if l2:
            A *= pen_rho / (pen_rho + l2)
        np.maximum(A, 0.0, out=A)
        R = A - At
        U += R
        last = n_iter == max_iter
        rhs, y_res2, y2 = kl.step(side, F, At, need_rhs=not last)
        D = A - A_prev
        tol2 = tol * tol
        done = (
            float(np.vdot(R, R)) <= tol2 * float(np.vdot(A, A))
            and float(np.vdot(D, D)) <= tol2 * float(np.vdot(U, U))
            and y_res2 <= tol2 * y2
        )
        if done or last:
            break
    return A, U, n_iter


def _default_rho(X: Any) -> float:
    """``2·mean(x | x > 0) / mean(X)²``: twice the KL curvature ``x/y²`` at ``y = mean(X)``.

    Averaged over the positive entries of X; equivariant (``ρ → ρ/c`` under
    ``X → cX``). 1 for an all-zero X.
    """
    size = X.shape[0] * X.shape[1]
    if sp.issparse(X):
        vals = X.data
        total, n_pos = float(vals.sum()), int(np.count_nonzero(vals > 0))
    else:
        total, n_pos = float(X.sum()), int(np.count_nonzero(X > 0))
    if total <= 0 or n_pos == 0:
        return 1.0
    mean = total / size
    return 2.0 * (total / n_pos) / (mean * mean)


def _solve_kl(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    pen: Penalties,
    update_H: bool,
    max_iter: int,
    tol: float,
    max_time: float | None,
    callback: Any,
    stop_rule: str,
    verbose: int,
    progress: bool,
    inner_max_iter: int,
    inner_tol: float,
    rho: float | None,
) -> FitResult:
    dtype = W.dtype
    Wt = np.array(W.T, dtype=dtype, order="C")
    H = np.array(H, dtype=dtype, order="C")
    if rho is None:
        rho = _default_rho(X)
    rho = float(rho)
    if not (rho > 0 and np.isfinite(rho)):
        raise ValueError(f"rho must be a positive finite number, got {rho!r}")
    # ADMM is not monotone: an increase of the objective must not read as convergence,
    # so the "objective" rule is applied here to the size of the relative change.
    own_rule = stop_rule == "objective" and tol > 0
    mon = Monitor(
        tol=0.0 if own_rule else tol, max_iter=max_iter, max_time=max_time,
        callback=callback, stop_rule=stop_rule, verbose=verbose, progress=progress,
        solver="admm", beta=1.0,
    )

    def objective() -> float:
        return beta_divergence(X, Wt.T, H, 1.0) + pen.value(Wt.T, H)

    def pgrad() -> float:
        from ..losses.gradient import projected_gradient_norm

        return projected_gradient_norm(X, Wt.T, H, 1.0, pen, update_H=update_H)

    if mon.start(objective(), pgrad if stop_rule == "pgrad" else None):
        return mon.result(np.ascontiguousarray(Wt.T), H)
    kl = _KLState(X, Wt.T, H, rho)
    U_W = np.zeros_like(Wt)
    U_H = np.zeros_like(H)
    info = {"inner_iter_W": 0, "inner_iter_H": 0}
    while True:
        Wt, U_W, n = _kl_subproblem(
            kl, "W", H, Wt, U_W, rho=rho, l1=pen.l1_W, l2=pen.l2_W,
            max_iter=inner_max_iter, tol=inner_tol,
        )
        info["inner_iter_W"] += n
        if update_H:
            W_now = np.ascontiguousarray(Wt.T)
            H, U_H, n = _kl_subproblem(
                kl, "H", W_now, H, U_H, rho=rho, l1=pen.l1_H, l2=pen.l2_H,
                max_iter=inner_max_iter, tol=inner_tol,
            )
            info["inner_iter_H"] += n
        stop = mon.step(Wt.T, H, objective(), pgrad)
        if own_rule and mon.stop_reason not in ("callback", "exact"):
            prev, loss = mon.history[-2], mon.history[-1]
            if prev > 0 and abs(prev - loss) < tol * prev:
                mon.stop_reason = "tol"
                stop = True
        if stop:
            break
    return mon.result(np.ascontiguousarray(Wt.T), H, **info)
