"""Online (streaming) NMF: pure state and update functions behind ``partial_fit``.

Two schemes, both keeping running sums over the mini-batches seen so far,
discounted by a forget factor ``ρ ∈ (0, 1]`` at every call (older batches
weigh ``ρ^age``):

``method="frobenius"`` (Mairal, Bach, Ponce & Sapiro 2010, in our orientation)
    For a batch ``X_b`` (rows are samples) with the current H:

    1. ``W_b = argmin_{W ≥ 0} ½‖X_b − W H‖² + l1_W ΣW + ½ l2_W ‖W‖²`` exactly
       (block principal pivoting, :func:`nmfkit.nnls.bpp_nnls`);
    2. ``A ← ρA + W_bᵀW_b`` (k × k) and ``B ← ρB + W_bᵀX_b`` (k × n_features);
       the H penalties of the batch are added to running sums the same way;
    3. H ← the minimiser of the surrogate ``½⟨H, A H⟩ − ⟨B, H⟩ + l1 ΣH + ½ l2 ‖H‖²``
       by warm-started HALS sweeps (:func:`nmfkit.nnls.hals_sweep`).

    The surrogate is ``Σ_b ρ^age ½‖X_b − W_b H‖²`` up to a constant, so with
    ``ρ = 1`` and the same W's it is exactly the full-batch H-subproblem.
    With entry weights (``weights=``, 0 = missing) each W row is solved with
    its own Gram ``H diag(w_i) Hᵀ`` and A becomes one k × k Gram per feature
    (``A_j = Σ_i w_ij W_iᵀW_i``): memory ``n_features·k²``.

``method="mu"`` (Lefèvre, Bach & Févotte 2011), any β
    As scikit-learn's ``MiniBatchNMF.partial_fit``: W_b is fitted by up to
    ``w_max_iter`` multiplicative updates with H fixed from the flat start
    ``sqrt(mean(X_b)/k)``; then, with ``num``/``den`` the numerator and
    denominator of the H multiplicative update on the batch and γ(β) the
    Févotte–Idier exponent, ::

        A ← ρA + num ⊙ H^(1/γ),   B ← ρB + den,   H ← (A / B)^γ

    starting from ``A = H₀``, ``B = 1``. With weights, ``num`` and ``den``
    are the weighted MU factors (``Wᵀ(M ⊙ X ⊙ Y^(β−2))``, ``Wᵀ(M ⊙ Y^(β−1))``).

Penalties follow scikit-learn's scaling per batch: ``l1_W = alpha_W·l1_ratio·n_features``,
``l1_H = alpha_H·l1_ratio·batch_rows`` (and the same for l2).

The state is a frozen dataclass; :func:`online_step` returns a new state
and never modifies its inputs. :func:`state_arrays` / :func:`state_from_arrays`
turn it into plain arrays (for ``save_model`` or a checkpoint: no pickle).

Examples
--------
>>> import numpy as np
>>> from nmfkit.online import online_init, online_step, online_transform
>>> rng = np.random.default_rng(0)
>>> X = rng.random((600, 3)) @ rng.random((3, 20))     # planted rank 3
>>> state = online_init(rng.random((3, 20)))             # Mairal et al., forget factor 0.7
>>> for epoch in range(10):
...     for s in range(0, 600, 100):                     # mini-batches of 100 rows
...         state, W_batch = online_step(state, X[s:s + 100])
>>> W = online_transform(state, X)
>>> bool(np.linalg.norm(X - W @ state.H) < 0.02 * np.linalg.norm(X))
True
>>> state.n_steps, state.n_samples_seen
(60, 6000)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from .backend import values_at_nonzeros
from .losses import EPSILON, Penalties, beta_divergence
from .nnls import bpp_nnls, hals_sweep

__all__ = [
    "OnlineState",
    "online_init",
    "online_step",
    "online_transform",
    "state_arrays",
    "state_from_arrays",
]

_F64_EPS = float(np.finfo(np.float64).eps)
#: Weighted Frobenius W-step: coordinate-descent sweeps, and the stop when a sweep
#: changes W by less than this fraction of the first sweep's change.
_CD = (500, 1e-7)
METHODS = ("frobenius", "mu")


def _gamma(beta: float) -> float:
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


@dataclass(frozen=True)
class OnlineState:
    """Everything an online fit carries from one mini-batch to the next.

    Attributes
    ----------
    H : ndarray (k, n_features)
        Current components.
    A, B : ndarray
        Running sums. ``"frobenius"``: ``A = Σ ρ^age WᵢᵀWᵢ`` (k × k),
        ``B = Σ ρ^age WᵢᵀXᵢ`` (k × n_features). ``"mu"``: numerator and
        denominator accumulators (both k × n_features).
    A_feat : ndarray (n_features, k, k) or None
        Per-feature Grams added by weighted batches (``"frobenius"`` only).
    pen_H : tuple of float
        Running ``(l1_H, l2_H)`` of the surrogate (``"frobenius"``).
    method : str
        ``"frobenius"`` or ``"mu"``.
    beta : float
        β of the divergence (2 for ``"frobenius"``).
    forget_factor : float
        ρ applied at every step.
    n_steps, n_samples_seen : int
        Batches and rows processed.
    """

    H: np.ndarray
    A: np.ndarray
    B: np.ndarray
    method: str = "frobenius"
    beta: float = 2.0
    forget_factor: float = 0.7
    A_feat: np.ndarray | None = None
    pen_H: tuple[float, float] = (0.0, 0.0)
    n_steps: int = 0
    n_samples_seen: int = 0
    options: dict = field(default_factory=dict)

    @property
    def n_components(self) -> int:
        return int(self.H.shape[0])


def online_init(
    H0: np.ndarray,
    *,
    method: str = "frobenius",
    beta: float = 2.0,
    forget_factor: float = 0.7,
    w_max_iter: int = 30,
    w_tol: float = 1e-4,
    h_max_sweeps: int = 10,
) -> OnlineState:
    """Start an online fit from the components ``H0`` (k × n_features).

    Parameters
    ----------
    H0 : ndarray
        Non-negative starting components (for ``"mu"``, zeros stay zero).
    method : {"frobenius", "mu"}
    beta : float
        β-divergence for ``"mu"`` (must be 2 for ``"frobenius"``).
    forget_factor : float in (0, 1]
        ρ. scikit-learn's ``MiniBatchNMF`` uses ``forget_factor**(batch_size/n_samples)``
        per batch during ``fit`` and ``forget_factor`` itself in ``partial_fit``.
    w_max_iter, w_tol : int, float
        ``"mu"``: multiplicative updates of a batch's W (scikit-learn's
        ``fresh_restarts_max_iter`` and ``tol``). (``"frobenius"`` solves W
        exactly; with weights by coordinate descent run to a change of 1e-7
        of the first sweep's.)
    h_max_sweeps : int
        ``"frobenius"``: HALS sweeps on the surrogate per step (stopping
        early when a sweep changes H by less than 10% of the first).

    Examples
    --------
    >>> import numpy as np
    >>> s = online_init(np.ones((2, 4)), method="mu", beta=1.0)
    >>> s.A.shape, s.B.shape, float(s.B[0, 0])
    ((2, 4), (2, 4), 1.0)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    H = np.array(H0, dtype=np.float32 if np.asarray(H0).dtype == np.float32 else np.float64)
    if H.ndim != 2:
        raise ValueError(f"H0 must be 2-D, got shape {H.shape}")
    if np.any(H < 0) or not np.all(np.isfinite(H)):
        raise ValueError("H0 must be finite and non-negative")
    if not 0 < float(forget_factor) <= 1:
        raise ValueError(f"forget_factor must be in (0, 1], got {forget_factor!r}")
    beta = float(beta)
    if method == "frobenius" and beta != 2.0:
        raise ValueError("method='frobenius' minimises the Frobenius loss (beta=2); use 'mu'")
    k, n = H.shape
    opts = dict(w_max_iter=int(w_max_iter), w_tol=float(w_tol), h_max_sweeps=int(h_max_sweeps))
    if method == "frobenius":
        A = np.zeros((k, k), dtype=H.dtype)
        B = np.zeros((k, n), dtype=H.dtype)
    else:
        A = H.copy()
        B = np.ones((k, n), dtype=H.dtype)
    return OnlineState(
        H=H, A=A, B=B, method=method, beta=beta, forget_factor=float(forget_factor),
        options=opts,
    )


def _as_batch(X: Any, n_features: int, dtype: np.dtype) -> Any:
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=dtype)
        X.sum_duplicates()
        data = X.data
    else:
        X = np.asarray(X, dtype=dtype)
        data = X
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X must have {n_features} columns, got shape {X.shape}")
    if data.size:
        lo, hi = float(np.min(data)), float(np.max(data))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError("X contains NaN or infinity (pass weights= with 0 for missing)")
        if lo < 0:
            raise ValueError(f"X has negative entries (min {lo!r})")
    return X


def _as_weights(weights: Any, shape: tuple[int, int]) -> np.ndarray | None:
    if weights is None:
        return None
    M = weights.toarray() if sp.issparse(weights) else np.asarray(weights, dtype=np.float64)
    if M.shape != shape:
        raise ValueError(f"weights must have X's shape {shape}, got {M.shape}")
    if not np.all(np.isfinite(M)) or np.any(M < 0):
        raise ValueError("weights must be finite and >= 0")
    return M


def _dense(X: Any) -> np.ndarray:
    return X.toarray() if sp.issparse(X) else X  # one mini-batch only


# --------------------------------------------------------------------------- Frobenius


def _weighted_rows_cd(
    X: np.ndarray, M: np.ndarray, H: np.ndarray, l1: float, l2: float, sweeps: int, tol: float
) -> np.ndarray:
    """Per-row weighted NNLS ``min_w ½Σ_j m_j (x_j − (wH)_j)² + l1Σw + ½l2‖w‖²`` by
    coordinate descent, all rows at once (Grams ``H diag(m_i) Hᵀ`` of shape (b, k, k))."""
    G = np.einsum("ij,kj,lj->ikl", M, H, H)
    R = (M * X) @ H.T - l1
    k = H.shape[0]
    W = np.zeros((X.shape[0], k))
    first = None
    for _ in range(max(1, sweeps)):
        change = 0.0
        for t in range(k):
            d = G[:, t, t] + l2
            live = d > 0
            num = R[:, t] - np.einsum("ik,ik->i", G[:, t, :], W) - l2 * W[:, t]
            new = np.where(live, np.maximum(0.0, W[:, t] + num / np.where(live, d, 1.0)), 0.0)
            change += float(np.sum((new - W[:, t]) ** 2))
            W[:, t] = new
        if first is None:
            first = change
        if change <= tol * tol * first or first == 0:
            break
    return W


def _frobenius_step(
    state: OnlineState, X: Any, M: np.ndarray | None, pen: Penalties
) -> tuple[OnlineState, np.ndarray]:
    H = state.H
    rho = state.forget_factor
    opts = state.options
    if M is None:
        HXt = np.asarray(X @ H.T).T if sp.issparse(X) else H @ X.T
        Wt = bpp_nnls(H @ H.T, HXt, None, l1=pen.l1_W, l2=pen.l2_W)
        W = np.ascontiguousarray(Wt.T, dtype=H.dtype)
        WtX = np.asarray(X.T @ W).T if sp.issparse(X) else W.T @ X
        A = rho * state.A + W.T @ W
        A_feat = None if state.A_feat is None else rho * state.A_feat
    else:
        Xd = _dense(X)
        W = _weighted_rows_cd(Xd, M, H, pen.l1_W, pen.l2_W, *_CD).astype(H.dtype, copy=False)
        WtX = W.T @ (M * Xd)
        A = rho * state.A
        per = np.einsum("ij,ik,il->jkl", M, W, W)
        A_feat = per if state.A_feat is None else rho * state.A_feat + per
    B = rho * state.B + WtX
    l1 = rho * state.pen_H[0] + pen.l1_H
    l2 = rho * state.pen_H[1] + pen.l2_H
    sweeps = opts.get("h_max_sweeps", 10)
    if A_feat is None:
        H_new, _ = hals_sweep(np.array(H), B, A, l1=l1, l2=l2, max_sweeps=sweeps, rel_tol=0.1)
    else:
        H_new = _feature_gram_sweeps(np.array(H), B, A, A_feat, l1, l2, sweeps)
    new = replace(
        state, H=H_new, A=A, B=B, A_feat=A_feat, pen_H=(l1, l2), n_steps=state.n_steps + 1,
        n_samples_seen=state.n_samples_seen + X.shape[0],
    )
    return new, W


def _feature_gram_sweeps(
    H: np.ndarray, B: np.ndarray, A: np.ndarray, A_feat: np.ndarray, l1: float, l2: float,
    sweeps: int,
) -> np.ndarray:
    """HALS on ``Σ_j ½ h_jᵀ(A + A_feat[j]) h_j − b_jᵀh_j`` (one Gram per column j)."""
    G = A_feat + A[None]
    first = None
    for _ in range(max(1, sweeps)):
        change = 0.0
        for t in range(H.shape[0]):
            d = G[:, t, t] + l2
            live = d > 0
            num = B[t] - np.einsum("jk,kj->j", G[:, t, :], H) - l1 - l2 * H[t]
            new = np.where(live, np.maximum(0.0, H[t] + num / np.where(live, d, 1.0)), H[t])
            change += float(np.sum((new - H[t]) ** 2))
            H[t] = new
        if first is None:
            first = change
        if change <= 0.01 * first or first == 0:
            break
    return H


# --------------------------------------------------------------------------- MU


def _ratio(X: Any, W: np.ndarray, H: np.ndarray, beta: float, M: np.ndarray | None):
    """``M ⊙ X ⊙ (WH)^(β−2)`` (scikit-learn's ε floors; only stored entries when sparse)."""
    if M is None and sp.issparse(X):
        y = values_at_nonzeros(W, H, X)
        xd = X.data
    else:
        X = _dense(X)
        y = W @ H
        xd = X
    if beta < 2:
        y[y < EPSILON] = EPSILON
    if beta == 1:
        np.divide(xd, y, out=y)
    elif beta == 0:
        y **= -1
        y **= 2
        y *= xd
    else:
        y **= beta - 2
        y *= xd
    if M is not None:
        y *= M
        return y
    if sp.issparse(X):
        return sp.csr_matrix((y, X.indices, X.indptr), shape=X.shape)
    return y


def _wh_pow(W: np.ndarray, H: np.ndarray, beta: float, M: np.ndarray | None) -> np.ndarray:
    """``M ⊙ (WH)^(β−1)`` on one mini-batch (dense: the batch is small)."""
    WH = W @ H
    if beta < 1:
        WH[WH < EPSILON] = EPSILON
    if beta != 2:
        WH **= beta - 1
    if M is not None:
        WH *= M
    return WH


def _mu_W(X, W, H, beta, l1, l2, gamma, M):
    if beta == 2 and M is None:
        num = np.asarray(X @ H.T)
        den = W @ (H @ H.T)
    else:
        num = np.asarray(_ratio(X, W, H, beta, M) @ H.T)
        if beta == 1 and M is None:
            den = np.broadcast_to(np.sum(H, axis=1)[None, :], W.shape).copy()
        else:
            den = _wh_pow(W, H, beta, M) @ H.T
    if l1 > 0:
        den += l1
    if l2 > 0:
        den = den + l2 * W
    den[den == 0] = EPSILON
    delta = num / den
    if gamma != 1:
        delta **= gamma
    if M is not None:  # a row with no observed entry keeps its value
        delta[(num == 0) & (den == EPSILON)] = 1.0
    W *= delta
    return W


def _mu_H_parts(X, W, H, beta, l1, l2, M) -> tuple[np.ndarray, np.ndarray]:
    if beta == 2 and M is None:
        num = np.asarray(X.T @ W).T if sp.issparse(X) else W.T @ X
        den = (W.T @ W) @ H
    else:
        R = _ratio(X, W, H, beta, M)
        num = np.asarray(R.T @ W).T if sp.issparse(R) else W.T @ R
        if beta == 1 and M is None:
            w_sum = np.sum(W, axis=0)
            w_sum[w_sum == 0] = 1.0
            den = np.broadcast_to(w_sum[:, None], H.shape).copy()
        else:
            den = W.T @ _wh_pow(W, H, beta, M)
    if l1 > 0:
        den = den + l1
    if l2 > 0:
        den = den + l2 * H
    den[den == 0] = EPSILON
    return num, den


def _mu_step(
    state: OnlineState, X: Any, M: np.ndarray | None, pen: Penalties
) -> tuple[OnlineState, np.ndarray]:
    beta, H, gamma = state.beta, state.H, _gamma(state.beta)
    opts = state.options
    W = _mu_solve_W(X, H, beta, pen, M, opts.get("w_max_iter", 30), opts.get("w_tol", 1e-4))
    num, den = _mu_H_parts(X, W, H, beta, pen.l1_H, pen.l2_H, M)
    Hg = H ** (1.0 / gamma) if gamma != 1 else H
    rho = state.forget_factor
    A = rho * state.A + num * Hg
    B = rho * state.B + den
    H_new = A / B
    if gamma != 1:
        H_new **= gamma
    if beta <= 1:
        H_new[H_new < _F64_EPS] = 0.0
    new = replace(
        state, H=H_new.astype(H.dtype, copy=False), A=A, B=B, n_steps=state.n_steps + 1,
        n_samples_seen=state.n_samples_seen + X.shape[0],
    )
    return new, W


def _mu_solve_W(X, H, beta, pen: Penalties, M, max_iter: int, tol: float) -> np.ndarray:
    """scikit-learn's ``MiniBatchNMF._solve_W``: MU on W from a flat start."""
    k = H.shape[0]
    if M is None:
        mean = float(X.sum()) / (X.shape[0] * X.shape[1]) if X.shape[0] else 0.0
    else:
        mean = float(np.sum(M * _dense(X))) / max(float(np.count_nonzero(M)), 1.0)
    avg = np.sqrt(mean / k)
    W = np.full((X.shape[0], k), avg, dtype=H.dtype)
    buf = W.copy()
    gamma = _gamma(beta)
    for _ in range(max_iter):
        W = _mu_W(X, W, H, beta, pen.l1_W, pen.l2_W, gamma, M)
        if beta < 1:
            W[W < _F64_EPS] = 0.0
        nrm = np.linalg.norm(W)
        diff = np.linalg.norm(W - buf) / nrm if nrm > 0 else 0.0
        if tol > 0 and diff <= tol:
            break
        buf[:] = W
    return W


# --------------------------------------------------------------------------- public


def online_step(
    state: OnlineState,
    X: Any,
    *,
    weights: Any = None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
) -> tuple[OnlineState, np.ndarray]:
    """Update the state with one mini-batch; return ``(new_state, W_batch)``.

    Parameters
    ----------
    state : OnlineState
    X : ndarray or sparse matrix (batch_rows, n_features)
        Non-negative. NaN is not allowed: mark missing entries with
        ``weights`` 0 (their value in X is then ignored).
    weights : array of X's shape, optional
        Entry weights ≥ 0 (0 = missing, 1/σ² = uncertainty σ).
    alpha_W, alpha_H, l1_ratio : float
        Penalties, scaled per batch as scikit-learn scales them.

    Returns
    -------
    state : OnlineState
        A new state (the input is not modified).
    W_batch : ndarray (batch_rows, k)
        The batch's coefficients (fitted with the previous H).

    Examples
    --------
    >>> import numpy as np
    >>> s = online_init(np.full((2, 3), 0.5), method="mu", beta=1.0)
    >>> s2, W = online_step(s, np.array([[1.0, 2.0, 0.5], [0.2, 0.1, 3.0]]))
    >>> W.shape, s2.n_steps, s.n_steps
    ((2, 2), 1, 0)
    """
    k, n = state.H.shape
    X = _as_batch(X, n, state.H.dtype)
    M = _as_weights(weights, X.shape)
    if M is not None and sp.issparse(X):
        X = X.toarray()  # one mini-batch
    if state.beta <= 0:
        obs = (_dense(X) == 0) if M is None else ((_dense(X) == 0) & (M > 0))
        if np.any(obs):
            raise ValueError(
                "X contains zeros; the divergence is infinite there when beta <= 0"
            )
    pen = Penalties.from_alpha(
        alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio, n_samples=X.shape[0],
        n_features=n,
    )
    if X.shape[0] == 0:
        return state, np.zeros((0, k), dtype=state.H.dtype)
    if state.method == "frobenius":
        return _frobenius_step(state, X, M, pen)
    return _mu_step(state, X, M, pen)


def online_transform(
    state: OnlineState, X: Any, *, weights: Any = None, alpha_W: float = 0.0,
    l1_ratio: float = 0.0,
) -> np.ndarray:
    """W for new rows with H fixed, as a step would compute it (the state is unchanged).

    Examples
    --------
    >>> import numpy as np
    >>> s = online_init(np.eye(2))
    >>> online_transform(s, np.array([[3.0, 4.0]])).tolist()
    [[3.0, 4.0]]
    """
    k, n = state.H.shape
    X = _as_batch(X, n, state.H.dtype)
    M = _as_weights(weights, X.shape)
    pen = Penalties.from_alpha(alpha_W=alpha_W, alpha_H=0.0, l1_ratio=l1_ratio,
                               n_samples=X.shape[0], n_features=n)
    H = state.H
    opts = state.options
    if state.method == "frobenius":
        if M is None:
            HXt = np.asarray(X @ H.T).T if sp.issparse(X) else H @ X.T
            return np.ascontiguousarray(bpp_nnls(H @ H.T, HXt, None, l1=pen.l1_W,
                                                 l2=pen.l2_W).T, dtype=H.dtype)
        return _weighted_rows_cd(_dense(X), M, H, pen.l1_W, pen.l2_W, *_CD)
    return _mu_solve_W(X, H, state.beta, pen, M, opts.get("w_max_iter", 30),
                       opts.get("w_tol", 1e-4))


def batch_objective(state: OnlineState, X: Any, W: np.ndarray) -> float:
    """``D_β(X | W H)`` of a batch with the state's H (for monitoring)."""
    return beta_divergence(X, W, state.H, state.beta)


def state_arrays(state: OnlineState) -> dict[str, Any]:
    """The state as plain arrays and JSON-able scalars (for saving without pickle).

    Examples
    --------
    >>> import numpy as np
    >>> s = online_init(np.ones((2, 3)))
    >>> back = state_from_arrays(state_arrays(s))
    >>> back.method, back.forget_factor, bool(np.array_equal(back.H, s.H))
    ('frobenius', 0.7, True)
    """
    out: dict[str, Any] = {"online_H": state.H, "online_A": state.A, "online_B": state.B}
    if state.A_feat is not None:
        out["online_A_feat"] = state.A_feat
    out["online_meta"] = {
        "method": state.method, "beta": state.beta, "forget_factor": state.forget_factor,
        "pen_H": list(state.pen_H), "n_steps": state.n_steps,
        "n_samples_seen": state.n_samples_seen, "options": dict(state.options),
    }
    return out


def state_from_arrays(d: dict[str, Any]) -> OnlineState:
    """Inverse of :func:`state_arrays`."""
    meta = d["online_meta"]
    return OnlineState(
        H=np.asarray(d["online_H"]), A=np.asarray(d["online_A"]), B=np.asarray(d["online_B"]),
        A_feat=None if d.get("online_A_feat") is None else np.asarray(d["online_A_feat"]),
        method=meta["method"], beta=float(meta["beta"]),
        forget_factor=float(meta["forget_factor"]), pen_H=tuple(meta["pen_H"]),
        n_steps=int(meta["n_steps"]), n_samples_seen=int(meta["n_samples_seen"]),
        options=dict(meta.get("options", {})),
    )
