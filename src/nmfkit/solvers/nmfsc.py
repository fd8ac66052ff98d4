"""Hoyer's NMF with sparseness constraints (nmfsc; Hoyer 2004).

Minimises ``½‖X − WH‖²_F`` over W, H ≥ 0 subject to, for the factors
that are constrained,

* every row of H (a basis vector) has unit L2 norm and Hoyer sparseness
  ``sparseness_H``;
* every column of W (one component's coefficients over the samples) has
  Hoyer sparseness ``sparseness_W`` (its L2 norm is free).

Rows of H always have unit L2 norm, so the scale of each component sits in
W. (Hoyer writes V ≈ WH with the basis in W and fixes the norm of the
coefficient factor instead; either choice fixes the same free scale.)

Each iteration, W then H (his order: coefficients, then basis):

* a **constrained** factor takes a gradient step and is projected back onto
  the constraint set (:func:`nmfkit.constraints.project_sparseness`); the
  step size is halved until the objective does not increase and multiplied
  by 1.2 after every accepted step (his step-size adaptation; the first
  step is ``1/λ_max`` of the Gram matrix, so it does not depend on the
  units of X). When the step size has fallen by a factor of 1e200 without
  progress the run stops as converged, as in his code;
* an **unconstrained** factor takes a Lee–Seung multiplicative update; for
  H it is followed by rescaling its rows to unit norm (W absorbs the scale,
  WH is unchanged).

The starting point is made feasible first (rows of H scaled to unit norm,
then projected), so every iterate a callback sees satisfies the
constraints. Sparse X is used only through ``XHᵀ``, ``WᵀX`` and ``‖X‖²``.

References
----------
P. O. Hoyer, "Non-negative matrix factorization with sparseness
constraints", JMLR 5:1457–1469, 2004 (and his ``nmfsc.m``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..backend import squared_norm
from ..constraints.sparseness import project_sparseness
from ..exceptions import IncompatibleOptionsError
from ..losses import Penalties
from ._registry import register_solver
from ._result import FitResult
from ._stopping import Monitor
from .mu import _finish

__all__ = ["solve_nmfsc"]

_STEP_FLOOR = 1e-200  # relative fall of the step size at which the run has converged


def _half_obj(normX2: float, P: np.ndarray, F: np.ndarray, G: np.ndarray, FFt: np.ndarray) -> float:
    """``½‖X‖² − ⟨P, F⟩ + ½⟨G, FFᵀ⟩`` (= ½‖X − WH‖² for matching products), ≥ 0."""
    return max(0.5 * normX2 - float(np.vdot(P, F)) + 0.5 * float(np.vdot(G, FFt)), 0.0)


def _lipschitz(G: np.ndarray) -> float:
    lam = float(np.linalg.eigvalsh(G)[-1]) if G.size else 0.0
    return lam if lam > 0 else 1.0


@register_solver(
    "nmfsc",
    losses=("frobenius",),
    sparse=True,
    weights=False,
    penalties=("sparseness",),
    description="Hoyer's sparseness-constrained NMF: projected gradient with step "
    "adaptation on the constrained factor, MU on the other",
)
def solve_nmfsc(
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
    sparseness_W: float | None = None,
    sparseness_H: float | None = None,
) -> FitResult:
    """Minimise ``½‖X − WH‖²_F`` with Hoyer sparseness constraints (see the module docs).

    Parameters
    ----------
    X : ndarray or sparse matrix (n_samples, n_features)
    W, H : ndarray
        Starting factors (not modified); made feasible before the first iteration.
    sparseness_W : float in [0, 1] or None
        Target Hoyer sparseness of every column of W (None: unconstrained).
    sparseness_H : float in [0, 1] or None
        Target Hoyer sparseness of every row of H (None: unconstrained).

    Other parameters are the common solver signature (see :func:`nmfkit.factorize`);
    ``stop_rule`` must be ``"objective"``. The computation runs in float64;
    the factors are returned in the dtype of ``W``.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.metrics import hoyer_sparseness
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 30))
    >>> res = solve_nmfsc(X, rng.random((40, 4)), rng.random((4, 30)), sparseness_H=0.6, tol=0)
    >>> np.round(hoyer_sparseness(res.H, axis=1), 8).tolist()
    [0.6, 0.6, 0.6, 0.6]
    >>> bool(np.all(np.diff(res.loss_history) <= 0))
    True
    """
    if beta != 2:
        raise IncompatibleOptionsError("solver 'nmfsc' minimises the Frobenius loss only")
    if weights is not None:
        raise IncompatibleOptionsError("solver 'nmfsc' does not support weights")
    if penalties is not None and penalties.any:
        raise IncompatibleOptionsError(
            "solver 'nmfsc' does not combine sparseness constraints with alpha_W/alpha_H "
            "penalties (the constraint fixes the L1 norm already)"
        )
    for name, s in (("sparseness_W", sparseness_W), ("sparseness_H", sparseness_H)):
        if s is not None and not 0.0 <= float(s) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1] or None, got {s!r}")
    sW = None if sparseness_W is None else float(sparseness_W)
    sH = None if sparseness_H is None or not update_H else float(sparseness_H)
    dtype = W.dtype
    W = np.array(W, dtype=np.float64)
    H = np.array(H, dtype=np.float64)
    normX2 = float(squared_norm(X))

    def XHt_of(H_: np.ndarray) -> np.ndarray:
        return np.asarray(X @ H_.T, dtype=np.float64)

    def WtX_of(W_: np.ndarray) -> np.ndarray:
        if sp.issparse(X):
            return np.ascontiguousarray(np.asarray(X.T @ W_, dtype=np.float64).T)
        return W_.T @ X

    # ---- feasible start: unit rows of H (scale into W), then the projections
    if update_H:
        nrm = np.linalg.norm(H, axis=1)
        live = nrm > 0
        H[live] /= nrm[live, None]
        W[:, live] *= nrm[live]
        if (~live).any():  # a dead component: a flat unit row, no weight
            H[~live] = 1.0 / np.sqrt(H.shape[1])
            W[:, ~live] = 0.0
        if sH is not None:
            H = project_sparseness(H, sH, axis=1, l2=1.0)
    if sW is not None:
        W = project_sparseness(W, sW, axis=0)

    mon = Monitor(
        tol=tol, max_iter=max_iter, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress, solver="nmfsc", beta=2.0,
    )
    WtX = WtX_of(W)
    f = _half_obj(normX2, WtX, H, W.T @ W, H @ H.T)
    if mon.start(f):
        return mon.result(W.astype(dtype), H.astype(dtype))
    step_W = step_H = None
    floor_W = floor_H = 0.0
    stalled = False
    while True:
        # ----- W (coefficients)
        XHt = XHt_of(H)
        HHt = H @ H.T
        if sW is None:
            W = _finish(XHt.copy(), W @ HHt, W, 0.0, 0.0, 1.0)
            f = _half_obj(normX2, XHt, W, HHt, W.T @ W)
        else:
            if step_W is None:
                step_W = 1.0 / _lipschitz(HHt)
                floor_W = step_W * _STEP_FLOOR
            grad = W @ HHt - XHt
            while True:
                Wn = project_sparseness(W - step_W * grad, sW, axis=0)
                fn = _half_obj(normX2, XHt, Wn, HHt, Wn.T @ Wn)
                if fn <= f:
                    W, f = Wn, fn
                    step_W *= 1.2
                    break
                step_W /= 2.0
                if step_W < floor_W:
                    stalled = True
                    break
        # ----- H (basis)
        if update_H and not stalled:
            WtX = WtX_of(W)
            WtW = W.T @ W
            if sH is None:
                H = _finish(WtX.copy(), WtW @ H, H, 0.0, 0.0, 1.0)
                nrm = np.linalg.norm(H, axis=1)
                live = nrm > 0
                H[live] /= nrm[live, None]
                W[:, live] *= nrm[live]
                WtX = WtX_of(W)
                f = _half_obj(normX2, WtX, H, W.T @ W, H @ H.T)
            else:
                if step_H is None:
                    step_H = 1.0 / _lipschitz(WtW)
                    floor_H = step_H * _STEP_FLOOR
                grad = WtW @ H - WtX
                while True:
                    Hn = project_sparseness(H - step_H * grad, sH, axis=1, l2=1.0)
                    fn = _half_obj(normX2, WtX, Hn, WtW, Hn @ Hn.T)
                    if fn <= f:
                        H, f = Hn, fn
                        step_H *= 1.2
                        break
                    step_H /= 2.0
                    if step_H < floor_H:
                        stalled = True
                        break
        if mon.step(W, H, f) or stalled:
            if stalled:
                mon.stop_reason = "tol"  # no step decreases the objective: converged (Hoyer)
            break
    return mon.result(W.astype(dtype, copy=False), H.astype(dtype, copy=False))
