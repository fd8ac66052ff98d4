"""Orthogonal NMF: X ≈ W H with W, H ≥ 0 and orthonormal columns of W (or rows of H).

Ding, Li, Peng & Park (2006), "Orthogonal nonnegative matrix
t-factorizations for clustering", in our orientation (rows of X are
samples)::

    orthogonal="W":   min ‖X − W H‖²_F   s.t.  W ≥ 0, H ≥ 0, WᵀW = I
    orthogonal="H":   min ‖X − W H‖²_F   s.t.  W ≥ 0, H ≥ 0, H Hᵀ = I

(the paper writes X (features × samples) ≈ F Gᵀ with GᵀG = I: its G is our
W, its F our Hᵀ). A non-negative matrix with orthonormal columns has
columns with *disjoint supports*, so with ``orthogonal="W"`` every sample
(row of W) has exactly one non-zero membership: a hard clustering, and the
problem is a weighted, "angular" variant of k-means — each cluster is fitted
by a ray ``w_i h_j`` instead of a centroid (Ding et al.; Pompili, Gillis,
Absil & Glineur 2014). ``orthogonal="H"`` clusters the features instead
(the same problem on Xᵀ).

Solvers
-------
``solver="em"`` (default) exploits that structure (Pompili et al.'s EM-like
algorithm, as exact block coordinate descent). Writing A for the orthogonal
factor and B for the other one (X ≈ A B, A with disjoint column supports):

* A-step (exact, given B): sample i goes to the cluster maximising
  ``(x_i·b_j)² / ‖b_j‖²`` with weight ``x_i·b_j / ‖b_j‖²`` — its best ray;
  the residual of row i is ``‖x_i‖² − (x_i·b_j)² / ‖b_j‖²``. A cluster left
  empty is reseeded with the sample of largest residual (which only lowers
  the objective), then columns of A are scaled to unit norm (B takes the
  scale).
* B-step (exact, given A): ``B = (AᵀA)⁻¹ AᵀX``, non-negative without any
  projection because X, A ≥ 0 and AᵀA is diagonal.

Both steps are exact minimisations, so the objective never increases, the
orthogonality constraint holds exactly at every iterate (WᵀW = I up to
rounding, for non-empty clusters), and only Gram-type products (``X Bᵀ``,
``AᵀX``) touch the data, so sparse X is never densified.

``solver="mu"`` runs Ding et al.'s multiplicative updates (for
``orthogonal="W"``; the transposed ones for ``"H"``)::

    W ← W ⊙ sqrt( (X Hᵀ) / (W Wᵀ X Hᵀ) ),     H ← H ⊙ (WᵀX) / (WᵀW H)

which enforce orthogonality only approximately (through the Lagrangian of
the constraint) and are not guaranteed to decrease the objective; it is kept
for comparison with the paper. The start is rescaled so that the orthogonal
factor has unit columns, and the first sweep (which moves the "+0.2" start
towards orthogonality and usually raises the objective) is treated as part
of the initialization: ``loss_history_`` starts after it, and the shared
stopping rule (which stops on any rise) applies from there.
``orthogonality_error_`` reports how far the result is from orthogonal.

Initial points (``init``): ``"kmeans++"`` (the default) is k-means++-style
greedy D² seeding in which the "distance" is the objective's own residual,
the squared distance of a sample to the ray through a seed; ``"spa"``,
``"nndsvd"`` and ``"random"`` come from :func:`nmfkit.init.initialize`. The
EM solver starts from the non-orthogonal factor only (H for
``orthogonal="W"``, W for ``"H"``); for ``"mu"``, a seeding start becomes
the paper's "cluster indicator + 0.2".
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

from .._validation import check_non_negative
from ..backend import dense_rows, rmatmul_T, row_sq_norms, to_csr
from ..exceptions import ConvergenceWarning
from ..init import check_custom_init, initialize
from ..losses import beta_divergence
from ..nnls import bpp_nnls
from ..solvers._result import FitResult
from ..solvers._stopping import Monitor
from .semi import _cluster_means

__all__ = ["OrthogonalNMF", "ray_seeding"]

_SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")
#: Denominator floor of the multiplicative updates.
_TINY = 1e-300


# --------------------------------------------------------------------- helpers
def _times_t(X: Any, B: np.ndarray) -> np.ndarray:
    """``X @ Bᵀ`` as a dense float64 array."""
    return np.asarray(X @ B.T, dtype=np.float64)


def ray_seeding(X: Any, k: int, random_state: Any = None) -> np.ndarray:
    """Pick ``k`` seed rows of a non-negative X by greedy D² sampling on rays.

    k-means++ (Arthur & Vassilvitskii 2007) with the distance replaced by the
    orthogonal-NMF residual: with seeds ``S``, the residual of sample i is its
    squared distance to the nearest ray through a seed,
    ``r_i = ‖x_i‖² − max_{s∈S} (x_i·x_s)² / ‖x_s‖²``. The first seed is drawn
    with probability ∝ ``‖x_i‖²``; each later one from ``2 + ⌊ln k⌋``
    candidates drawn with probability ∝ ``r_i``, keeping the candidate that
    lowers ``Σ r_i`` most (scikit-learn's greedy variant). When every
    residual is zero the remaining seeds are drawn uniformly.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Non-negative data (rows are samples); never densified.
    k : int
    random_state : int, RandomState instance or None

    Returns
    -------
    ndarray of shape (k,)
        Row indices (distinct while ``k ≤ n_samples``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    >>> sorted(int(i) // 2 for i in ray_seeding(X, 2, random_state=0))
    [0, 1]
    """
    rng = check_random_state(random_state)
    n = X.shape[0]
    norms2 = row_sq_norms(X)
    resid = norms2.copy()
    n_trials = 2 + int(np.log(max(k, 1)))
    chosen: list[int] = []
    for _ in range(k):
        total = float(resid.sum())
        if not total > 0.0:
            free = np.setdiff1d(np.arange(n), chosen) if len(chosen) < n else np.arange(n)
            chosen.append(int(rng.choice(free)))
            continue
        p = resid / total
        if not chosen:
            cand = np.array([rng.choice(n, p=p)])
        else:
            cand = rng.choice(n, size=n_trials, p=p)
        C = dense_rows(X, cand, dtype=np.float64)
        cn2 = np.einsum("ij,ij->i", C, C)
        S = _times_t(X, C)
        new = np.minimum(resid[:, None], norms2[:, None] - S**2 / cn2[None, :])
        np.maximum(new, 0.0, out=new)
        best = int(np.argmin(new.sum(axis=0)))
        chosen.append(int(cand[best]))
        resid = new[:, best].copy()
        resid[chosen[-1]] = 0.0
    return np.asarray(chosen, dtype=np.intp)


# --------------------------------------------------------------------- solvers
class _Data:
    """The (possibly transposed) data with its norms, shared by all steps."""

    def __init__(self, X: Any) -> None:
        self.X = X
        self.norms2 = row_sq_norms(X)
        self.normX2 = float(self.norms2.sum())
        self.scale = float(self.norms2.max()) if self.norms2.size else 0.0


def _assign(XBt: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best ray of every row: (labels, weights, captured energy (x·b)²/‖b‖²)."""
    bn2 = np.einsum("ij,ij->i", B, B)
    inv = np.divide(1.0, bn2, out=np.zeros_like(bn2), where=bn2 > 0)
    score = XBt * XBt * inv[None, :]
    labels = np.argmax(score, axis=1)
    r = np.arange(XBt.shape[0])
    best = score[r, labels]
    vals = XBt[r, labels] * inv[labels]
    return labels, vals, best


def _a_step(D: _Data, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact minimiser over the orthogonal factor A (given B), with reseeding.

    Returns (A with unit-norm non-zero columns, B rescaled accordingly, ½ loss).
    """
    B = np.array(B, dtype=np.float64)
    n, k = D.X.shape[0], B.shape[0]
    XBt = _times_t(D.X, B)
    n_empty = k + 1
    while True:
        labels, vals, best = _assign(XBt, B)
        used = np.zeros(k, dtype=bool)
        used[labels[vals > 0]] = True
        empty = np.flatnonzero(~used)
        resid = np.maximum(D.norms2 - best, 0.0)
        if empty.size == 0 or empty.size >= n_empty:
            break
        # reseed empty clusters with the worst-fitted samples (the clusters were
        # unused, so the objective is unchanged before the re-assignment lowers it)
        order = np.argsort(-resid, kind="stable")
        donors = [int(i) for i in order[: empty.size] if resid[i] > 1e-12 * D.scale]
        if not donors:
            break
        n_empty = empty.size
        tgt = empty[: len(donors)]
        B[tgt] = dense_rows(D.X, donors, dtype=np.float64)
        XBt[:, tgt] = _times_t(D.X, B[tgt])
    A = np.zeros((n, k))
    A[np.arange(n), labels] = vals
    loss = 0.5 * max(D.normX2 - float(best.sum()), 0.0)
    d = np.sqrt(np.einsum("ij,ij->j", A, A))
    live = d > 0
    A[:, live] /= d[live]
    B[live] *= d[live, None]
    return A, B, loss


def _b_step(D: _Data, A: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact minimiser over B (given A with disjoint column supports): (AᵀA)⁻¹AᵀX."""
    AtX = np.asarray(rmatmul_T(D.X, A), dtype=np.float64)
    d = np.einsum("ij,ij->j", A, A)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    B = AtX * inv[:, None]
    captured = float(np.einsum("ij,ij->i", AtX, AtX) @ inv)
    return B, 0.5 * max(D.normX2 - captured, 0.0)


def _gram_loss(D: _Data, A: np.ndarray, B: np.ndarray, XBt: np.ndarray) -> float:
    """½‖X − AB‖² from ``X Bᵀ`` and the Gram matrices."""
    val = D.normX2 - 2.0 * float(np.vdot(XBt, A)) + float(np.vdot(A.T @ A, B @ B.T))
    return 0.5 * max(val, 0.0)


def _run_em(D: _Data, B0: np.ndarray, mon: Monitor, a_last: bool) -> FitResult:
    """Alternate exact A- and B-steps (order: B then A when ``a_last``, else A then B)."""
    A, B, loss = _a_step(D, B0)
    if mon.start(loss):
        return mon.result(A, B)
    while True:
        if a_last:
            B, _ = _b_step(D, A)
            A, B, loss = _a_step(D, B)
        else:
            A, B, _ = _a_step(D, B)
            B, loss = _b_step(D, A)
        if mon.step(A, B, loss):
            break
    return mon.result(A, B)


def _run_mu(D: _Data, A0: np.ndarray, B0: np.ndarray, mon: Monitor, a_last: bool) -> FitResult:
    """Ding et al.'s multiplicative updates for X ≈ A B with AᵀA = I."""
    A = np.array(A0, dtype=np.float64)
    B = np.array(B0, dtype=np.float64)
    # the updates drive AᵀA towards I: start from unit columns of A and the
    # best scalar multiple α = ⟨X, AB⟩ / ‖AB‖² of B
    d = np.sqrt(np.einsum("ij,ij->j", A, A))
    A /= np.where(d > 0, d, 1.0)
    XBt = _times_t(D.X, B)
    num, den = float(np.vdot(XBt, A)), float(np.vdot(A.T @ A, B @ B.T))
    if num > 0 and den > 0:
        B *= num / den
        XBt *= num / den

    def a_update() -> float:
        nonlocal A, XBt
        XBt = _times_t(D.X, B)
        A *= np.sqrt(XBt / np.maximum(A @ (A.T @ XBt), _TINY))
        return _gram_loss(D, A, B, XBt)

    def b_update() -> float:
        nonlocal B, XBt
        AtX = np.asarray(rmatmul_T(D.X, A), dtype=np.float64)
        B *= AtX / np.maximum((A.T @ A) @ B, _TINY)
        XBt = _times_t(D.X, B)
        return _gram_loss(D, A, B, XBt)

    def sweep() -> float:
        if a_last:
            b_update()
            return a_update()
        a_update()
        return b_update()

    # The first sweep moves the "+0.2" start towards orthogonality and usually
    # raises the objective: it is part of the initialization, not counted.
    if mon.max_iter > 0:
        sweep()
    if not mon.start(_gram_loss(D, A, B, XBt)):
        while not mon.step(A, B, sweep()):
            pass
    d = np.sqrt(np.einsum("ij,ij->j", A, A))
    live = d > 0
    A[:, live] /= d[live]
    B[live] *= d[live, None]
    return mon.result(A, B)


def _indicator_plus(D: _Data, B: np.ndarray, k: int) -> np.ndarray:
    """Ding et al.'s start for the orthogonal factor: best-ray indicator + 0.2."""
    labels, _, _ = _assign(_times_t(D.X, B), B)
    A = np.full((D.X.shape[0], k), 0.2)
    A[np.arange(D.X.shape[0]), labels] += 1.0
    return A


def _orthogonality_error(A: np.ndarray) -> float:
    """Largest off-diagonal entry of the Gram of A's unit-normalised columns."""
    d = np.sqrt(np.einsum("ij,ij->j", A, A))
    An = A / np.where(d > 0, d, 1.0)
    G = An.T @ An
    np.fill_diagonal(G, 0.0)
    return float(np.abs(G).max(initial=0.0))


# ------------------------------------------------------------------- estimator
class OrthogonalNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Orthogonal NMF (Ding et al. 2006): NMF whose memberships (or basis) are orthonormal.

    Minimises, over W (n_samples × k) ≥ 0 and H (k × n_features) ≥ 0::

        ‖X − W H‖²_F   s.t.  WᵀW = I   (orthogonal="W", the default)
                       or    H Hᵀ = I  (orthogonal="H")

    With ``orthogonal="W"`` every sample has exactly one non-zero entry in
    its row of W — a hard clustering equivalent to a weighted, angular
    k-means (each cluster is a ray: sample i is fitted by ``w_i h_j``). See
    the module docstring for the algorithms.

    Parameters
    ----------
    n_components : int
        Number of clusters k.
    orthogonal : {"W", "H"}, default="W"
        Which factor is orthogonal: the sample memberships W (clusters of
        samples) or the basis H (clusters of features; W is then ``X Hᵀ``).
    solver : {"em", "mu"}, default="em"
        ``"em"``: exact alternating minimisation over the disjoint-support
        structure (monotone, exactly orthogonal); ``"mu"``: Ding et al.'s
        multiplicative updates (approximately orthogonal, not monotone).
    init : {"auto", "kmeans++", "spa", "nndsvd", "random", "custom"}, default="auto"
        ``"auto"`` is ``"kmeans++"`` (:func:`ray_seeding`). ``"custom"``
        takes ``W`` and ``H`` passed to ``fit`` (the EM solver uses only the
        non-orthogonal one).
    max_iter : int, default=200
    tol : float, default=1e-4
        Stop when the relative decrease of the objective over one iteration
        falls below ``tol`` (the shared rule of :class:`nmfkit.NMF`).
    n_init : int, default=4
        Number of seeded starts (for random-based inits); the lowest
        objective wins.
    random_state : int, RandomState instance or None
    verbose : int, default=0
    callback : callable or None
        Called after every iteration with an ``IterationState``; returning
        True or raising ``StopIteration`` stops the run.

    Attributes
    ----------
    components_ : ndarray of shape (k, n_features)
        H. With ``orthogonal="H"`` its rows are orthonormal (disjoint supports).
    labels_ : ndarray of shape (n_samples,)
        Cluster of every sample: argmax over its row of W.
    cluster_centers_ : ndarray of shape (k, n_features)
        Per-cluster mean of the rows of X (by ``labels_``), comparable with
        k-means centroids; a zero row for an empty cluster. (The rows of H
        are, for ``orthogonal="W"``, the clusters' directions scaled by
        their energy.)
    reconstruction_err_ : float
        ‖X − WH‖_F.
    orthogonality_error_ : float
        Largest off-diagonal entry of the Gram matrix of the column-normalised
        orthogonal factor (WᵀW or H Hᵀ); 0 for ``solver="em"``.
    n_iter_ : int
    loss_history_ : ndarray
        ½‖X − WH‖²_F at the start and after every iteration.
    converged_ : bool
    stop_reason_ : str
    W_ : ndarray of shape (n_samples, k)
        W of the training samples (what ``fit_transform`` returned).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    Notes
    -----
    X must be non-negative; dense or any scipy.sparse format (never
    densified). ``transform`` keeps the structure: for ``orthogonal="W"``
    each new sample gets its best ray (one non-zero), exactly the EM W-step;
    for ``"H"`` it is the NNLS fit on H (``X Hᵀ`` when H Hᵀ = I).

    References
    ----------
    C. Ding, T. Li, W. Peng, H. Park, "Orthogonal nonnegative matrix
    t-factorizations for clustering", KDD 2006. F. Pompili, N. Gillis,
    P.-A. Absil, F. Glineur, "Two algorithms for orthogonal nonnegative
    matrix factorization with application to clustering",
    Neurocomputing 141, 2014.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0, 0.1, 0.0], [2.0, 0.0, 0.2], [0.0, 2.0, 2.1], [0.1, 3.0, 2.9]])
    >>> model = OrthogonalNMF(2, random_state=0).fit(X)
    >>> labels = model.labels_.tolist()
    >>> labels[0] == labels[1] != labels[2] == labels[3]
    True
    >>> W = model.W_
    >>> bool(np.allclose(W.T @ W, np.eye(2)))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "orthogonal": [StrOptions({"W", "H"})],
        "solver": [StrOptions({"em", "mu"})],
        "init": [StrOptions({"auto", "kmeans++", "spa", "nndsvd", "random", "custom"})],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callback": [callable, None],
    }

    def __init__(
        self,
        n_components: int,
        *,
        orthogonal: str = "W",
        solver: str = "em",
        init: str = "auto",
        max_iter: int = 200,
        tol: float = 1e-4,
        n_init: int = 4,
        random_state: Any = None,
        verbose: int = 0,
        callback: Any = None,
    ) -> None:
        self.n_components = n_components
        self.orthogonal = orthogonal
        self.solver = solver
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    def _validate_X(self, X: Any, *, reset: bool) -> Any:
        X = validate_data(
            self, X, accept_sparse=_SPARSE_FORMATS, dtype=np.float64, reset=reset
        )
        if sp.issparse(X):
            X = to_csr(X)
        check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    # ---------------------------------------------------------------- starts
    def _starts(
        self, X: Any, D: _Data, k: int, W: Any, H: Any
    ) -> list[tuple[np.ndarray | None, np.ndarray]]:
        """Initial (A, B) pairs in the solver's orientation (A orthogonal)."""
        init = "kmeans++" if self.init == "auto" else self.init
        trans = self.orthogonal == "H"
        if init == "custom":
            Wc, Hc = check_custom_init(W, H, X.shape[0], X.shape[1], k, np.float64)
            return [(Hc.T, Wc.T) if trans else (Wc, Hc)]
        rng = check_random_state(self.random_state)
        n_runs = self.n_init if init in ("kmeans++", "random") else 1
        starts: list[tuple[np.ndarray | None, np.ndarray]] = []
        for _ in range(n_runs):
            if init == "kmeans++":
                seeds = ray_seeding(D.X, k, rng)
                B0 = dense_rows(D.X, seeds, dtype=np.float64)
                starts.append((None, B0))
                continue
            method = init
            if init != "random" and k > min(X.shape):
                method = "random"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                W0, H0 = initialize(X, k, method, random_state=rng)
            A0, B0 = (H0.T, W0.T) if trans else (W0, H0)
            starts.append((np.asarray(A0, dtype=np.float64), np.asarray(B0, dtype=np.float64)))
        return starts

    # ------------------------------------------------------------------ fit
    def fit_transform(self, X: Any, y: Any = None, W: Any = None, H: Any = None) -> np.ndarray:
        """Fit the orthogonal factorization and return W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data.
        y : ignored
        W, H : arrays, optional
            Start for ``init="custom"``.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        k = int(self.n_components)
        trans = self.orthogonal == "H"
        Xc = (to_csr(X.T) if sp.issparse(X) else np.ascontiguousarray(X.T)) if trans else X
        D = _Data(Xc)
        best: FitResult | None = None
        for A0, B0 in self._starts(X, D, k, W, H):
            mon = Monitor(
                tol=self.tol, max_iter=self.max_iter, callback=self.callback,
                verbose=self.verbose, solver=f"orthogonal-{self.solver}",
            )
            if self.solver == "em":
                res = _run_em(D, B0, mon, a_last=not trans)
            else:
                if A0 is None:
                    A0 = _indicator_plus(D, B0, k)
                res = _run_mu(D, A0, B0, mon, a_last=not trans)
            if best is None or res.loss_history[-1] < best.loss_history[-1]:
                best = res
        assert best is not None
        A, B = best.W, best.H
        if trans:
            Wf, Hf = np.ascontiguousarray(B.T), np.ascontiguousarray(A.T)
        else:
            Wf, Hf = A, B
        if not best.converged and self.tol > 0 and self.max_iter > 0:
            warnings.warn(
                f"OrthogonalNMF stopped on max_iter={self.max_iter} before reaching "
                f"tol={self.tol}; increase max_iter or loosen tol",
                ConvergenceWarning, stacklevel=2,
            )
        self.components_ = Hf
        self.W_ = Wf
        self.n_components_ = k
        self.n_iter_ = best.n_iter
        self.loss_history_ = best.loss_history
        self.converged_ = best.converged
        self.stop_reason_ = best.stop_reason
        self.orthogonality_error_ = _orthogonality_error(A)
        self.reconstruction_err_ = float(np.sqrt(2.0 * beta_divergence(X, Wf, Hf, 2.0)))
        self.labels_ = np.argmax(Wf, axis=1)
        self.cluster_centers_ = _cluster_means(X, self.labels_, k)[0]
        return Wf

    def fit(self, X: Any, y: Any = None, **params: Any) -> OrthogonalNMF:
        """Fit the orthogonal factorization; returns self."""
        self.fit_transform(X, **params)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Memberships of (new) samples with H = ``components_`` fixed.

        ``orthogonal="W"``: the best ray of each sample (one non-zero per
        row, ``w = x·h_j / ‖h_j‖²`` for the ``j`` maximising
        ``(x·h_j)² / ‖h_j‖²``), the exact W-step of the EM solver.
        ``orthogonal="H"``: the exact NNLS fit ``min_{W ≥ 0} ‖X − W H‖²``
        (block principal pivoting; ``X Hᵀ`` when H Hᵀ = I). For the EM
        solver this reproduces the fitted W exactly; with ``solver="mu"``
        the fitted W is only approximately orthogonal (several non-zeros
        per row) and differs from what ``transform`` returns.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        H = self.components_
        if self.orthogonal == "W":
            labels, vals, _ = _assign(_times_t(X, H), H)
            out = np.zeros((X.shape[0], H.shape[0]))
            out[np.arange(X.shape[0]), labels] = vals
            return out
        B = _times_t(X, H).T
        return np.ascontiguousarray(bpp_nnls(H @ H.T, B).T)

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of each sample: argmax over its row of :meth:`transform`."""
        return np.argmax(self.transform(X), axis=1)

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
