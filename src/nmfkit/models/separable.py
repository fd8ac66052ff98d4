"""Separable NMF: the basis is made of k rows of the data (anchor samples).

In our orientation (rows of X are samples) a matrix is *separable* when::

    X = W X[J, :],    W ≥ 0 (n_samples × k),   |J| = k

that is, every sample is a non-negative combination of k "pure" samples
(anchors, endmembers, pure pixels) that appear among the rows of X; ``W``
then contains a permuted identity block at the rows ``J``. Given ``J``, the
factorization is a convex problem::

    min_{W ≥ 0}  ‖X − W X[J, :]‖²_F

so separable NMF reduces to selecting ``J``. The papers write the transpose,
M (features × samples) = M(:, J) H, and select *columns*; here the same
algorithms select *rows*. Three greedy selection rules are provided:

* ``"spa"`` — successive projection (Gillis & Vavasis 2014): the row with the
  largest residual norm after orthogonal projection onto the span of the
  rows already chosen (:func:`nmfkit.init.spa.spa_select`).
* ``"snpa"`` — successive non-negative projection (Gillis 2014): the same,
  but the residual is that of the projection onto the convex hull of the
  chosen rows and the origin (``W`` rows in Δ = {w ≥ 0, Σw ≤ 1}), or onto
  their convex cone (``W ≥ 0``); more robust than SPA to noise and
  ill-conditioning.
* ``"xray"`` — fast conical hull algorithm (Kumar, Sindhwani & Kambadur 2013):
  residual of the projection onto the cone of the chosen rows (exact NNLS),
  then the row ``j`` maximising ``⟨R_i, X_j⟩ / ⟨p, X_j⟩`` with ``p = 1``, for
  the sample ``i`` with the largest residual (``"max"``), or the
  sum over all samples of the squared positive parts (``"dist"``).

All three run on Gram products only (``X @ x``, ``X[J] X[J]ᵀ``), so sparse
X is never densified (only the k chosen rows are).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_non_negative
from ..backend import dense_rows, row_blocks, row_sq_norms, to_csr
from ..init.spa import spa_select
from ..nnls import bpp_nnls

__all__ = ["SeparableNMF", "snpa_select", "xray_select", "separable_select"]

#: Relative residual (squared-norm ratio) below which a residual is rounding noise.
_NOISE = 1e3 * float(np.finfo(np.float64).eps)
#: Relative tolerance under which residual norms count as tied (Gillis' rule).
_TIE_TOL = 1e-6
#: Largest number of float64 entries in one block of a dense product.
_BLOCK_ENTRIES = 1 << 22


# --------------------------------------------------------------------- helpers
def _prepare(X: Any) -> Any:
    if sp.issparse(X):
        return to_csr(X)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got an array with ndim={X.ndim}")
    return X


def _check_k(k: Any, n_samples: int) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
    if k > n_samples:
        raise ValueError(
            f"separable NMF selects n_components={k} distinct samples (rows of X) as "
            f"anchors, but X has only n_samples = {n_samples}"
        )
    return int(k)


def _row_sums(X: Any) -> np.ndarray:
    return np.asarray(X.sum(axis=1), dtype=np.float64).ravel()


def _times(X: Any, v: np.ndarray) -> np.ndarray:
    """``X @ v`` as float64 (v dense, 1-D or 2-D)."""
    out = X @ v
    return np.asarray(out, dtype=np.float64)


def _normalized(X: Any) -> Any:
    """Rows of X scaled to sum to one (zero rows left at zero)."""
    s = _row_sums(X)
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    if sp.issparse(X):
        return to_csr(sp.diags(inv) @ X)
    return np.asarray(X, dtype=np.float64) * inv[:, None]


def _residual_sq(norms0: np.ndarray, W: np.ndarray, XHt: np.ndarray, G: np.ndarray) -> np.ndarray:
    """``‖X_i − W_i H‖²`` for every row from Gram products (clipped at 0)."""
    r = norms0 - 2.0 * np.einsum("ij,ij->i", W, XHt) + np.einsum("ij,ij->i", W @ G, W)
    return np.maximum(r, 0.0, out=r)


def _pick(resid: np.ndarray, norms0: np.ndarray, available: np.ndarray) -> int:
    """Largest residual among available rows; near-ties go to the largest original norm."""
    cand = np.where(available, resid, -np.inf)
    a = float(cand.max())
    ties = available & (a - resid <= _TIE_TOL * a)
    return int(np.argmax(np.where(ties, norms0, -np.inf)))


def _project_capped_simplex(V: np.ndarray) -> np.ndarray:
    """Project each row of V onto Δ = {w ≥ 0, Σ w ≤ 1} (Gillis 2014, Appendix A.1).

    ``max(v, 0)`` when its sum is at most 1, else the Euclidean projection
    onto the probability simplex (sort-based, vectorised over rows).
    """
    P = np.maximum(V, 0.0)
    over = P.sum(axis=1) > 1.0
    if np.any(over):
        Vo = V[over]
        k = Vo.shape[1]
        U = -np.sort(-Vo, axis=1)
        css = np.cumsum(U, axis=1) - 1.0
        ind = np.arange(1, k + 1)
        cond = U - css / ind > 0
        rho = k - 1 - np.argmax(cond[:, ::-1], axis=1)
        theta = css[np.arange(Vo.shape[0]), rho] / (rho + 1.0)
        P[over] = np.maximum(Vo - theta[:, None], 0.0)
    return P


def _hull_nnls(
    G: np.ndarray, XHt: np.ndarray, W0: np.ndarray, *, max_iter: int, rel_tol: float = 1e-6
) -> np.ndarray:
    """``min_{W_i ∈ Δ} ‖X_i − W_i H‖²`` for every row ``i`` by a fast gradient method.

    Gram form: the objective is ``Σ_i ½ W_i G W_iᵀ − W_i·(XHᵀ)_i`` with
    ``G = HHᵀ``. Nesterov's accelerated projected gradient with step ``1/L``
    (``L = ‖G‖₂``) and the projection onto Δ, warm-started at ``W0``, as in
    Gillis' ``nnls_FPGM``: stops after ``max_iter`` iterations or once an
    iteration changes W by less than ``rel_tol`` times the first one did.
    """
    L = float(np.linalg.norm(G, 2))
    if not L > 0:
        return np.zeros_like(W0)
    W = _project_capped_simplex(W0)
    Y = W.copy()
    t = 1.0
    first = None
    for _ in range(max_iter):
        Wn = _project_capped_simplex(Y - (Y @ G - XHt) / L)
        tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        Y = Wn + ((t - 1.0) / tn) * (Wn - W)
        change = float(np.linalg.norm(Wn - W))
        W, t = Wn, tn
        if first is None:
            first = change
        if change <= rel_tol * first:
            break
    return W


def _cone_nnls(G: np.ndarray, XHt: np.ndarray, W0: np.ndarray | None = None) -> np.ndarray:
    """``min_{W ≥ 0} ‖X − W H‖²_F`` exactly (block principal pivoting, Gram form)."""
    A0 = None if W0 is None else np.ascontiguousarray(W0.T)
    return np.ascontiguousarray(bpp_nnls(G, np.ascontiguousarray(XHt.T), A0).T)


# ------------------------------------------------------------------- selection
def snpa_select(
    X: Any, k: int, *, projection: str = "hull", max_iter: int = 500
) -> np.ndarray:
    """Select ``k`` anchor rows by the successive non-negative projection algorithm.

    Gillis (2014), in our orientation: with ``J`` the rows chosen so far and
    ``H = X[J, :]``, every row is projected onto the convex hull of the rows
    of ``H`` and the origin::

        W = argmin_{W_i ∈ Δ} ‖X − W H‖²_F,   Δ = {w ≥ 0, Σ_t w_t ≤ 1}

    (``projection="hull"``, the variant with guarantees; Gillis' fast
    gradient method) or onto their convex cone, ``W ≥ 0`` (``"cone"``,
    exact NNLS), and the row with the largest residual norm ``‖X_i − W_i H‖``
    is added to ``J``. Near-ties (relative ``1e-6``) go to the row of
    largest norm. Residual norms are computed from Gram products, never
    forming the residual. When every residual is at rounding level (fewer
    than ``k`` extreme rows), the remaining picks are the unchosen rows of
    largest norm.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Non-negative data; rows are samples. Sparse input is never densified.
    k : int
        Number of anchors, ``1 <= k <= n_samples``.
    projection : {"hull", "cone"}, default="hull"
    max_iter : int, default=500
        Fast-gradient iterations per step for ``"hull"``.

    Returns
    -------
    ndarray of shape (k,)
        Row indices in selection order.

    References
    ----------
    N. Gillis, "Successive nonnegative projection algorithm for robust
    nonnegative blind source separation", SIAM J. Imaging Sci. 7(2), 2014.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 2.0]])
    >>> snpa_select(X, 2).tolist()
    [2, 0]
    """
    if projection not in ("hull", "cone"):
        raise ValueError(f"projection must be 'hull' or 'cone', got {projection!r}")
    X = _prepare(X)
    n = X.shape[0]
    k = _check_k(k, n)
    norms0 = row_sq_norms(X)
    nmax = float(norms0.max())
    resid = norms0.copy()
    available = np.ones(n, dtype=bool)
    chosen: list[int] = []
    H = np.zeros((0, X.shape[1]))
    XHt = np.zeros((n, 0))
    W = np.zeros((n, 0))
    for _ in range(k):
        live = nmax > 0 and float(np.max(resid[available])) > _NOISE * nmax
        if not live:  # nothing left to explain: largest remaining rows
            b = int(np.argmax(np.where(available, norms0, -np.inf)))
            chosen.append(b)
            available[b] = False
            continue
        b = _pick(resid, norms0, available)
        chosen.append(b)
        available[b] = False
        h = dense_rows(X, [b], dtype=np.float64)
        H = np.vstack([H, h])
        XHt = np.hstack([XHt, _times(X, h.ravel())[:, None]])
        G = H @ H.T
        W = np.hstack([W, np.zeros((n, 1))])
        W[b] = 0.0
        W[b, -1] = 1.0
        if projection == "hull":
            W = _hull_nnls(G, XHt, W, max_iter=max_iter)
        else:
            W = _cone_nnls(G, XHt, W)
        resid = _residual_sq(norms0, W, XHt, G)
    return np.asarray(chosen, dtype=np.intp)


def xray_select(X: Any, k: int, *, rule: str = "max") -> np.ndarray:
    """Select ``k`` anchor rows by XRAY (fast conical hull algorithm).

    Kumar, Sindhwani & Kambadur (2013), in our orientation. With ``J`` the
    rows chosen so far, ``H = X[J, :]`` and the exact NNLS residual
    ``R = X − W H``, ``W = argmin_{W ≥ 0} ‖X − W H‖²_F``, the next anchor
    is, with ``p = 1`` (so ``⟨p, X_j⟩`` is the row sum)::

        "max":   j* = argmax_j ⟨R_i, X_j⟩ / ⟨p, X_j⟩,   i = argmax_i ‖R_i‖
        "dist":  j* = argmax_j Σ_i max(0, ⟨R_i, X_j⟩)² / ⟨p, X_j⟩²

    Both maximise a function that is convex on the slice ``⟨p, x⟩ = 1`` of
    the cone, so for separable data the maximiser is an extreme ray, and
    rows already chosen score ≤ 0 (the NNLS optimality conditions give
    ``⟨R_i, X_j⟩ ≤ 0`` for ``j ∈ J``): each step adds a new anchor. The
    positive part in ``"dist"`` keeps that property (the squared norm of
    ``Rᵀ X_j`` alone would also reward large negative correlations).
    ``"max"`` costs one product ``X @ x_i`` per step; ``"dist"`` needs
    ``R Xᵀ``, computed in blocks from Gram products (O(n_samples²·n_features)
    per step). Rows summing to zero are never chosen while others remain.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Non-negative data; rows are samples. Sparse input is never densified.
    k : int
        Number of anchors, ``1 <= k <= n_samples``.
    rule : {"max", "dist"}, default="max"

    Returns
    -------
    ndarray of shape (k,)
        Row indices in selection order.

    References
    ----------
    A. Kumar, V. Sindhwani, P. Kambadur, "Fast conical hull algorithms for
    near-separable non-negative matrix factorization", ICML 2013.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 2.0]])
    >>> sorted(xray_select(X, 2).tolist())
    [0, 2]
    """
    if rule not in ("max", "dist"):
        raise ValueError(f"rule must be 'max' or 'dist', got {rule!r}")
    X = _prepare(X)
    n = X.shape[0]
    k = _check_k(k, n)
    norms0 = row_sq_norms(X)
    nmax = float(norms0.max())
    psum = _row_sums(X)
    valid = psum > 0
    resid = norms0.copy()
    available = np.ones(n, dtype=bool)
    chosen: list[int] = []
    H = np.zeros((0, X.shape[1]))
    XHt = np.zeros((n, 0))
    W = np.zeros((n, 0))
    G = np.zeros((0, 0))
    for _ in range(k):
        live = nmax > 0 and float(np.max(resid)) > _NOISE * nmax
        score = None
        if live:
            if rule == "max":
                i = _pick(resid, norms0, np.ones(n, dtype=bool))
                xi = dense_rows(X, [i], dtype=np.float64).ravel()
                corr = _times(X, xi) - XHt @ W[i]
                score = np.divide(corr, psum, out=np.full(n, -np.inf), where=valid)
            else:
                score = _xray_dist_scores(X, W, XHt, resid, nmax, psum, valid)
            score[~available] = -np.inf
            if not float(np.max(score)) > 0.0:
                score = None
        if score is None:  # nothing left to explain: largest remaining rows
            j = int(np.argmax(np.where(available, norms0, -np.inf)))
        else:
            j = int(np.argmax(score))
        chosen.append(j)
        available[j] = False
        h = dense_rows(X, [j], dtype=np.float64)
        H = np.vstack([H, h])
        XHt = np.hstack([XHt, _times(X, h.ravel())[:, None]])
        G = H @ H.T
        W = _cone_nnls(G, XHt, np.hstack([W, np.zeros((n, 1))]))
        resid = _residual_sq(norms0, W, XHt, G)
    return np.asarray(chosen, dtype=np.intp)


def _xray_dist_scores(
    X: Any,
    W: np.ndarray,
    XHt: np.ndarray,
    resid: np.ndarray,
    nmax: float,
    psum: np.ndarray,
    valid: np.ndarray,
) -> np.ndarray:
    """``Σ_i max(0, ⟨R_i, X_j⟩)² / ⟨p, X_j⟩²`` for every row ``j``, in blocks.

    ``⟨R_i, X_j⟩ = ⟨X_i, X_j⟩ − W_i · (X_j Hᵀ)``: only rows with a
    non-negligible residual contribute.
    """
    n = X.shape[0]
    active = np.flatnonzero(resid > _NOISE * nmax)
    Xa = X[active]
    Wa = W[active]
    score = np.full(n, -np.inf)
    step = max(1, _BLOCK_ENTRIES // max(1, active.size))
    for s in range(0, n, step):
        blk = slice(s, min(n, s + step))
        S = Xa @ X[blk].T
        S = np.asarray(S.toarray() if sp.issparse(S) else S, dtype=np.float64)
        S -= Wa @ XHt[blk].T
        np.maximum(S, 0.0, out=S)
        num = np.einsum("ij,ij->j", S, S)
        v = valid[blk]
        out = np.full(num.shape, -np.inf)
        out[v] = num[v] / psum[blk][v] ** 2
        score[blk] = out
    return score


def separable_select(
    X: Any,
    k: int,
    *,
    method: str = "spa",
    normalize: bool = False,
    xray_rule: str = "max",
    snpa_projection: str = "hull",
    max_iter: int = 500,
) -> np.ndarray:
    """Select ``k`` anchor rows of X with SPA, SNPA or XRAY (see :class:`SeparableNMF`).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 2.0]])
    >>> sorted(separable_select(X, 2, method="snpa").tolist())
    [0, 2]
    """
    X = _prepare(X)
    _check_k(k, X.shape[0])
    Xs = _normalized(X) if normalize else X
    if method == "spa":
        return spa_select(Xs, k, tie_tol=_TIE_TOL)
    if method == "snpa":
        return snpa_select(Xs, k, projection=snpa_projection, max_iter=max_iter)
    if method == "xray":
        return xray_select(Xs, k, rule=xray_rule)
    raise ValueError(f"method must be 'spa', 'snpa' or 'xray', got {method!r}")


# ------------------------------------------------------------------- estimator
class SeparableNMF(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Separable NMF: X ≈ W X[J, :] with k anchor samples J and W ≥ 0.

    Selects ``k`` rows ``J`` of X (``anchors_``) so that every sample is
    close to a non-negative combination of them, then solves::

        min_{W ≥ 0}  ‖X − W X[J, :]‖²_F

    exactly (block principal pivoting). ``components_ = X[J, :]`` (dense,
    in selection order). Exact, in polynomial time, for separable data
    (``W`` containing a permuted identity block, e.g. hyperspectral images
    with pure pixels); robust to small noise.

    Parameters
    ----------
    n_components : int
        Number of anchors k, ``1 <= k <= n_samples``.
    method : {"spa", "snpa", "xray"}, default="spa"
        Selection rule: successive projection (Gillis & Vavasis 2014),
        successive non-negative projection (Gillis 2014) or the fast conical
        hull algorithm XRAY (Kumar, Sindhwani & Kambadur 2013); see
        :func:`nmfkit.init.spa.spa_select`, :func:`snpa_select`,
        :func:`xray_select`.
    normalize : bool, default=False
        Scale the rows of X to sum to one for the *selection* (Gillis'
        ``normalize`` option). SPA and SNPA assume the rows of W sum to at
        most one; scaling makes that hold for any separable X. The anchors
        are rows of the original X either way. XRAY is scale invariant.
    xray_rule : {"max", "dist"}, default="max"
        XRAY's selection criterion (see :func:`xray_select`).
    snpa_projection : {"hull", "cone"}, default="hull"
        SNPA's projection: onto the convex hull of the anchors and the
        origin (rows of W in the capped simplex), or onto their cone.
    snpa_max_iter : int, default=500
        Fast-gradient iterations per SNPA step (``snpa_projection="hull"``).

    Attributes
    ----------
    anchors_ : ndarray of shape (k,)
        Row indices of the anchor samples, in selection order.
    components_ : ndarray of shape (k, n_features)
        ``X[anchors_, :]`` (dense).
    n_components_ : int
    reconstruction_err_ : float
        ``‖X − W components_‖_F`` on the training data.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (only when X has string column names)

    References
    ----------
    N. Gillis, S. A. Vavasis, "Fast and robust recursive algorithms for
    separable nonnegative matrix factorization", IEEE TPAMI 36(4), 2014.
    N. Gillis, "Successive nonnegative projection algorithm for robust
    nonnegative blind source separation", SIAM J. Imaging Sci. 7(2), 2014.
    A. Kumar, V. Sindhwani, P. Kambadur, "Fast conical hull algorithms for
    near-separable non-negative matrix factorization", ICML 2013.

    Examples
    --------
    >>> import numpy as np
    >>> H = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    >>> X = np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.8], [0.0, 1.0]]) @ H
    >>> model = SeparableNMF(2, method="snpa")
    >>> W = model.fit_transform(X)
    >>> sorted(model.anchors_.tolist())
    [1, 3]
    >>> bool(np.allclose(W @ model.components_, X))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "method": [StrOptions({"spa", "snpa", "xray"})],
        "normalize": ["boolean"],
        "xray_rule": [StrOptions({"max", "dist"})],
        "snpa_projection": [StrOptions({"hull", "cone"})],
        "snpa_max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components: int,
        *,
        method: str = "spa",
        normalize: bool = False,
        xray_rule: str = "max",
        snpa_projection: str = "hull",
        snpa_max_iter: int = 500,
    ) -> None:
        self.n_components = n_components
        self.method = method
        self.normalize = normalize
        self.xray_rule = xray_rule
        self.snpa_projection = snpa_projection
        self.snpa_max_iter = snpa_max_iter

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
            self,
            X,
            accept_sparse=("csr", "csc", "coo", "bsr", "lil", "dok", "dia"),
            dtype=[np.float64, np.float32],
            reset=reset,
        )
        if sp.issparse(X):
            X = to_csr(X)
        check_non_negative(X, type(self).__name__)
        return X

    def _solve_W(self, X: Any) -> np.ndarray:
        H = np.asarray(self.components_, dtype=np.float64)
        G = H @ H.T
        XHt = _times(X, H.T)
        return _cone_nnls(G, XHt).astype(X.dtype, copy=False)

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Select the anchors, fit W and return it.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        k = _check_k(self.n_components, X.shape[0])
        J = separable_select(
            X, k, method=self.method, normalize=self.normalize, xray_rule=self.xray_rule,
            snpa_projection=self.snpa_projection, max_iter=self.snpa_max_iter,
        )
        self.anchors_ = J
        self.components_ = dense_rows(X, J, dtype=np.float64).astype(X.dtype, copy=False)
        self.n_components_ = k
        W = self._solve_W(X)
        self.reconstruction_err_ = _frobenius_error(X, W, self.components_)
        return W

    def fit(self, X: Any, y: Any = None) -> SeparableNMF:
        """Select the anchors and fit W; returns self."""
        self.fit_transform(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Solve ``min_{W ≥ 0} ‖X − W components_‖²_F`` exactly (NNLS)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._solve_W(X)

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


def _frobenius_error(X: Any, W: np.ndarray, H: np.ndarray) -> float:
    """``‖X − WH‖_F`` computed in row blocks of ``WH`` (X is never densified whole)."""
    W = np.asarray(W, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    total = 0.0
    for rows in row_blocks(X.shape[0], X.shape[1]):
        D = W[rows] @ H
        if sp.issparse(X):
            Xb = X[rows]
            r = np.repeat(np.arange(Xb.shape[0]), np.diff(Xb.indptr))
            D[r, Xb.indices] -= Xb.data  # canonical CSR: no duplicate entries
        else:
            D -= X[rows]
        total += float(np.vdot(D, D))
    return float(np.sqrt(total))
