"""Quality measures for a factorization and for the clusters and components it gives.

Orientation is scikit-learn's: ``X`` (n_samples × n_features) ≈ ``W H`` with
``W`` (n_samples × k) the per-sample coefficients and ``H`` (k × n_features)
the basis (``components_``). Sample labels are ``argmax`` over the rows of W.

Fit
    :func:`relative_error`, :func:`explained_variance` (sparse ``X`` stays
    sparse: only the stored entries and Gram matrices are touched).
Sparsity
    :func:`hoyer_sparseness`.
Clusters against known classes
    :func:`purity`, :func:`entropy`.
Reading the components
    :func:`feature_scores`, :func:`top_features`, :func:`match_components`.

Examples
--------
>>> import numpy as np
>>> from nmfkit.metrics import relative_error, purity
>>> W = np.array([[1.0, 0.0], [0.0, 2.0]]); H = np.array([[1.0, 1.0], [0.0, 1.0]])
>>> relative_error(W @ H, W, H)
0.0
>>> purity([0, 0, 1, 1], [1, 1, 0, 1])
0.75
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment

__all__ = [
    "relative_error",
    "explained_variance",
    "hoyer_sparseness",
    "purity",
    "entropy",
    "feature_scores",
    "top_features",
    "match_components",
    "squared_residual",
]


# --------------------------------------------------------------------- fit
def _as_data(X: Any, whom: str) -> Any:
    """2-D float64 array or CSR matrix, without copying sparse data to dense."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        return X
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{whom}: X must be 2-D, got shape {X.shape}")
    return X


def _as_factors(X: Any, W: Any, H: Any, whom: str) -> tuple[np.ndarray, np.ndarray]:
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if W.ndim != 2 or H.ndim != 2:
        raise ValueError(f"{whom}: W and H must be 2-D, got {W.shape} and {H.shape}")
    if W.shape[0] != X.shape[0] or H.shape[1] != X.shape[1] or W.shape[1] != H.shape[0]:
        raise ValueError(
            f"{whom}: shapes do not chain: X {X.shape}, W {W.shape}, H {H.shape} "
            "(need W (n_samples, k) and H (k, n_features))"
        )
    return W, H


def squared_residual(X: Any, W: Any, H: Any) -> float:
    """Squared Frobenius residual ``‖X − W H‖²_F``, accumulated in float64.

    Dense ``X``: computed blockwise from the residual itself. Sparse ``X``:
    never densified; the stored entries and Gram matrices give ::

        ‖X − WH‖² = Σ_{(i,j) stored} (x_ij − (WH)_ij)²
                    + (⟨WᵀW, HHᵀ⟩ − Σ_{(i,j) stored} (WH)_ij²)

    i.e. the exact residual on the stored entries plus the energy of ``WH``
    outside them (the second bracket is clipped at 0 against round-off).
    This costs O(nnz·k + (n_samples + n_features)·k²).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); W = np.ones((2, 1)); H = np.ones((1, 2))
    >>> squared_residual(X, W, H), squared_residual(sp.csr_matrix(X), W, H)
    (2.0, 2.0)
    """
    X = _as_data(X, "squared_residual")
    W, H = _as_factors(X, W, H, "squared_residual")
    if sp.issparse(X):
        from .backend import values_at_nonzeros

        v = values_at_nonzeros(W, H, X)
        d = np.asarray(X.data, dtype=np.float64) - v
        outside = float(np.sum((W.T @ W) * (H @ H.T))) - float(v @ v)
        return float(d @ d) + max(outside, 0.0)
    total = 0.0
    step = max(1, (1 << 22) // max(1, X.shape[1]))
    for s in range(0, X.shape[0], step):
        R = X[s : s + step] - W[s : s + step] @ H
        total += float(np.einsum("ij,ij->", R, R))
    return total


def _squared_norm(X: Any) -> float:
    d = np.asarray(X.data if sp.issparse(X) else X, dtype=np.float64).ravel()
    return float(d @ d)


def relative_error(X: Any, W: Any, H: Any) -> float:
    """Relative Frobenius error ``‖X − W H‖_F / ‖X‖_F``.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Sparse input is never densified (see :func:`squared_residual`).
    W : array-like of shape (n_samples, k)
    H : array-like of shape (k, n_features)

    Returns
    -------
    float
        0 for an exact fit; ``inf`` when ``X`` is all zero and ``WH`` is not,
        0 when both are zero.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0, 4.0]])
    >>> relative_error(X, np.ones((1, 1)), np.array([[3.0, 0.0]]))
    0.8
    """
    X = _as_data(X, "relative_error")
    res = squared_residual(X, W, H)
    nx = _squared_norm(X)
    if nx == 0.0:
        return 0.0 if res == 0.0 else float("inf")
    return float(np.sqrt(res / nx))


def explained_variance(X: Any, W: Any, H: Any, *, centered: bool = False) -> float:
    """Share of the data's energy explained by ``W H``.

    ``centered=False`` (default) gives the uncentred measure used for NMF
    (Brunet et al. 2004, the R package *NMF*'s ``evar``)::

        1 − ‖X − WH‖²_F / ‖X‖²_F

    which is ``1 − FRV`` (the fraction of residual variance of
    :class:`nmfkit.models.sequential.SequentialNMF`). NMF has no offset term,
    so this is the natural reference. ``centered=True`` divides by the
    total variance about the column means instead, ``‖X − 1 x̄ᵀ‖²_F``
    (scikit-learn's ``explained_variance_score`` with uniform weights over
    the features, pooled); it can be negative.

    Sparse ``X`` is never densified.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0, 4.0]])
    >>> round(explained_variance(X, np.ones((1, 1)), np.array([[3.0, 0.0]])), 2)
    0.36
    """
    X = _as_data(X, "explained_variance")
    res = squared_residual(X, W, H)
    nx = _squared_norm(X)
    if centered:
        mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        nx = nx - X.shape[0] * float(mean @ mean)
    if nx <= 0.0:
        return 1.0 if res == 0.0 else float("-inf")
    return float(1.0 - res / nx)


# ---------------------------------------------------------------- sparsity
def hoyer_sparseness(x: Any, axis: int | None = None) -> float | np.ndarray:
    """Hoyer's (2004) sparseness of a vector, or of each row or column of a matrix.

    For a vector ``x`` of length ``n ≥ 2``::

        s(x) = (√n − ‖x‖₁ / ‖x‖₂) / (√n − 1)

    which is 1 for a vector with a single non-zero entry and 0 for a vector
    whose entries all have the same magnitude. It is undefined (NaN here)
    for the zero vector.

    Parameters
    ----------
    x : array-like or sparse matrix
        A vector, or a matrix.
    axis : int or None, default None
        ``None``: the whole array as one vector (a float is returned).
        ``1``: one value per row (e.g. per component of ``H``, giving the
        sparseness of each basis vector); ``0``: one value per column (e.g.
        per component of ``W``).

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> hoyer_sparseness([0.0, 0.0, 5.0, 0.0]), hoyer_sparseness([1.0, -1.0, 1.0, 1.0])
    (1.0, 0.0)
    >>> np.round(hoyer_sparseness(np.array([[1.0, 0.0], [1.0, 1.0]]), axis=1), 12).tolist()
    [1.0, 0.0]
    """
    if axis not in (None, 0, 1):
        raise ValueError(f"axis must be None, 0 or 1, got {axis!r}")
    if sp.issparse(x):
        X = sp.csr_matrix(x)
        if axis is None:
            n = X.shape[0] * X.shape[1]
            d = np.abs(np.asarray(X.data, dtype=np.float64))
            l1 = np.array([d.sum()])
            l2 = np.array([np.sqrt(d @ d)])
        else:
            n = X.shape[axis]
            A = abs(X).astype(np.float64)
            l1 = np.asarray(A.sum(axis=axis)).ravel()
            l2 = np.sqrt(np.asarray(A.multiply(A).sum(axis=axis)).ravel())
    else:
        a = np.abs(np.asarray(x, dtype=np.float64))
        if axis is None or a.ndim == 1:
            if axis is not None and a.ndim == 1 and axis != 0:
                raise ValueError("axis=1 needs a 2-D array")
            a = a.ravel()[None, :]
            axis_ = 1
        else:
            if a.ndim != 2:
                raise ValueError(f"expected a vector or a matrix, got shape {a.shape}")
            axis_ = axis
        n = a.shape[axis_]
        l1 = a.sum(axis=axis_)
        l2 = np.sqrt(np.einsum("ij,ij->" + ("i" if axis_ == 1 else "j"), a, a))
    if n < 2:
        raise ValueError(f"Hoyer sparseness needs vectors of length >= 2, got {n}")
    out = np.full(l1.shape, np.nan)
    nz = l2 > 0
    rn = np.sqrt(n)
    out[nz] = (rn - l1[nz] / l2[nz]) / (rn - 1.0)
    np.clip(out, 0.0, 1.0, out=out, where=nz)
    if axis is None or (not sp.issparse(x) and np.ndim(x) == 1):
        return float(out[0])
    return out


# ---------------------------------------------------------------- clusters
def _contingency(labels_true: Any, labels_pred: Any) -> np.ndarray:
    """Clusters × classes count matrix (rows: predicted clusters)."""
    t = np.asarray(labels_true).ravel()
    p = np.asarray(labels_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(
            f"labels_true and labels_pred differ in length: {t.size} and {p.size}"
        )
    if t.size == 0:
        raise ValueError("labels are empty")
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    C = np.zeros((pi.max() + 1, ti.max() + 1), dtype=np.int64)
    np.add.at(C, (pi, ti), 1)
    return C


def purity(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """Cluster purity: the share of samples in their cluster's majority class.

    ``purity = (1/n) Σ_r max_i n_r^i`` where ``n_r^i`` counts the samples of
    class ``i`` in cluster ``r`` (Zhao & Karypis 2004). 1 is best; it
    rewards many small clusters, so read it with :func:`entropy` or the
    adjusted Rand index. Every distinct value of ``labels_pred`` (``-1``
    included) is a cluster.

    Examples
    --------
    >>> purity([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1])
    0.8333333333333334
    """
    C = _contingency(labels_true, labels_pred)
    return float(C.max(axis=1).sum() / C.sum())


def entropy(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """Cluster entropy (Zhao & Karypis 2004; used by Kim & Park 2008), in [0, 1].

    With ``q`` classes, ``n_r`` samples in cluster ``r`` and ``n_r^i`` of
    them in class ``i``::

        E = Σ_r (n_r / n) · ( −1/log q · Σ_i (n_r^i / n_r) log(n_r^i / n_r) )

    0 means every cluster holds a single class (best); 1 means every
    cluster mixes all classes evenly. With a single class it is 0.

    Examples
    --------
    >>> entropy([0, 0, 1, 1], [0, 0, 1, 1]), entropy([0, 1, 0, 1], [0, 0, 1, 1])
    (0.0, 1.0)
    """
    C = _contingency(labels_true, labels_pred).astype(np.float64)
    q = C.shape[1]
    if q < 2:
        return 0.0
    nr = C.sum(axis=1)
    P = C / nr[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
    per_cluster = -plogp.sum(axis=1) / np.log(q)
    return float(np.clip((nr / nr.sum()) @ per_cluster, 0.0, 1.0))


# -------------------------------------------------------------- components
def _as_basis(H: Any, whom: str) -> np.ndarray:
    H = H.toarray() if sp.issparse(H) else np.asarray(H, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2:
        raise ValueError(f"{whom}: H must be 2-D (k, n_features), got shape {H.shape}")
    if np.any(H < 0):
        raise ValueError(f"{whom}: H must be non-negative")
    return H


def feature_scores(H: Any) -> np.ndarray:
    """Kim & Park (2007) feature scores: how specific each feature is to one component.

    For feature ``j`` (a column of ``H``, k × n_features) let
    ``p(i|j) = H[i, j] / Σ_q H[q, j]``, its distribution over the ``k``
    components. The score is one minus its normalised entropy::

        score_j = 1 + 1/log₂(k) · Σ_i p(i|j) log₂ p(i|j)

    1 means the feature belongs to a single component, 0 that it is spread
    evenly over all of them. A feature whose column is all zero scores 0.
    (Kim & Park, "Sparse non-negative matrix factorizations via alternating
    non-negativity-constrained least squares for microarray data analysis",
    Bioinformatics 23(12), 2007; their basis matrix is our ``Hᵀ``.)

    Parameters
    ----------
    H : array-like of shape (k, n_features), k ≥ 2, non-negative

    Returns
    -------
    ndarray of shape (n_features,)

    Examples
    --------
    >>> import numpy as np
    >>> feature_scores(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])).tolist()
    [1.0, 0.0, 0.0]
    """
    H = _as_basis(H, "feature_scores")
    k = H.shape[0]
    if k < 2:
        raise ValueError(f"feature_scores needs at least 2 components, got {k}")
    tot = H.sum(axis=0)
    live = tot > 0
    P = np.zeros_like(H)
    P[:, live] = H[:, live] / tot[live]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(P > 0, P * np.log2(np.where(P > 0, P, 1.0)), 0.0)
    score = 1.0 + plogp.sum(axis=0) / np.log2(k)
    score[~live] = 0.0
    return np.clip(score, 0.0, 1.0)


def top_features(
    H: Any, n: int = 10, feature_names: Sequence | np.ndarray | None = None
) -> list[list]:
    """The ``n`` heaviest features of each component (row of ``H``), heaviest first.

    Ties are broken by the lower feature index. Features of weight 0 are
    never listed, so a component can get fewer than ``n``.

    Parameters
    ----------
    H : array-like of shape (k, n_features)
    n : int, default 10
    feature_names : sequence of length n_features, optional
        When given, names are returned instead of indices (e.g.
        ``model.get_feature_names_out()`` of a vectorizer).

    Returns
    -------
    list of k lists

    Examples
    --------
    >>> import numpy as np
    >>> H = np.array([[0.1, 0.7, 0.2], [0.5, 0.0, 0.0]])
    >>> top_features(H, 2)
    [[1, 2], [0]]
    >>> top_features(H, 1, feature_names=["a", "b", "c"])
    [['b'], ['a']]
    """
    H = _as_basis(H, "top_features")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    names = None
    if feature_names is not None:
        names = list(feature_names)
        if len(names) != H.shape[1]:
            raise ValueError(
                f"feature_names has {len(names)} entries, H has {H.shape[1]} features"
            )
    out = []
    for row in H:
        order = np.lexsort((np.arange(row.size), -row))[: int(n)]
        order = order[row[order] > 0]
        out.append([names[j] for j in order] if names is not None else order.tolist())
    return out


def match_components(H1: Any, H2: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pair the rows of ``H1`` with rows of ``H2`` by the Hungarian method on cosines.

    Maximises the total cosine similarity of the pairs (a rectangular
    assignment when the counts differ).

    Parameters
    ----------
    H1 : array-like of shape (k1, n_features)
    H2 : array-like of shape (k2, n_features)

    Returns
    -------
    perm : ndarray of int, shape (k1,)
        ``H1[i]`` is matched with ``H2[perm[i]]``; ``-1`` for rows left
        unmatched when ``k1 > k2``.
    cosines : ndarray of float, shape (k1,)
        Cosine of each pair (NaN when unmatched; 0 against a zero row).

    Examples
    --------
    >>> import numpy as np
    >>> H1 = np.array([[1.0, 0.0], [0.0, 1.0]]); H2 = np.array([[0.0, 2.0], [3.0, 0.1]])
    >>> perm, cos = match_components(H1, H2)
    >>> perm.tolist(), np.round(cos, 3).tolist()
    ([1, 0], [0.999, 1.0])
    """
    A = np.asarray(H1.toarray() if sp.issparse(H1) else H1, dtype=np.float64)
    B = np.asarray(H2.toarray() if sp.issparse(H2) else H2, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[1]:
        raise ValueError(
            f"match_components needs two 2-D arrays with equal column counts, "
            f"got {A.shape} and {B.shape}"
        )
    na = np.linalg.norm(A, axis=1)
    nb = np.linalg.norm(B, axis=1)
    An = A / np.where(na > 0, na, 1.0)[:, None]
    Bn = B / np.where(nb > 0, nb, 1.0)[:, None]
    C = An @ Bn.T
    rows, cols = linear_sum_assignment(-C)
    perm = np.full(A.shape[0], -1, dtype=np.intp)
    cos = np.full(A.shape[0], np.nan)
    perm[rows] = cols
    cos[rows] = np.clip(C[rows, cols], -1.0, 1.0)
    return perm, cos
