"""The NMF estimator, a drop-in replacement for scikit-learn's."""

from __future__ import annotations

import numbers
import os
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._core import fit_factorization, resolve_solver
from .._validation import COMMON_CONSTRAINTS, check_non_negative
from ..backend import spmm
from ..backend._threads import blas_limit_for
from ..backend._xp import is_foreign
from ..constraints import REGULARIZATION_CONSTRAINTS
from ..losses import Penalties, beta_divergence, check_beta_data, resolve_beta

__all__ = ["NMF"]


class NMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Non-negative matrix factorization: X ≈ W H with W, H ≥ 0.

    Minimises, over W (n_samples × k) ≥ 0 and H (k × n_features) ≥ 0::

        D_β(X | WH) + l1_W ‖W‖₁ + ½ l2_W ‖W‖²_F + l1_H ‖H‖₁ + ½ l2_H ‖H‖²_F

    where D_β is the β-divergence (β = 2: ½‖X − WH‖²_F) and the penalty
    weights are scaled exactly as in scikit-learn::

        l1_W = alpha_W · l1_ratio · n_features,  l2_W = alpha_W · (1 − l1_ratio) · n_features
        l1_H = alpha_H · l1_ratio · n_samples,   l2_H = alpha_H · (1 − l1_ratio) · n_samples

    Parameters
    ----------
    n_components : int, "auto" or None, default="auto"
        Rank k. ``None`` means n_features; ``"auto"`` takes it from a custom
        W/H when given, else n_features (as in scikit-learn).
    init : {"auto", "random", "nndsvd", "nndsvda", "nndsvdar", "spa", "custom"}, default="auto"
        Start. ``"auto"``: when k ≤ min(n_samples, n_features), ``"nndsvd"``
        for the solvers that can move entries off zero and ``"nndsvdar"`` for
        ``"mu"`` (whose zeros would stay zero); else, and always with entry
        weights or missing data, ``"random"``. ``"custom"``
        takes ``W`` and ``H`` passed to ``fit``.
    solver : str, default="auto"
        A registered solver (see :func:`nmfkit.list_solvers`): ``"hals"``,
        ``"mu"``, ``"anls_bpp"``, ``"active_set"``, ``"pgd"``, ``"nesterov"``,
        ``"nmfsc"``. ``"auto"``: ``"nmfsc"`` with ``sparseness_W``/``sparseness_H``,
        ``"mu"`` with ``tv_H`` or a graph, else ``"hals"`` for Frobenius and
        ``"mu"`` for every other β.
    beta_loss : {"frobenius", "kullback-leibler", "itakura-saito"} or float, default="frobenius"
    tol : float, default=1e-4
        Stop when the relative objective change per iteration,
        ``|f_{t-1} − f_t| / f_{t-1}``, falls below ``tol`` (``stop_rule="pgrad"``
        uses the relative projected-gradient norm instead).
    max_iter : int, default=200
    max_time : float or None, default=None
        Wall-clock limit in seconds for each start.
    n_init : int, default=1
        Number of seeded starts; the one with the lowest objective is kept.
    random_state : int, RandomState instance or None
    alpha_W, alpha_H, l1_ratio : float
        Elastic-net penalties, scaled as above; ``alpha_H="same"`` copies alpha_W.
    verbose : int, default=0
        Log the objective at every iteration (logger ``"nmfkit"``).
    callback : callable or None
        Called after every iteration with an ``IterationState`` (``n_iter``,
        ``W``, ``H``, ``loss``, ``elapsed``); returning True or raising
        ``StopIteration`` stops the run.
    stop_rule : {"objective", "pgrad"}, default="objective"
    solver_options : dict or None
        Extra options for the solver (e.g. ``{"inner_repeat": False}``).
    missing : {"error", "nan"}, default="error"
        ``"nan"``: NaN entries of a dense X are missing (weight 0) instead of
        an error.
    absent : {"zero", "missing"}, default="zero"
        For sparse X: ``"zero"`` is ordinary NMF (entries not stored are 0);
        ``"missing"`` is matrix completion — only stored entries (explicit
        stored zeros included) are observed, and X is never densified.
    sparseness_W, sparseness_H : float in [0, 1] or None, default=None
        Hoyer's (2004) sparseness constraints: every column of W / every row
        of H has Hoyer sparseness exactly this value (see Notes). Solver
        ``"nmfsc"`` (chosen by ``"auto"``).
    tv_H : float, default=0.0
        Weight τ of the total-variation penalty on the basis images (rows
        of H reshaped to ``image_shape``); needs ``image_shape``. Solver ``"mu"``.
    image_shape : tuple (height, width) or None, default=None
        Shape of one basis image; ``height * width`` must equal n_features
        (rows of H are reshaped in C order).
    graph_neighbors : int or None, default=None
        Build the symmetrised ``graph_neighbors``-nearest-neighbour graph
        of the samples (0/1 weights, Cai et al. 2011) and regularize W by
        its Laplacian; ``fit(X, graph=A)`` passes a graph instead. Solver ``"mu"``.
    graph_weight : float, default=100.0
        Weight λ of the graph penalty; the default is Cai et al.'s (2011)
        setting (with p = 5 neighbours), whose objective is twice ours with
        the same λ. The solver starts from unit-norm rows of H, as their
        code does, so λ does not depend on the units of X.
    forget_factor : float in (0, 1], default=0.7
        ``partial_fit`` only: weight of the running sums of earlier batches
        at every call (see :mod:`nmfkit.online`).
    checkpoint : str or path-like, default=None
        Write the fit's state atomically to this ``.npz`` every
        ``checkpoint_every`` iterations and at the end; continue an
        interrupted fit with :func:`nmfkit.resume`. Frobenius solvers
        ``hals``, ``anls_bpp``, ``active_set`` (see ``docs/scale.md``).
    checkpoint_every : int, default=10

    Notes
    -----
    Structured variants (in this orientation; rows of H are the basis)::

        sparseness:  min ½‖X − WH‖²  s.t.  ‖H[j]‖₂ = 1, s(H[j]) = sparseness_H,
                                           s(W[:, j]) = sparseness_W
        TV:          ½‖X − WH‖² + τ Σ_j TV(H[j].reshape(image_shape))
        graph:       ½‖X − WH‖² + (λ/2) tr(Wᵀ (D − A) W)
                      = ½‖X − WH‖² + (λ/4) Σ_ik A_ik ‖W[i] − W[k]‖²

    with Hoyer's sparseness ``s(x) = (√n − ‖x‖₁/‖x‖₂) / (√n − 1)``, the
    anisotropic TV (sum of absolute differences of 4-neighbour pixels,
    smoothed by a negligible ε) and the degree matrix D of the sample
    affinity A (see :mod:`nmfkit.constraints`). The sparseness constraints
    are enforced by projection at every iteration (Hoyer's nmfsc); the TV
    and graph penalties by majorization–minimization multiplicative updates
    (monotone), started from unit-norm rows of H. With any of them,
    ``components_`` is reordered but not rescaled (the penalties are not
    scale-invariant), and :meth:`transform` solves the plain NNLS problem.

    Entry weights (``weights=`` on ``fit``, ``fit_transform``, ``transform``,
    ``score``, ``impute``, ``fold_in_features``) have X's shape, ≥ 0:
    0 = missing, 1 = observed, ``1/σ²`` = an entry with uncertainty σ. The
    objective becomes ``Σ_ij M_ij d_β(X_ij | (WH)_ij)`` + penalties. Sparse
    weights mean: entries not stored have weight 0. A sample (row) with no
    observed entry gets a zero row of W from ``transform``; during ``fit``
    a row of W or column of H with no observed entry is left at its start.

    Attributes
    ----------
    components_ : ndarray of shape (k, n_features)
        H in canonical form: rows of unit L2 norm (when no penalty is used)
        ordered by decreasing contribution ‖W[:, j]‖·‖H[j]‖ to the fit.
    n_components_ : int
    reconstruction_err_ : float
        ``sqrt(2·D_β(X | WH))``; for Frobenius, ‖X − WH‖_F.
    n_iter_ : int
    loss_history_ : ndarray
        Objective at the start and after each iteration.
    converged_ : bool
    stop_reason_ : str
    elapsed_ : float
    solver_ : str
        The solver actually used.
    W_ : ndarray of shape (n_samples, k)
        Coefficients of the training samples (what ``fit_transform`` returned);
        used by :meth:`fold_in_features`.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit import NMF
    >>> X = np.array([[1, 1], [2, 1], [3, 1.2], [4, 1], [5, 0.8], [6, 1]])
    >>> model = NMF(n_components=2, random_state=0, max_iter=1000)
    >>> W = model.fit_transform(X)
    >>> W.shape, model.components_.shape
    ((6, 2), (2, 2))
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(numbers.Integral, 1, None, closed="left"),
            None,
            StrOptions({"auto"}),
        ],
        **{k: v for k, v in COMMON_CONSTRAINTS.items()},
        "solver_options": [dict, None],
        "missing": [StrOptions({"error", "nan"})],
        "absent": [StrOptions({"zero", "missing"})],
        **REGULARIZATION_CONSTRAINTS,
        "forget_factor": [Interval(numbers.Real, 0, 1, closed="right")],
        "checkpoint": [str, os.PathLike, None],
        "checkpoint_every": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components: int | str | None = "auto",
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
        callback: Any = None,
        stop_rule: str = "objective",
        solver_options: dict | None = None,
        missing: str = "error",
        absent: str = "zero",
        sparseness_W: float | None = None,
        sparseness_H: float | None = None,
        tv_H: float = 0.0,
        image_shape: tuple[int, int] | None = None,
        graph_neighbors: int | None = None,
        graph_weight: float = 100.0,
        forget_factor: float = 0.7,
        checkpoint: Any = None,
        checkpoint_every: int = 10,
    ) -> None:
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_iter = max_iter
        self.max_time = max_time
        self.n_init = n_init
        self.random_state = random_state
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.verbose = verbose
        self.callback = callback
        self.stop_rule = stop_rule
        self.solver_options = solver_options
        self.missing = missing
        self.absent = absent
        self.sparseness_W = sparseness_W
        self.sparseness_H = sparseness_H
        self.tv_H = tv_H
        self.image_shape = image_shape
        self.graph_neighbors = graph_neighbors
        self.graph_weight = graph_weight
        self.forget_factor = forget_factor
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    # ------------------------------------------------------------- helpers
    def _plain(self, weights: Any) -> bool:
        """No weights, no missing entries: X must be finite and non-negative as given."""
        return weights is None and self.missing == "error" and self.absent == "zero"

    def _validate_X(
        self, X: Any, *, reset: bool, weights: Any = None, canonical: bool = True,
        sort: bool = True,
    ) -> Any:
        plain = self._plain(weights)
        X = validate_data(
            self,
            X,
            accept_sparse=("csr", "csc", "coo", "bsr", "lil", "dok", "dia"),
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_all_finite=True if plain else "allow-nan",
        )
        if sp.issparse(X):
            from ..backend import to_csr

            X = to_csr(X, canonical=canonical, sort=sort)
            if not X.has_canonical_format and X.nnz and X.data.min() < 0:
                X = to_csr(X)  # stored duplicates may add up to a non-negative entry
        if plain:
            check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    def _weights(self, X: Any, weights: Any):
        from .._weights import make_weights

        X, ew = make_weights(
            X, weights, missing=self.missing, absent=self.absent, whom=type(self).__name__
        )
        if ew is None and not (weights is None and self.missing == "error"):
            check_non_negative(X, f"{type(self).__name__} (input X)")
        return X, ew

    def _resolve_k(self, X: Any, W: Any, H: Any) -> int:
        k = self.n_components
        if k == "auto":
            if W is not None:
                return int(np.shape(W)[1])
            if H is not None:
                return int(np.shape(H)[0])
            return X.shape[1]
        if k is None:
            return X.shape[1]
        return int(k)

    # ---------------------------------------------------------------- fit
    def fit_transform(
        self,
        X: Any,
        y: Any = None,
        W: Any = None,
        H: Any = None,
        weights: Any = None,
        graph: Any = None,
    ) -> np.ndarray:
        """Learn the factorization of X and return W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ignored
        W, H : arrays, optional
            Custom start when ``init="custom"``.
        weights : array or sparse matrix of X's shape, optional
            Entry weights (0 = missing); see Notes.
        graph : array or sparse matrix of shape (n_samples, n_samples), optional
            Sample affinity A (symmetric, ≥ 0) for the graph penalty
            ``(graph_weight/2) tr(Wᵀ (D − A) W)``; not together with
            ``graph_neighbors``.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        self._validate_params()
        if is_foreign(X):
            from ._nmf_xp import fit_foreign

            return fit_foreign(self, X, W, H, weights, graph)
        from ..scale import needs_scaled_fit

        if needs_scaled_fit(X, checkpoint=self.checkpoint):
            return self._fit_scaled(X, W, H, weights)
        # plain data: an unsorted CSR matrix without duplicates is not copied (the fit
        # sorts it only where SciPy's products would run; see fit_factorization)
        X = self._validate_X(X, reset=True, weights=weights, sort=not self._plain(weights))
        k = self._resolve_k(X, W, H)
        res = fit_factorization(
            X, k, init=self.init, solver=self.solver, beta_loss=self.beta_loss,
            tol=self.tol, max_iter=self.max_iter, max_time=self.max_time,
            n_init=self.n_init, random_state=self.random_state, alpha_W=self.alpha_W,
            alpha_H=self.alpha_H, l1_ratio=self.l1_ratio, verbose=self.verbose,
            callback=self.callback, stop_rule=self.stop_rule, W=W, H=H, weights=weights,
            missing=self.missing, absent=self.absent, validated=True,
            whom=type(self).__name__, solver_options=self.solver_options,
            sparseness_W=self.sparseness_W, sparseness_H=self.sparseness_H,
            tv_H=self.tv_H, image_shape=self.image_shape, graph=graph,
            graph_neighbors=self.graph_neighbors, graph_weight=self.graph_weight,
        )
        self.components_ = res.H
        self.n_components_ = res.H.shape[0]
        self.n_iter_ = res.n_iter
        self.loss_history_ = res.loss_history
        self.converged_ = res.converged
        self.stop_reason_ = res.stop_reason
        self.elapsed_ = res.elapsed
        self.solver_ = res.solver
        self.reconstruction_err_ = float(res.extras["reconstruction_err"])
        self.W_ = res.W
        return res.W

    def _fit_scaled(self, X: Any, W: Any, H: Any, weights: Any) -> Any:
        """Dask arrays, out-of-core data, checkpoints: :func:`nmfkit.scale.fit_scaled`."""
        from ..scale import fit_scaled, is_dask_array

        if is_dask_array(X) or isinstance(X, str | os.PathLike) or not hasattr(X, "__array__"):
            from ..blocked import as_row_blocks

            if not is_dask_array(X):
                X = as_row_blocks(X)
            self.n_features_in_ = int(X.shape[1])
        elif isinstance(X, np.memmap) or type(X).__module__.startswith(("h5py", "zarr")):
            self.n_features_in_ = int(X.shape[1])
        else:
            X = self._validate_X(X, reset=True, weights=weights)
        if self.n_init != 1:
            raise ValueError(
                "n_init > 1 is not available for Dask, out-of-core or checkpointed fits"
            )
        res = fit_scaled(
            X, self._resolve_k(X, W, H), init=self.init, solver=self.solver,
            beta_loss=self.beta_loss, tol=self.tol, max_iter=self.max_iter,
            max_time=self.max_time, random_state=self.random_state, alpha_W=self.alpha_W,
            alpha_H=self.alpha_H, l1_ratio=self.l1_ratio, verbose=self.verbose,
            callback=self.callback, W=W, H=H, weights=weights, checkpoint=self.checkpoint,
            checkpoint_every=self.checkpoint_every, solver_options=self.solver_options,
            whom=type(self).__name__,
        )
        self.components_ = res.H
        self.n_components_ = res.H.shape[0]
        self.n_iter_ = res.n_iter
        self.loss_history_ = res.loss_history
        self.converged_ = res.converged
        self.stop_reason_ = res.stop_reason
        self.elapsed_ = res.elapsed
        self.solver_ = res.solver
        self.reconstruction_err_ = float(res.extras["reconstruction_err"])
        self.W_ = res.W
        return res.W

    def partial_fit(
        self, X: Any, y: Any = None, W: Any = None, H: Any = None, weights: Any = None
    ) -> NMF:
        """Update the model with one mini-batch of rows (online NMF); returns self.

        Frobenius solvers keep Mairal et al.'s running sums, ``solver="mu"``
        (any ``beta_loss``) follows Lefèvre, Bach & Févotte as scikit-learn's
        ``MiniBatchNMF.partial_fit``; both discount earlier batches by
        ``forget_factor`` per call (:mod:`nmfkit.online`). The first call
        takes H from ``H`` (``init="custom"``), from a previous ``fit``, or
        from ``init`` on the batch. ``weights`` (0 = missing) is supported.

        Examples
        --------
        >>> import numpy as np, nmfkit
        >>> X = np.random.default_rng(0).random((60, 8))
        >>> model = nmfkit.NMF(3, random_state=0)
        >>> for s in range(0, 60, 20):
        ...     model = model.partial_fit(X[s:s + 20])
        >>> model.components_.shape, model.n_steps_
        ((3, 8), 3)
        """
        from ..scale import partial_fit_step

        first = getattr(self, "_online_state", None) is None
        if first:
            self._validate_params()
        X = self._validate_X(X, reset=not hasattr(self, "components_"), weights=weights)
        if self.missing == "nan" and not sp.issparse(X) and np.isnan(X).any():
            seen = ~np.isnan(X)
            weights = seen * (1.0 if weights is None else np.asarray(weights, dtype=float))
            X = np.where(seen, X, 0.0)
        if first and H is None and hasattr(self, "components_"):
            H = self.components_
        k = self._resolve_k(X, W, H) if first else self.n_components_
        state, _ = partial_fit_step(
            getattr(self, "_online_state", None), X, n_components=k, solver=self.solver,
            beta_loss=self.beta_loss, init=self.init, random_state=self.random_state,
            forget_factor=self.forget_factor, alpha_W=self.alpha_W, alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio, weights=weights, H=H,
        )
        self._online_state = state
        self.components_ = state.H
        self.n_components_ = state.n_components
        self.n_steps_ = state.n_steps
        return self

    def fit(
        self,
        X: Any,
        y: Any = None,
        W: Any = None,
        H: Any = None,
        weights: Any = None,
        graph: Any = None,
    ) -> NMF:
        """Learn the factorization of X; returns self (parameters as :meth:`fit_transform`)."""
        self.fit_transform(X, W=W, H=H, weights=weights, graph=graph)
        return self

    # ---------------------------------------------------------- transform
    def transform(self, X: Any, weights: Any = None) -> np.ndarray:
        """Solve for W ≥ 0 with H = ``components_`` fixed (new samples).

        Frobenius: one exact non-negative least-squares solve per row (block
        principal pivoting on the Gram matrices; per-row Grams with weights).
        Other β: multiplicative updates with H fixed, started from a constant W.
        """
        check_is_fitted(self)
        if is_foreign(X):
            from ._nmf_xp import transform_foreign

            return transform_foreign(self, X, weights)
        # the Frobenius solve reads X once, in X Hᵀ: an unsorted CSR matrix is used as
        # it is (the sort would cost more than the product it speeds up)
        once = self._plain(weights) and resolve_beta(self.beta_loss) == 2
        X = self._validate_X(X, reset=False, weights=weights, canonical=not once)
        X, ew = self._weights(X, weights)
        return self._solve_W(X, ew)

    def _penalties(self, n_samples: int, n_features: int) -> Penalties:
        return Penalties.from_alpha(
            alpha_W=self.alpha_W, alpha_H=self.alpha_H, l1_ratio=self.l1_ratio,
            n_samples=n_samples, n_features=n_features,
        )

    def _solve_W(self, X: Any, ew: Any = None) -> np.ndarray:
        return _solve_coefficients(
            X, self.components_, ew, resolve_beta(self.beta_loss),
            self._penalties(X.shape[0], X.shape[1]), self.max_iter, self.tol,
        )

    def fold_in_features(self, X_cols: Any, weights: Any = None) -> np.ndarray:
        """Coefficients of new features (columns) with the training W fixed.

        Parameters
        ----------
        X_cols : array or sparse matrix of shape (n_samples, n_new)
            New columns for the training samples (e.g. ratings of new items
            by the known users).
        weights : array of X_cols' shape, optional

        Returns
        -------
        H_new : ndarray of shape (n_components, n_new)
            Such that ``X_cols ≈ W_ @ H_new``. One small NNLS solve per
            column, no refit.
        """
        check_is_fitted(self)
        from sklearn.utils import check_array

        plain = weights is None and self.missing == "error"
        X_cols = check_array(
            X_cols, accept_sparse=("csr", "csc", "coo"), dtype=[np.float64, np.float32],
            ensure_all_finite=True if plain else "allow-nan",
        )
        if X_cols.shape[0] != self.W_.shape[0]:
            raise ValueError(
                f"X_cols must have one row per training sample ({self.W_.shape[0]}), "
                f"got {X_cols.shape[0]}"
            )
        from ..backend import to_csr

        Xt = to_csr(X_cols.T) if sp.issparse(X_cols) else np.ascontiguousarray(X_cols.T)
        wt = None
        if weights is not None:
            wt = weights.T if sp.issparse(weights) else np.asarray(weights).T
        Xt, ew = self._weights(Xt, wt)
        pen = self._penalties(self.W_.shape[0], X_cols.shape[1]).swap()
        Ht = _solve_coefficients(
            Xt, self.W_.T, ew, resolve_beta(self.beta_loss), pen, self.max_iter, self.tol
        )
        return np.ascontiguousarray(Ht.T)

    def impute(self, X: Any, weights: Any = None) -> np.ndarray:
        """Return X with its missing entries filled from W H (observed entries unchanged).

        Missing entries are those with weight 0 — from ``weights``, NaN when
        ``missing="nan"``, or entries not stored when ``absent="missing"``.
        W comes from :meth:`transform` (one NNLS solve per row).

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False, weights=weights)
        X, ew = self._weights(X, weights)
        if ew is None:
            return X
        W = self._solve_W(X, ew)
        out = W @ self.components_
        if ew.is_pattern:
            obs = ew.w > 0
            out[ew.rows[obs], ew.cols[obs]] = ew.x[obs]
        else:
            obs = ew.dense > 0
            if sp.issparse(X):  # observed entries: stored values, zeros elsewhere
                out[obs] = 0.0
                r = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
                keep = obs[r, X.indices]
                out[r[keep], X.indices[keep]] = X.data[keep]
            else:
                out[obs] = X[obs]
        return out

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map W back to data space: ``W @ components_``."""
        check_is_fitted(self)
        if is_foreign(X):
            from ._nmf_xp import inverse_transform_foreign

            return inverse_transform_foreign(self, X)
        W = np.asarray(X)
        if W.ndim != 2 or W.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"inverse_transform expects W of shape (n, {self.components_.shape[0]}), "
                f"got {W.shape}"
            )
        return W @ self.components_

    def score(self, X: Any, y: Any = None, weights: Any = None) -> float:
        """Negative (weighted) β-divergence of X from its reconstruction (higher is better)."""
        check_is_fitted(self)
        if is_foreign(X):
            from ._nmf_xp import score_foreign

            return score_foreign(self, X, weights)
        X = self._validate_X(X, reset=False, weights=weights)
        X, ew = self._weights(X, weights)
        W = self._solve_W(X, ew)
        return -beta_divergence(X, W, self.components_, resolve_beta(self.beta_loss), weights=ew)

    # -------------------------------------------------------- persistence
    def save(self, path: Any) -> None:
        """Write the fitted model to ``path`` (npz + JSON metadata, no pickle)."""
        from ..io import save_model

        save_model(self, path)


def _solve_coefficients(
    X: Any, H: np.ndarray, ew: Any, beta: float, pen: Penalties, max_iter: int, tol: float
) -> np.ndarray:
    """W ≥ 0 minimising the (weighted) objective with H fixed."""
    with blas_limit_for(X, H.shape[0]):  # sparse X: the product runs on numba's threads
        return _solve_coefficients_in(X, H, ew, beta, pen, max_iter, tol)


def _solve_coefficients_in(
    X: Any, H: np.ndarray, ew: Any, beta: float, pen: Penalties, max_iter: int, tol: float
) -> np.ndarray:
    H = H.astype(X.dtype, copy=False)
    k = H.shape[0]
    if beta == 2:
        if ew is not None:
            from ..solvers._weighted import weighted_nnls_rows

            W = weighted_nnls_rows(X, H, ew, l1=pen.l1_W, l2=pen.l2_W)
            return W.astype(X.dtype, copy=False)
        from ..nnls import bpp_nnls

        G = (H @ H.T).astype(np.float64)
        B = np.asarray(spmm(X, H.T) if sp.issparse(X) else X @ H.T, dtype=np.float64).T
        Wt = bpp_nnls(G, B, l1=pen.l1_W, l2=pen.l2_W)
        return np.ascontiguousarray(Wt.T).astype(X.dtype, copy=False)
    check_beta_data(X, beta, ew)
    n = X.shape[0] * X.shape[1]
    mean = float(X.sum()) / n if n else 0.0
    avg = np.sqrt(max(mean, 0.0) / k) or 1e-3
    W0 = np.full((X.shape[0], k), avg, dtype=X.dtype)
    spec = resolve_solver(
        "mu", beta, sparse=sp.issparse(X), weights=ew is not None, penalties=pen
    )
    res = spec.func(
        X, W0, H, beta=beta, penalties=pen, weights=ew, update_H=False, max_iter=max_iter,
        tol=tol,
    )
    return res.W
