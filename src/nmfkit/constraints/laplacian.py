"""Laplacian penalties: a sample graph on W (GNMF) and total variation of the basis images in H.

Both are quadratic forms ``½ fᵀ (D − A) f`` with a non-negative affinity
``A`` and its degree matrix ``D``, which is what lets the multiplicative
updates handle them (:func:`mm_update`).

**Graph regularization** (Cai, He, Han & Huang 2011, GNMF). With a sample
similarity ``A`` (n_samples × n_samples, symmetric, ≥ 0) and ``L = D − A``::

    (λ/2) tr(Wᵀ L W) = (λ/4) Σ_ij A_ij ‖W[i] − W[j]‖²

pulls the coefficient rows of similar samples together (λ = ``graph_weight``;
the paper writes X ≈ UVᵀ with samples as columns: its V is our W, its U our
Hᵀ, and its objective ‖X − UVᵀ‖² + λ tr(VᵀLV) is twice ours, so λ means the
same). :func:`knn_graph` builds the paper's p-nearest-neighbour graph with 0/1
weights.

**Total variation** of each basis image (row of H reshaped to
``image_shape = (h, w)``, C order), anisotropic and smoothed::

    τ TV_ε(H) = τ Σ_j Σ_{edges (p, q) of the h × w grid} (√((H_jp − H_jq)² + ε²) − ε)

(τ = ``tv_H``; ε is tiny, so this is TV up to at most ε per edge). The
majorizer ``√(d² + ε²) ≤ (d² + ε²) / (2 s₀) + s₀ / 2`` with
``s₀ = √(d₀² + ε²)`` at the current H (tight there) turns it into a weighted
grid-graph Laplacian quadratic with edge weights ``τ / s₀`` — iteratively
reweighted least squares as majorization–minimization, so each update
decreases the TV-penalized objective itself.

**The updates.** For a factor F with data gradient split ``B`` (e.g. XHᵀ) and
``P`` (e.g. W HHᵀ, plus the diagonal part ``D F`` of the Laplacian term), and
the attraction ``Q = A F``, GNMF's multiplicative update
(:func:`gnmf_update`) is::

    F ← F ⊙ (B + Q) / P

It linearises the concave-looking cross term ``−fᵀAf``, which is a
majorizer only when A is positive semidefinite — it usually decreases the
objective but is not guaranteed to. :func:`mm_update` is the guaranteed
majorization–minimization step::

    F ← F ⊙ (B + √(B² + 4 P ⊙ Q)) / (2 P)

which minimises the separable majorizer built from the Lee–Seung bound on
the convex part and the bound ``f_i f_j ≥ f⁰_i f⁰_j (1 + ln(f_i/f⁰_i) +
ln(f_j/f⁰_j))`` on the cross terms (the form of Sha, Saul & Lee 2003). Both
have the same fixed points. The ``mu`` solver tries the GNMF update first
(faster in practice) and takes the MM step whenever the GNMF step would not
decrease the objective, so the objective never increases.

Scale: a penalty on one factor alone is not invariant to moving scale
between the factors (``W D``, ``D⁻¹ H``), so the solver starts from rows of H
with unit L2 norm (as in Cai et al.'s code), which fixes the units of λ and
τ; the fitted factors are not rescaled afterwards.

References
----------
D. Cai, X. He, J. Han, T. S. Huang, "Graph regularized nonnegative matrix
factorization for data representation", IEEE TPAMI 33(8):1548–1560, 2011.
F. Sha, L. K. Saul, D. D. Lee, "Multiplicative updates for nonnegative
quadratic programming in support vector machines", NIPS 2003.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "GraphLaplacian",
    "TotalVariation",
    "LaplacianPenalty",
    "check_graph",
    "gnmf_update",
    "knn_graph",
    "mm_update",
    "total_variation",
]

#: ε of the smoothed TV, relative to the RMS entry ``1/√n_features`` of a unit-norm row of H.
TV_EPS_REL = 1e-3

_TINY = float(np.finfo(np.float32).eps)


def gnmf_update(F: np.ndarray, B: Any, P: np.ndarray, Q: np.ndarray | None) -> np.ndarray:
    """GNMF's multiplicative update ``F ← F ⊙ (B + Q) / P`` (in place; Cai et al. 2011).

    Examples
    --------
    >>> import numpy as np
    >>> gnmf_update(np.ones((1, 2)), np.array([[2.0, 1.0]]), np.array([[2.0, 2.0]]),
    ...             np.array([[1.0, 1.0]])).tolist()
    [[1.5, 1.0]]
    """
    P = np.where(P <= 0, _TINY, P)
    F *= (np.asarray(B) + Q) / P if Q is not None else np.asarray(B) / P
    return F


def mm_update(F: np.ndarray, B: Any, P: np.ndarray, Q: np.ndarray | None) -> np.ndarray:
    """The multiplicative MM step ``F ← F ⊙ (B + √(B² + 4PQ)) / (2P)`` (in place).

    ``B ≥ 0`` is the negative part of the gradient (e.g. ``XHᵀ``), ``P > 0``
    the positive part (e.g. ``W HHᵀ + λ D W``) and ``Q = λ A W ≥ 0`` the
    attraction of the affinity; with ``Q = 0`` it is the Lee–Seung update.

    Examples
    --------
    >>> import numpy as np
    >>> F = np.ones((1, 2))
    >>> mm_update(F, np.array([[2.0, 1.0]]), np.array([[1.0, 1.0]]), None).tolist()
    [[2.0, 1.0]]
    """
    B = np.asarray(B)
    P = np.where(P <= 0, _TINY, P)
    if Q is None:
        F *= B / P
        return F
    F *= (B + np.sqrt(B * B + 4.0 * P * Q)) / (2.0 * P)
    return F


# ---------------------------------------------------------------- graph on W
def check_graph(A: Any, n_samples: int, whom: str = "nmfkit") -> sp.csr_matrix:
    """Validate a sample affinity matrix and return it as float64 CSR without its diagonal.

    It must be n_samples × n_samples, finite, ≥ 0 and symmetric. Self-loops
    do not change ``L = D − A`` and are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> check_graph(np.array([[1.0, 2.0], [2.0, 0.0]]), 2).toarray().tolist()
    [[0.0, 2.0], [2.0, 0.0]]
    """
    if sp.issparse(A):
        G = sp.csr_matrix(A, dtype=np.float64)
        data = G.data
    else:
        try:
            G = np.asarray(A, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{whom}: graph must be an array or sparse matrix") from None
        data = G
    if G.ndim != 2 or G.shape != (n_samples, n_samples):
        raise ValueError(
            f"{whom}: graph must be n_samples × n_samples = ({n_samples}, {n_samples}), "
            f"got shape {G.shape}"
        )
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{whom}: graph has non-finite entries")
    if np.any(data < 0):
        raise ValueError(f"{whom}: graph must be non-negative (an affinity, not a distance)")
    G = sp.csr_matrix(G)
    asym = abs(G - G.T)
    scale = float(abs(G).max()) if G.nnz else 0.0
    if asym.nnz and float(asym.max()) > 1e-10 * scale:
        raise ValueError(
            f"{whom}: graph must be symmetric (max |A - A.T| = {float(asym.max()):.3g}); "
            "symmetrise it, e.g. with (A + A.T) / 2 or A.maximum(A.T)"
        )
    G = sp.csr_matrix(G - sp.diags(G.diagonal()))
    G.eliminate_zeros()
    return G


def knn_graph(
    X: Any, n_neighbors: int, *, mode: str = "connectivity", sigma: float | None = None
) -> sp.csr_matrix:
    """The symmetrised p-nearest-neighbour graph of the rows of X (Cai et al. 2011).

    ``A_ij > 0`` when j is among the ``n_neighbors`` nearest (Euclidean)
    neighbours of i or i among those of j. ``mode="connectivity"`` gives 0/1
    weights (the paper's default and what ``NMF(graph_neighbors=p)`` uses);
    ``mode="heat"`` gives ``exp(−‖x_i − x_j‖² / σ)`` with ``σ`` defaulting
    to the mean squared neighbour distance. The graph is built with
    :func:`sklearn.neighbors.kneighbors_graph` (sparse X is fine).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> knn_graph(X, 1).toarray().astype(int).tolist()
    [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    """
    from sklearn.neighbors import kneighbors_graph

    n = X.shape[0]
    if not 1 <= int(n_neighbors) < n:
        raise ValueError(
            f"graph_neighbors must be in [1, n_samples - 1 = {n - 1}], got {n_neighbors}"
        )
    if mode not in ("connectivity", "heat"):
        raise ValueError(f"mode must be 'connectivity' or 'heat', got {mode!r}")
    if mode == "connectivity":
        A = kneighbors_graph(X, int(n_neighbors), mode="connectivity", include_self=False)
        return sp.csr_matrix(A.maximum(A.T), dtype=np.float64)
    D = kneighbors_graph(X, int(n_neighbors), mode="distance", include_self=False)
    D = sp.csr_matrix(D.maximum(D.T), dtype=np.float64)
    d2 = D.data**2
    s = float(np.mean(d2)) if sigma is None else float(sigma)
    D.data = np.exp(-d2 / s) if s > 0 else np.ones_like(d2)
    return D


@dataclass(frozen=True)
class GraphLaplacian:
    """``(λ/2) tr(Wᵀ (D − A) W)`` for a symmetric affinity ``A ≥ 0`` on the samples."""

    adjacency: sp.csr_matrix
    weight: float = 1.0

    @property
    def degree(self) -> np.ndarray:
        return np.asarray(self.adjacency.sum(axis=1)).ravel()

    def value(self, W: np.ndarray) -> float:
        W = np.asarray(W, dtype=np.float64)
        quad = float(np.einsum("i,ij,ij->", self.degree, W, W)) - float(
            np.vdot(W, self.adjacency @ W)
        )
        return 0.5 * self.weight * max(quad, 0.0)

    def mm_terms(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(λ D W, λ A W)``: the diagonal and attraction parts of the gradient."""
        return self.weight * self.degree[:, None] * W, self.weight * np.asarray(
            self.adjacency @ W
        )


# ------------------------------------------------------------------ TV on H
def _grid_diffs(I: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return I[:, :, 1:] - I[:, :, :-1], I[:, 1:, :] - I[:, :-1, :]


def total_variation(H: Any, image_shape: tuple[int, int], *, normalize: bool = False) -> np.ndarray:
    """Anisotropic TV of each row of H reshaped (C order) to ``image_shape``.

    ``TV(h) = Σ |h[r, c+1] − h[r, c]| + Σ |h[r+1, c] − h[r, c]|``. With
    ``normalize=True`` each row is first scaled to unit L2 norm (zero rows
    give 0), which makes images of different scale comparable.

    Examples
    --------
    >>> import numpy as np
    >>> total_variation(np.array([[0.0, 1.0, 0.0, 1.0]]), (2, 2)).tolist()  # [[0, 1], [0, 1]]
    [2.0]
    """
    H = np.atleast_2d(np.asarray(H, dtype=np.float64))
    h, w = _check_shape(image_shape, H.shape[1])
    if normalize:
        nrm = np.linalg.norm(H, axis=1, keepdims=True)
        H = np.divide(H, nrm, out=np.zeros_like(H), where=nrm > 0)
    dx, dy = _grid_diffs(H.reshape(-1, h, w))
    return np.abs(dx).sum(axis=(1, 2)) + np.abs(dy).sum(axis=(1, 2))


def _check_shape(image_shape: Any, n_features: int, whom: str = "nmfkit") -> tuple[int, int]:
    bad = f"{whom}: image_shape must be two positive integers (height, width), got {image_shape!r}"
    try:
        vals = tuple(image_shape)
    except TypeError:
        raise ValueError(bad) from None
    if len(vals) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in vals
    ):
        raise ValueError(bad)
    h, w = int(vals[0]), int(vals[1])
    if h * w != n_features:
        raise ValueError(
            f"{whom}: image_shape {(h, w)} has {h * w} pixels but X has {n_features} features; "
            "each row of H (a basis image) must reshape to image_shape"
        )
    return h, w


@dataclass(frozen=True)
class TotalVariation:
    """``τ Σ_j TV_ε(H[j].reshape(image_shape))`` (anisotropic, smoothed by ε)."""

    weight: float
    image_shape: tuple[int, int]
    eps: float

    def _images(self, H: np.ndarray) -> np.ndarray:
        return np.asarray(H, dtype=np.float64).reshape(H.shape[0], *self.image_shape)

    def value(self, H: np.ndarray) -> float:
        dx, dy = _grid_diffs(self._images(H))
        e = self.eps
        tv = float(np.sum(np.sqrt(dx * dx + e * e) - e) + np.sum(np.sqrt(dy * dy + e * e) - e))
        return self.weight * tv

    def mm_terms(self, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(D_ω H, A_ω H)`` for the grid weights ``ω = τ / √(d₀² + ε²)`` at H (per row)."""
        I = self._images(H)
        dx, dy = _grid_diffs(I)
        e2 = self.eps * self.eps
        wx = self.weight / np.sqrt(dx * dx + e2)
        wy = self.weight / np.sqrt(dy * dy + e2)
        deg = np.zeros_like(I)
        deg[:, :, 1:] += wx
        deg[:, :, :-1] += wx
        deg[:, 1:, :] += wy
        deg[:, :-1, :] += wy
        att = np.zeros_like(I)
        att[:, :, 1:] += wx * I[:, :, :-1]
        att[:, :, :-1] += wx * I[:, :, 1:]
        att[:, 1:, :] += wy * I[:, :-1, :]
        att[:, :-1, :] += wy * I[:, 1:, :]
        k = H.shape[0]
        return (deg * I).reshape(k, -1), att.reshape(k, -1)


@dataclass(frozen=True)
class LaplacianPenalty:
    """The graph penalty on W and/or the TV penalty on H, as the ``mu`` solver takes them.

    The objective term is ``graph.value(W) + tv.value(H)``.

    Examples
    --------
    >>> import numpy as np
    >>> lap = LaplacianPenalty.build(n_samples=2, n_features=4, graph=np.array([[0, 1], [1, 0]]),
    ...                              graph_weight=2.0, tv_H=0.0, image_shape=None)
    >>> lap.names, lap.value(np.array([[1.0], [0.0]]), np.ones((1, 4)))
    (('graph',), 1.0)
    """

    graph: GraphLaplacian | None = None
    tv: TotalVariation | None = None

    @classmethod
    def build(
        cls,
        *,
        n_samples: int,
        n_features: int,
        X: Any = None,
        graph: Any = None,
        graph_neighbors: int | None = None,
        graph_weight: float = 100.0,
        tv_H: float = 0.0,
        image_shape: Any = None,
        whom: str = "nmfkit",
    ) -> LaplacianPenalty:
        """Validate the options and build the penalty (``names`` is empty when none is active)."""
        if graph is not None and graph_neighbors is not None:
            raise ValueError(f"{whom}: give either graph= or graph_neighbors=, not both")
        if graph_weight < 0 or not np.isfinite(graph_weight):
            raise ValueError(f"{whom}: graph_weight must be finite and >= 0, got {graph_weight}")
        if tv_H < 0 or not np.isfinite(tv_H):
            raise ValueError(f"{whom}: tv_H must be finite and >= 0, got {tv_H}")
        g = None
        if graph is not None:
            A = check_graph(graph, n_samples, whom)
            g = GraphLaplacian(A, float(graph_weight))
        elif graph_neighbors is not None:
            if X is None:
                raise ValueError(f"{whom}: graph_neighbors needs X")
            g = GraphLaplacian(knn_graph(X, graph_neighbors), float(graph_weight))
        if g is not None and (g.weight == 0 or g.adjacency.nnz == 0):
            g = None
        t = None
        if image_shape is not None:
            shape = _check_shape(image_shape, n_features, whom)
            if tv_H > 0:
                t = TotalVariation(float(tv_H), shape, TV_EPS_REL / np.sqrt(n_features))
        elif tv_H > 0:
            raise ValueError(
                f"{whom}: tv_H needs image_shape=(height, width) to reshape each row of H"
            )
        return cls(g, t)

    @property
    def names(self) -> tuple[str, ...]:
        """Registry penalty names: ``"graph"`` and/or ``"tv"``."""
        return (("graph",) if self.graph is not None else ()) + (
            ("tv",) if self.tv is not None else ()
        )

    def value(self, W: np.ndarray, H: np.ndarray) -> float:
        out = 0.0
        if self.graph is not None:
            out += self.graph.value(W)
        if self.tv is not None:
            out += self.tv.value(H)
        return out

    def scaled(self, c: float) -> LaplacianPenalty:
        """The penalty for data scaled by ``1/c`` (objective by ``c⁻²``).

        The solver starts from unit-norm rows of H, so only W carries the
        ``1/c``: the graph weight is unchanged and the TV weight becomes ``τ/c²``.
        """
        if self.tv is None:
            return self
        return replace(self, tv=replace(self.tv, weight=self.tv.weight / (c * c)))
