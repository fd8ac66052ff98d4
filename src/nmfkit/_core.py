"""The one code path behind :func:`nmfkit.factorize` and :class:`nmfkit.NMF`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_parameter_constraints

from ._validation import (
    check_data,
    check_n_components,
    check_non_negative,
    overflow_scale,
    validate_params,
)
from ._weights import make_weights
from .backend import work_dtype
from .backend._sparse_compiled import products_apply
from .backend._threads import blas_limit_for
from .backend._xp import foreign_namespace
from .constraints import REGULARIZATION_CONSTRAINTS
from .constraints.laplacian import LaplacianPenalty
from .exceptions import ComponentCollapseWarning, ConvergenceWarning, IncompatibleOptionsError
from .init import check_custom_init, initialize
from .losses import Penalties, beta_divergence, check_beta_data, resolve_beta
from .solvers import FitResult, auto_solver, check_solver

__all__ = ["factorize", "fit_factorization", "canonicalize", "resolve_solver"]


def _column_sq_norms(W: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """Squared L2 norms of W's columns in float64, one block of rows at a time."""
    out = np.zeros(W.shape[1], dtype=np.float64)
    for s in range(0, W.shape[0], block):
        blk = W[s:s + block]
        out += np.einsum("ij,ij->j", blk, blk, dtype=np.float64)
    return out


def canonicalize(W: np.ndarray, H: np.ndarray, *, rescale: bool = True, copy: bool = True):
    """Canonical form: H's rows at unit L2 norm (scale moved into W), components
    ordered by decreasing contribution ``‖W[:, j]‖·‖H[j]‖`` (the Frobenius norm of
    the rank-one term). Zero components go last and stay exactly zero.

    With ``copy=False`` W and H are reordered and scaled in their own memory
    (one block of W's rows at a time: no second n_samples × k array); the
    default leaves the caller's arrays alone. Returns ``(W, H, order)``.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[1.0, 4.0]]); H = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> W2, H2, order = canonicalize(W, H)
    >>> order.tolist(), W2.tolist(), H2.tolist()
    ([1, 0], [[4.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]])
    """
    hn = np.sqrt(_column_sq_norms(H.T))
    wn = np.sqrt(_column_sq_norms(W))
    contrib = hn * wn
    order = np.lexsort((np.arange(len(contrib)), -contrib))
    identity = not np.any(order != np.arange(len(order)))
    hn = hn[order]
    scale = np.where(hn > 0, hn, 1.0) if rescale else None
    if copy:  # one copy of each factor, then scaled in place
        W = np.array(W) if identity else W[:, order]  # fancy indexing already copies
        H = np.array(H) if identity else H[order]
    else:
        if not identity:
            H[...] = H[order]
            block = 1 << 16
            for s in range(0, W.shape[0], block):
                W[s:s + block] = W[s:s + block, order]
    if scale is not None:
        H /= scale[:, None].astype(H.dtype)
        W *= scale[None, :].astype(W.dtype)
    return W, H, order


def resolve_solver(
    solver: str,
    beta: float,
    *,
    sparse: bool,
    weights: bool,
    penalties: Penalties,
    structured: tuple[str, ...] = (),
):
    """The solver spec for ``solver`` (``"auto"`` resolved), checked against the options.

    ``structured`` names the structured penalties in use (``"sparseness"``,
    ``"graph"``, ``"tv"``), which only some solvers implement.
    """
    pens = ()
    if penalties.l1_W or penalties.l1_H:
        pens += ("l1",)
    if penalties.l2_W or penalties.l2_H:
        pens += ("l2",)
    pens += tuple(structured)
    name = (
        auto_solver(beta, sparse=sparse, weights=weights, penalties=tuple(structured))
        if solver == "auto"
        else solver
    )
    return check_solver(name, beta=beta, sparse=sparse, weights=weights, penalties=pens)


def _structured(
    X: Any,
    *,
    sparseness_W: float | None,
    sparseness_H: float | None,
    tv_H: float,
    image_shape: Any,
    graph: Any,
    graph_neighbors: int | None,
    graph_weight: float,
    whom: str,
) -> tuple[dict, tuple[str, ...]]:
    """Solver options and registry names for the sparseness, graph and TV options."""
    validate_parameter_constraints(
        REGULARIZATION_CONSTRAINTS,
        dict(
            sparseness_W=sparseness_W, sparseness_H=sparseness_H, tv_H=tv_H,
            image_shape=image_shape, graph_neighbors=graph_neighbors,
            graph_weight=graph_weight,
        ),
        caller_name=whom,
    )
    opts: dict = {}
    names: tuple[str, ...] = ()
    if sparseness_W is not None or sparseness_H is not None:
        opts.update(sparseness_W=sparseness_W, sparseness_H=sparseness_H)
        names += ("sparseness",)
    if graph is not None or graph_neighbors is not None or tv_H or image_shape is not None:
        lap = LaplacianPenalty.build(
            n_samples=X.shape[0], n_features=X.shape[1], X=X, graph=graph,
            graph_neighbors=graph_neighbors, graph_weight=graph_weight, tv_H=tv_H,
            image_shape=image_shape, whom=whom,
        )
        if lap.names:
            opts["laplacian"] = lap
            names += lap.names
    return opts, names


def _check_foreign_options(**options: Any) -> None:
    """Options that need NumPy arrays: a clear error for non-NumPy input."""
    defaults = dict(
        weights=None, missing="error", absent="zero", sparseness_W=None, sparseness_H=None,
        tv_H=0.0, image_shape=None, graph=None, graph_neighbors=None,
    )
    used = [
        k for k, v in options.items()
        if v is not None and (defaults[k] is None or v != defaults[k])
    ]
    if used:
        raise IncompatibleOptionsError(
            f"{', '.join(used)} need NumPy or scipy.sparse input; for PyTorch/CuPy arrays "
            "convert X to NumPy or drop these options"
        )


def best_of_starts(
    random_state: Any,
    n_init: int,
    start: Callable[[Any], tuple[Any, Any]],
    solve: Callable[[Any, Any, Any], FitResult],
    *,
    custom: bool,
) -> FitResult:
    """Run ``solve(W0, H0, seed)`` from ``n_init`` starts and keep the lowest loss.

    ``start(seed)`` gives the starting pair; with a custom start (``custom``)
    there is one run. The seeds are drawn from ``random_state`` as
    scikit-learn's ``n_init`` does (the state itself when ``n_init == 1``).
    """
    rng = check_random_state(random_state)
    seeds = (
        [random_state]
        if n_init == 1
        else [int(s) for s in rng.randint(np.iinfo(np.int32).max, size=n_init)]
    )
    best: FitResult | None = None
    for seed in seeds:
        res = solve(*start(seed), seed)
        if best is None or res.loss < best.loss:
            best = res
        if custom:
            break
    assert best is not None
    return best


def fit_factorization(
    X: Any,
    n_components: int,
    *,
    init: str | None = "auto",
    solver: str = "auto",
    beta_loss: str | float = "frobenius",
    tol: float = 1e-4,
    max_iter: int = 200,
    max_time: float | None = None,
    n_init: int = 1,
    random_state: Any = None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
    verbose: int = 0,
    callback: Callable | None = None,
    stop_rule: str = "objective",
    progress: bool = False,
    W: Any = None,
    H: Any = None,
    weights: Any = None,
    missing: str = "error",
    absent: str = "zero",
    canonical: bool = True,
    validated: bool = False,
    whom: str = "nmfkit.factorize",
    solver_options: dict | None = None,
    sparseness_W: float | None = None,
    sparseness_H: float | None = None,
    tv_H: float = 0.0,
    image_shape: Any = None,
    graph: Any = None,
    graph_neighbors: int | None = None,
    graph_weight: float = 100.0,
) -> FitResult:
    """Validate, initialise, run the solver (best of ``n_init``), post-process."""
    params = dict(
        init=init, solver=solver, beta_loss=beta_loss, tol=tol, max_iter=max_iter,
        max_time=max_time, n_init=n_init, random_state=random_state, alpha_W=alpha_W,
        alpha_H=alpha_H, l1_ratio=l1_ratio, verbose=verbose, callback=callback,
        stop_rule=stop_rule,
    )
    validate_params(params, whom)
    k = check_n_components(n_components)
    xp = foreign_namespace(X)
    if xp is not None:  # PyTorch, CuPy, ... arrays: the same steps in their namespace
        _check_foreign_options(
            weights=weights, missing=missing, absent=absent, sparseness_W=sparseness_W,
            sparseness_H=sparseness_H, tv_H=tv_H, image_shape=image_shape, graph=graph,
            graph_neighbors=graph_neighbors,
        )
        from ._core_xp import fit_factorization_xp

        return fit_factorization_xp(
            X, k, xp, init=init, solver=solver, beta_loss=beta_loss, tol=tol,
            max_iter=max_iter, max_time=max_time, n_init=n_init, random_state=random_state,
            alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio, verbose=verbose,
            callback=callback, stop_rule=stop_rule, progress=progress, W=W, H=H,
            canonical=canonical, whom=whom, solver_options=solver_options,
        )
    plain = weights is None and missing == "error" and absent == "zero"
    if not validated:
        X = check_data(X, whom, non_negative=plain, allow_nan=not plain, sort=not plain)
    if sp.issparse(X) and not X.has_sorted_indices and not products_apply(X, k):
        # SciPy's products are up to 2x slower on unsorted rows; the compiled kernels
        # are not (20 Newsgroups: +-10% by rank), so only they skip the sort (55 ms
        # and a copy of X there). Duplicates were summed by the validation.
        X = X.copy()
        X.sort_indices()
    X, ew = make_weights(X, weights, missing=missing, absent=absent, whom=whom)
    if ew is None and not plain:
        check_non_negative(X, whom)
    beta = resolve_beta(beta_loss)
    check_beta_data(X, beta, ew)
    n_samples, n_features = X.shape
    pen = Penalties.from_alpha(
        alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio,
        n_samples=n_samples, n_features=n_features,
    )
    structured_opts, structured = _structured(
        X, sparseness_W=sparseness_W, sparseness_H=sparseness_H, tv_H=tv_H,
        image_shape=image_shape, graph=graph, graph_neighbors=graph_neighbors,
        graph_weight=graph_weight, whom=whom,
    )
    spec = resolve_solver(
        solver, beta, sparse=sp.issparse(X), weights=ew is not None, penalties=pen,
        structured=structured,
    )
    dtype = work_dtype(X)

    custom = init == "custom" or (W is not None or H is not None)
    if custom:
        if W is None or H is None:
            raise ValueError("init='custom' needs both W and H")
        W0c, H0c = check_custom_init(W, H, n_samples, n_features, k, dtype)

    # Rescale data of extreme magnitude (exact: the divergence is homogeneous).
    c = overflow_scale(X)
    if c != 1.0:
        X = X.multiply(1.0 / c).tocsr() if sp.issparse(X) else X / c
        if ew is not None and ew.is_pattern:
            ew.x = ew.x / c
        if "laplacian" in structured_opts:
            # the solver starts from unit-norm rows of H, so only W carries the 1/c
            cc = c * c
            pen = Penalties(pen.l1_W / c, pen.l2_W, pen.l1_H / cc, pen.l2_H / cc)
            structured_opts["laplacian"] = structured_opts["laplacian"].scaled(c)
        else:
            pen = pen.scaled(c, beta)
        if custom:
            W0c = W0c / np.sqrt(c)
            H0c = H0c / np.sqrt(c)

    init_name = init or "auto"
    if init_name == "auto" and ew is not None:
        # an SVD of the zero-filled matrix is biased towards the holes (measured on
        # MovieLens: validation RMSE 0.94-0.96 from nndsvda against 0.93-0.94 from random)
        init_name = "random"
    elif init_name == "auto" and k <= min(n_samples, n_features):
        # NNDSVD's exact zeros are fine for solvers that can leave zero; MU cannot,
        # so it gets the small random fill. (scikit-learn's "nndsvda" fills zeros
        # with mean(X), which can start far above ½‖X‖², e.g. 320× on digits.)
        init_name = "nndsvdar" if spec.name in ("mu", "nmfsc") else "nndsvd"
    opts = dict(solver_options or {})
    opts.update(structured_opts)
    if spec.overwrite_input:
        # the starts below are this call's own arrays: the solver may work in them
        # (on the 1e6 x 1e5, k = 50 case that is 0.37 GiB less at the peak)
        opts.setdefault("overwrite_input", True)

    def start(seed: Any) -> tuple[Any, Any]:
        if custom:
            return W0c.copy(), H0c.copy()
        return initialize(X, k, init_name, random_state=seed)

    def solve(W0: Any, H0: Any, seed: Any) -> FitResult:
        return spec.func(
            X, W0, H0, beta=beta, penalties=pen, weights=ew, update_H=True,
            max_iter=max_iter, tol=tol, max_time=max_time, callback=callback,
            stop_rule=stop_rule, verbose=verbose, progress=progress,
            random_state=seed, **opts,
        )

    with blas_limit_for(X, k):  # sparse data: idle BLAS spinners would slow numba's products
        best = best_of_starts(random_state, n_init, start, solve, custom=custom)
        res = best.replace(solver=spec.name, beta=beta)
        Wf, Hf = res.W, res.H
        known = res.extras.get("data_loss")
        if beta == 2 and ew is None and known is not None and (
            dtype == np.float64 or sp.issparse(X)
        ):
            # the Frobenius loops' own ½‖X − WH‖² at the returned pair (the same
            # Gram form, entry-wise below its cancellation floor): one product less.
            # Sparse float32 too: a recomputation takes XᵀW in float32 as well and
            # costs a product (26 of 78 ms in a one-iteration fit of 20 Newsgroups,
            # k = 20). Relative error of the loss against float64: BBC and 20
            # Newsgroups k = 20, 1e-10–2e-8 here, 2e-9–5e-9 recomputed; a masked
            # low-rank matrix, 1–2e-6 here (the loop's float32 Grams), 4e-8–2e-7
            # recomputed. Dense float32 keeps the entry-wise float64 computation
            # (the synthetic case: 7e-6 here, 1e-10 entry-wise)
            divergence = float(known)
        else:
            divergence = beta_divergence(X, Wf, Hf, beta, weights=ew)
    log_c = float(np.log(c))
    # reconstruction error sqrt(2 D) in the units of the original data
    rec = float(np.exp(0.5 * np.log(max(2.0 * divergence, 1e-320)) + 0.5 * beta * log_c))
    extras = dict(res.extras, reconstruction_err=rec if divergence > 0 else 0.0, loss_scale=1.0)
    if c != 1.0:
        if structured:  # these solvers keep unit-norm rows of H: W carries the scale
            Wf = Wf * c
        else:
            Wf = Wf * np.sqrt(c)
            Hf = Hf * np.sqrt(c)
        hist_max = float(np.max(res.loss_history)) if res.loss_history.size else 0.0
        if hist_max == 0 or np.log(hist_max) + beta * log_c < 700:
            res = res.replace(loss_history=res.loss_history * float(np.exp(beta * log_c)))
        else:  # not representable in float64: keep it in the rescaled units
            extras["loss_scale"] = float(np.exp(beta * log_c)) if beta * log_c < 700 else np.inf
    res = res.replace(extras=extras)
    if canonical:
        # the solver's arrays are this call's own: reorder and scale them in place
        Wf, Hf, _ = canonicalize(Wf, Hf, rescale=not (pen.any or structured), copy=False)
    res = res.replace(W=Wf.astype(dtype, copy=False), H=Hf.astype(dtype, copy=False))

    if res.stop_reason in ("max_iter", "max_time") and tol > 0:
        what = f"max_iter={max_iter}" if res.stop_reason == "max_iter" else f"max_time={max_time}s"
        warnings.warn(
            f"{whom} stopped on {what} before reaching tol={tol} "
            f"({res.solver}, {res.n_iter} iterations); increase it or loosen tol",
            ConvergenceWarning,
            stacklevel=3,
        )
    dead = np.flatnonzero(~np.any(res.H != 0, axis=1) | ~np.any(res.W != 0, axis=0))
    if dead.size and np.any(X.data if sp.issparse(X) else X):
        warnings.warn(
            f"{dead.size} of {k} components collapsed to zero (indices {dead.tolist()}); "
            "a smaller n_components, another init or a smaller penalty may help",
            ComponentCollapseWarning,
            stacklevel=3,
        )
    return res


def factorize(X: Any, n_components: int, **options: Any) -> FitResult:
    """Factorize a non-negative matrix: X ≈ W H with W, H ≥ 0.

    The functional front door; :class:`nmfkit.NMF` runs the same code.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Non-negative data. Sparse input stays sparse; float32 stays float32.
    n_components : int
        The rank k ≥ 1.
    **options
        ``init``, ``solver``, ``beta_loss``, ``tol``, ``max_iter``,
        ``max_time``, ``n_init``, ``random_state``, ``alpha_W``, ``alpha_H``,
        ``l1_ratio``, ``verbose``, ``callback``, ``stop_rule``, ``progress``,
        ``W``/``H`` (custom start), ``weights`` (entry weights of X's shape,
        0 = missing, ``1/σ²`` = uncertainty σ), ``missing`` (``"error"`` or
        ``"nan"``: NaN entries of dense X are missing), ``absent``
        (``"zero"`` or ``"missing"``: for sparse X, only stored entries are
        observed), ``canonical`` (default True) and
        ``solver_options`` (dict passed to the solver, e.g.
        ``{"inner_repeat": False}`` for ``hals``); the structured
        penalties of :class:`nmfkit.NMF`: ``sparseness_W``, ``sparseness_H``
        (Hoyer sparseness constraints, solver ``"nmfsc"``), ``tv_H`` with
        ``image_shape`` (total variation of the basis images), ``graph``
        (an n_samples × n_samples affinity) or ``graph_neighbors`` with
        ``graph_weight`` (graph regularization of W); the last two use
        solver ``"mu"``.

    Returns
    -------
    FitResult
        Frozen result with ``W``, ``H``, ``n_iter``, ``converged``,
        ``stop_reason``, ``loss_history``, ``elapsed``.

    Examples
    --------
    >>> import numpy as np, nmfkit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((50, 3)) @ rng.random((3, 40))
    >>> res = nmfkit.factorize(X, 3, random_state=0, tol=1e-10, max_iter=1000)
    >>> bool(np.linalg.norm(X - res.W @ res.H) / np.linalg.norm(X) < 1e-3)
    True
    """
    return fit_factorization(X, n_components, **options)
