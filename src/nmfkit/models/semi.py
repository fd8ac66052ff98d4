"""Semi-NMF: X ≈ W H with W ≥ 0 and X, H of any sign.

Ding, Li & Jordan (2010), "Convex and semi-nonnegative matrix
factorizations", IEEE TPAMI 32(1), in our orientation (rows of X are
samples)::

    min_{W ≥ 0, H}  ‖X − W H‖²_F,     W (n_samples × k),  H (k × n_features)

(the paper writes X (features × samples) ≈ F Gᵀ with G ≥ 0: its G is our
W, its F our Hᵀ). Only the memberships W are constrained, so the data and
the basis may have mixed signs; Semi-NMF is a soft relaxation of k-means —
W a cluster indicator and H the centroids is a feasible point whose
objective is the k-means objective.

Algorithm
---------
Exact alternating minimisation (two-block coordinate descent), started from
the paper's k-means start (``W = indicator + 0.2``, ``H`` = centroids):

* H-step: ``H = (WᵀW)⁻¹ WᵀX``, the exact least-squares solution
  (``lstsq`` on W for dense X, on the normal equations for sparse X; the
  minimum-norm solution when W is rank-deficient).
* W-step: for fixed H the problem ``min_{W ≥ 0} ‖X − W H‖²`` is one NNLS
  problem per row, solved exactly by block principal pivoting on the Gram
  matrices ``H Hᵀ`` and ``X Hᵀ`` (:func:`nmfkit.nnls.bpp_nnls`).

Both steps are exact, so the objective never increases (the paper's
multiplicative W-update, with positive and negative parts of ``XᵀX``-type
products, also decreases it monotonically, but only approximately solves
each W subproblem; the NNLS route reaches the same stationary points in far
fewer iterations). Sparse X is supported (only ``WᵀX`` and ``X Hᵀ`` touch
it).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..backend import dense_rows, rmatmul_T, row_sq_norms, to_csr
from ..exceptions import ConvergenceWarning
from ..losses import beta_divergence
from ..nnls import bpp_nnls
from ..solvers._stopping import Monitor

__all__ = ["SemiNMF", "lloyd_kmeans"]

_SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")


# ------------------------------------------------------------ k-means start
def _sq_dists(X: Any, norms2: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances of every row of X to the rows of C (≥ 0)."""
    D = norms2[:, None] - 2.0 * np.asarray(X @ C.T, dtype=np.float64)
    D += np.einsum("ij,ij->i", C, C)[None, :]
    return np.maximum(D, 0.0, out=D)


def _cluster_means(X: Any, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = X.shape[0]
    M = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    counts = np.asarray(M.sum(axis=1)).ravel()
    S = M @ X
    S = np.asarray(S.toarray() if sp.issparse(S) else S, dtype=np.float64)
    return S / np.maximum(counts, 1.0)[:, None], counts


def lloyd_kmeans(
    X: Any, k: int, *, random_state: Any = None, max_iter: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Plain k-means: greedy k-means++ seeding, then Lloyd iterations (NumPy only).

    Used as the cluster start of :class:`SemiNMF` and
    :class:`nmfkit.models.convex.ConvexNMF` (Ding, Li & Jordan initialise
    both from k-means). The seeding is Arthur & Vassilvitskii's D² sampling
    with ``2 + ⌊ln k⌋`` candidates per seed (the one lowering the potential
    most is kept); Lloyd's iterations stop when the labels no longer change
    or after ``max_iter``. An empty cluster is reseeded with the point
    farthest from its centre. Sparse X is never densified (distances come
    from ``X Cᵀ`` and the row norms).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Any sign.
    k : int
    random_state : int, RandomState instance or None
    max_iter : int, default=20

    Returns
    -------
    labels : ndarray of shape (n_samples,)
    centers : ndarray of shape (k, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> labels, centers = lloyd_kmeans(X, 2, random_state=0)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    rng = check_random_state(random_state)
    n = X.shape[0]
    norms2 = row_sq_norms(X)
    n_trials = 2 + int(np.log(max(k, 1)))
    first = int(rng.randint(n))
    C = dense_rows(X, [first], dtype=np.float64)
    closest = _sq_dists(X, norms2, C).ravel()
    for _ in range(1, k):
        pot = float(closest.sum())
        if pot > 0:
            cand = rng.choice(n, size=n_trials, p=closest / pot)
        else:
            cand = rng.randint(n, size=1)
        cands = dense_rows(X, cand, dtype=np.float64)
        Dc = np.minimum(closest[:, None], _sq_dists(X, norms2, cands))
        b = int(np.argmin(Dc.sum(axis=0)))
        C = np.vstack([C, dense_rows(X, [int(cand[b])], dtype=np.float64)])
        closest = Dc[:, b]
    labels = np.argmin(_sq_dists(X, norms2, C), axis=1)
    for _ in range(max_iter):
        C, counts = _cluster_means(X, labels, k)
        D = _sq_dists(X, norms2, C)
        for j in np.flatnonzero(counts == 0):  # reseed empty clusters
            far = int(np.argmax(D[np.arange(n), labels]))
            C[j] = dense_rows(X, [far], dtype=np.float64)[0]
            D[:, j] = _sq_dists(X, norms2, C[j : j + 1]).ravel()
            labels[far] = j
        new = np.argmin(D, axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    C, _ = _cluster_means(X, labels, k)
    return labels, C


def _indicator(labels: np.ndarray, k: int) -> np.ndarray:
    W = np.zeros((labels.size, k))
    W[np.arange(labels.size), labels] = 1.0
    return W


# ------------------------------------------------------------------- steps
def _solve_H(X: Any, W: np.ndarray) -> np.ndarray:
    """Exact least squares ``argmin_H ‖X − W H‖²`` (minimum norm if W is rank-deficient)."""
    if sp.issparse(X):
        G = W.T @ W
        B = np.asarray(rmatmul_T(X, W), dtype=np.float64)
        return np.linalg.lstsq(G, B, rcond=None)[0]
    return np.linalg.lstsq(W, X, rcond=None)[0]


def _solve_W(X: Any, H: np.ndarray) -> np.ndarray:
    """Exact NNLS ``argmin_{W ≥ 0} ‖X − W H‖²`` (block principal pivoting, Gram form)."""
    B = np.asarray(X @ H.T, dtype=np.float64).T
    return np.ascontiguousarray(bpp_nnls(H @ H.T, B).T)


def _check_start(W: Any, H: Any, n: int, p: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a custom start: W ≥ 0 of shape (n, k), H finite of shape (k, p)."""
    if W is None or H is None:
        raise ValueError("init='custom' requires both W and H passed to fit")
    out = []
    for name, A, shape, what in (
        ("W", W, (n, k), "(n_samples, n_components)"),
        ("H", H, (k, p), "(n_components, n_features)"),
    ):
        if sp.issparse(A):
            raise TypeError(f"{name} must be a dense array, got a scipy.sparse matrix")
        A = check_array(A, dtype=np.float64, input_name=name, copy=True)
        if A.shape != shape:
            raise ValueError(
                f"{name} has the wrong shape: expected {what} = {shape}, got {A.shape}"
            )
        out.append(A)
    if np.any(out[0] < 0):
        raise ValueError(
            f"W has {int(np.count_nonzero(out[0] < 0))} negative entries; Semi-NMF needs W >= 0"
        )
    return out[0], out[1]


# --------------------------------------------------------------- estimator
class SemiNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Semi-NMF (Ding, Li & Jordan 2010): X ≈ W H with W ≥ 0, X and H of any sign.

    Minimises, over W (n_samples × k) ≥ 0 and H (k × n_features) of any sign::

        ‖X − W H‖²_F

    by exact alternating least squares (H) and NNLS (W); see the module
    docstring. A relaxation of k-means: with W a 0/1 cluster indicator and H
    the centroids the objective is the k-means objective, and a fit started
    there never rises above it.

    Parameters
    ----------
    n_components : int
        Number of components (clusters) k.
    init : {"auto", "kmeans", "random", "custom"}, default="auto"
        ``"auto"`` is ``"kmeans"``: Lloyd's k-means (:func:`lloyd_kmeans`,
        NumPy only), ``W = indicator + 0.2`` and ``H`` = centroids (Ding et
        al.). ``"random"``: W uniform in [0, 1). ``"custom"``: ``W`` (≥ 0) and
        ``H`` passed to ``fit``.
    max_iter : int, default=200
    tol : float, default=1e-4
        Stop when the relative decrease of the objective over one iteration
        falls below ``tol`` (the shared rule of :class:`nmfkit.NMF`).
    random_state : int, RandomState instance or None
    verbose : int, default=0
    callback : callable or None
        Called after every iteration with an ``IterationState``; returning
        True or raising ``StopIteration`` stops the run.

    Attributes
    ----------
    components_ : ndarray of shape (k, n_features)
        H (any sign). Its scale is the one the start gives (centroid-like
        for the k-means start; no canonical rescaling, which would change
        ``labels_``).
    labels_ : ndarray of shape (n_samples,)
        argmax over each row of W.
    reconstruction_err_ : float
        ‖X − WH‖_F.
    n_iter_ : int
    loss_history_ : ndarray
        ½‖X − WH‖²_F at the start and after every iteration (non-increasing).
    converged_ : bool
    stop_reason_ : str
    W_ : ndarray of shape (n_samples, k)
        W of the training samples (what ``fit_transform`` returned).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    Notes
    -----
    Dense X and any scipy.sparse format are accepted (sparse X is never
    densified). Every iteration ends with the W-step, computed exactly as
    ``transform`` computes it, so ``fit_transform(X)`` equals ``transform(X)``
    for the fitted model.

    References
    ----------
    C. Ding, T. Li, M. I. Jordan, "Convex and semi-nonnegative matrix
    factorizations", IEEE TPAMI 32(1), 2010.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[-1.0, 2.0], [-1.1, 2.1], [3.0, -1.0], [2.9, -1.2]])
    >>> model = SemiNMF(2, random_state=0)
    >>> W = model.fit_transform(X)
    >>> bool((W >= 0).all()), bool((model.components_ < 0).any())
    (True, True)
    >>> labels = model.labels_.tolist()
    >>> labels[0] == labels[1] != labels[2] == labels[3]
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "init": [StrOptions({"auto", "kmeans", "random", "custom"})],
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
        init: str = "auto",
        max_iter: int = 200,
        tol: float = 1e-4,
        random_state: Any = None,
        verbose: int = 0,
        callback: Any = None,
    ) -> None:
        self.n_components = n_components
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

    def _start(self, X: Any, k: int, W: Any, H: Any) -> tuple[np.ndarray, np.ndarray]:
        n, p = X.shape
        init = "kmeans" if self.init == "auto" else self.init
        if init == "custom":
            return _check_start(W, H, n, p, k)
        rng = check_random_state(self.random_state)
        if init == "kmeans":
            labels, C = lloyd_kmeans(X, k, random_state=rng)
            return _indicator(labels, k) + 0.2, C
        W0 = rng.uniform(size=(n, k))
        return W0, _solve_H(X, W0)

    def fit_transform(self, X: Any, y: Any = None, W: Any = None, H: Any = None) -> np.ndarray:
        """Fit the Semi-NMF model and return W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Any sign.
        y : ignored
        W, H : arrays, optional
            Start for ``init="custom"`` (W ≥ 0, H any sign).

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        k = int(self.n_components)
        Wc, Hc = self._start(X, k, W, H)
        mon = Monitor(
            tol=self.tol, max_iter=self.max_iter, callback=self.callback,
            verbose=self.verbose, solver="semi-anls",
        )
        if not mon.start(beta_divergence(X, Wc, Hc, 2.0)):
            while True:
                Hc = _solve_H(X, Wc)
                Wc = _solve_W(X, Hc)  # cold start: the same computation as transform
                if mon.step(Wc, Hc, beta_divergence(X, Wc, Hc, 2.0)):
                    break
        res = mon.result(Wc, Hc)
        if not res.converged and self.tol > 0 and self.max_iter > 0:
            warnings.warn(
                f"SemiNMF stopped on max_iter={self.max_iter} before reaching tol={self.tol}; "
                "increase max_iter or loosen tol",
                ConvergenceWarning, stacklevel=2,
            )
        self.components_ = Hc
        self.W_ = Wc
        self.n_components_ = k
        self.n_iter_ = res.n_iter
        self.loss_history_ = res.loss_history
        self.converged_ = res.converged
        self.stop_reason_ = res.stop_reason
        self.reconstruction_err_ = float(np.sqrt(2.0 * res.loss_history[-1]))
        self.labels_ = np.argmax(Wc, axis=1)
        return Wc

    def fit(self, X: Any, y: Any = None, **params: Any) -> SemiNMF:
        """Fit the Semi-NMF model; returns self."""
        self.fit_transform(X, **params)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """W ≥ 0 for (new) samples with H = ``components_`` fixed: exact NNLS per row."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return _solve_W(X, self.components_)

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
