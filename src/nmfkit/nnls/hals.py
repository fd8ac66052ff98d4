"""HALS kernel: exact block-coordinate sweeps on a Gram-form NNLS problem.

Every kernel in :mod:`nmfkit.nnls` solves (or improves) the same problem::

    min_{A ≥ 0}  ½⟨A, G A⟩ − ⟨B, A⟩ + l1·ΣA + ½ l2 ‖A‖²_F

with ``A`` of shape (k, p) (rows are components), ``G`` (k × k) a Gram
matrix and ``B`` (k × p). For the H-update of NMF, ``A = H``,
``G = WᵀW``, ``B = WᵀX``; for the W-update, ``A = Wᵀ``, ``G = HHᵀ``,
``B = HXᵀ``. Only Gram-form inputs are used, so the same kernel serves
dense, sparse, streamed and distributed data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["hals_sweep", "hals_sweep_xp", "hals_inner_bound", "inner_stop"]


def inner_stop(is_first: bool, change: float, first: float, rel_tol: float) -> tuple[bool, float]:
    """The inner-repetition stopping rule after one sweep: ``(stop, first)``.

    ``change`` is the sweep's squared change of ``A``. The first sweep's is
    remembered as ``first``, and a zero one stops at once (``A`` is a fixed
    point); a later sweep stops the repetitions once its change is at most
    ``rel_tol²·first`` (Gillis & Glineur's rule). Plain Python on floats, so
    the NumPy, array-API and compiled sweeps (:mod:`._hals_compiled`) share it.

    Examples
    --------
    >>> inner_stop(True, 4.0, 0.0, 0.1)
    (False, 4.0)
    >>> inner_stop(False, 0.04, 4.0, 0.1)
    (True, 4.0)
    """
    if is_first:
        return change == 0.0, change
    return change <= rel_tol * rel_tol * first, first


def hals_sweep(
    A: np.ndarray,
    B: np.ndarray,
    G: np.ndarray,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_sweeps: int = 1,
    rel_tol: float = 0.1,
    compiled: bool = True,
) -> tuple[np.ndarray, int]:
    """Update ``A`` in place by up to ``max_sweeps`` HALS sweeps.

    One sweep updates each row ``t`` of ``A`` to its exact minimiser with the
    other rows fixed::

        A[t] ← max(0, A[t] + (B[t] − l1 − G[t]·A − l2·A[t]) / (G[t,t] + l2))

    After the first sweep, further sweeps stop once a sweep changes ``A``
    by less than ``rel_tol`` times the first sweep's change (the
    Gillis–Glineur inner-repetition rule). A row whose Gram diagonal is 0
    (a dead component) is left unchanged.

    With ``compiled=True`` (default) the sweep runs as a numba kernel when
    numba is installed (same arithmetic, no per-row Python overhead); the
    NumPy code below is the reference and the path for other array types.

    Returns ``(A, sweeps_done)``.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[2.0, 0.0], [0.0, 1.0]]); B = np.array([[4.0], [-1.0]])
    >>> hals_sweep(np.zeros((2, 1)), B, G)[0].ravel().tolist()
    [2.0, 0.0]
    """
    if compiled:
        from ._hals_compiled import compiled_sweep

        done = compiled_sweep(A, B, G, l1, l2, max_sweeps, rel_tol)
        if done is not None:
            return A, done
    k = A.shape[0]
    diag = np.diag(G) + l2
    first = 0.0
    done = 0
    for sweep in range(max_sweeps):
        change = 0.0
        for t in range(k):
            d = diag[t]
            if d <= 0.0:
                continue
            num = B[t] - G[t] @ A
            if l1:
                num -= l1
            if l2:
                num -= l2 * A[t]
            new = A[t] + num / d
            np.maximum(new, 0.0, out=new)
            diff = new - A[t]
            change += float(diff @ diff)
            A[t] = new
        done += 1
        stop, first = inner_stop(sweep == 0, change, first, rel_tol)
        if stop:
            break
    return A, done


def hals_sweep_xp(
    A: Any,
    B: Any,
    G: Any,
    xp: Any,
    *,
    l1: float = 0.0,
    l2: float = 0.0,
    max_sweeps: int = 1,
    rel_tol: float = 0.1,
    first_change: float | None = None,
) -> tuple[Any, int]:
    """:func:`hals_sweep` for any array-API namespace ``xp`` (PyTorch, CuPy, ...).

    The same updates, written with array-API operations only; the change of
    a sweep, ``‖A_new − A_old‖²``, is computed once per sweep on the device
    and read as one scalar. On CUDA arrays (CuPy, or PyTorch with CuPy
    installed) a sweep is one fused kernel (:mod:`nmfkit.nnls._hals_cuda`).
    ``first_change``: the first sweep's change when this call continues an
    earlier one (the stopping rule compares with it).

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> G = np.array([[2.0, 0.0], [0.0, 1.0]]); B = np.array([[4.0], [-1.0]])
    >>> hals_sweep_xp(np.zeros((2, 1)), B, G, xp)[0].ravel().tolist()
    [2.0, 0.0]
    """
    import array_api_compat

    from ..backend._xp import to_host

    k = A.shape[0]
    diag = to_host(xp.linalg.diagonal(G)).astype(np.float64) + l2  # one transfer
    live = [t for t in range(k) if diag[t] > 0.0]
    # Row t's exact minimiser is max(0, (B[t] − l1 − Σ_{j≠t} G[t,j]·A[j]) / (G[t,t] + l2)):
    # scale B and G by the diagonal once and zero G's diagonal, so that a row costs
    # four array operations (a GPU launches each one separately) instead of seven.
    dev = array_api_compat.device(A)
    d = xp.asarray(np.where(diag > 0.0, diag, 1.0), dtype=A.dtype, device=dev)[:, None]
    Bs = (B - l1) / d if l1 else B / d
    Gs = (G / d) * (1.0 - xp.eye(k, dtype=A.dtype, device=dev))
    # maximum against a 0-d zero is one kernel everywhere (the compat layer's clip
    # is several on CuPy)
    zero = xp.zeros((), dtype=A.dtype, device=dev)
    first = 0.0 if first_change is None else first_change
    done = 0
    from ._hals_cuda import cuda_sweep, cuda_sweeps_available

    fused = cuda_sweeps_available(A)  # CUDA arrays: one kernel per sweep
    for sweep in range(max_sweeps):
        ch = cuda_sweep(A, Bs, Gs, live) if fused else None
        if ch is None:
            old = xp.asarray(A, copy=True)
            for t in live:
                A[t, :] = xp.maximum(Bs[t, :] - Gs[t, :] @ A, zero)
            diff = A - old
            ch = float(xp.sum(diff * diff))
        done += 1
        stop, first = inner_stop(sweep == 0 and first_change is None, ch, first, rel_tol)
        if stop:
            break
    return A, done


def hals_inner_bound(
    n_rows: int, cost_products: float, k: int, alpha: float = 0.5, overhead: float = 0.0
) -> int:
    """Gillis–Glineur bound on inner sweeps: ``⌊1 + α·ρ⌋``.

    ``ρ = 1 + cost_products / (n_rows·(k + 1) + overhead)`` compares the flops
    spent on the products ``B`` and ``G`` with one sweep's ``n_rows·k²``-ish
    cost; with ``cost_products`` given per component (``nnz(X) + n_other·k``).
    ``overhead``: fixed per-row cost of a sweep in flop-equivalents (array
    operations launched one by one, e.g. on a GPU); 0 for compiled sweeps.
    """
    rho = 1.0 + cost_products / (n_rows * (k + 1.0) + overhead)
    return max(1, int(np.floor(1.0 + alpha * rho)))
