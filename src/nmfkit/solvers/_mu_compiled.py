"""Fused, compiled numerators of the KL multiplicative updates on CSR data (numba).

For β = 1 the MU numerators only need ``X ⊘ WH`` at X's stored entries:

    W-update:  N_W = (X ⊘ WH) Hᵀ      (n_samples × k)
    H-update:  N_H = Wᵀ (X ⊘ WH)      (k × n_features)

The NumPy path gathers WH at the stored entries, divides, builds a CSR
matrix and multiplies (three passes over the non-zeros and an nnz-sized
temporary). Here one pass per numerator does it all: for each stored entry
``(i, j)`` the dot product ``W[i]·H[:, j]`` (floored at ``EPSILON`` like the
NumPy path and scikit-learn), the ratio, and the rank-one accumulation,
in parallel over row ranges on numba's threads (``NUMBA_NUM_THREADS``). N_W
is accumulated row by row (no write conflicts); N_H in one buffer per thread,
summed at the end (memory: threads × n_features × k). Only the order of
floating-point sums differs from the NumPy path.

numba is optional (extra ``fast``); without it, or for non-CSR inputs, the
callers keep the NumPy path.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "kl_numerators_available", "kl_numerator_W", "kl_numerator_H", "kl_divergence_csr",
    "kl_numerator_W_and_divergence",
]

_KERNELS: Any = None
_FAILED = False

#: Below this many multiply-adds (nnz·k) the NumPy path is used (compiled code
#: would gain little and the first call compiles).
MIN_WORK = 200_000


def _build():
    from ..backend._numba import import_numba

    numba = import_numba()

    @numba.njit(cache=True, nogil=True, parallel=True)
    def num_H(indptr, indices, data, W, Ht, eps, buf):  # pragma: no cover - compiled
        m, k = W.shape
        n_threads = buf.shape[0]
        chunk = (m + n_threads - 1) // n_threads
        for c in numba.prange(n_threads):
            lo = c * chunk
            hi = min(lo + chunk, m)
            acc = buf[c]
            for i in range(lo, hi):
                for p in range(indptr[i], indptr[i + 1]):
                    j = indices[p]
                    wh = 0.0
                    for t in range(k):
                        wh += W[i, t] * Ht[j, t]
                    if wh < eps:
                        wh = eps
                    r = data[p] / wh
                    for t in range(k):
                        acc[j, t] += r * W[i, t]

    @numba.njit(cache=True, nogil=True, parallel=True)
    def w_pass(indptr, indices, data, W, Ht, eps, out, n_threads,  # pragma: no cover
               numerator, terms):
        # one pass over the stored entries, in row chunks, for either or both of:
        # the W-numerator (X ⊘ max(WH, eps)) Hᵀ into out (WH from products in the
        # working dtype), and the KL terms x log(x / WH) − x over x > eps (WH from
        # products of the stored values in float64, float64 sums), returned
        m, k = W.shape
        chunk = (m + n_threads - 1) // n_threads
        parts = np.zeros(n_threads, dtype=np.float64)
        for c in numba.prange(n_threads):
            lo = c * chunk
            hi = min(lo + chunk, m)
            acc = 0.0
            for i in range(lo, hi):
                for p in range(indptr[i], indptr[i + 1]):
                    j = indices[p]
                    wh = 0.0
                    wh64 = 0.0
                    for t in range(k):
                        wh += W[i, t] * Ht[j, t]
                        wh64 += np.float64(W[i, t]) * np.float64(Ht[j, t])
                    if numerator:
                        if wh < eps:
                            wh = eps
                        r = data[p] / wh
                        for t in range(k):
                            out[i, t] += r * Ht[j, t]
                    x = np.float64(data[p])
                    if terms and x > eps:
                        if wh64 < eps:
                            wh64 = eps
                        acc += x * np.log(x / wh64) - x
            parts[c] = acc
        return parts.sum()

    return w_pass, num_H


def _kernels():
    global _KERNELS, _FAILED
    if _KERNELS is None and not _FAILED:
        if os.environ.get("NMFKIT_NO_COMPILED"):
            _FAILED = True
            return None
        try:
            _KERNELS = _build()
        except Exception:  # numba missing or broken: NumPy path
            _FAILED = True
    return _KERNELS


def kl_numerators_available(X: Any, W: np.ndarray, H: np.ndarray) -> bool:
    """True when the fused kernels apply (CSR X, matching float dtypes, enough work)."""
    # sorted indices are not needed; duplicates are summed at the fit's entry point
    if not (sp.issparse(X) and X.format == "csr"):
        return False
    if not (W.dtype == H.dtype == X.dtype and W.dtype in (np.float32, np.float64)):
        return False
    if X.nnz * W.shape[1] < MIN_WORK:
        return False
    return _kernels() is not None


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _w_pass(
    X: Any, W: np.ndarray, H: np.ndarray, eps: float, numerator: bool, terms: bool
) -> tuple[np.ndarray | None, float]:
    """Run the W-side pass; returns (the numerator or None, D_KL(X | WH) or nan)."""
    w_pass = _kernels()[0]
    out = np.zeros(W.shape if numerator else (0, 0), dtype=W.dtype)
    s = float(w_pass(X.indptr, X.indices, X.data, np.ascontiguousarray(W),
                     np.ascontiguousarray(H.T), W.dtype.type(eps), out, _threads(),
                     numerator, terms))
    if not terms:
        return out, float("nan")
    # Σ WH over all entries = (Σ_i W)(Σ_j H)
    d = s + float(W.sum(axis=0, dtype=np.float64) @ H.sum(axis=1, dtype=np.float64))
    return (out if numerator else None), d


def kl_numerator_W(X: Any, W: np.ndarray, H: np.ndarray, eps: float) -> np.ndarray:
    """``(X ⊘ max(WH, eps)) Hᵀ`` at X's stored entries (n_samples × k), one fused pass."""
    return _w_pass(X, W, H, eps, True, False)[0]


def kl_numerator_H(X: Any, W: np.ndarray, H: np.ndarray, eps: float) -> np.ndarray:
    """``Wᵀ (X ⊘ max(WH, eps))`` at X's stored entries (k × n_features), one fused pass."""
    num_H = _kernels()[1]
    n_threads = _threads()
    buf = np.zeros((n_threads, H.shape[1], H.shape[0]), dtype=H.dtype)
    Ht = np.ascontiguousarray(H.T)
    num_H(X.indptr, X.indices, X.data, np.ascontiguousarray(W), Ht, H.dtype.type(eps), buf)
    return np.ascontiguousarray(buf.sum(axis=0).T)


def kl_numerator_W_and_divergence(
    X: Any, W: np.ndarray, H: np.ndarray, eps: float
) -> tuple[np.ndarray, float]:
    """:func:`kl_numerator_W` and :func:`kl_divergence_csr` at the same (W, H) in one pass.

    The MU loop's objective at the end of an iteration is taken from the next
    W-update's pass over the non-zeros (both need WH there): two passes per
    iteration instead of three. Each result equals its one-purpose function's.
    """
    return _w_pass(X, W, H, eps, True, True)


def kl_divergence_csr(X: Any, W: np.ndarray, H: np.ndarray, eps: float) -> float:
    """``D_KL(X | WH)`` for CSR X in one fused pass, float64 accumulation.

    The same terms as :func:`nmfkit.losses.beta_divergence` (entries with
    ``x > eps`` only, WH floored at ``eps``) plus ``Σ WH = (Σ_i W)(Σ_j H)``.
    """
    return _w_pass(X, W, H, eps, False, True)[1]
