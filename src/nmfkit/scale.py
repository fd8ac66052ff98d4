"""What the estimator calls for data past memory, Dask arrays, checkpoints and ``partial_fit``.

* :func:`needs_scaled_fit` says whether a fit must leave the in-memory path:
  a Dask array, an out-of-core source (row-block source, ``.npy`` path or
  store directory, HDF5 dataset, zarr array), or a checkpoint request.
* :func:`fit_scaled` is that path, with :func:`nmfkit.factorize`'s
  parameters: penalties scaled as scikit-learn scales them, ``init="random"``
  (the default here: NNDSVD would need an SVD of all of X) or ``"custom"``,
  the blocked or Dask loop, the canonical form and ``reconstruction_err``.
* :func:`partial_fit_step` is ``partial_fit``: the first call makes the
  state from the first batch (its ``init``), later calls update it.

Examples
--------
>>> import numpy as np
>>> from nmfkit.scale import fit_scaled
>>> X = np.random.default_rng(0).random((50, 8))
>>> res = fit_scaled(X, 3, random_state=0, max_iter=50, block_rows=20)
>>> res.W.shape, res.H.shape, res.extras["n_blocks"]
((50, 3), (3, 8), 3)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .losses import Penalties
from .solvers._blockwise import BLOCK_SOLVERS
from .solvers._result import FitResult

__all__ = ["fit_scaled", "is_dask_array", "needs_scaled_fit", "partial_fit_step"]


def is_dask_array(X: Any) -> bool:
    """True for a ``dask.array.Array`` (without importing dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "__dask_graph__")


def _is_out_of_core(X: Any) -> bool:
    from .blocked import RowBlockSource

    if isinstance(X, RowBlockSource | str | os.PathLike | np.memmap):
        return True
    mod = type(X).__module__
    return mod.startswith(("h5py", "zarr"))


def needs_scaled_fit(X: Any, *, checkpoint: Any = None) -> bool:
    """Whether ``fit`` should go through :func:`fit_scaled` rather than the in-memory path.

    Examples
    --------
    >>> import numpy as np
    >>> needs_scaled_fit(np.ones((2, 2))), needs_scaled_fit(np.ones((2, 2)), checkpoint="c.npz")
    (False, True)
    """
    return checkpoint is not None or is_dask_array(X) or _is_out_of_core(X)


def fit_scaled(
    X: Any,
    n_components: int,
    *,
    init: str | None = "random",
    solver: str = "auto",
    beta_loss: str | float = "frobenius",
    tol: float = 1e-4,
    max_iter: int = 200,
    max_time: float | None = None,
    random_state: Any = None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
    verbose: int = 0,
    callback: Callable | None = None,
    progress: bool = False,
    W: Any = None,
    H: Any = None,
    weights: Any = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
    block_rows: int | None = None,
    canonical: bool = True,
    solver_options: dict | None = None,
    whom: str = "nmfkit.fit_scaled",
) -> FitResult:
    """Frobenius NMF of a Dask array, an out-of-core source or (with a checkpoint) any X.

    Dask arrays go to :func:`nmfkit.backend.dask.fit_dask`, everything else to
    :func:`nmfkit.blocked.fit_blocked` (an in-memory X as a single block, so
    the iterates are exactly the in-memory solver's). Supported: Frobenius
    loss; solvers ``hals`` (``"auto"``), ``anls_bpp``, ``active_set``; no
    entry weights. ``init``: for an in-memory X every method, resolved as
    :func:`nmfkit.factorize` resolves it (``"auto"``: NNDSVD); for Dask and
    out-of-core data ``"random"`` (``None``/``"auto"`` mean it; an SVD would
    need all of X) or ``"custom"`` (``W``, ``H``).

    Returns
    -------
    FitResult
        As :func:`nmfkit.factorize` returns it (canonical form unless
        ``canonical=False``; ``extras["reconstruction_err"]``).
    """
    from ._core import canonicalize
    from .losses import resolve_beta

    beta = resolve_beta(beta_loss)
    if beta != 2.0:
        raise ValueError(
            "fits of Dask arrays, out-of-core data and checkpointed fits minimise the "
            "Frobenius loss only; use partial_fit with solver='mu' for other beta_loss"
        )
    if weights is not None:
        raise ValueError("entry weights are not available for Dask/out-of-core/checkpointed fits")
    name = "hals" if solver == "auto" else solver
    if name not in BLOCK_SOLVERS:
        raise ValueError(
            f"solver {solver!r} cannot run on row blocks; use one of {BLOCK_SOLVERS}"
        )
    opts = dict(solver_options or {})
    if opts.get("extrapolate", "auto") not in ("auto", False):
        from .exceptions import IncompatibleOptionsError

        raise IncompatibleOptionsError(
            "extrapolate=True runs on in-memory data without checkpoints; Dask, "
            "out-of-core and checkpointed fits use the plain alternating updates"
        )
    opts.pop("extrapolate", None)  # (False/"auto": the blocked loops never extrapolate)
    dask_X = is_dask_array(X)
    in_memory_X = False
    if not dask_X:
        from .blocked import ArrayRowBlocks, as_row_blocks

        in_memory_X = not _is_out_of_core(X)
        if in_memory_X:
            if not sp.issparse(X):
                X = np.asarray(X)
            if block_rows is None:
                block_rows = max(1, int(X.shape[0]))  # one block: the in-memory iterates
            X = ArrayRowBlocks(X, block_rows)
        else:
            X = as_row_blocks(X, block_rows)
    n_samples, n_features = (int(d) for d in X.shape)
    k = int(n_components)
    if W is not None or H is not None or init == "custom":
        if W is None or H is None:
            raise ValueError("init='custom' needs both W and H")
        W0, H0 = np.asarray(W), np.asarray(H)
    elif in_memory_X and init not in ("random",):
        # all of X is here: the in-memory path's start ("auto": NNDSVD, or random when
        # k exceeds min(n_samples, n_features)), so the iterates are the in-memory ones
        from .init import initialize, resolve_init

        init_name = init or "auto"
        if init_name == "auto":
            init_name = "nndsvd" if k <= min(n_samples, n_features) else "random"
        init_name = resolve_init(init_name, k, n_samples, n_features)
        W0, H0 = initialize(X.X, k, init_name, random_state=random_state)
    elif init in (None, "auto", "random"):
        if dask_X:
            from .backend.dask import init_dask

            W0, H0 = init_dask(X, k, random_state=random_state)
        else:
            from .blocked import init_blocked

            W0, H0 = init_blocked(X, k, random_state=random_state)
    else:
        raise ValueError(
            f"init={init!r} needs all of X in memory; Dask/out-of-core fits take "
            "init='random' or 'custom'"
        )
    pen = Penalties.from_alpha(
        alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio, n_samples=n_samples,
        n_features=n_features,
    )
    common = dict(
        solver=name, penalties=pen, max_iter=max_iter, tol=tol, max_time=max_time,
        callback=callback, verbose=verbose, progress=progress, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, **opts,
    )
    if dask_X:
        from .backend.dask import fit_dask

        res = fit_dask(X, W0, H0, **common)
    else:
        from .blocked import fit_blocked

        res = fit_blocked(X, W0, H0, **common)
    loss_data = float(res.loss) - pen.value(res.W, res.H)
    extras = dict(res.extras, reconstruction_err=float(np.sqrt(max(2.0 * loss_data, 0.0))))
    Wf, Hf = res.W, res.H
    if canonical:
        Wf, Hf, _ = canonicalize(Wf, Hf, rescale=not pen.any)
    if res.stop_reason in ("max_iter", "max_time") and tol > 0:
        import warnings

        from .exceptions import ConvergenceWarning

        what = f"max_iter={max_iter}" if res.stop_reason == "max_iter" else f"max_time={max_time}s"
        warnings.warn(
            f"{whom} stopped on {what} before reaching tol={tol} ({name}, {res.n_iter} "
            "iterations); increase it or loosen tol",
            ConvergenceWarning,
            stacklevel=2,
        )
    return res.replace(W=Wf, H=Hf, extras=extras, solver=name, beta=2.0)


def partial_fit_step(
    state: Any,
    X: Any,
    *,
    n_components: int,
    solver: str = "auto",
    beta_loss: str | float = "frobenius",
    init: str | None = "auto",
    random_state: Any = None,
    forget_factor: float = 0.7,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
    weights: Any = None,
    H: Any = None,
    w_max_iter: int = 30,
    w_tol: float = 1e-4,
) -> tuple[Any, np.ndarray]:
    """One ``partial_fit`` call: ``(new_state, W_batch)``; ``state=None`` on the first call.

    The method follows the solver: ``"mu"`` → the Lefèvre–Bach–Févotte MU
    scheme (any β, as scikit-learn's ``MiniBatchNMF``), the Frobenius solvers
    (``"auto"``, ``hals``, ``anls_bpp``, …) → Mairal et al.'s running sums.
    On the first call H comes from ``H`` (``init="custom"``) or from
    :func:`nmfkit.init.initialize` on the first batch (``"auto"``: NNDSVD,
    ``nndsvdar`` for MU, random when k exceeds the batch's rank bound).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).random((40, 6))
    >>> state, W = partial_fit_step(None, X[:20], n_components=2, random_state=0)
    >>> state, W = partial_fit_step(state, X[20:], n_components=2)
    >>> state.n_steps, state.method, W.shape
    (2, 'frobenius', (20, 2))
    """
    from .losses import resolve_beta
    from .online import online_init, online_step

    if state is None:
        beta = resolve_beta(beta_loss)
        method = "mu" if solver == "mu" or beta != 2.0 else "frobenius"
        if method == "mu" and solver not in ("mu", "auto"):
            raise ValueError(f"solver {solver!r} minimises the Frobenius loss; use solver='mu'")
        if H is not None or init == "custom":
            if H is None:
                raise ValueError("init='custom' needs H")
            H0 = np.asarray(H, dtype=np.float64)
        else:
            from .init import initialize, resolve_init

            Xb = X.tocsr() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
            name = init or "auto"
            if name == "auto":
                k = int(n_components)
                name = ("nndsvdar" if method == "mu" else "nndsvd") if k <= min(Xb.shape) else (
                    "random"
                )
            name = resolve_init(name, int(n_components), *Xb.shape)
            _, H0 = initialize(Xb, int(n_components), name, random_state=random_state)
        state = online_init(
            H0, method=method, beta=beta, forget_factor=forget_factor, w_max_iter=w_max_iter,
            w_tol=w_tol,
        )
    return online_step(
        state, X, weights=weights, alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio
    )
