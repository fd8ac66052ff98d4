"""Convex NMF: X ≈ W Gᵀ X, memberships W ≥ 0 and a basis made of conic combinations of samples.

Ding, Li & Jordan (2010), "Convex and semi-nonnegative matrix
factorizations", IEEE TPAMI 32(1), in our orientation (rows of X are
samples)::

    min_{W ≥ 0, G ≥ 0}  ‖X − W Gᵀ X‖²_F,      W, G of shape (n_samples × k)

so ``H = Gᵀ X`` (``components_``, k × n_features): every basis row is a
non-negative combination of the samples (a convex one when the columns of
G sum to 1), which keeps the basis interpretable as "centroids" even when X
has mixed signs. The paper writes X (features × samples) ≈ X W Gᵀ: its W
(the combination weights) is our ``G_``, its G (the memberships) is our W.
As in the paper, both factors are non-negative whatever the sign of X.

Algorithm
---------
With ``K = X Xᵀ`` (n_samples × n_samples) split into ``K = K⁺ − K⁻``
(``K⁺ = (|K| + K)/2``, ``K⁻ = (|K| − K)/2``), the objective is
``tr K − 2 tr(Wᵀ K G) + tr(WᵀW GᵀK G)``. Every iteration applies

* Ding, Li & Jordan's multiplicative update of G, which does not increase
  the objective (their Theorem 8)::

      G ← G ⊙ sqrt( (K⁺W + K⁻ G WᵀW) / (K⁻W + K⁺ G WᵀW) )

* then a W-step for that G. With ``H = GᵀX`` fixed the problem in W is an
  ordinary NNLS, ``min_{W ≥ 0} ‖X − W H‖²``, on the Grams ``H Hᵀ = GᵀKG``
  and ``X Hᵀ = K G``: ``solver="mu-hals"`` (the default) improves W by HALS
  sweeps (exact coordinate minimisations, :func:`nmfkit.nnls.hals_sweep`,
  up to 10 per iteration with the Gillis–Glineur stop), ``solver="mu"`` by
  the paper's multiplicative update::

      W ← W ⊙ sqrt( (K⁺G + W GᵀK⁻G) / (K⁻G + W GᵀK⁺G) )

Both variants are monotone. HALS moves entries of W to exact zeros (the
sparse memberships the paper reports) and keeps going where the
multiplicative W-update stalls. Both end with one exact NNLS W-step for the
final G (block principal pivoting; it can only lower the objective),
computed exactly as ``transform`` computes it, so ``fit_transform(X)``
equals ``transform(X)``.

When X ≥ 0, K⁻ = 0 and every product with K is computed as ``X (Xᵀ M)``
without forming K; otherwise K (n_samples × n_samples, dense) is formed
once, so mixed-sign data costs O(n_samples²) memory. Sparse X is accepted
in both cases.

Start (Ding et al.): k-means labels (:func:`nmfkit.models.semi.lloyd_kmeans`,
NumPy only), ``W = indicator + 0.2`` and ``G = (indicator + 0.2) D⁻¹`` with
D the cluster sizes, so ``Gᵀ X`` starts near the centroids.
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
from sklearn.utils.validation import check_is_fitted, validate_data

from ..backend import rmatmul_T, to_csr
from ..exceptions import ConvergenceWarning
from ..losses import beta_divergence
from ..nnls import bpp_nnls, hals_sweep
from ..solvers._stopping import Monitor
from .semi import _indicator, lloyd_kmeans

__all__ = ["ConvexNMF"]

_SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")
#: Denominator floor of the multiplicative updates.
_TINY = 1e-300


class _Kernel:
    """Products with K⁺ and K⁻ (K = X Xᵀ), matrix-free when X ≥ 0."""

    def __init__(self, X: Any) -> None:
        self.X = X
        data = X.data if sp.issparse(X) else X
        self.nonneg = not bool(np.any(data < 0))
        if self.nonneg:
            self.Kp = self.Km = None
        else:
            K = X @ X.T
            K = np.asarray(K.toarray() if sp.issparse(K) else K, dtype=np.float64)
            self.Kp = np.maximum(K, 0.0)
            self.Km = np.maximum(-K, 0.0)

    def pos(self, M: np.ndarray) -> np.ndarray:
        if self.Kp is None:
            return np.asarray(self.X @ rmatmul_T(self.X, M).T, dtype=np.float64)
        return self.Kp @ M

    def neg(self, M: np.ndarray) -> np.ndarray:
        if self.Km is None:
            return np.zeros_like(M)
        return self.Km @ M


def _basis(X: Any, G: np.ndarray) -> np.ndarray:
    """``H = Gᵀ X`` as a dense (k × n_features) array."""
    return np.ascontiguousarray(np.asarray(rmatmul_T(X, G), dtype=np.float64))


def _nnls_W(X: Any, H: np.ndarray) -> np.ndarray:
    """Exact ``argmin_{W ≥ 0} ‖X − W H‖²`` (block principal pivoting on the Grams)."""
    B = np.asarray(X @ H.T, dtype=np.float64).T
    return np.ascontiguousarray(bpp_nnls(H @ H.T, B).T)


def _hals_W(X: Any, H: np.ndarray, W: np.ndarray) -> np.ndarray:
    """HALS sweeps on ``min_{W ≥ 0} ‖X − W H‖²`` from W (monotone; Gillis–Glineur stop)."""
    At = np.array(W.T, dtype=np.float64, order="C")
    B = np.asarray(X @ H.T, dtype=np.float64).T
    hals_sweep(At, np.ascontiguousarray(B), H @ H.T, max_sweeps=10, rel_tol=0.1)
    return np.ascontiguousarray(At.T)


def _update_G(Kn: _Kernel, W: np.ndarray, G: np.ndarray) -> np.ndarray:
    WtW = W.T @ W
    GWW = G @ WtW
    num = Kn.pos(W) + Kn.neg(GWW)
    den = Kn.neg(W) + Kn.pos(GWW)
    return G * np.sqrt(num / np.maximum(den, _TINY))


def _update_W_mu(Kn: _Kernel, W: np.ndarray, G: np.ndarray) -> np.ndarray:
    KpG, KmG = Kn.pos(G), Kn.neg(G)
    num = KpG + W @ (G.T @ KmG)
    den = KmG + W @ (G.T @ KpG)
    return W * np.sqrt(num / np.maximum(den, _TINY))


class ConvexNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Convex NMF (Ding, Li & Jordan 2010): X ≈ W Gᵀ X with W, G ≥ 0, X of any sign.

    Minimises, over W ≥ 0 (n_samples × k, the memberships) and G ≥ 0
    (n_samples × k, the combination weights of the basis)::

        ‖X − W Gᵀ X‖²_F,     components_ = H = Gᵀ X

    The basis rows are conic combinations of the samples. See the module
    docstring for the algorithm.

    Parameters
    ----------
    n_components : int
        Number of components k.
    solver : {"mu-hals", "mu"}, default="mu-hals"
        G by Ding et al.'s multiplicative update; W by HALS sweeps
        (``"mu-hals"``) or by their multiplicative update (``"mu"``). Both
        finish with one exact NNLS W-step.
    init : {"auto", "kmeans", "random"}, default="auto"
        ``"auto"`` is ``"kmeans"``: the paper's start from k-means labels
        (``W = indicator + 0.2``, ``G = (indicator + 0.2)`` with columns
        divided by the cluster sizes). ``"random"``: uniform entries in
        [0.2, 1.2), columns of G divided by n_samples / k.
    max_iter : int, default=500
    tol : float, default=1e-4
        Stop when the relative decrease of the objective over one iteration
        falls below ``tol`` (the shared rule of :class:`nmfkit.NMF`).
    random_state : int, RandomState instance or None
    verbose : int, default=0
    callback : callable or None
        Called after every iteration with an ``IterationState`` (its ``W`` is
        the memberships, its ``H`` the combination weights G); returning
        True or raising ``StopIteration`` stops the run.

    Attributes
    ----------
    G_ : ndarray of shape (n_samples, k)
        Non-negative combination weights: ``components_ = G_.T @ X``.
    components_ : ndarray of shape (k, n_features)
        ``G_.T @ X``, recomputed after the last update.
    labels_ : ndarray of shape (n_samples,)
        argmax over each row of W.
    reconstruction_err_ : float
        ‖X − W Gᵀ X‖_F.
    n_iter_ : int
    loss_history_ : ndarray
        ½‖X − W Gᵀ X‖²_F at the start and after every iteration (non-increasing);
        the final exact W-step may lower ``reconstruction_err_`` below
        ``sqrt(2·loss_history_[-1])``.
    converged_ : bool
    stop_reason_ : str
    W_ : ndarray of shape (n_samples, k)
        The memberships of the training samples (what ``fit_transform`` returned).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    Notes
    -----
    Dense and sparse X of any sign are accepted; for mixed-sign X the
    n_samples × n_samples matrix ``X Xᵀ`` is formed (dense). ``transform``
    is the exact NNLS fit of new samples on ``components_`` (memberships are
    non-negative for any X).

    References
    ----------
    C. Ding, T. Li, M. I. Jordan, "Convex and semi-nonnegative matrix
    factorizations", IEEE TPAMI 32(1), 2010.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.2, 0.1], [0.9, 0.1, 0.3], [0.1, 1.0, 0.9],
    ...               [0.2, 1.1, 1.0], [1.1, 0.0, 0.2]])
    >>> model = ConvexNMF(2, random_state=0, tol=1e-3)
    >>> W = model.fit_transform(X)
    >>> bool(np.allclose(model.components_, model.G_.T @ X))
    True
    >>> labels = model.labels_.tolist()
    >>> labels[0] == labels[1] == labels[4] != labels[2] == labels[3]
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "solver": [StrOptions({"mu-hals", "mu"})],
        "init": [StrOptions({"auto", "kmeans", "random"})],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callback": [callable, None],
    }

    def __init__(
        self,
        n_components: int,
        *,
        solver: str = "mu-hals",
        init: str = "auto",
        max_iter: int = 500,
        tol: float = 1e-4,
        random_state: Any = None,
        verbose: int = 0,
        callback: Any = None,
    ) -> None:
        self.n_components = n_components
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    def _validate_X(self, X: Any, *, reset: bool) -> Any:
        X = validate_data(self, X, accept_sparse=_SPARSE_FORMATS, dtype=np.float64, reset=reset)
        return to_csr(X) if sp.issparse(X) else X

    def _start(self, X: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = X.shape[0]
        rng = check_random_state(self.random_state)
        if self.init == "random":
            W0 = 0.2 + rng.uniform(size=(n, k))
            return W0, 0.2 + rng.uniform(size=(n, k)) / max(n / k, 1.0)
        labels, _ = lloyd_kmeans(X, k, random_state=rng)
        W0 = _indicator(labels, k) + 0.2
        sizes = np.maximum(np.bincount(labels, minlength=k), 1).astype(np.float64)
        return W0, W0 / sizes[None, :]

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit the Convex-NMF model and return the memberships W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Any sign.
        y : ignored

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        k = int(self.n_components)
        W, G = self._start(X, k)
        Kn = _Kernel(X)
        mon = Monitor(
            tol=self.tol, max_iter=self.max_iter, callback=self.callback,
            verbose=self.verbose, solver=f"convex-{self.solver}",
        )
        if not mon.start(beta_divergence(X, W, _basis(X, G), 2.0)):
            while True:
                G = _update_G(Kn, W, G)
                H = _basis(X, G)
                if self.solver == "mu":
                    W = _update_W_mu(Kn, W, G)
                else:
                    W = _hals_W(X, H, W)
                if mon.step(W, G, beta_divergence(X, W, H, 2.0)):
                    break
        res = mon.result(W, G)
        # Final exact W-step for the final G, computed exactly as ``transform``
        # does (cold start), so fit_transform(X) == transform(X) bit for bit;
        # it can only lower the objective.
        H = _basis(X, G)
        W = _nnls_W(X, H)
        if not res.converged and self.tol > 0 and self.max_iter > 0:
            warnings.warn(
                f"ConvexNMF stopped on max_iter={self.max_iter} before reaching tol={self.tol}; "
                "increase max_iter or loosen tol",
                ConvergenceWarning, stacklevel=2,
            )
        self.G_ = G
        self.components_ = H
        self.W_ = W
        self.n_components_ = k
        self.n_iter_ = res.n_iter
        self.loss_history_ = res.loss_history
        self.converged_ = res.converged
        self.stop_reason_ = res.stop_reason
        loss = beta_divergence(X, W, self.components_, 2.0)
        self.reconstruction_err_ = float(np.sqrt(2.0 * loss))
        self.labels_ = np.argmax(W, axis=1)
        return W

    def fit(self, X: Any, y: Any = None) -> ConvexNMF:
        """Fit the Convex-NMF model; returns self."""
        self.fit_transform(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Memberships W ≥ 0 of (new) samples with H = ``components_`` fixed (exact NNLS)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return _nnls_W(X, self.components_)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map W back to data space: ``W @ components_``."""
        check_is_fitted(self)
        W = np.asarray(X)
        if W.ndim != 2 or W.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"inverse_transform expects W of shape (n, {self.components_.shape[0]}), "
                f"got {W.shape}"
            )
        return W @ self.components_
