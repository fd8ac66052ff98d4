"""Hoyer's (2004) sparseness projection.

The sparseness of a vector ``x`` of length ``n ≥ 2`` is (Hoyer 2004)::

    s(x) = (√n − ‖x‖₁ / ‖x‖₂) / (√n − 1)        ∈ [0, 1]

(1 for a single non-zero entry, 0 for equal magnitudes; see
:func:`nmfkit.metrics.hoyer_sparseness`). Fixing the L2 norm, a target
sparseness ``s`` fixes the L1 norm: ``‖x‖₁ = ‖x‖₂ (√n − s (√n − 1))``.

:func:`hoyer_projection` is the Euclidean projection of an arbitrary vector
onto ``{y ≥ 0, ‖y‖₁ = L1, ‖y‖₂ = L2}`` by Hoyer's algorithm (his
``projfunc``): project onto the hyperplane ``Σ y = L1``, move from the
centre of the simplex face along the line through the point until the L2
sphere is reached, fix the coordinates that went negative at zero and
repeat on the remaining ones. Each round fixes at least one more zero, so
it ends after at most ``n`` rounds (a handful in practice).
:func:`project_sparseness` applies it to every row (or column) of a matrix
at once, vectorised over the vectors.

The set is not convex, so the projection need not be unique (e.g. for a
vector with equal entries); ties are broken deterministically towards the
largest (then the first) entry of the input.

References
----------
P. O. Hoyer, "Non-negative matrix factorization with sparseness
constraints", JMLR 5:1457–1469, 2004.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["hoyer_projection", "project_sparseness", "sparseness_l1"]


def sparseness_l1(s: float, n: int, l2: Any = 1.0) -> Any:
    """The L1 norm that gives a vector of length ``n`` and L2 norm ``l2`` sparseness ``s``.

    ``L1 = l2 · (√n − s (√n − 1))``.

    Examples
    --------
    >>> sparseness_l1(0.0, 4), sparseness_l1(1.0, 4), sparseness_l1(0.5, 4, l2=2.0)
    (2.0, 1.0, 3.0)
    """
    _check_s(s)
    r = np.sqrt(n)
    return float(l2 * (r - s * (r - 1.0))) if np.ndim(l2) == 0 else l2 * (r - s * (r - 1.0))


def _check_s(s: float) -> None:
    if not (0.0 <= float(s) <= 1.0):
        raise ValueError(f"sparseness must be in [0, 1], got {s!r}")


def _project_rows(V: np.ndarray, l1: np.ndarray, l2: np.ndarray) -> np.ndarray:
    """Hoyer's projection of every row of ``V`` (float64) onto its (L1, L2) set."""
    r, n = V.shape
    out = V + ((l1 - V.sum(axis=1)) / n)[:, None]
    zero = np.zeros((r, n), dtype=bool)
    one = l1 <= l2  # sparseness 1: the closest point puts all of L2 on the largest entry
    if one.any():
        rows = np.flatnonzero(one)
        out[rows] = 0.0
        out[rows, np.argmax(V[rows], axis=1)] = l2[rows]
    todo = np.flatnonzero(~one)
    l2sq = l2 * l2
    for _ in range(n + 1):
        if todo.size == 0:
            break
        S = out[todo]
        Z = zero[todo]
        cnt = n - Z.sum(axis=1)
        m = np.where(Z, 0.0, (l1[todo] / cnt)[:, None])
        w = S - m
        ww = np.einsum("ij,ij->i", w, w)
        flat = ww <= 1e-30 * np.maximum(l2sq[todo], 1e-300)
        if flat.any():
            # S is constant on its support: every direction in the face is
            # equally close; take the one towards the input's largest entry.
            for i in np.flatnonzero(flat):
                sup = ~Z[i]
                orig = np.where(sup, V[todo[i]], -np.inf)
                j = int(np.argmax(orig))
                w[i] = np.where(sup, -1.0 / cnt[i], 0.0)
                w[i, j] += 1.0
                ww[i] = float(w[i] @ w[i])
        # m ⟂ w (w sums to zero on the support), so ‖m + α w‖² = ‖m‖² + α² ‖w‖²
        rad = np.maximum(l2sq[todo] - l1[todo] ** 2 / cnt, 0.0)
        alpha = np.sqrt(np.divide(rad, ww, out=np.zeros_like(rad), where=ww > 0))
        S = m + alpha[:, None] * w
        neg = (S < 0) & ~Z
        done = ~neg.any(axis=1)
        out[todo] = S
        if done.all():
            break
        # rows with negative coordinates: fix them at 0 and re-centre the rest
        keep = ~done
        rows = todo[keep]
        Zk = Z[keep] | (S[keep] <= 0)
        Sk = np.where(Zk, 0.0, S[keep])
        cntk = n - Zk.sum(axis=1)
        shift = (l1[rows] - Sk.sum(axis=1)) / np.maximum(cntk, 1)
        Sk = np.where(Zk, 0.0, Sk + shift[:, None])
        out[rows] = Sk
        zero[rows] = Zk
        todo = rows
    np.maximum(out, 0.0, out=out)
    return out


def hoyer_projection(x: Any, l1: float, l2: float) -> np.ndarray:
    """The closest ``y ≥ 0`` to ``x`` with ``‖y‖₁ = l1`` and ``‖y‖₂ = l2`` (Hoyer 2004).

    Parameters
    ----------
    x : array-like of shape (n,)
        Any real vector (it may have negative entries, e.g. after a gradient step).
    l1, l2 : float
        Target norms, with ``l2 > 0`` and ``l2 ≤ l1 ≤ √n · l2`` (otherwise
        the set is empty).

    Returns
    -------
    ndarray of shape (n,), float64

    Examples
    --------
    >>> import numpy as np
    >>> hoyer_projection([3.0, 1.0], 3.0, np.sqrt(5.0)).round(12).tolist()
    [2.0, 1.0]
    >>> hoyer_projection([4.0, 2.0, -1.0], 3.0, np.sqrt(5.0)).round(12).tolist()
    [2.0, 1.0, 0.0]
    >>> hoyer_projection([0.5, 3.0, 1.0, 0.0], 1.0, 1.0).tolist()   # sparseness 1
    [0.0, 1.0, 0.0, 0.0]
    """
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"x must be a non-empty vector, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("x must be finite")
    n = v.size
    l1, l2 = float(l1), float(l2)
    if not l2 > 0 or not (l2 * (1 - 1e-12) <= l1 <= np.sqrt(n) * l2 * (1 + 1e-12)):
        raise ValueError(
            f"no non-negative vector of length {n} has L1 norm {l1} and L2 norm {l2}: "
            "need l2 > 0 and l2 <= l1 <= sqrt(n)·l2"
        )
    return _project_rows(v[None, :], np.array([l1]), np.array([l2]))[0]


def project_sparseness(
    A: Any, sparseness: float, *, axis: int = 1, l2: Any = None
) -> np.ndarray:
    """Project every row (``axis=1``) or column (``axis=0``) of ``A`` to Hoyer sparseness ``s``.

    Each vector ``a`` is replaced by :func:`hoyer_projection` of ``a`` with
    ``L2 = l2`` and ``L1 = L2 (√n − s (√n − 1))``, so the result is
    non-negative, has sparseness exactly ``s`` and L2 norm ``l2``.

    Parameters
    ----------
    A : array-like of shape (r, c)
    sparseness : float in [0, 1]
    axis : {1, 0}, default 1
        1: each row is a vector (rows of H); 0: each column (columns of W).
    l2 : float, array of shape (n_vectors,) or None, default None
        Target L2 norms; ``None`` keeps each vector's own L2 norm (as Hoyer
        does for the factor whose scale is free). Vectors whose target norm
        is zero are returned as zero.

    Returns
    -------
    ndarray of A's shape, float64

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.metrics import hoyer_sparseness
    >>> rng = np.random.default_rng(0)
    >>> H = project_sparseness(rng.random((3, 50)), 0.7, l2=1.0)
    >>> np.round(hoyer_sparseness(H, axis=1), 9).tolist()
    [0.7, 0.7, 0.7]
    >>> np.round(np.linalg.norm(H, axis=1), 12).tolist()
    [1.0, 1.0, 1.0]
    """
    _check_s(sparseness)
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 or 1, got {axis!r}")
    M = np.asarray(A, dtype=np.float64)
    if M.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {M.shape}")
    V = M if axis == 1 else M.T
    r, n = V.shape
    if l2 is None:
        norms = np.sqrt(np.einsum("ij,ij->i", V, V))
    else:
        norms = np.broadcast_to(np.asarray(l2, dtype=np.float64), (r,)).copy()
        if np.any(norms < 0) or not np.all(np.isfinite(norms)):
            raise ValueError("l2 must be finite and >= 0")
    out = np.zeros((r, n))
    live = norms > 0
    if live.any() and n > 0:
        l1 = sparseness_l1(float(sparseness), n, norms[live])
        out[live] = _project_rows(np.ascontiguousarray(V[live]), l1, norms[live])
    return out if axis == 1 else np.ascontiguousarray(out.T)
