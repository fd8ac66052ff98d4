"""Symmetric NMF of a similarity matrix: A ≈ W Wᵀ with W ≥ 0.

For a symmetric non-negative similarity (or adjacency) matrix A
(n × n), symmetric NMF looks for::

    min_{W ≥ 0}  ‖A − W Wᵀ‖²_F,     W of shape (n, k)

a soft clustering of the n nodes: ``W[i, t]`` is the membership of node i
in cluster t and ``labels_`` is the argmax of each row (Kuang, Ding & Park,
"Symmetric nonnegative matrix factorization for graph clustering", SDM 2012;
Kuang, Yun & Park, J. Global Optim. 62, 2015). In the orientation of
:class:`nmfkit.NMF`, A plays the role of X (n_samples = n_features = n) and
``components_ = Wᵀ``.

The quartic problem is solved by the penalty method of Kuang et al.:
alternate exact non-negative least squares on::

    min_{W, H ≥ 0}  ‖A − W Hᵀ‖²_F + α ‖W − H‖²_F

(α starts at ``max(A)``, their choice, and grows geometrically so that W and
H are driven together), with block principal pivoting (``solver="anls"``)
or HALS sweeps (``solver="hals"``).

When A has an exact symmetric non-negative rank factorization with a
diagonal principal submatrix of full rank r, :func:`exact_symmetric_nrf`
(``solver="exact"``; Kalofolias & Gallopoulos, "Computing symmetric
nonnegative rank factorizations", Linear Algebra Appl. 436, 2012) recovers
W in O(r n²) without iterations.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import check_non_negative
from ..backend import row_blocks, to_csr
from ..exceptions import ConvergenceWarning
from ..init.spa import spa_select
from ..nnls import bpp_nnls, hals_sweep
from ..solvers._stopping import Monitor

__all__ = ["SymmetricNMF", "check_similarity", "exact_symmetric_nrf"]

#: Relative asymmetry ‖A − Aᵀ‖_F / ‖A‖_F above which A is rejected.
SYMMETRY_TOL = 1e-10


def check_similarity(A: Any, whom: str = "SymmetricNMF") -> Any:
    """Validate a similarity matrix: square, finite, non-negative, symmetric.

    Dense input becomes a float64 array, sparse input CSR (never densified).
    Symmetry is required up to ``‖A − Aᵀ‖_F ≤ 1e-10·‖A‖_F``.

    Examples
    --------
    >>> import numpy as np
    >>> check_similarity(np.array([[0.0, 1.0], [1.0, 0.0]])).shape
    (2, 2)
    """
    A = check_array(
        A, accept_sparse=("csr", "csc", "coo", "bsr", "lil", "dok", "dia"),
        dtype=np.float64, input_name="A", estimator=whom,
    )
    if sp.issparse(A):
        A = to_csr(A)
    n, m = A.shape
    if n != m:
        raise ValueError(f"{whom} needs a square similarity matrix, got shape {A.shape}")
    check_non_negative(A, whom)
    if sp.issparse(A):
        D = A - A.T
        asym = float(sp.linalg.norm(D)) if D.nnz else 0.0
        norm = float(sp.linalg.norm(A)) if A.nnz else 0.0
    else:
        asym = float(np.linalg.norm(A - A.T))
        norm = float(np.linalg.norm(A))
    if asym > SYMMETRY_TOL * norm:
        raise ValueError(
            f"{whom} needs a symmetric matrix: ‖A − Aᵀ‖_F / ‖A‖_F = {asym / norm:.3g} "
            f"exceeds {SYMMETRY_TOL:g}; symmetrize it, e.g. (A + A.T) / 2"
        )
    return A


def _sq_norm(A: Any) -> float:
    data = A.data if sp.issparse(A) else A
    return float(np.vdot(data, data))


def _sym_error_sq(A: Any, W: np.ndarray) -> float:
    """``‖A − W Wᵀ‖²_F`` computed in row blocks (exact, no cancellation)."""
    total = 0.0
    for rows in row_blocks(A.shape[0], A.shape[1]):
        D = W[rows] @ W.T
        if sp.issparse(A):
            Ab = A[rows]
            r = np.repeat(np.arange(Ab.shape[0]), np.diff(Ab.indptr))
            D[r, Ab.indices] -= Ab.data
        else:
            D -= A[rows]
        total += float(np.vdot(D, D))
    return total


# ---------------------------------------------------------------- exact case
def exact_symmetric_nrf(A: Any, r: int, *, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Exact symmetric NRF ``A = W Wᵀ`` (W ≥ 0, n × r) when A has a diagonal "anchor" block.

    Kalofolias & Gallopoulos (2012): if A (n × n, symmetric, ≥ 0, rank r)
    has r indices J whose principal submatrix ``A[J, J] = D`` is diagonal
    and positive and whose rows span A's row space, then::

        A = A[:, J] D⁻¹ A[J, :],   so   W = A[:, J] D^(−1/2) ≥ 0

    is an exact symmetric non-negative rank factorization. Such a J exists
    exactly when A = V Vᵀ for a non-negative V containing a (scaled,
    permuted) identity block, and then the rows ``A[J, :]`` are the r
    extreme rays of the cone spanned by the rows of A. J is found by a
    greedy extreme-ray search: the rows are scaled to sum to one and the r
    extreme points of their convex hull are picked by successive
    projection (:func:`nmfkit.init.spa.spa_select`), O(r n²) in total like
    the verification below.

    Parameters
    ----------
    A : ndarray or sparse matrix of shape (n, n)
        Symmetric non-negative matrix.
    r : int
        Rank of the factorization (A's rank).
    tol : float, default=1e-9
        Relative tolerances of the two checks: the off-diagonal entries of
        ``A[J, J]`` must be at most ``tol·max(diag A[J, J])`` and
        ``‖A − W Wᵀ‖_F ≤ tol·‖A‖_F``.

    Returns
    -------
    W : ndarray of shape (n, r)
    J : ndarray of shape (r,)
        The anchor indices (``W[J]`` is diagonal).

    Raises
    ------
    ValueError
        When A is not symmetric/non-negative, or has no such structure at
        rank r (no diagonal principal submatrix of rank r spanning its rows).

    Examples
    --------
    >>> import numpy as np
    >>> V = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> W, J = exact_symmetric_nrf(V @ V.T, 2)
    >>> sorted(J.tolist()), bool(np.allclose(W @ W.T, V @ V.T))
    ([0, 1], True)
    """
    A = check_similarity(A, "exact_symmetric_nrf")
    n = A.shape[0]
    if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 1 <= r <= n:
        raise ValueError(f"r must be an integer in [1, n={n}], got {r!r}")
    s = np.asarray(A.sum(axis=1), dtype=np.float64).ravel()
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    An = to_csr(sp.diags(inv) @ A) if sp.issparse(A) else A * inv[:, None]
    J = spa_select(An, int(r))
    if sp.issparse(A):
        AJ = np.asarray(A[:, J].toarray(), dtype=np.float64)  # n × r columns only
    else:
        AJ = np.array(A[:, J], dtype=np.float64)
    D = AJ[J]
    d = np.diag(D).copy()
    off = D - np.diag(d)
    dmax = float(d.max()) if d.size else 0.0
    if not np.all(d > 0) or float(np.abs(off).max(initial=0.0)) > tol * dmax:
        raise ValueError(
            f"A has no diagonal principal submatrix of rank {r} spanning its row space: "
            f"the extreme rows found, J = {J.tolist()}, have A[J, J] with off-diagonal "
            f"max {float(np.abs(off).max(initial=0.0)):.3g} and diagonal min "
            f"{float(d.min()):.3g} (relative tolerance {tol:g}); use an iterative solver"
        )
    W = AJ / np.sqrt(d)[None, :]
    err = np.sqrt(_sym_error_sq(A, W))
    normA = np.sqrt(_sq_norm(A))
    if err > tol * normA:
        raise ValueError(
            f"A is not exactly W Wᵀ with W = A[:, J] D^(-1/2) for the diagonal block "
            f"J = {J.tolist()}: relative error {err / normA:.3g} > {tol:g} (A's rank is "
            f"probably larger than r = {r}, or it has no such structure); use an "
            "iterative solver"
        )
    return W, J


# ------------------------------------------------------------ penalty ANLS
def _penalty_anls(
    A: Any,
    W0: np.ndarray,
    *,
    solver: str,
    alpha: float,
    alpha_growth: float,
    max_iter: int,
    tol: float,
    verbose: int,
):
    """Kuang et al.'s alternating NNLS on ``‖A − W Hᵀ‖² + α‖W − H‖²`` (Gram form).

    Each half-step solves, exactly (``"anls"``) or by HALS sweeps, ::

        W = argmin_{W ≥ 0} ½⟨W, W (HᵀH + αI)⟩ − ⟨W, A H + α H⟩

    and symmetrically for H. Stops when the projected gradient of the
    symmetric objective ``f(H) = ‖A − H Hᵀ‖²_F`` at H, ``4(H HᵀH − A H)``,
    falls below ``tol`` times its initial norm.
    """
    W = np.array(W0, dtype=np.float64)
    H = W.copy()
    normA2 = _sq_norm(A)
    AH = np.asarray(A @ H, dtype=np.float64)

    def sym_loss() -> float:
        HtH = H.T @ H
        return max(normA2 - 2.0 * float(np.vdot(AH, H)) + float(np.vdot(HtH, HtH)), 0.0)

    def pgrad() -> float:
        grad = H @ (H.T @ H) - AH
        pg = np.where(H > 0, grad, np.minimum(grad, 0.0))
        return 4.0 * float(np.linalg.norm(pg))

    def half_step(F: np.ndarray, AF: np.ndarray, X0: np.ndarray, a: float) -> np.ndarray:
        G = F.T @ F
        B = (AF + a * F).T
        if solver == "anls":
            return np.ascontiguousarray(bpp_nnls(G, B, X0.T, l2=a).T)
        Xt = np.ascontiguousarray(X0.T)
        hals_sweep(Xt, B, G, l2=a, max_sweeps=10, rel_tol=0.1)
        return np.ascontiguousarray(Xt.T)

    mon = Monitor(
        tol=tol, max_iter=max_iter, stop_rule="pgrad", verbose=verbose,
        solver=f"symmetric-{solver}",
    )
    if mon.start(sym_loss(), pgrad):
        return mon.result(H, H.T, alpha=alpha)
    a = alpha
    while True:
        W = half_step(H, AH, W, a)
        AW = np.asarray(A @ W, dtype=np.float64)
        H = half_step(W, AW, H, a)
        AH = np.asarray(A @ H, dtype=np.float64)
        a *= alpha_growth
        if mon.step(H, H.T, sym_loss(), pgrad):
            break
    gap = float(np.linalg.norm(W - H)) / max(float(np.linalg.norm(H)), 1e-300)
    return mon.result(H, H.T, alpha=a, gap=gap)


# --------------------------------------------------------------- estimator
class SymmetricNMF(BaseEstimator):
    """Symmetric NMF: A ≈ W Wᵀ with W ≥ 0, for graph and similarity clustering.

    Minimises, over W (n × k) ≥ 0, for a symmetric non-negative A (n × n)::

        ‖A − W Wᵀ‖²_F

    by Kuang, Ding & Park's penalty method (alternating NNLS on
    ``‖A − W Hᵀ‖²_F + α‖W − H‖²_F`` with α growing), or exactly by
    :func:`exact_symmetric_nrf` (``solver="exact"``). Kuang et al. recommend
    a normalised similarity ``D^(−1/2) A D^(−1/2)`` for graphs with uneven
    degrees (not applied here).

    Parameters
    ----------
    n_components : int
        Number of clusters k.
    solver : {"anls", "hals", "exact"}, default="anls"
        ``"anls"``: each half-step solved exactly (block principal
        pivoting); ``"hals"``: by HALS sweeps; ``"exact"``: the
        Kalofolias–Gallopoulos construction, which raises a ValueError when
        A has no diagonal principal submatrix of rank k spanning its rows.
    alpha : float or None, default=None
        Initial penalty weight; ``None`` uses ``max(A)`` (Kuang et al.).
    alpha_growth : float, default=1.05
        Factor applied to α after every iteration (1 keeps it fixed).
    max_iter : int, default=500
    tol : float, default=1e-4
        Stop when the projected gradient of ``‖A − W Wᵀ‖²_F`` falls below
        ``tol`` times its value at the start.
    n_init : int, default=1
        Random starts; the one with the lowest ``‖A − W Wᵀ‖_F`` is kept.
    random_state : int, RandomState instance or None
        Seed of the starts, ``W₀ = 2·sqrt(mean(A)/k)·U(0, 1)`` (Kuang et al.).
    verbose : int, default=0
    exact_tol : float, default=1e-9
        Relative tolerance of ``solver="exact"``'s structure checks.

    Attributes
    ----------
    embedding_ : ndarray of shape (n, k)
        W (also returned by ``fit_transform``).
    components_ : ndarray of shape (k, n)
        ``Wᵀ``, so that ``A ≈ embedding_ @ components_`` as for :class:`nmfkit.NMF`.
    labels_ : ndarray of shape (n,)
        Cluster of each node: argmax of its row of W.
    reconstruction_err_ : float
        ``‖A − W Wᵀ‖_F``.
    n_iter_ : int
    converged_ : bool
    loss_history_ : ndarray
        ``‖A − H Hᵀ‖²_F`` at the start and after each iteration.
    anchors_ : ndarray of shape (k,)
        Only for ``solver="exact"``: the diagonal-block indices J.
    n_features_in_ : int

    References
    ----------
    D. Kuang, C. Ding, H. Park, "Symmetric nonnegative matrix factorization
    for graph clustering", SDM 2012. D. Kuang, S. Yun, H. Park, "SymNMF:
    nonnegative low-rank approximation of a similarity matrix for graph
    clustering", J. Global Optim. 62, 2015. V. Kalofolias, E. Gallopoulos,
    "Computing symmetric nonnegative rank factorizations", Linear Algebra
    Appl. 436, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.kron(np.eye(2), np.ones((3, 3)))   # two cliques of 3 nodes
    >>> model = SymmetricNMF(2, random_state=0).fit(A)
    >>> labels = model.labels_.tolist()
    >>> len(set(labels[:3])) == len(set(labels[3:])) == 1 and labels[0] != labels[3]
    True
    >>> W, J = exact_symmetric_nrf(A, 2)
    >>> bool(np.allclose(W @ W.T, A))
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "solver": [StrOptions({"anls", "hals", "exact"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "alpha_growth": [Interval(numbers.Real, 1, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "exact_tol": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components: int,
        *,
        solver: str = "anls",
        alpha: float | None = None,
        alpha_growth: float = 1.05,
        max_iter: int = 500,
        tol: float = 1e-4,
        n_init: int = 1,
        random_state: Any = None,
        verbose: int = 0,
        exact_tol: float = 1e-9,
    ) -> None:
        self.n_components = n_components
        self.solver = solver
        self.alpha = alpha
        self.alpha_growth = alpha_growth
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state
        self.verbose = verbose
        self.exact_tol = exact_tol

    def fit_transform(self, A: Any, y: Any = None) -> np.ndarray:
        """Factorize the similarity matrix A and return W (n × k).

        Parameters
        ----------
        A : {array-like, sparse matrix} of shape (n, n)
            Symmetric non-negative similarity or adjacency matrix.
        y : ignored

        Returns
        -------
        W : ndarray of shape (n, n_components)
        """
        self._validate_params()
        A = check_similarity(A, type(self).__name__)
        n = A.shape[0]
        k = int(self.n_components)
        if k > n:
            raise ValueError(f"n_components={k} exceeds the number of nodes n = {n}")
        self.n_features_in_ = n
        if self.solver == "exact":
            W, J = exact_symmetric_nrf(A, k, tol=self.exact_tol)
            self.anchors_ = J
            self.n_iter_ = 0
            self.converged_ = True
            self.loss_history_ = np.array([_sym_error_sq(A, W)])
        else:
            rng = check_random_state(self.random_state)
            amax = float(A.data.max() if sp.issparse(A) and A.nnz else np.max(A))
            alpha = float(self.alpha) if self.alpha is not None else (amax or 1.0)
            mean = (float(A.sum()) / (n * n)) if n else 0.0
            scale = 2.0 * np.sqrt(max(mean, 0.0) / k) or 1.0
            best = None
            for _ in range(self.n_init):
                W0 = scale * rng.uniform(size=(n, k))
                res = _penalty_anls(
                    A, W0, solver=self.solver, alpha=alpha, alpha_growth=self.alpha_growth,
                    max_iter=self.max_iter, tol=self.tol, verbose=self.verbose,
                )
                if best is None or res.loss_history[-1] < best.loss_history[-1]:
                    best = res
            assert best is not None
            W = best.W
            self.n_iter_ = best.n_iter
            self.converged_ = best.converged
            self.loss_history_ = best.loss_history
            if not best.converged and self.tol > 0:
                warnings.warn(
                    f"SymmetricNMF stopped on max_iter={self.max_iter} before reaching "
                    f"tol={self.tol} (projected gradient); increase max_iter or loosen tol",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        self.embedding_ = W
        self.components_ = np.ascontiguousarray(W.T)
        self.labels_ = np.argmax(W, axis=1)
        self.reconstruction_err_ = float(np.sqrt(_sym_error_sq(A, W)))
        return W

    def fit(self, A: Any, y: Any = None) -> SymmetricNMF:
        """Factorize the similarity matrix A; returns self."""
        self.fit_transform(A)
        return self

    def transform(self, A_new: Any) -> np.ndarray:
        """Memberships of new nodes from their similarities to the training nodes.

        Solves ``min_{W_new ≥ 0} ‖A_new − W_new Wᵀ‖²_F`` exactly (NNLS with
        the fitted W fixed).

        Parameters
        ----------
        A_new : {array-like, sparse matrix} of shape (n_new, n)
            Similarities of the new nodes to the n training nodes.

        Returns
        -------
        W_new : ndarray of shape (n_new, n_components)
        """
        check_is_fitted(self)
        A_new = check_array(
            A_new, accept_sparse=("csr", "csc", "coo"), dtype=np.float64, input_name="A_new",
            estimator=type(self).__name__,
        )
        if A_new.shape[1] != self.n_features_in_:
            raise ValueError(
                f"A_new must have {self.n_features_in_} columns (one per training node), "
                f"got {A_new.shape[1]}"
            )
        check_non_negative(A_new, type(self).__name__)
        W = self.embedding_
        B = np.asarray(A_new @ W, dtype=np.float64).T
        return np.ascontiguousarray(bpp_nnls(W.T @ W, B).T)
