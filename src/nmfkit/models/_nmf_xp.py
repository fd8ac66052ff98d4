""":class:`nmfkit.NMF` on non-NumPy arrays (PyTorch, CuPy, array-api-strict, ...).

The estimator's methods hand over here when X is an array of another
library: fitted attributes ``components_`` and ``W_`` are then arrays of
that library on X's device, and ``transform``/``inverse_transform`` return
arrays of the library of their input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend._xp import XpSparse, foreign_namespace
from ..exceptions import IncompatibleOptionsError
from ..losses import resolve_beta
from ..losses.array_api import beta_divergence_xp

__all__ = ["fit_foreign", "transform_foreign", "inverse_transform_foreign", "score_foreign"]


def _check_plain(est: Any, weights: Any, graph: Any) -> None:
    if weights is not None or graph is not None or est.checkpoint is not None:
        raise IncompatibleOptionsError(
            "weights, graph and checkpoint need NumPy or scipy.sparse input; for "
            "PyTorch/CuPy arrays convert X to NumPy or drop these options"
        )


def _components_like(est: Any, xp: Any, like: Any) -> Any:
    """``components_`` in ``xp`` on ``like``'s device and dtype."""
    import array_api_compat

    H = est.components_
    if foreign_namespace(H) is None:  # fitted on NumPy data
        H = xp.asarray(np.ascontiguousarray(H))
    return xp.astype(xp.asarray(H, device=array_api_compat.device(like)), like.dtype)


def fit_foreign(est: Any, X: Any, W: Any, H: Any, weights: Any, graph: Any) -> Any:
    """``est.fit_transform(X)`` for a non-NumPy X; returns W."""
    from .._core import fit_factorization

    _check_plain(est, weights, graph)
    k = est._resolve_k(X, W, H)
    res = fit_factorization(
        X, k, init=est.init, solver=est.solver, beta_loss=est.beta_loss, tol=est.tol,
        max_iter=est.max_iter, max_time=est.max_time, n_init=est.n_init,
        random_state=est.random_state, alpha_W=est.alpha_W, alpha_H=est.alpha_H,
        l1_ratio=est.l1_ratio, verbose=est.verbose, callback=est.callback,
        stop_rule=est.stop_rule, W=W, H=H, missing=est.missing, absent=est.absent,
        whom=type(est).__name__, solver_options=est.solver_options,
        sparseness_W=est.sparseness_W, sparseness_H=est.sparseness_H, tv_H=est.tv_H,
        image_shape=est.image_shape, graph_neighbors=est.graph_neighbors,
    )
    est.n_features_in_ = int(X.shape[1])
    est.components_ = res.H
    est.n_components_ = int(res.H.shape[0])
    est.n_iter_ = res.n_iter
    est.loss_history_ = res.loss_history
    est.converged_ = res.converged
    est.stop_reason_ = res.stop_reason
    est.elapsed_ = res.elapsed
    est.solver_ = res.solver
    est.reconstruction_err_ = float(res.extras["reconstruction_err"])
    est.W_ = res.W
    return res.W


def transform_foreign(est: Any, X: Any, weights: Any = None) -> Any:
    """W ≥ 0 for new samples with ``components_`` fixed (non-NumPy X).

    Frobenius: HALS sweeps with H fixed until the objective stops changing
    (1e-12 relative; the NumPy path solves the same convex problem exactly
    by block principal pivoting). Other β: multiplicative updates from a
    constant W, as the NumPy path.
    """
    from .._core_xp import check_data_xp
    from ..losses import Penalties
    from ..solvers import get_solver

    xp = foreign_namespace(X)
    _check_plain(est, weights, None)
    X = check_data_xp(X, xp, type(est).__name__)
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input"
        )
    like = X.values if isinstance(X, XpSparse) else X
    H = _components_like(est, xp, like)
    k = H.shape[0]
    m, n = X.shape
    beta = resolve_beta(est.beta_loss)
    pen = Penalties.from_alpha(
        alpha_W=est.alpha_W, alpha_H=est.alpha_H, l1_ratio=est.l1_ratio,
        n_samples=m, n_features=n,
    )
    total = float(xp.sum(xp.astype(like, xp.float64)))
    avg = (max(total / (m * n), 0.0) / k) ** 0.5 or 1e-3
    W0 = xp.full((m, k), avg, dtype=like.dtype, device=_device(like))
    if beta == 2:
        res = get_solver("hals").func(
            X, W0, H, beta=2.0, penalties=pen, update_H=False,
            max_iter=max(10 * est.max_iter, 1000), tol=1e-12,
        )
    else:
        res = get_solver("mu").func(
            X, W0, H, beta=beta, penalties=pen, update_H=False, max_iter=est.max_iter,
            tol=est.tol,
        )
    return res.W


def inverse_transform_foreign(est: Any, W: Any) -> Any:
    """``W @ components_`` in W's library."""
    xp = foreign_namespace(W)
    if W.ndim != 2 or W.shape[1] != est.components_.shape[0]:
        raise ValueError(
            f"inverse_transform expects W of shape (n, {est.components_.shape[0]}), "
            f"got {tuple(W.shape)}"
        )
    return W @ _components_like(est, xp, W)


def score_foreign(est: Any, X: Any, weights: Any = None) -> float:
    """Negative β-divergence of X from its reconstruction (non-NumPy X)."""
    from .._core_xp import check_data_xp

    xp = foreign_namespace(X)
    W = transform_foreign(est, X, weights)
    Xc = check_data_xp(X, xp, type(est).__name__)
    like = Xc.values if isinstance(Xc, XpSparse) else Xc
    H = _components_like(est, xp, like)
    return -beta_divergence_xp(Xc, W, H, resolve_beta(est.beta_loss), xp)


def _device(a: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(a)
