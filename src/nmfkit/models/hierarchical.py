"""Hierarchical clustering by rank-2 NMF (HierNMF2, Kuang & Park 2013).

D. Kuang and H. Park, "Fast rank-2 nonnegative matrix factorization for
hierarchical document clustering", KDD 2013, pp. 739–747; D. Kuang, B. Drake
and H. Park, "Fast clustering and topic modeling based on rank-2 nonnegative
matrix factorization", arXiv:1509.01208 (HierNMF2).

Orientation is scikit-learn's: the samples (documents) are the rows of X,
the features (terms) its columns. A node holding the rows ``S`` is split by
a rank-2 NMF ``X[S] ≈ W H`` (W: |S| × 2, H: 2 × n_features); each sample goes
to ``argmax`` of its row of W, and the rows of H (unit L2 norm) are the two
children's topic vectors. The papers write the transpose: their W is our Hᵀ.
"""

from __future__ import annotations

import json
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_non_negative
from ..backend import rmatmul_T, to_csr
from ..init import initialize
from .sequential import nnls_coefficients

__all__ = ["HierarchicalNMF", "TreeNode", "rank2_nnls", "rank2_nmf", "split_priority"]

_SPARSE = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")

#: Scores of leaves that cannot be split (all negative, so never chosen).
TOO_SMALL = -1.0  # fewer than min_node_size samples, or the split is one-sided
OUTLIERS_EXHAUSTED = -2.0  # every trial split was unbalanced, its small side outlier-like
FLAT_TOPIC = -3.0  # the node's own topic vector has at most one non-zero feature


# ------------------------------------------------------------------ kernels
def rank2_nnls(G: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Exact NNLS with two variables per column, in closed form.

    Solves, independently for each column ``a`` of ``A`` (2 × p), ::

        min_{a ≥ 0}  ½ aᵀ G a − bᵀ a        (G = CᵀC, b = Cᵀy: min ‖C a − y‖²)

    The problem is convex, so the unconstrained solution ``G⁻¹b`` is optimal
    whenever it is non-negative; otherwise the optimum has at least one zero
    and is the better of the two one-variable solutions
    ``(max(b₀, 0)/G₀₀, 0)`` and ``(0, max(b₁, 0)/G₁₁)``, the one that lowers
    the objective more (by ``b_i₊²/G_ii``). This exhaustive search over the
    active sets is the fast rank-2 step of Kuang & Park (2013).

    Parameters
    ----------
    G : ndarray of shape (2, 2), symmetric positive semi-definite
    B : ndarray of shape (2, p)

    Returns
    -------
    A : ndarray of shape (2, p), float64, non-negative

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> rank2_nnls(G, np.array([[2.0, -1.0], [3.0, 4.0]])).tolist()
    [[2.0, 0.0], [3.0, 4.0]]
    """
    G = np.asarray(G, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    g00, g01, g11 = float(G[0, 0]), float(G[0, 1]), float(G[1, 1])
    A = np.zeros_like(B)
    b0p = np.maximum(B[0], 0.0)
    b1p = np.maximum(B[1], 0.0)
    a0 = b0p / g00 if g00 > 0 else np.zeros_like(b0p)
    a1 = b1p / g11 if g11 > 0 else np.zeros_like(b1p)
    first = a0 * b0p >= a1 * b1p  # objective decrease ½ b_i₊² / G_ii, times 2
    A[0] = np.where(first, a0, 0.0)
    A[1] = np.where(first, 0.0, a1)
    det = g00 * g11 - g01 * g01
    if g00 > 0 and g11 > 0 and det > 1e-12 * g00 * g11:
        x0 = (g11 * B[0] - g01 * B[1]) / det
        x1 = (g00 * B[1] - g01 * B[0]) / det
        both = (x0 >= 0) & (x1 >= 0)
        A[0, both] = x0[both]
        A[1, both] = x1[both]
    return A


def rank2_nmf(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    max_iter: int = 500,
    tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Rank-2 NMF ``min_{W, H ≥ 0} ½‖X − W H‖²_F`` by alternating exact NNLS.

    Each half-step solves its NNLS problem exactly with :func:`rank2_nnls`
    on the Gram matrices (``H ← argmin`` given ``WᵀW``, ``WᵀX``; then
    ``W ← argmin`` given ``HHᵀ``, ``XHᵀ``), i.e. ANLS with the closed-form
    two-variable solver; sparse ``X`` is only multiplied. It stops when the
    norm of the projected gradient falls below ``tol`` times its value
    after the first iteration (the rule of Kuang & Park's code), or reaches
    round-off level (``1e-12·‖X‖_F·(‖W‖_F + ‖H‖_F)``, for exact fits). On return
    the rows of H have unit L2 norm (the scale is moved into W).

    Returns ``(W, H, n_iter)``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> W, H, _ = rank2_nmf(X, np.ones((3, 2)) + np.eye(3, 2), np.ones((2, 2)))
    >>> W.argmax(axis=1).tolist() in ([0, 0, 1], [1, 1, 0])
    True
    """
    W = np.array(W, dtype=np.float64)
    H = np.array(H, dtype=np.float64)
    if sp.issparse(X):
        Xt = X.T.tocsr()  # one transpose, reused for every WᵀX
        xnorm = float(np.sqrt(np.sum(np.asarray(X.data, dtype=np.float64) ** 2)))

        def wtx(W: np.ndarray) -> np.ndarray:
            return np.asarray(Xt @ W, dtype=np.float64).T
    else:
        xnorm = float(np.linalg.norm(X))

        def wtx(W: np.ndarray) -> np.ndarray:
            return np.asarray(rmatmul_T(X, W), dtype=np.float64)

    WtW = W.T @ W
    WtX = wtx(W)
    pg0 = None
    it = 0
    while it < max_iter:
        it += 1
        H = rank2_nnls(WtW, WtX)
        HHt = H @ H.T
        XHt = np.asarray(X @ H.T, dtype=np.float64)
        W = rank2_nnls(HHt, XHt.T).T
        WtW = W.T @ W
        WtX = wtx(W)
        gW = W @ HHt - XHt
        gH = WtW @ H - WtX
        pg = np.sqrt(
            float(np.sum(gW[(gW < 0) | (W > 0)] ** 2)) + float(np.sum(gH[(gH < 0) | (H > 0)] ** 2))
        )
        if pg0 is None:
            pg0 = pg
        # relative rule, or round-off level (an exact fit: the relative rule cannot trigger)
        floor = 1e-12 * xnorm * (np.sqrt(np.trace(WtW)) + np.sqrt(np.trace(HHt)))
        if pg <= tol * pg0 or pg <= floor:
            break
    hn = np.linalg.norm(H, axis=1)
    s = np.where(hn > 0, hn, 1.0)
    return W * s, H / s[:, None], it


def split_priority(parent: np.ndarray, child1: np.ndarray, child2: np.ndarray) -> float:
    """Kuang & Park's modified-NDCG score of a trial split (higher: split it first).

    ``parent`` is a node's topic vector (its row of H from the split that
    created it) and ``child1``, ``child2`` the topic vectors of the node's
    own trial rank-2 split. With ``n`` features, the features are ranked by
    the parent's weight; position ``i`` (0-based) of that ranking gets the
    relevance ``log(n_p − i)`` when the parent weight is positive
    (``n_p`` such features), 0 otherwise, divided by
    ``log(n − m_t)`` (``log 2`` when that is 0), where ``m_t`` is the worse of
    feature ``t``'s two ranks in the children. A feature that both children
    rank high is shared, not discriminative, and so counts less. Each
    child's ranking is scored by the normalised discounted cumulative gain
    ``Σ_j rel(child's j-th feature)/max(1, log₂(j + 1))`` over the ideal
    ``Σ_j rel*_j / max(1, log₂(j + 1))``, where ``rel*`` sorts the relevances
    ``log(n − i)/disc`` (1/disc for the parent's zero features) decreasingly.
    The score is the product of the two children's values, in [0, 1]:
    high when each child's leading features are leading features of the
    parent and the children differ — a node that mixes two topics.
    A parent with at most one non-zero feature scores ``-3`` (never split).

    Examples
    --------
    >>> import numpy as np
    >>> parent = np.array([4.0, 3.0, 2.0, 1.0, 0.0, 0.0])
    >>> a, b = np.array([4.0, 0, 2, 0, 0, 0]), np.array([0, 3.0, 0, 1, 0, 0])
    >>> good = split_priority(parent, a, b)
    >>> bad = split_priority(parent, np.eye(6)[4], np.eye(6)[5])
    >>> bool(good > bad)
    True
    """
    p = np.asarray(parent, dtype=np.float64).ravel()
    n = p.size
    n_part = int(np.count_nonzero(p > 0))
    if n_part <= 1:
        return FLAT_TOPIC
    pos = np.arange(n)
    order_p = np.argsort(-p, kind="stable")
    ideal = np.log(n - pos.astype(np.float64))
    ideal[p[order_p] <= 0] = 1.0
    part = np.zeros(n)
    part[:n_part] = np.log(n_part - pos[:n_part].astype(np.float64))
    ranks = []
    orders = []
    for c in (child1, child2):
        oc = np.argsort(-np.asarray(c, dtype=np.float64).ravel(), kind="stable")
        r = np.empty(n, dtype=np.intp)
        r[oc] = pos
        ranks.append(r)
        orders.append(oc)
    worst = np.maximum(ranks[0], ranks[1])[order_p]  # by parent position
    disc = np.log((n - worst).astype(np.float64))
    disc[disc == 0] = np.log(2.0)
    ideal /= disc
    part /= disc
    rel = np.empty(n)
    rel[order_p] = part  # relevance of each feature
    gain_disc = np.ones(n)
    gain_disc[1:] = np.log2(np.arange(2, n + 1, dtype=np.float64))
    idcg = float(np.sum(np.sort(ideal)[::-1] / gain_disc))
    if idcg <= 0:
        return FLAT_TOPIC
    score = 1.0
    for oc in orders:
        score *= float(np.sum(rel[oc] / gain_disc)) / idcg
    return score


def _error_gain(Xs: Any, W: np.ndarray, H: np.ndarray, seed: int) -> float:
    """``‖X_S − best rank-1‖²_F − ‖X_S − W H‖²_F``: what splitting the node gains.

    The best rank-1 approximation of a non-negative matrix is non-negative
    (Perron–Frobenius), so the first term is ``‖X_S‖² − σ₁²``.
    """
    from sklearn.utils.extmath import randomized_svd

    from ..metrics import squared_residual

    data = Xs.data if sp.issparse(Xs) else Xs
    total = float(np.sum(np.asarray(data, dtype=np.float64) ** 2))
    _, S, _ = randomized_svd(Xs, 1, n_iter=7, random_state=seed)
    return (total - float(S[0]) ** 2) - squared_residual(Xs, W, H)


# --------------------------------------------------------------------- tree
@dataclass
class TreeNode:
    """One node of the HierNMF2 tree.

    Attributes
    ----------
    id : int
        0 is the root; children get consecutive ids in order of creation.
    parent : int or None
    depth : int
        Root 0.
    samples : ndarray of int
        Rows of X in this node (outliers removed at this node are absent).
    children : list of int
        Two ids, larger child first; empty for a leaf.
    score : float or None
        The split priority (:func:`split_priority`) of this node's trial
        split: the score that made it chosen if it was split; negative when
        it cannot be split; ``None`` for the root, which is always split.
    top_features : list of int
        The heaviest features of the node's topic vector (empty for the root).
    topic : ndarray or None
        The node's topic vector (unit L2 norm, length n_features).
    """

    id: int
    parent: int | None
    depth: int
    samples: np.ndarray
    children: list[int] = field(default_factory=list)
    score: float | None = None
    top_features: list[int] = field(default_factory=list)
    topic: np.ndarray | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def to_dict(
        self,
        feature_names: Any = None,
        *,
        include_topic: bool = False,
    ) -> dict:
        """Plain JSON-ready dict (children are ids; see :meth:`HierarchicalNMF.tree_to_dict`)."""
        d: dict[str, Any] = {
            "id": int(self.id),
            "parent": None if self.parent is None else int(self.parent),
            "depth": int(self.depth),
            "n_samples": int(self.samples.size),
            "samples": [int(i) for i in self.samples],
            "children": [int(c) for c in self.children],
            "score": None if self.score is None else float(self.score),
            "top_features": [int(j) for j in self.top_features],
        }
        if feature_names is not None:
            d["top_feature_names"] = [str(feature_names[j]) for j in self.top_features]
        if include_topic and self.topic is not None:
            d["topic"] = [float(v) for v in self.topic]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TreeNode:
        """Inverse of :meth:`to_dict` (the topic only if it was included)."""
        topic = d.get("topic")
        return cls(
            id=int(d["id"]),
            parent=None if d["parent"] is None else int(d["parent"]),
            depth=int(d["depth"]),
            samples=np.asarray(d["samples"], dtype=np.intp),
            children=[int(c) for c in d["children"]],
            score=None if d["score"] is None else float(d["score"]),
            top_features=[int(j) for j in d["top_features"]],
            topic=None if topic is None else np.asarray(topic, dtype=np.float64),
        )


@dataclass
class _Trial:
    """A leaf's trial split, kept until the leaf is split."""

    samples: np.ndarray
    assign: np.ndarray  # 0/1 per sample of ``samples``
    H: np.ndarray  # (2, n_features), unit rows
    score: float


class HierarchicalNMF(
    ClusterMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Hierarchical clustering of the rows of X by repeated rank-2 NMF (HierNMF2).

    Starting from the root (all samples), repeatedly splits the leaf with
    the highest split priority until ``n_leaves`` leaves exist. Splitting a
    node holding rows ``S`` solves ::

        min_{W ≥ 0, H ≥ 0}  ½ ‖X[S] − W H‖²_F,   W: |S| × 2,  H: 2 × n_features

    by alternating exact two-variable NNLS (:func:`rank2_nmf`), sends each
    sample to ``argmax`` of its row of W and gives each child the matching
    row of H (unit norm) as its topic vector. Every new leaf is trial-split
    at once; its priority (:func:`split_priority`, Kuang & Park's modified
    NDCG) compares its topic vector with its trial children's: the leaf
    whose trial split best separates its own leading features into two
    distinct groups is split next. Leaves with fewer than ``min_node_size``
    samples, one-sided trial splits, or no usable topic are never split; if
    no leaf can be split the tree stops early (with a warning).

    Outliers (Kuang & Park's Algorithm 3): when a trial split is unbalanced
    (the smaller side holds fewer than ``unbalanced`` × the node's samples)
    and the small side's own trial split scores below the lowest positive
    priority among the current leaves, the small side is taken as outliers
    and removed from the node, and the node is trial-split again; after
    ``trial_allowance`` such attempts the samples are restored and the leaf
    is marked unsplittable. Removed samples get label ``-1`` below that
    node. ``unbalanced=0`` turns this off (no sample is ever dropped).

    Parameters
    ----------
    n_leaves : int, default 8
        Number of leaf clusters wanted (≥ 2).
    init : {"nndsvd", "nndsvda", "nndsvdar", "random", "spa"}, default "nndsvda"
        Start of each rank-2 NMF (:func:`nmfkit.init.initialize`).
    max_iter : int, default 500
        Iterations of each rank-2 NMF.
    tol : float, default 1e-4
        Relative projected-gradient tolerance of each rank-2 NMF.
    min_node_size : int, default 4
        Nodes with fewer samples are never split (≥ 2).
    unbalanced : float in [0, 0.5), default 0.1
    trial_allowance : int, default 3
    n_top_features : int, default 10
        Features listed per node in ``tree_``.
    split_criterion : {"ndcg", "error"}, default "ndcg"
        Which leaf to split next. ``"ndcg"``: Kuang & Park's priority
        (:func:`split_priority`), which looks only at the topic vectors
        and so is independent of the node sizes. ``"error"``: the decrease
        of the squared Frobenius error that the split brings,
        ``‖X_S − X_S⁽¹⁾‖² − ‖X_S − W H‖²`` with ``X_S⁽¹⁾`` the best rank-1
        approximation (one of the criteria studied for DC-NMF by Du, Kuang,
        Drake & Park 2017); it favours large, clearly two-sided nodes. The
        outlier step below runs only with ``"ndcg"``.
    random_state : int, RandomState instance or None
        Seeds the starts (one seed per rank-2 NMF, drawn in order).

    Attributes
    ----------
    labels_ : ndarray of int, shape (n_samples,)
        Leaf of each sample, numbered 0..n_leaves_−1 in depth-first order
        (larger child first); ``-1`` for samples removed as outliers.
    leaves_ : list of int
        Node ids of the leaves, in label order.
    components_ : ndarray of shape (n_leaves_, n_features)
        Topic vectors of the leaves (unit L2 norm), in label order.
    tree_ : list of TreeNode
        All nodes, indexed by id.
    n_leaves_ : int
        Leaves actually produced (less than ``n_leaves`` if the tree stopped early).
    n_iter_ : int
        Iterations of all the rank-2 NMFs run (trial splits included).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.models.hierarchical import HierarchicalNMF
    >>> rng = np.random.default_rng(0)
    >>> H = np.kron(np.eye(4), np.ones((1, 5)))        # 4 topics on disjoint words
    >>> X = np.repeat(H, 10, axis=0) + 0.05 * rng.random((40, 20))
    >>> model = HierarchicalNMF(4, random_state=0).fit(X)
    >>> sorted(np.bincount(model.labels_).tolist())
    [10, 10, 10, 10]
    >>> int(model.labels_at(0).max()), len(model.tree_)
    (0, 7)
    """

    _parameter_constraints: dict = {
        "n_leaves": [Interval(numbers.Integral, 2, None, closed="left")],
        "init": [StrOptions({"nndsvd", "nndsvda", "nndsvdar", "random", "spa"})],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "min_node_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "unbalanced": [Interval(numbers.Real, 0, 0.5, closed="left")],
        "trial_allowance": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_top_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "split_criterion": [StrOptions({"ndcg", "error"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_leaves: int = 8,
        *,
        init: str = "nndsvda",
        max_iter: int = 500,
        tol: float = 1e-4,
        min_node_size: int = 4,
        unbalanced: float = 0.1,
        trial_allowance: int = 3,
        n_top_features: int = 10,
        split_criterion: str = "ndcg",
        random_state: Any = None,
    ) -> None:
        self.n_leaves = n_leaves
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.min_node_size = min_node_size
        self.unbalanced = unbalanced
        self.trial_allowance = trial_allowance
        self.n_top_features = n_top_features
        self.split_criterion = split_criterion
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[0]

    # ------------------------------------------------------------ fitting
    def _validate_X(self, X: Any, *, reset: bool) -> Any:
        X = validate_data(
            self, X, accept_sparse=_SPARSE, dtype=[np.float64, np.float32], reset=reset
        )
        if sp.issparse(X):
            X = to_csr(X)
        check_non_negative(X, f"{type(self).__name__} (input X)")
        return X

    def _split(self, X: Any, samples: np.ndarray, topic: np.ndarray | None) -> _Trial:
        """Rank-2 NMF of ``X[samples]`` and the priority of that split."""
        n_feat = X.shape[1]
        if samples.size < self.min_node_size:
            return _Trial(samples, np.zeros(samples.size, np.intp), np.zeros((2, n_feat)),
                          TOO_SMALL)
        Xs = X[samples]
        seed = int(self._rng.randint(np.iinfo(np.int32).max))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rank-limited init fallback
            W0, H0 = initialize(Xs, 2, self.init, random_state=seed)
        W, H, it = rank2_nmf(Xs, W0, H0, max_iter=self.max_iter, tol=self.tol)
        self._n_iter += it
        assign = np.argmax(W, axis=1)
        if np.unique(assign).size < 2 or not np.all(np.linalg.norm(H, axis=1) > 0):
            return _Trial(samples, assign, H, TOO_SMALL)
        if self.split_criterion == "error":
            score = _error_gain(Xs, W, H, seed)
            if score <= 0:
                score = TOO_SMALL
        elif topic is None:
            score = np.inf
        else:
            score = split_priority(topic, H[0], H[1])
        return _Trial(samples, assign, H, float(score))

    def _prepare_leaf(self, X: Any, node: TreeNode, min_priority: float) -> _Trial:
        """Trial-split a new leaf, removing outliers as in Kuang & Park's Algorithm 3."""
        original = node.samples
        samples = original
        trial = 0
        t = self._split(X, samples, node.topic)
        while trial < self.trial_allowance:
            if t.score < 0:
                break
            sizes = np.bincount(t.assign, minlength=2)
            if (
                self.split_criterion != "ndcg"
                or self.unbalanced <= 0
                or sizes.min() >= self.unbalanced * samples.size
            ):
                break
            small = int(np.argmin(sizes))
            small_samples = samples[t.assign == small]
            st = self._split(X, small_samples, t.H[small])
            if st.score >= min_priority:
                break  # the small side is a coherent topic: keep the split
            trial += 1
            if trial < self.trial_allowance:
                samples = samples[t.assign != small]
                t = self._split(X, samples, node.topic)
        if trial >= self.trial_allowance:
            node.samples = original
            return _Trial(original, np.zeros(original.size, np.intp),
                          np.zeros((2, X.shape[1])), OUTLIERS_EXHAUSTED)
        node.samples = samples
        return t

    def _top(self, topic: np.ndarray) -> list[int]:
        k = min(int(self.n_top_features), topic.size)
        order = np.lexsort((np.arange(topic.size), -topic))[:k]
        return [int(j) for j in order if topic[j] > 0]

    def fit(self, X: Any, y: Any = None) -> HierarchicalNMF:
        """Build the tree on the rows of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data, samples (documents) as rows.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        n, m = X.shape
        if n < 2 or m < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples and 2 features, "
                f"got n_samples={n}, n_features={m}"
            )
        self._rng = check_random_state(self.random_state)
        self._n_iter = 0
        root = TreeNode(id=0, parent=None, depth=0, samples=np.arange(n))
        nodes = [root]
        stopped_early = False
        try:
            pending: dict[int, _Trial] = {0: self._split(X, root.samples, None)}
            n_leaf = 1
            while n_leaf < self.n_leaves:
                leaves = [nd for nd in nodes if nd.is_leaf]
                scores = np.array([pending[nd.id].score for nd in leaves])
                positive = scores[scores > 0]
                # (inf at the first split, whose trial score is inf: as in Kuang's code)
                min_priority = float(positive.min()) if positive.size else np.inf
                best = int(np.argmax(scores))
                if scores[best] <= 0:
                    stopped_early = True
                    break
                node = leaves[best]
                t = pending.pop(node.id)
                order = np.argsort(-np.bincount(t.assign, minlength=2), kind="stable")
                for side in order:
                    child = TreeNode(
                        id=len(nodes), parent=node.id, depth=node.depth + 1,
                        samples=t.samples[t.assign == side],
                        topic=np.asarray(t.H[side], dtype=np.float64),
                    )
                    child.top_features = self._top(child.topic)
                    nodes.append(child)
                    node.children.append(child.id)
                for cid in node.children:
                    ct = self._prepare_leaf(X, nodes[cid], min_priority)
                    pending[cid] = ct
                    nodes[cid].score = float(ct.score)
                n_leaf += 1
        finally:
            del self._rng
            n_iter = self.__dict__.pop("_n_iter", 0)
        self.n_iter_ = int(n_iter)
        if stopped_early:
            warnings.warn(
                f"{type(self).__name__}: no leaf could be split further; "
                f"stopped at {sum(nd.is_leaf for nd in nodes)} of {self.n_leaves} leaves",
                UserWarning,
                stacklevel=2,
            )
        self.tree_ = nodes
        self._finish(n, m)
        return self

    def _finish(self, n: int, m: int) -> None:
        leaves = self._dfs_cut(depth=None)
        self.leaves_ = leaves
        self.n_leaves_ = len(leaves)
        self.labels_ = self._labels_for(leaves, n)
        comps = np.zeros((len(leaves), m))
        for i, nid in enumerate(leaves):
            topic = self.tree_[nid].topic
            if topic is not None:
                comps[i] = topic
        self.components_ = comps

    def _dfs_cut(self, depth: int | None) -> list[int]:
        """Ids of the nodes of a cut, depth-first (larger child first)."""
        out: list[int] = []
        stack = [0]
        while stack:
            nid = stack.pop()
            nd = self.tree_[nid]
            if nd.is_leaf or (depth is not None and nd.depth >= depth):
                out.append(nid)
            else:
                stack.extend(reversed(nd.children))
        return out

    def _labels_for(self, cut: list[int], n: int) -> np.ndarray:
        labels = np.full(n, -1, dtype=np.intp)
        for i, nid in enumerate(cut):
            labels[self.tree_[nid].samples] = i
        return labels

    # ------------------------------------------------------------ reading
    def labels_at(self, depth: int) -> np.ndarray:
        """Flat clustering of the samples at a depth of the tree.

        The cut holds the nodes at ``depth`` and the leaves above it, numbered
        in depth-first order; ``labels_at(0)`` is all zeros (the root) and a
        depth at or below the deepest leaf gives ``labels_``. Samples removed
        as outliers above the cut get ``-1``.

        Parameters
        ----------
        depth : int ≥ 0

        Returns
        -------
        ndarray of int, shape (n_samples,)
        """
        check_is_fitted(self)
        if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 0:
            raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
        return self._labels_for(self._dfs_cut(int(depth)), self.tree_[0].samples.size)

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Build the tree and return ``labels_``."""
        return self.fit(X).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Non-negative coefficients of X on the leaf topics (``components_``).

        ``argmin_{W ≥ 0} ‖X − W · components_‖_F``, one exact NNLS solve on
        Gram matrices (the basis of Kuang et al.'s FlatNMF2).
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return nnls_coefficients(X, self.components_)

    def tree_to_dict(self, feature_names: Any = None, *, include_topics: bool = False) -> dict:
        """The tree as nested plain dicts, ready for :func:`json.dumps`.

        Each node is :meth:`TreeNode.to_dict` (``id``, ``parent``, ``depth``,
        ``n_samples``, ``samples``, ``children`` as ids, ``score``,
        ``top_features``, optionally ``top_feature_names`` and ``topic``)
        with one more key, ``"nodes"``: the child dicts. The top level also
        carries ``n_leaves``, ``n_features`` and ``leaves`` (the label order).

        Parameters
        ----------
        feature_names : sequence of str, optional
            Names of the features (defaults to ``feature_names_in_`` when X
            was a DataFrame with string columns).
        include_topics : bool, default False
            Include every node's full topic vector.
        """
        check_is_fitted(self)
        if feature_names is None:
            feature_names = getattr(self, "feature_names_in_", None)
        if feature_names is not None and len(feature_names) != self.n_features_in_:
            raise ValueError(
                f"feature_names has {len(feature_names)} entries, X had {self.n_features_in_}"
            )

        def build(nid: int) -> dict:
            nd = self.tree_[nid]
            d = nd.to_dict(feature_names, include_topic=include_topics)
            d["nodes"] = [build(c) for c in nd.children]
            return d

        out = build(0)
        out["n_leaves"] = int(self.n_leaves_)
        out["n_features"] = int(self.n_features_in_)
        out["leaves"] = [int(i) for i in self.leaves_]
        return out

    def tree_json(
        self, feature_names: Any = None, *, include_topics: bool = False, **json_kwargs: Any
    ) -> str:
        """:meth:`tree_to_dict` as a JSON string (``json_kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(
            self.tree_to_dict(feature_names, include_topics=include_topics), **json_kwargs
        )

    @staticmethod
    def tree_from_dict(d: dict | str) -> list[TreeNode]:
        """Rebuild the node list (indexed by id) from :meth:`tree_to_dict` or its JSON."""
        if isinstance(d, str):
            d = json.loads(d)
        flat: list[dict] = []
        stack = [d]
        while stack:
            cur = stack.pop()
            flat.append(cur)
            stack.extend(cur.get("nodes", []))
        nodes = [TreeNode.from_dict(x) for x in sorted(flat, key=lambda x: x["id"])]
        if [nd.id for nd in nodes] != list(range(len(nodes))):
            raise ValueError("node ids must be 0..n_nodes-1")
        return nodes
