"""Initial factors ``W0``, ``H0`` for NMF: random, NNDSVD(a/ar) and SPA."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.extmath import randomized_svd

from ..backend import is_sparse, matmul, sum_all, to_csr, work_dtype
from ..nnls import hals_sweep
from .spa import _dense_row, spa_select

__all__ = ["INIT_METHODS", "initialize", "resolve_init"]

#: Valid values of ``init`` (``None`` is also accepted and means ``"auto"``).
INIT_METHODS: tuple[str, ...] = (
    "random",
    "nndsvd",
    "nndsvda",
    "nndsvdar",
    "spa",
    "custom",
    "auto",
)

#: Methods that need ``n_components <= min(n_samples, n_features)``.
_RANK_LIMITED = frozenset({"nndsvd", "nndsvda", "nndsvdar", "spa"})

#: Stand-in for ``X.mean()`` when ``X`` is all zero, so that the random and
#: the filled NNDSVD variants still give small positive (never NaN) factors.
ZERO_MEAN_FALLBACK = 1e-6


def _check_int(value: Any, name: str, low: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def resolve_init(init: str | None, n_components: int, n_samples: int, n_features: int) -> str:
    """Turn a requested ``init`` into the method that will actually run.

    - ``"auto"`` (or ``None``, scikit-learn's spelling) becomes ``"nndsvda"``
      when ``n_components <= min(n_samples, n_features)`` and ``"random"``
      otherwise, as in scikit-learn.
    - The SVD-based methods (``"nndsvd"``, ``"nndsvda"``, ``"nndsvdar"``) and
      ``"spa"`` need ``n_components <= min(n_samples, n_features)``; when that
      does not hold they fall back to ``"random"`` with a ``UserWarning``
      (scikit-learn allows such ``n_components`` with random init).
    - Other valid names are returned unchanged.

    Parameters
    ----------
    init : str or None
        One of :data:`INIT_METHODS`, or ``None`` for ``"auto"``.
    n_components : int
        Number of components ``k`` (``>= 1``).
    n_samples, n_features : int
        Shape of ``X``.

    Returns
    -------
    str
        One of ``"random"``, ``"nndsvd"``, ``"nndsvda"``, ``"nndsvdar"``,
        ``"spa"`` or ``"custom"``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a
        non-positive ``n_components``.

    Examples
    --------
    >>> resolve_init("auto", 3, 10, 8)
    'nndsvda'
    >>> resolve_init("auto", 12, 10, 8)
    'random'
    """
    if init is None:
        init = "auto"
    if not isinstance(init, str) or init not in INIT_METHODS:
        valid = ", ".join(repr(m) for m in INIT_METHODS)
        raise ValueError(f"Invalid init {init!r}; valid values are {valid} (or None for 'auto')")
    k = _check_int(n_components, "n_components", 1)
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_features = _check_int(n_features, "n_features", 1)
    limit = min(n_samples, n_features)
    if init == "auto":
        return "nndsvda" if k <= limit else "random"
    if init in _RANK_LIMITED and k > limit:
        warnings.warn(
            f"init={init!r} needs n_components <= min(n_samples, n_features) = {limit}, "
            f"got n_components={k}; falling back to init='random'",
            UserWarning,
            stacklevel=3,
        )
        return "random"
    return init


def _check_X(X: Any) -> Any:
    """Dense or CSR ``X`` in its working dtype; 2-D, finite and non-negative."""
    if is_sparse(X):
        X = to_csr(X, sort=False)  # duplicates summed; unsorted indices need no copy
        values = X.data
    else:
        X = np.asarray(X)
        values = X
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array, got ndim={X.ndim}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be a real numeric array, got dtype {X.dtype}")
    if values.size:
        lo, hi = np.min(values), np.max(values)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError("X contains NaN or infinity")
        if lo < 0:
            raise ValueError(
                f"X has negative entries (min {float(lo)!r}); NMF initialization needs X >= 0"
            )
    dtype = work_dtype(X)
    if X.dtype != dtype:
        X = X.astype(dtype)  # sparse: copies the stored values only
    return X


def _mean(X: Any) -> float:
    n_samples, n_features = X.shape
    return sum_all(X) / (n_samples * n_features)


def _positive_mean(X: Any) -> float:
    m = _mean(X)
    return m if m > 0.0 else ZERO_MEAN_FALLBACK


def _init_random(X: Any, k: int, random_state: Any) -> tuple[np.ndarray, np.ndarray]:
    n_samples, n_features = X.shape
    dtype = X.dtype
    # In X's dtype, as scikit-learn's ``np.sqrt(X.mean() / k)`` is.
    avg = dtype.type(np.sqrt(_positive_mean(X) / k))
    rng = check_random_state(random_state)
    # Same draws, in the same order, as scikit-learn's _initialize_nmf.
    H = avg * rng.standard_normal(size=(k, n_features)).astype(dtype, copy=False)
    W = avg * rng.standard_normal(size=(n_samples, k)).astype(dtype, copy=False)
    np.abs(H, out=H)
    np.abs(W, out=W)
    return W.astype(dtype, copy=False), H.astype(dtype, copy=False)


def _norm(x: np.ndarray) -> float:
    return math.sqrt(float(x @ x))


def _init_nndsvd(
    X: Any, k: int, variant: str, random_state: Any, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    dtype = X.dtype
    U, S, V = randomized_svd(X, k, random_state=random_state)
    W = np.zeros_like(U)
    H = np.zeros_like(V)

    # The leading singular pair of a non-negative matrix is non-negative.
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(V[0, :])

    for j in range(1, k):
        x, y = U[:, j], V[j, :]
        x_p, y_p = np.maximum(x, 0), np.maximum(y, 0)
        x_n, y_n = np.abs(np.minimum(x, 0)), np.abs(np.minimum(y, 0))
        x_p_nrm, y_p_nrm = _norm(x_p), _norm(y_p)
        x_n_nrm, y_n_nrm = _norm(x_n), _norm(y_n)
        m_p, m_n = x_p_nrm * y_p_nrm, x_n_nrm * y_n_nrm
        if m_p > m_n:
            u, v, sigma = x_p / x_p_nrm, y_p / y_p_nrm, m_p
        elif m_n > 0.0:
            u, v, sigma = x_n / x_n_nrm, y_n / y_n_nrm, m_n
        else:  # degenerate singular vectors: leave the component at zero
            continue
        lbd = np.sqrt(S[j] * sigma)
        W[:, j] = lbd * u
        H[j, :] = lbd * v

    W[W < eps] = 0
    H[H < eps] = 0

    if variant == "nndsvda":
        avg = _positive_mean(X)
        W[W == 0] = avg
        H[H == 0] = avg
    elif variant == "nndsvdar":
        rng = check_random_state(random_state)
        avg = _positive_mean(X)
        W[W == 0] = abs(avg * rng.standard_normal(size=len(W[W == 0])) / 100)
        H[H == 0] = abs(avg * rng.standard_normal(size=len(H[H == 0])) / 100)
    return W.astype(dtype, copy=False), H.astype(dtype, copy=False)


def _init_spa(X: Any, k: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    dtype = X.dtype
    rows = spa_select(X, k)
    H = np.stack([_dense_row(X, int(i)) for i in rows])  # (k, n_features), float64
    # W-subproblem in Gram form: min_{A >= 0} ½⟨A, G A⟩ − ⟨B, A⟩ with A = Wᵀ.
    G = H @ H.T
    B = np.asarray(matmul(X, H.T.astype(dtype)), dtype=np.float64).T.copy()
    A = np.linalg.pinv(G, hermitian=True) @ B  # least squares, then projected
    np.maximum(A, 0.0, out=A)
    A, _ = hals_sweep(A, B, G, max_sweeps=50, rel_tol=1e-3)
    W = np.ascontiguousarray(A.T)
    np.maximum(W, eps, out=W)
    np.maximum(H, eps, out=H)
    return W.astype(dtype), H.astype(dtype)


def initialize(
    X: Any,
    n_components: int,
    init: str | None = "auto",
    *,
    random_state: Any = None,
    eps: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute initial factors ``W0``, ``H0`` with ``X ≈ W0 H0``.

    Methods (``init``):

    - ``"auto"`` (default; ``None`` means the same): ``"nndsvda"`` when
      ``n_components <= min(n_samples, n_features)``, else ``"random"``.
    - ``"random"``: scikit-learn's formula, ``avg = sqrt(X.mean() / k)``,
      ``H = |avg·N(0, 1)|`` of shape (k, n_features) drawn first, then
      ``W = |avg·N(0, 1)|`` of shape (n_samples, k), with
      :func:`sklearn.utils.check_random_state`, so a given ``random_state``
      gives the same matrices as scikit-learn.
    - ``"nndsvd"``: Nonnegative Double SVD (Boutsidis & Gallopoulos, 2008) on
      :func:`sklearn.utils.extmath.randomized_svd`; entries below ``eps`` are
      set to 0 (good for sparse factors; multiplicative updates cannot move
      those zeros).
    - ``"nndsvda"``: NNDSVD with the zeros filled with ``X.mean()``.
    - ``"nndsvdar"``: NNDSVD with the zeros filled with small random values
      ``|X.mean()·N(0, 1)| / 100`` (scikit-learn's draw).
    - ``"spa"``: the successive projection algorithm
      (:func:`nmfkit.init.spa.spa_select`) picks ``k`` rows of ``X`` as
      ``H0``; ``W0`` is the non-negative least-squares fit of ``X`` on ``H0``
      (projected least squares polished by HALS sweeps). Entries of both below
      ``eps`` are lifted to ``eps`` so multiplicative updates are not stuck.

    The four NNDSVD variants and ``"random"`` agree with scikit-learn's
    ``_initialize_nmf`` for the same ``random_state``. The SVD-based methods and
    ``"spa"`` need ``n_components <= min(n_samples, n_features)``; otherwise
    they fall back to ``"random"`` with a ``UserWarning``
    (see :func:`resolve_init`).

    When ``X`` is all zero, ``X.mean()`` is replaced by
    :data:`ZERO_MEAN_FALLBACK` (``1e-6``) in ``"random"``, ``"nndsvda"`` and
    ``"nndsvdar"``, so the factors are small and positive rather than zero;
    no method ever returns NaN.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
        Non-negative, finite data. Sparse input is used as CSR and never
        densified.
    n_components : int
        Number of components ``k``.
    init : str or None, default="auto"
        One of :data:`INIT_METHODS` other than ``"custom"`` (user factors go
        through :func:`check_custom_init`).
    random_state : int, RandomState instance or None, default=None
        Seed for ``"random"``, ``"nndsvdar"`` and the randomized SVD.
    eps : float, default=1e-6
        NNDSVD: entries below ``eps`` are zeroed before filling. SPA: entries
        below ``eps`` are lifted to ``eps``.

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
        Non-negative; ``float32`` when ``X`` is ``float32``, else ``float64``.

    Raises
    ------
    ValueError
        Unknown ``init`` (valid names listed), ``init="custom"``, negative or
        non-finite ``X``, non-2-D ``X``, bad ``n_components`` or ``eps``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.abs(np.random.default_rng(0).normal(size=(6, 5)))
    >>> W, H = initialize(X, 2, "nndsvda", random_state=0)
    >>> W.shape, H.shape, bool((W >= 0).all() and (H >= 0).all())
    ((6, 2), (2, 5), True)
    """
    if isinstance(init, str) and init == "custom":
        raise ValueError(
            "init='custom' uses user-given W and H: validate them with "
            "check_custom_init instead of calling initialize"
        )
    if not isinstance(eps, numbers.Real) or not eps >= 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    X = _check_X(X)
    n_samples, n_features = X.shape
    method = resolve_init(init, n_components, n_samples, n_features)
    k = int(n_components)
    if method == "random":
        return _init_random(X, k, random_state)
    if method == "spa":
        return _init_spa(X, k, float(eps))
    return _init_nndsvd(X, k, method, random_state, float(eps))
