""":func:`nmfkit.factorize` for non-NumPy arrays (PyTorch, CuPy, array-api-strict, ...).

:func:`nmfkit._core.fit_factorization` hands over here when X is an array
of another library. Validation, initialization, the solver call, the
rescaling of extreme data, the canonical form and the warnings are those of
the NumPy path, done with the array's own namespace on the array's own
device; the registered solvers run unchanged (those flagged ``array_api``).
The result holds W and H in X's library, on X's device, in X's dtype
(float32 stays float32; integer and bool inputs become float64).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._core import best_of_starts
from .backend._xp import XpSparse, _is_cupy_sparse, _is_torch_sparse, to_float64, to_host
from .exceptions import ComponentCollapseWarning, ConvergenceWarning, IncompatibleOptionsError
from .init.array_api import XP_INITS, initialize_xp
from .losses import Penalties, resolve_beta
from .losses.array_api import beta_divergence_xp
from .solvers import FitResult, auto_solver, check_solver

__all__ = ["fit_factorization_xp", "check_data_xp", "canonicalize_xp"]


def check_data_xp(X: Any, xp: Any, whom: str = "nmfkit") -> Any:
    """Validate a non-NumPy data matrix; sparse ones come back as :class:`XpSparse`.

    2-D, non-empty, real, finite and non-negative; float32 stays float32,
    every other real dtype becomes float64.
    """
    if _is_torch_sparse(X) or _is_cupy_sparse(X):
        X = XpSparse.from_native(X)
    shape = tuple(X.shape)
    if len(shape) != 2:
        raise ValueError(f"{whom}: expected a 2-D array, got {len(shape)} dimension(s)")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{whom}: X is empty (shape {shape})")
    vals = X.values if isinstance(X, XpSparse) else X
    dt = vals.dtype
    if xp.isdtype(dt, "complex floating"):
        raise ValueError(f"{whom}: complex data not supported")
    if not xp.isdtype(dt, ("real floating", "integral", "bool")):
        raise ValueError(f"{whom}: X must be a real numeric array, got dtype {dt}")
    if dt != xp.float32 and dt != xp.float64:
        vals = xp.astype(vals, xp.float64)
        X = X.with_values(vals) if isinstance(X, XpSparse) else vals
    if not isinstance(X, XpSparse) or X.nnz:  # (a sparse matrix may store nothing)
        if not bool(xp.all(xp.isfinite(vals))):
            raise ValueError(f"{whom}: X contains NaN or infinity")
        n_neg = int(xp.sum(xp.astype(vals < 0, xp.int64)))
        if n_neg:
            raise ValueError(
                f"{whom}: negative values in data passed to X ({n_neg} entries, min "
                f"{float(xp.min(vals))!r}); NMF needs X >= 0"
            )
    return X


def _check_beta_data_xp(X: Any, beta: float, xp: Any) -> None:
    if beta > 0:
        return
    vals = X.values if isinstance(X, XpSparse) else X
    m, n = X.shape
    zeros = int(xp.sum(xp.astype(vals == 0, xp.int64)))
    if isinstance(X, XpSparse):
        zeros += m * n - X.nnz
    if zeros:
        raise ValueError(
            f"beta_loss={beta} <= 0 is undefined where X has zeros ({zeros} entries); "
            "add a small positive offset or use beta_loss > 0"
        )


def _check_custom_xp(A: Any, shape: tuple[int, int], name: str, xp: Any, like: Any, dtype: Any):
    import array_api_compat

    if isinstance(A, np.ndarray):
        A = xp.asarray(A, device=array_api_compat.device(like))
    if tuple(A.shape) != shape:
        raise ValueError(f"custom init: {name} must have shape {shape}, got {tuple(A.shape)}")
    A = xp.astype(A, dtype)
    if not bool(xp.all(xp.isfinite(A))):
        raise ValueError(f"custom init: {name} contains NaN or infinity")
    if bool(xp.any(A < 0)):
        raise ValueError(f"custom init: {name} has negative entries")
    return A


def canonicalize_xp(W: Any, H: Any, xp: Any, *, rescale: bool = True) -> tuple[Any, Any]:
    """:func:`nmfkit._core.canonicalize` for non-NumPy arrays (order decided on the host)."""
    hn = to_host(xp.linalg.vector_norm(to_float64(xp, H), axis=1)).astype(np.float64)
    wn = to_host(xp.linalg.vector_norm(to_float64(xp, W), axis=0)).astype(np.float64)
    contrib = hn * wn
    order = np.lexsort((np.arange(len(contrib)), -contrib))
    import array_api_compat

    idx = xp.asarray(order, device=array_api_compat.device(W))
    W = xp.take(W, idx, axis=1)
    H = xp.take(H, idx, axis=0)
    if rescale:
        hn = hn[order]
        scale = np.where(hn > 0, hn, 1.0)
        s = xp.asarray(scale, dtype=W.dtype, device=array_api_compat.device(W))
        H = H / s[:, None]
        W = W * s[None, :]
    return W, H


def fit_factorization_xp(
    X: Any,
    k: int,
    xp: Any,
    *,
    init: str | None,
    solver: str,
    beta_loss: Any,
    tol: float,
    max_iter: int,
    max_time: float | None,
    n_init: int,
    random_state: Any,
    alpha_W: float,
    alpha_H: Any,
    l1_ratio: float,
    verbose: int,
    callback: Any,
    stop_rule: str,
    progress: bool,
    W: Any,
    H: Any,
    canonical: bool,
    whom: str,
    solver_options: dict | None,
) -> FitResult:
    """The body of :func:`nmfkit._core.fit_factorization` for array-API inputs."""
    X = check_data_xp(X, xp, whom)
    beta = resolve_beta(beta_loss)
    _check_beta_data_xp(X, beta, xp)
    n_samples, n_features = X.shape
    sparse = isinstance(X, XpSparse)
    pen = Penalties.from_alpha(
        alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio,
        n_samples=n_samples, n_features=n_features,
    )
    pens: tuple[str, ...] = ()
    if pen.l1_W or pen.l1_H:
        pens += ("l1",)
    if pen.l2_W or pen.l2_H:
        pens += ("l2",)
    name = auto_solver(beta, sparse=sparse) if solver == "auto" else solver
    spec = check_solver(name, beta=beta, sparse=sparse, penalties=pens, array_api=True)
    like = X.values if sparse else X
    dtype = like.dtype

    custom = init == "custom" or (W is not None or H is not None)
    if custom:
        if W is None or H is None:
            raise ValueError("init='custom' needs both W and H")
        W0c = _check_custom_xp(W, (n_samples, k), "W", xp, like, dtype)
        H0c = _check_custom_xp(H, (k, n_features), "H", xp, like, dtype)

    # data of extreme magnitude: rescale (exact, the divergence is homogeneous)
    c = 1.0
    vmax = float(xp.max(like)) if like.shape[0] else 0.0
    if vmax > 0 and math.isfinite(vmax):
        fi = xp.finfo(dtype)
        if vmax > float(fi.max) ** 0.25 or vmax < float(fi.smallest_normal) ** 0.25:
            c = vmax
    if c != 1.0:
        X = X.with_values(like / c) if sparse else X / c
        pen = pen.scaled(c, beta)
        if custom:
            W0c, H0c = W0c / math.sqrt(c), H0c / math.sqrt(c)

    init_name = init or "auto"
    if init_name == "auto":
        init_name = "nndsvdar" if spec.name == "mu" else "nndsvd"
    elif not custom and init_name not in XP_INITS:
        raise IncompatibleOptionsError(
            f"init={init_name!r} is not available for non-NumPy arrays; use one of "
            f"{XP_INITS}, 'custom' or 'auto'"
        )

    def start(seed: Any) -> tuple[Any, Any]:
        if custom:
            return W0c, H0c
        return initialize_xp(X, k, init_name, xp, random_state=seed)

    def solve(W0: Any, H0: Any, seed: Any) -> FitResult:
        return spec.func(
            X, W0, H0, beta=beta, penalties=pen, weights=None, update_H=True,
            max_iter=max_iter, tol=tol, max_time=max_time, callback=callback,
            stop_rule=stop_rule, verbose=verbose, progress=progress,
            random_state=seed, **(solver_options or {}),
        )

    best = best_of_starts(random_state, n_init, start, solve, custom=custom)
    res = best.replace(solver=spec.name, beta=beta)
    Wf, Hf = res.W, res.H
    divergence = beta_divergence_xp(X, Wf, Hf, beta, xp)
    log_c = math.log(c)
    # reconstruction error sqrt(2 D) in the units of the original data
    rec = math.exp(0.5 * math.log(max(2.0 * divergence, 1e-320)) + 0.5 * beta * log_c)
    extras = dict(res.extras, reconstruction_err=rec if divergence > 0 else 0.0, loss_scale=1.0)
    if c != 1.0:
        Wf, Hf = Wf * math.sqrt(c), Hf * math.sqrt(c)
        hist_max = float(np.max(res.loss_history)) if res.loss_history.size else 0.0
        if hist_max == 0 or math.log(hist_max) + beta * log_c < 700:
            res = res.replace(loss_history=res.loss_history * math.exp(beta * log_c))
        else:  # not representable in float64: keep it in the rescaled units
            extras["loss_scale"] = math.exp(beta * log_c) if beta * log_c < 700 else math.inf
    res = res.replace(extras=extras)
    if canonical:
        Wf, Hf = canonicalize_xp(Wf, Hf, xp, rescale=not pen.any)
    res = res.replace(W=xp.astype(Wf, dtype), H=xp.astype(Hf, dtype))

    if res.stop_reason in ("max_iter", "max_time") and tol > 0:
        what = f"max_iter={max_iter}" if res.stop_reason == "max_iter" else f"max_time={max_time}s"
        warnings.warn(
            f"{whom} stopped on {what} before reaching tol={tol} "
            f"({res.solver}, {res.n_iter} iterations); increase it or loosen tol",
            ConvergenceWarning,
            stacklevel=4,
        )
    dead_H = ~xp.any(res.H != 0, axis=1)
    dead_W = ~xp.any(res.W != 0, axis=0)
    dead = [i for i in range(k) if bool(dead_H[i]) or bool(dead_W[i])]
    if dead and float(xp.max(like)) > 0:
        warnings.warn(
            f"{len(dead)} of {k} components collapsed to zero (indices {dead}); "
            "a smaller n_components, another init or a smaller penalty may help",
            ComponentCollapseWarning,
            stacklevel=4,
        )
    return res
