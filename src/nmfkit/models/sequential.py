"""Sequential NMF (Ren et al. 2018): components added one at a time.

B. Ren, L. Pueyo, G. B. Zhu, J. Debes and G. Duchêne, "Non-negative Matrix
Factorization: Robust Extraction of Extended Structures", ApJ 852:104, 2018.
Fitting ranks 1, 2, …, K in turn, each started from the previous solution,
keeps the components found early stable as new ones are added, so the
components come ordered by importance and the curve of the fraction of
residual variance (FRV) against k can be read like PCA's.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.validation import check_is_fitted, validate_data

from .._core import fit_factorization
from .._validation import COMMON_CONSTRAINTS, check_non_negative
from ..backend import to_csr, values_at_nonzeros
from ..exceptions import ComponentCollapseWarning, ConvergenceWarning
from ..metrics import squared_residual

__all__ = ["SequentialNMF", "nnls_coefficients", "uncentred_svd_frv"]

_SPARSE = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")


def nnls_coefficients(X: Any, H: np.ndarray, *, max_sweeps: int = 2000) -> np.ndarray:
    """Non-negative coefficients ``W = argmin_{W ≥ 0} ‖X − W H‖_F`` for a fixed basis ``H``.

    Solved on the Gram matrices ``G = H Hᵀ`` and ``B = H Xᵀ`` (sparse ``X``
    stays sparse): exactly by block principal pivoting
    (:func:`nmfkit.nnls.bpp_nnls`) when that kernel is available, otherwise
    by HALS sweeps (:func:`nmfkit.nnls.hals_sweep`) run to convergence from
    the projected least-squares solution.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    H : ndarray of shape (k, n_features)

    Returns
    -------
    W : ndarray of shape (n_samples, k), in ``X``'s floating dtype

    Examples
    --------
    >>> import numpy as np
    >>> H = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> nnls_coefficients(np.array([[2.0, 3.0]]), H).tolist()
    [[2.0, 3.0]]
    """
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    Hd = np.asarray(H, dtype=np.float64)
    G = Hd @ Hd.T
    B = np.asarray(X @ Hd.T, dtype=np.float64).T
    try:
        from ..nnls import bpp_nnls
    except ImportError:  # pragma: no cover - depends on the installed kernels
        bpp_nnls = None
    if bpp_nnls is not None:
        A = bpp_nnls(G, B)
    else:  # pragma: no cover
        from ..nnls import hals_sweep

        A = np.linalg.lstsq(G, B, rcond=None)[0] if G.size else np.zeros_like(B)
        np.maximum(A, 0.0, out=A)
        A = np.ascontiguousarray(A)
        A, _ = hals_sweep(A, B, G, max_sweeps=max_sweeps, rel_tol=1e-7)
    return np.ascontiguousarray(np.asarray(A).T).astype(dtype, copy=False)


def uncentred_svd_frv(X: Any, k_max: int, *, random_state: Any = None) -> np.ndarray:
    """FRV curve of the truncated SVD of ``X`` without centring, for k = 1..k_max.

    ``FRV_SVD(k) = 1 − Σ_{i ≤ k} σ_i² / ‖X‖²_F`` (Eckart–Young: the smallest
    ``‖X − X_k‖²/‖X‖²`` over all rank-k matrices), so no rank-k NMF can do
    better. Dense data with ``min(shape) ≤ 1000`` uses all singular values;
    otherwise ARPACK (:func:`scipy.sparse.linalg.svds`, seeded start vector)
    computes the leading ones and sparse data is never densified.

    Examples
    --------
    >>> import numpy as np
    >>> uncentred_svd_frv(np.diag([2.0, 1.0]), 2).round(3).tolist()
    [0.2, 0.0]
    """
    total = float(np.sum(np.asarray(X.data if sp.issparse(X) else X, dtype=np.float64) ** 2))
    out = np.zeros(k_max)
    if total == 0.0:
        return out
    r = min(X.shape)
    if not sp.issparse(X) and r <= 1000:
        from scipy.linalg import svdvals

        s = svdvals(np.asarray(X, dtype=np.float64))[: min(k_max, r)]
    else:
        from scipy.sparse.linalg import svds

        kq = min(k_max, r - 1)  # ARPACK needs k < min(shape)
        s = np.zeros(0)
        if kq >= 1:
            v0 = check_random_state(random_state).uniform(size=r)
            s = svds(X.astype(np.float64), k=kq, v0=v0, return_singular_vectors=False)
            s = np.sort(s)[::-1]
    cum = np.cumsum(np.asarray(s, dtype=np.float64) ** 2)
    out[: cum.size] = np.maximum(1.0 - cum / total, 0.0)
    out[r - 1 :] = 0.0  # at k = min(shape) the SVD is exact
    return np.minimum.accumulate(out)


def _residual_component(
    X: Any, W: np.ndarray, H: np.ndarray, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """A rank-one non-negative start ``(w, h)`` for the next component.

    Takes the positive part of the residual, ``R₊ = max(X − W H, 0)``, and
    its leading singular pair (non-negative by Perron–Frobenius, so its
    absolute value is taken against sign noise), then scales ``w hᵀ`` by the
    least-squares factor ``c = ⟨X − WH, w hᵀ⟩ / (‖w‖²‖h‖²)`` (computed from
    products, never forming ``X − WH`` for sparse ``X``). For sparse ``X``
    ``R₊`` lives on the stored entries (elsewhere ``X − WH = −WH ≤ 0``).
    When ``R₊`` vanishes (an exact fit) a small random start is returned.
    """
    n, m = X.shape
    dt = np.float64
    if sp.issparse(X):
        v = values_at_nonzeros(W.astype(dt), H.astype(dt), X)
        Rp = sp.csr_matrix(
            (np.maximum(np.asarray(X.data, dtype=dt) - v, 0.0), X.indices.copy(),
             X.indptr.copy()),
            shape=X.shape,
        )  # copies: eliminate_zeros works in place and X must stay untouched
        Rp.eliminate_zeros()
        has_mass = Rp.nnz > 0
    else:
        Rp = np.maximum(np.asarray(X, dtype=dt) - W.astype(dt) @ H.astype(dt), 0.0)
        has_mass = bool(np.any(Rp > 0))
    if has_mass:
        seed = int(rng.randint(np.iinfo(np.int32).max))
        U, S, Vt = randomized_svd(Rp, 1, n_iter=7, random_state=seed)
        w = np.sqrt(S[0]) * np.abs(U[:, 0])
        h = np.sqrt(S[0]) * np.abs(Vt[0])
    else:
        mean = float(np.sum(X.data if sp.issparse(X) else X)) / (n * m)
        scale = 1e-3 * np.sqrt(max(mean, 1e-12))
        w = scale * rng.random_sample(n)
        h = scale * rng.random_sample(m)
    # least-squares scale of w hᵀ against the full residual X − WH
    ww, hh = float(w @ w), float(h @ h)
    if ww > 0 and hh > 0:
        xwh = float(w @ np.asarray(X @ h, dtype=dt).ravel())
        fit = float((w @ W.astype(dt)) @ (H.astype(dt) @ h))
        c = (xwh - fit) / (ww * hh)
        if c > 0:
            w, h = w * np.sqrt(c), h * np.sqrt(c)
    return w, h


class SequentialNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """NMF of ranks 1..n_components fitted in turn, each from the previous one.

    For k = 1, …, K (``K = n_components``) minimises the Frobenius objective ::

        ½ ‖X − W_k H_k‖²_F   over  W_k ∈ R₊^{n_samples × k},  H_k ∈ R₊^{k × n_features}

    Rank 1 starts from ``init``. Rank k starts from rank k − 1's solution
    with one component appended: ``W = [W_{k−1}, w]``, ``H = [H_{k−1}; h]``
    where ``w hᵀ`` is the leading singular pair of the positive part of the
    residual, ``max(X − W_{k−1} H_{k−1}, 0)``, scaled by least squares.
    All k components are then updated together (:func:`nmfkit.factorize`
    with ``init="custom"``, ``canonical=False``), so the earlier components
    move only as much as the new one requires (Ren et al. 2018).

    Parameters
    ----------
    n_components : int or None, default None
        The largest rank K ≥ 1. ``None`` means n_features (as in
        :class:`nmfkit.NMF`); for real data pass a small number.
    init : {"auto", "random", "nndsvd", "nndsvda", "nndsvdar", "spa"}, default "auto"
        Start of the rank-1 fit only.
    solver : str, default "auto"
        A Frobenius solver of :func:`nmfkit.list_solvers` (``"auto"`` is
        ``"hals"``). Zeros in the start are lifted to a small floor for
        ``"mu"``, which could not move them; the other solvers take them as they are.
    tol : float, default 1e-4
        Relative objective decrease that stops each rank's fit.
    max_iter : int, default 200
        Iterations for each rank's fit.
    random_state : int, RandomState instance or None
        Seeds the rank-1 start, the randomized SVDs of the residuals and the
        SVD curve; seeded fits are reproducible.
    verbose : int, default 0
    solver_options : dict or None
        Passed to the solver (e.g. ``{"inner_repeat": False}`` for HALS).

    Attributes
    ----------
    components_ : ndarray of shape (K, n_features)
        The final basis H_K, rows scaled to unit L2 norm (the scale moved
        into W) and kept in the order in which they were added (earlier =
        found at a lower rank), not re-sorted.
    components_history_ : list of K ndarrays
        ``components_history_[k − 1]`` is H_k (k × n_features), rows of unit
        norm, in order of addition.
    frv_ : ndarray of shape (K,)
        Fraction of residual variance ``‖X − W_k H_k‖²_F / ‖X‖²_F``; it
        does not increase with k (each rank starts from a point at least as
        good as the previous optimum, and the solvers are descent methods).
    pca_frv_ : ndarray of shape (K,)
        The same curve for the truncated SVD of X **without centring**:
        ``1 − Σ_{i≤k} σ_i²/‖X‖²_F``. Uncentred, because NMF has no offset
        term: the curves then measure the same residual against the same
        total, and the SVD curve is the lower bound (Eckart–Young) that no
        rank-k NMF can beat. (Centred PCA would fit an extra mean term and
        divide by the variance about the mean, so its curve would not be
        comparable.)
    reconstruction_err_ : float
        ``‖X − W_K H_K‖_F``.
    n_components_ : int
    n_iter_ : int
        Iterations summed over all ranks; ``n_iter_history_`` has them per rank.
    n_iter_history_ : ndarray of int, shape (K,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    See Also
    --------
    nmfkit.selection.select_rank : ``method="frv"`` reads the elbow of ``frv_``.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.models.sequential import SequentialNMF
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 3)) @ rng.random((3, 20))
    >>> model = SequentialNMF(4, random_state=0, max_iter=2000, tol=1e-6).fit(X)
    >>> model.components_.shape, bool(np.all(np.diff(model.frv_) <= 1e-12))
    ((4, 20), True)
    >>> bool(model.frv_[2] < 1e-4)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"auto", "random", "nndsvd", "nndsvda", "nndsvdar", "spa"}), None],
        "solver": [str],
        "tol": COMMON_CONSTRAINTS["tol"],
        "max_iter": COMMON_CONSTRAINTS["max_iter"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "solver_options": [dict, None],
    }

    def __init__(
        self,
        n_components: int | None = None,
        *,
        init: str | None = "auto",
        solver: str = "auto",
        tol: float = 1e-4,
        max_iter: int = 200,
        random_state: Any = None,
        verbose: int = 0,
        solver_options: dict | None = None,
    ) -> None:
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.solver_options = solver_options

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    def _validate_X(self, X: Any, *, reset: bool) -> Any:
        X = validate_data(
            self, X, accept_sparse=_SPARSE, dtype=[np.float64, np.float32], reset=reset
        )
        if sp.issparse(X):
            X = to_csr(X)
        check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit ranks 1..n_components in turn; return W of the last rank.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data.
        y : ignored

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
            Coefficients of the final fit, matching ``components_``.
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        K = X.shape[1] if self.n_components is None else int(self.n_components)
        rng = check_random_state(self.random_state)
        seed_first = int(rng.randint(np.iinfo(np.int32).max))
        seed_svd = int(rng.randint(np.iinfo(np.int32).max))
        xx = float(np.sum(np.asarray(X.data if sp.issparse(X) else X, dtype=np.float64) ** 2))
        whom = type(self).__name__
        opts = dict(
            solver=self.solver, tol=self.tol, max_iter=self.max_iter,
            verbose=self.verbose, canonical=False, validated=True, whom=whom,
            solver_options=self.solver_options,
        )
        frv = np.zeros(K)
        history: list[np.ndarray] = []
        n_iters = np.zeros(K, dtype=np.int64)
        unconverged: list[int] = []
        collapsed: list[int] = []
        W = H = None
        for k in range(1, K + 1):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                warnings.simplefilter("always", ComponentCollapseWarning)
                if k == 1:
                    res = fit_factorization(
                        X, 1, init=self.init, random_state=seed_first, **opts
                    )
                else:
                    w, h = _residual_component(X, W, H, rng)
                    W0 = np.hstack([W, w[:, None].astype(W.dtype)])
                    H0 = np.vstack([H, h[None, :].astype(H.dtype)])
                    if self.solver == "mu":  # multiplicative updates cannot leave zeros
                        floor = 1e-6 * max(float(W0.max()), float(H0.max()), 1e-12)
                        np.maximum(W0, floor, out=W0)
                        np.maximum(H0, floor, out=H0)
                    res = fit_factorization(X, k, init="custom", W=W0, H=H0, **opts)
            for wm in caught:
                if issubclass(wm.category, ConvergenceWarning):
                    unconverged.append(k)
                elif issubclass(wm.category, ComponentCollapseWarning):
                    collapsed.append(k)
                else:  # pragma: no cover - pass other warnings through
                    warnings.warn_explicit(wm.message, wm.category, wm.filename, wm.lineno)
            W, H = res.W, res.H
            n_iters[k - 1] = res.n_iter
            frv[k - 1] = squared_residual(X, W, H) / xx if xx > 0 else 0.0
            history.append(_unit_rows(W, H)[1])
        if unconverged:
            warnings.warn(
                f"{whom}: the fits for k in {unconverged} stopped on max_iter={self.max_iter} "
                f"before reaching tol={self.tol}; increase max_iter or loosen tol",
                ConvergenceWarning,
                stacklevel=3,
            )
        if collapsed and xx > 0:
            warnings.warn(
                f"{whom}: components collapsed to zero in the fits for k in {collapsed}; "
                "the data may have a lower non-negative rank than n_components",
                ComponentCollapseWarning,
                stacklevel=3,
            )
        Wn, Hn = _unit_rows(W, H)
        # FRV never increases: a rank-k start contains the rank-(k−1) optimum;
        # guard against round-off in the last digits only.
        self.frv_ = np.minimum.accumulate(frv)
        self.pca_frv_ = uncentred_svd_frv(X, K, random_state=seed_svd)
        self.components_ = Hn
        self.components_history_ = history
        self.n_components_ = K
        self.n_iter_history_ = n_iters
        self.n_iter_ = int(n_iters.sum())
        self.reconstruction_err_ = float(np.sqrt(max(frv[-1] * xx, 0.0)))
        return Wn

    def fit(self, X: Any, y: Any = None) -> SequentialNMF:
        """Fit ranks 1..n_components in turn; returns self."""
        self.fit_transform(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Coefficients ``W ≥ 0`` of X on the fixed basis ``components_``.

        One exact non-negative least-squares solve on the Gram matrices
        (see :func:`nnls_coefficients`); sparse X stays sparse.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return nnls_coefficients(X, self.components_.astype(np.float64))

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map coefficients back to data space: ``W @ components_``."""
        check_is_fitted(self)
        W = np.asarray(X)
        if W.ndim != 2 or W.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"inverse_transform expects W of shape (n, {self.components_.shape[0]}), "
                f"got {W.shape}"
            )
        return W @ self.components_


def _unit_rows(W: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of H at unit L2 norm (zero rows left), the scale moved into W."""
    hn = np.sqrt(np.sum(np.asarray(H, dtype=np.float64) ** 2, axis=1))
    s = np.where(hn > 0, hn, 1.0)
    return (W * s).astype(W.dtype, copy=False), (H / s[:, None]).astype(H.dtype, copy=False)
