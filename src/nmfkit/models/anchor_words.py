"""Topic models by anchor words (Arora et al. 2013): separable NMF of co-occurrences.

In our orientation X (n_documents × n_words) holds word counts, rows are
documents, and a topic model is the factorization::

    E[X_d / n_d] = W_d H,   W_d on the simplex (topic proportions of document d),
                            H (k × n_words) with rows on the simplex (topic–word distributions)

An *anchor word* of topic t is a word with positive probability in topic t
only. Under that assumption the word co-occurrence matrix
``Q = E[word pair]`` (n_words × n_words) is separable: after normalising
its rows to sum to one, every row ``Q̄_w`` is a convex combination of the
rows of the k anchor words, ``Q̄_w = Σ_t C_wt Q̄_{s_t}`` with
``C_wt = p(topic t | word w)``. Arora, Ge, Halpern, Mimno, Moitra, Sontag,
Wu & Zhu ("A practical algorithm for topic modeling with provable
guarantees", ICML 2013) therefore

1. estimate Q without bias from the documents (``cooccurrence_matrix``),
2. find the anchors with FastAnchorWords (a successive projection on the
   rows of Q̄, optionally after a random projection),
3. recover ``C`` word by word (RecoverL2: least squares on the simplex;
   RecoverKL: KL divergence), by exponentiated gradient,
4. apply Bayes' rule: ``p(w | t) ∝ C_wt · p(w)`` with ``p(w) = Σ_v Q_wv``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_non_negative
from ..backend import to_csr
from ..init.spa import spa_select

__all__ = [
    "AnchorWordTopics",
    "cooccurrence_matrix",
    "fast_anchor_words",
    "recover_topics",
]

#: Largest number of float64 entries in one block of the batched KL solver.
_BLOCK_ENTRIES = 1 << 22
#: Armijo and curvature constants of the exponentiated-gradient line search.
_C1, _C2 = 1e-4, 0.75


# ------------------------------------------------------------- co-occurrence
def cooccurrence_matrix(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased word co-occurrence estimate ``Q`` from a document × word count matrix.

    For document ``d`` with counts ``x_d`` and length ``n_d = Σ_w x_dw ≥ 2``
    (shorter documents carry no pair and are left out), Arora et al.'s
    estimator of the joint distribution of two distinct word tokens is::

        Q_d = (x_d x_dᵀ − diag(x_d)) / (n_d (n_d − 1)),     Q = mean_d Q_d

    so ``Q`` (n_words × n_words, symmetric, entries sum to 1) has
    expectation ``Hᵀ E[W_dᵀ W_d] H`` under the topic model. Sparse ``X``
    stays sparse; ``Q`` is dense (memory O(n_words²): prune the vocabulary
    first). Entries that come out negative (possible only for non-integer
    "counts") are set to 0.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_documents, n_words)

    Returns
    -------
    Q : ndarray of shape (n_words, n_words)
    used : ndarray of bool, shape (n_documents,)
        Documents of length at least 2 (those averaged).

    Examples
    --------
    >>> import numpy as np
    >>> Q, used = cooccurrence_matrix(np.array([[2.0, 1.0], [0.0, 3.0]]))
    >>> Q.round(4).tolist(), round(float(Q.sum()), 12)
    ([[0.1667, 0.1667], [0.1667, 0.5]], 1.0)
    """
    if sp.issparse(X):
        X = to_csr(X).astype(np.float64)
    else:
        X = np.asarray(X, dtype=np.float64)
    n_d = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    used = n_d >= 2.0
    n_used = int(used.sum())
    if n_used == 0:
        raise ValueError(
            "no document has at least 2 tokens (row sums >= 2): word co-occurrences "
            "cannot be estimated"
        )
    norm = np.zeros_like(n_d)
    norm[used] = 1.0 / (n_d[used] * (n_d[used] - 1.0))
    if sp.issparse(X):
        Xn = sp.diags(np.sqrt(norm)) @ X
        Q = np.asarray((Xn.T @ Xn).toarray(), dtype=np.float64)
        diag = np.asarray(X.T @ norm, dtype=np.float64).ravel()
    else:
        Xn = X * np.sqrt(norm)[:, None]
        Q = Xn.T @ Xn
        diag = X.T @ norm
    Q.flat[:: Q.shape[0] + 1] -= diag
    Q /= n_used
    np.maximum(Q, 0.0, out=Q)
    return Q, used


# ------------------------------------------------------------- anchor search
def fast_anchor_words(
    Qbar: np.ndarray,
    k: int,
    *,
    candidates: np.ndarray | None = None,
    projection_dim: int | None = 1000,
    random_state: Any = None,
) -> np.ndarray:
    """FastAnchorWords: ``k`` anchor rows of the row-normalised co-occurrence matrix.

    Arora et al. (2013), as in their reference code: the candidate row
    farthest from the origin is the first anchor; the points are then
    translated so that it is the origin, and the rest are picked by
    successive projection (the candidate with the largest residual norm
    after projecting out the span of the (translated) anchors so far; see
    :func:`nmfkit.init.spa.spa_select`). The rows are first mapped to
    ``projection_dim`` dimensions by a sparse random projection
    (Achlioptas: entries ``±√3`` with probability 1/6 each, else 0, scaled
    by ``1/√projection_dim``) when there are more columns than that.

    Parameters
    ----------
    Qbar : ndarray of shape (n_words, n_words)
        Co-occurrence matrix with rows normalised to sum to one.
    k : int
        Number of anchors.
    candidates : ndarray of int, optional
        Words allowed as anchors (default: all).
    projection_dim : int or None, default=1000
        Target dimension of the random projection; ``None`` never projects.
    random_state : int, RandomState instance or None

    Returns
    -------
    ndarray of shape (k,)
        Word indices of the anchors, in selection order.

    Examples
    --------
    >>> import numpy as np
    >>> Qbar = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    >>> sorted(fast_anchor_words(Qbar, 2).tolist())
    [0, 1]
    """
    Qbar = np.asarray(Qbar, dtype=np.float64)
    V = Qbar.shape[0]
    cand = np.arange(V) if candidates is None else np.asarray(candidates, dtype=np.intp)
    if not 1 <= k <= cand.size:
        raise ValueError(
            f"need n_components={k} anchors but only {cand.size} candidate words"
        )
    M = Qbar[cand]
    if projection_dim is not None and M.shape[1] > projection_dim:
        rng = check_random_state(random_state)
        R = rng.choice(
            np.array([-1.0, 0.0, 1.0]), size=(M.shape[1], projection_dim),
            p=[1 / 6, 2 / 3, 1 / 6],
        ) * np.sqrt(3.0 / projection_dim)
        M = M @ R
    first = int(np.argmax(np.einsum("ij,ij->i", M, M)))
    if k == 1:
        return cand[[first]]
    rest = spa_select(M - M[first], k - 1)
    return np.concatenate([cand[[first]], cand[rest]])


# ---------------------------------------------------------------- recovery
def _exp_grad(
    obj_grad: Any, n: int, K: int, *, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exponentiated gradient on the simplex, for ``n`` independent problems at once.

    ``obj_grad(alpha, rows)`` returns the objectives (len(rows),) and the
    gradients (len(rows), K) of problems ``rows`` at ``alpha``. Each
    problem has its own step size: halved until the Armijo condition
    ``f(α⁺) ≤ f(α) + c₁⟨∇f, α⁺ − α⟩`` holds, doubled after an accepted
    step whose curvature condition ``⟨∇f(α⁺), α⁺ − α⟩ ≥ c₂⟨∇f(α), α⁺ − α⟩``
    fails (the step was too short), as in the reference code. A problem
    stops when its duality gap ``Σ_t α_t (g_t − min g)`` (an upper bound on
    ``f(α) − min f`` for convex f) is below ``tol``. Starts at the centre.

    Returns ``(alpha, n_iter)`` with the iterations used by each problem.
    """
    alpha = np.full((n, K), 1.0 / K)
    logal = np.log(alpha)
    rows = np.arange(n)
    f, g = obj_grad(alpha, rows)
    step = np.ones(n)
    n_iter = np.zeros(n, dtype=np.intp)
    gap = np.einsum("ij,ij->i", alpha, g - g.min(axis=1, keepdims=True))
    active = np.flatnonzero(gap >= tol)
    for _ in range(max_iter):
        if active.size == 0:
            break
        a, la, ga, s = alpha[active], logal[active], g[active], step[active]
        new_la = la - s[:, None] * ga
        new_la -= logsumexp(new_la, axis=1, keepdims=True)
        new_a = np.exp(new_la)
        fn, gn = obj_grad(new_a, active)
        d = new_a - a
        gd = np.einsum("ij,ij->i", ga, d)
        ok = fn <= f[active] + _C1 * gd
        n_iter[active] += 1
        # rejected: shorter step, same point
        bad = active[~ok]
        step[bad] *= 0.5
        # accepted: move; lengthen the step when the curvature condition fails
        good = active[ok]
        alpha[good], logal[good], f[good], g[good] = new_a[ok], new_la[ok], fn[ok], gn[ok]
        short = np.einsum("ij,ij->i", gn[ok], d[ok]) < _C2 * gd[ok]
        step[good[short]] *= 2.0
        gap = np.einsum("ij,ij->i", alpha[active], g[active] - g[active].min(axis=1)[:, None])
        done = (gap < tol) | (step[active] < 1e-20)
        active = active[~done]
    return alpha, n_iter


def recover_topics(
    Q: np.ndarray,
    anchors: np.ndarray,
    *,
    loss: str = "l2",
    tol: float = 1e-7,
    max_iter: int = 1000,
) -> tuple[np.ndarray, np.ndarray, int]:
    """RecoverL2 / RecoverKL: topic–word distributions from co-occurrences and anchors.

    With ``p(w) = Σ_v Q_wv``, ``Q̄`` the row-normalised ``Q`` and
    ``S = Q̄[anchors]`` (k × n_words), every non-anchor word ``w`` gets
    ``C_w = p(topic | word w)`` on the simplex by::

        "l2":  min_{C_w ∈ simplex} ‖Q̄_w − C_w S‖²
        "kl":  min_{C_w ∈ simplex} KL(Q̄_w ‖ C_w S) = Σ_v Q̄_wv log(Q̄_wv / (C_w S)_v)

    solved by exponentiated gradient (all words at once, each with its own
    step size; the L2 problem only needs the Gram ``S Sᵀ`` and ``S Q̄ᵀ``).
    Anchor word ``s_t`` gets ``C = e_t``. Bayes' rule then gives
    ``p(w | t) ∝ C_wt p(w)``, normalised over w.

    Returns
    -------
    H : ndarray of shape (k, n_words)
        Topic–word distributions (rows sum to 1).
    topic_weights : ndarray of shape (k,)
        ``p(t) = Σ_w C_wt p(w)``.
    n_iter : int
        Largest number of exponentiated-gradient iterations used by a word.

    Examples
    --------
    >>> import numpy as np
    >>> H_true = np.array([[0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    >>> Q = H_true.T @ np.array([[0.3, 0.2], [0.2, 0.3]]) @ H_true
    >>> H, p, _ = recover_topics(Q, np.array([0, 1]), tol=1e-12)
    >>> bool(np.allclose(H, H_true, atol=1e-4))
    True
    """
    if loss not in ("l2", "kl"):
        raise ValueError(f"loss must be 'l2' or 'kl', got {loss!r}")
    Q = np.asarray(Q, dtype=np.float64)
    V = Q.shape[0]
    anchors = np.asarray(anchors, dtype=np.intp)
    K = anchors.size
    pw = Q.sum(axis=1)
    live = pw > 0
    Qbar = np.zeros_like(Q)
    Qbar[live] = Q[live] / pw[live, None]
    S = Qbar[anchors]
    words = np.setdiff1d(np.flatnonzero(live), anchors)
    C = np.zeros((V, K))
    C[anchors, np.arange(K)] = 1.0
    n_iter = 0
    if words.size:
        if loss == "l2":
            G = S @ S.T
            B = Qbar[words] @ S.T  # (n, K)
            c = np.einsum("ij,ij->i", Qbar[words], Qbar[words])

            def obj_grad(alpha: np.ndarray, rows: np.ndarray):
                aG = alpha @ G
                f = np.einsum("ij,ij->i", aG, alpha) - 2 * np.einsum(
                    "ij,ij->i", alpha, B[rows]
                ) + c[rows]
                return f, 2.0 * (aG - B[rows])

            Cw, its = _exp_grad(obj_grad, words.size, K, tol=tol, max_iter=max_iter)
            C[words] = Cw
            n_iter = int(its.max())
        else:
            cols = np.flatnonzero(S.sum(axis=0) > 0)  # other columns: constant terms
            Sc = S[:, cols]
            step = max(1, _BLOCK_ENTRIES // max(1, cols.size))
            for s0 in range(0, words.size, step):
                blk = words[s0 : s0 + step]
                Y = Qbar[np.ix_(blk, cols)]
                logY = np.log(np.where(Y > 0, Y, 1.0))

                def obj_grad(alpha: np.ndarray, rows: np.ndarray, Y=Y, logY=logY):
                    P = np.maximum(alpha @ Sc, 1e-300)
                    y = Y[rows]
                    f = np.einsum("ij,ij->i", y, logY[rows] - np.log(P))
                    return f, -(y / P) @ Sc.T

                Cw, its = _exp_grad(obj_grad, blk.size, K, tol=tol, max_iter=max_iter)
                C[blk] = Cw
                n_iter = max(n_iter, int(its.max()))
    A = C * pw[:, None]
    weights = A.sum(axis=0)
    H = (A / np.where(weights > 0, weights, 1.0)).T
    return np.ascontiguousarray(H), weights, n_iter


def _em_proportions(X: Any, H: np.ndarray, *, max_iter: int, tol: float = 1e-6) -> np.ndarray:
    """Topic proportions by EM with the topics fixed (rows of H sum to 1).

    ``W ← W ⊙ ((X ⊘ WH) Hᵀ)`` keeps ``Σ_t W_dt = n_d`` and never increases
    ``D_KL(X | WH)``; for sparse X only the stored entries are touched. A
    document stops once no proportion changes by more than ``tol`` in an
    iteration (EM on the others would only refine them further).
    """
    k = H.shape[0]
    H = np.asarray(H, dtype=np.float64)
    Ht = np.ascontiguousarray(H.T)
    n_d = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    W = np.repeat(n_d[:, None] / k, k, axis=1)
    active = np.flatnonzero(n_d > 0)
    slab = np.empty(0, dtype=np.intp)  # rows iterated on; re-sliced as documents converge
    for _ in range(max_iter):
        if active.size == 0:
            break
        if active.size <= slab.size // 2 or slab.size == 0:
            slab = active
            Xa = X[slab]
            if sp.issparse(Xa):
                rows = np.repeat(np.arange(slab.size), np.diff(Xa.indptr))
                Hnz = Ht[Xa.indices]
        Wa = W[slab]
        if sp.issparse(Xa):
            P = np.einsum("ij,ij->i", Wa[rows], Hnz)
            ratio = np.divide(Xa.data, P, out=np.zeros_like(P), where=P > 0)
            R = sp.csr_matrix((ratio, Xa.indices, Xa.indptr), shape=Xa.shape)
            Wn = Wa * np.asarray(R @ Ht)
        else:
            P = Wa @ H
            Wn = Wa * (np.divide(Xa, P, out=np.zeros_like(P), where=P > 0) @ Ht)
        moving = np.abs(Wn - Wa).max(axis=1) > tol * n_d[slab]
        W[slab] = Wn
        active = slab[moving]
    s = W.sum(axis=1, keepdims=True)
    out = np.divide(W, s, out=np.full_like(W, 1.0 / k), where=s > 0)
    out[n_d <= 0] = 1.0 / k
    return out


# ---------------------------------------------------------------- estimator
class AnchorWordTopics(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Topic model by anchor words (Arora et al. 2013): X ≈ W H, H = topics.

    X (n_documents × n_words) holds word counts. The model is
    ``E[X_d / n_d] = W_d H`` with ``H = components_`` (k × n_words, rows are
    topic–word distributions, summing to 1) and ``W_d`` the topic
    proportions of document d (rows summing to 1). Under the anchor-word
    assumption (each topic has a word that occurs in no other topic) the
    fit is non-iterative and provably consistent: the word co-occurrence
    matrix is estimated without bias (:func:`cooccurrence_matrix`), the
    anchors found by FastAnchorWords (:func:`fast_anchor_words`), and H
    recovered by RecoverL2 or RecoverKL and Bayes' rule
    (:func:`recover_topics`). ``transform`` estimates the proportions of
    new documents with H fixed by maximum likelihood (KL-NMF multiplicative
    updates = EM for the mixture weights)::

        min_{W ≥ 0}  D_KL(X | W H),   then W_d ← W_d / Σ_t W_dt

    Parameters
    ----------
    n_components : int
        Number of topics k.
    anchor_thresh : int or float, default=0.05
        Only words that occur in at least this many documents may be
        anchors: rare words have noisy co-occurrence rows that look
        extreme. As scikit-learn's ``CountVectorizer(min_df=...)``: an
        int is a number of documents, a float in [0, 1] a proportion of
        the documents (of length ≥ 2). The reference code uses about 100
        documents for corpora of a few thousand.
    loss : {"l2", "kl"}, default="l2"
        RecoverL2 (least squares on the simplex, faster) or RecoverKL.
    projection_dim : int or None, default=1000
        Random projection used by the anchor search when there are more
        words than this; ``None`` never projects.
    tol : float, default=1e-7
        Duality-gap tolerance of the exponentiated-gradient recovery.
    max_iter : int, default=1000
        Exponentiated-gradient iterations per word (at most).
    transform_max_iter : int, default=500
        EM iterations of ``transform``.
    random_state : int, RandomState instance or None
        Seed of the random projection.

    Attributes
    ----------
    components_ : ndarray of shape (k, n_words)
        Topic–word distributions ``p(word | topic)``; rows sum to 1.
    anchors_ : ndarray of shape (k,)
        Word index of each topic's anchor (topic t's anchor is ``anchors_[t]``).
    topic_weights_ : ndarray of shape (k,)
        Estimated topic frequencies ``p(topic)`` (summing to 1).
    n_iter_ : int
        Largest number of exponentiated-gradient iterations used by a word.
    n_components_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    References
    ----------
    S. Arora, R. Ge, Y. Halpern, D. Mimno, A. Moitra, D. Sontag, Y. Wu,
    M. Zhu, "A practical algorithm for topic modeling with provable
    guarantees", ICML 2013.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> H = np.array([[.4, 0, .3, .3], [0, .4, .3, .3]])
    >>> theta = rng.dirichlet([.5, .5], size=300)
    >>> X = np.array([rng.multinomial(50, t @ H) for t in theta])
    >>> model = AnchorWordTopics(2, random_state=0).fit(X)
    >>> sorted(model.anchors_.tolist())
    [0, 1]
    >>> model.transform(X).shape
    (300, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "anchor_thresh": [
            Interval(numbers.Integral, 0, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="both"),
        ],
        "loss": [StrOptions({"l2", "kl"})],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "transform_max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components: int,
        *,
        anchor_thresh: int | float = 0.05,
        loss: str = "l2",
        projection_dim: int | None = 1000,
        tol: float = 1e-7,
        max_iter: int = 1000,
        transform_max_iter: int = 500,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.anchor_thresh = anchor_thresh
        self.loss = loss
        self.projection_dim = projection_dim
        self.tol = tol
        self.max_iter = max_iter
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state

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
            self,
            X,
            accept_sparse=("csr", "csc", "coo", "bsr", "lil", "dok", "dia"),
            dtype=np.float64,
            reset=reset,
        )
        if sp.issparse(X):
            X = to_csr(X)
        check_non_negative(X, type(self).__name__)
        return X

    def fit(self, X: Any, y: Any = None) -> AnchorWordTopics:
        """Learn the topics from a document × word count matrix.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        k = int(self.n_components)
        n_docs, V = X.shape
        if k > V:
            raise ValueError(f"n_components={k} topics need at least as many words; got {V}")
        try:
            Q, used = cooccurrence_matrix(X)
        except ValueError as exc:
            raise ValueError(f"{exc} (n_samples = {n_docs}, n_features = {V})") from None
        pw = Q.sum(axis=1)
        Qbar = np.zeros_like(Q)
        Qbar[pw > 0] = Q[pw > 0] / pw[pw > 0, None]
        if sp.issparse(X):
            df = np.bincount(X[used].indices, minlength=V)
        else:
            df = np.count_nonzero(X[used], axis=0)
        n_used = int(used.sum())
        thresh = self.anchor_thresh
        if isinstance(thresh, numbers.Integral):
            min_df = int(thresh)
        else:
            min_df = int(np.ceil(float(thresh) * n_used))
        candidates = np.flatnonzero((df >= min_df) & (pw > 0))
        if candidates.size < k:
            raise ValueError(
                f"only {candidates.size} words occur in at least {min_df} documents "
                f"(anchor_thresh={thresh!r}, {n_used} of n_samples = {n_docs} documents "
                f"have >= 2 tokens) and co-occur with others; n_components={k} anchors "
                "are needed: lower anchor_thresh or n_components"
            )
        anchors = fast_anchor_words(
            Qbar, k, candidates=candidates, projection_dim=self.projection_dim,
            random_state=self.random_state,
        )
        H, weights, n_iter = recover_topics(
            Q, anchors, loss=self.loss, tol=self.tol, max_iter=self.max_iter
        )
        self.anchors_ = anchors
        self.components_ = H
        total = float(weights.sum())
        self.topic_weights_ = weights / total if total > 0 else weights
        self.n_iter_ = max(1, n_iter)
        self.n_components_ = k
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Topic proportions of each document, with the topics fixed.

        Maximum likelihood under the multinomial model,
        ``min_{W ≥ 0} D_KL(X | W components_)``, by multiplicative updates
        (EM for the mixture weights: the rows of ``components_`` sum to 1,
        so the update is ``W ← W ⊙ ((X ⊘ WH) Hᵀ)``), started from uniform
        proportions, until no proportion changes by more than 1e-6 (or
        ``transform_max_iter`` iterations); rows are then normalised to sum
        to 1. Empty documents get uniform proportions.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_documents, n_words)

        Returns
        -------
        W : ndarray of shape (n_documents, n_components)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return _em_proportions(X, self.components_, max_iter=self.transform_max_iter)
