"""Namespace plumbing shared by the array-API-generic NNLS kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["kernel_namespace", "vdot"]


def _diagonal(xp: Any, G: Any) -> np.ndarray:
    """The diagonal of a (k × k) Gram matrix on the host, float64, in one transfer."""
    if xp is np:
        return np.diag(G).astype(np.float64)
    from ..backend._xp import to_host

    return to_host(xp.linalg.diagonal(G)).astype(np.float64)


def kernel_namespace(A0: Any, G: Any, B: Any) -> tuple[Any, Any, Any, Any]:
    """``(xp, A, G, B)``: the inputs' namespace, a fresh copy of ``A0`` and G, B in one dtype.

    NumPy inputs get NumPy itself (C-order float copies, as before); other
    arrays their ``array_api_compat`` namespace. The working dtype is the
    promotion of the three, at least float32.
    """
    if all(isinstance(a, np.ndarray) for a in (A0, G, B)):
        dtype = np.result_type(A0, G, B, np.float32)
        return (
            np,
            np.array(A0, dtype=dtype, order="C", copy=True),
            np.asarray(G, dtype=dtype),
            np.asarray(B, dtype=dtype),
        )
    import array_api_compat

    xp = array_api_compat.array_namespace(A0, G, B)
    dtype = xp.result_type(A0, G, B, xp.float32)
    return xp, xp.astype(A0, dtype, copy=True), xp.astype(G, dtype), xp.astype(B, dtype)


def vdot(xp: Any, a: Any, b: Any) -> float:
    """``Σ a ⊙ b`` as a Python float."""
    if xp is np:
        return float(np.vdot(a, b))
    return float(xp.sum(a * b))
