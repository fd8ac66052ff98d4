"""Compiled HALS sweep (numba), used by :func:`nmfkit.nnls.hals_sweep` when available.

Same arithmetic as the NumPy reference in :mod:`nmfkit.nnls.hals`, without the
per-row Python overhead that dominates for small k or few columns. numba is
an optional dependency (``pip install nmfkit[fast]``); it is imported lazily,
the first call compiles (cached on disk), and any failure falls back to the
NumPy path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["compiled_sweep"]

_KERNEL: Any = None
_FAILED = False


def _build():
    import numba

    @numba.njit(cache=True, fastmath=False, nogil=True)
    def sweep(A, B, G, l1, l2, max_sweeps, rel_tol):  # pragma: no cover - compiled
        k, p = A.shape
        buf = np.empty(p, dtype=A.dtype)
        first = 0.0
        done = 0
        for s in range(max_sweeps):
            change = 0.0
            for t in range(k):
                d = G[t, t] + l2
                if d <= 0.0:
                    continue
                for j in range(p):  # rows of A are contiguous: stream them
                    buf[j] = B[t, j] - l1 - l2 * A[t, j]
                for r in range(k):
                    g = G[t, r]
                    if g != 0.0:
                        for j in range(p):
                            buf[j] -= g * A[r, j]
                for j in range(p):
                    new = A[t, j] + buf[j] / d
                    if new < 0.0:
                        new = 0.0
                    diff = new - A[t, j]
                    change += diff * diff
                    A[t, j] = new
            done += 1
            if s == 0:
                first = change
                if first == 0.0:
                    break
            elif change <= rel_tol * rel_tol * first:
                break
        return done

    return sweep


def compiled_sweep(
    A: np.ndarray, B: np.ndarray, G: np.ndarray, l1: float, l2: float, max_sweeps: int,
    rel_tol: float,
) -> int | None:
    """Run the compiled sweep in place; None when numba is unavailable or inputs don't fit."""
    global _KERNEL, _FAILED
    if _FAILED:
        return None
    if not (
        type(A) is np.ndarray and type(B) is np.ndarray and type(G) is np.ndarray
        and A.dtype == B.dtype == G.dtype and A.dtype in (np.float32, np.float64)
        and A.flags.c_contiguous and B.flags.c_contiguous
    ):
        return None
    if _KERNEL is None:
        try:
            _KERNEL = _build()
        except Exception:  # numba missing or broken: NumPy path
            _FAILED = True
            return None
    return int(_KERNEL(A, B, np.ascontiguousarray(G), float(l1), float(l2), int(max_sweeps),
                       float(rel_tol)))
