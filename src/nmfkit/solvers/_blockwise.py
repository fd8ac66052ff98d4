"""Per-row-block kernels of the Gram-form alternating Frobenius loop.

The in-memory loop (:func:`nmfkit.solvers._frobenius.alternating_frobenius`)
does, per outer iteration, ::

    Wᵀ ← kernel(Wᵀ, H Xᵀ, HHᵀ)          (W-update)
    H  ← kernel(H, WᵀX, WᵀW)            (H-update)

Split X into row blocks ``X_i`` (and W into the matching row blocks ``W_i``).
For the kernels that treat every column of ``Wᵀ`` independently (HALS with
one sweep, exact NNLS by block principal pivoting or active set), the
W-update of block ``i`` needs only ``X_i``, ``W_i``, ``H`` and ``HHᵀ``, and
the H-update needs only the sums ``Σ_i W_iᵀX_i`` (k × n_features) and
``Σ_i W_iᵀW_i`` (k × k). :func:`block_w_step` does one block's share of an
iteration — its W-update and its two contributions, computed while the block
is in memory — so one pass over X per iteration suffices. The streamed
(:mod:`nmfkit.blocked`) and Dask (:mod:`nmfkit.backend.dask`) fits call these
same functions, which call the same :mod:`nmfkit.nnls` kernels as the
in-memory solvers.

Exactness. With ``solver="hals", inner_repeat=False`` or
``solver="anls_bpp"``/``"active_set"`` a blocked iteration is the in-memory
iteration: only the summation order of ``WᵀX``/``WᵀW`` differs (round-off).
HALS with inner repetitions (the in-memory default) stops its inner sweeps on
a change measured over the whole of W; blocked, each block stops on its own
change, so the iterates differ (it is still a valid HALS scheme, and with a
single block it is exactly the in-memory one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..nnls import active_set_nnls, bpp_nnls, hals_inner_bound, hals_sweep
from ._frobenius import _products_H, _xt_products_W

__all__ = [
    "BLOCK_SOLVERS",
    "BlockKernel",
    "block_w_step",
    "block_products",
    "make_block_kernel",
]

#: Solvers whose W-update is column separable, so row blocks can be updated apart.
BLOCK_SOLVERS = ("hals", "anls_bpp", "active_set")


@dataclass(frozen=True)
class BlockKernel:
    """A picklable Gram-form kernel: ``kernel(A, B, G, l1=, l2=, side=) -> A``.

    ``A`` is never modified; a new array is returned. ``bound_W``/``bound_H``
    are the numbers of HALS sweeps allowed per update (1 without inner
    repetitions); ``inner_delta`` is Gillis–Glineur's δ.

    Examples
    --------
    >>> import numpy as np
    >>> kern = make_block_kernel("hals", n_samples=4, n_features=3, nnz=12, k=2)
    >>> G = np.array([[2.0, 0.0], [0.0, 1.0]]); B = np.array([[4.0], [-1.0]])
    >>> kern(np.zeros((2, 1)), B, G, side="W").ravel().tolist()
    [2.0, 0.0]
    """

    solver: str
    bound_W: int = 1
    bound_H: int = 1
    inner_delta: float = 0.1

    def __call__(
        self, A: np.ndarray, B: np.ndarray, G: np.ndarray, *, l1: float = 0.0,
        l2: float = 0.0, side: str = "W",
    ) -> np.ndarray:
        if self.solver == "hals":
            bound = self.bound_W if side == "W" else self.bound_H
            out, _ = hals_sweep(
                np.array(A, order="C"), B, G, l1=l1, l2=l2, max_sweeps=bound,
                rel_tol=self.inner_delta,
            )
            return out
        nnls = bpp_nnls if self.solver == "anls_bpp" else active_set_nnls
        return np.ascontiguousarray(nnls(G, B, A, l1=l1, l2=l2), dtype=A.dtype)


def make_block_kernel(
    solver: str,
    *,
    n_samples: int,
    n_features: int,
    nnz: int,
    k: int,
    inner_repeat: bool = False,
    inner_alpha: float = 0.5,
    inner_delta: float = 0.1,
) -> BlockKernel:
    """Build the kernel the in-memory solver ``solver`` would use on this problem.

    For ``"hals"`` with ``inner_repeat=True`` the Gillis–Glineur bounds are
    computed from the whole problem's sizes (``nnz`` = stored entries of X),
    exactly as :func:`nmfkit.solvers.hals.solve_hals` computes them.

    Examples
    --------
    >>> make_block_kernel("anls_bpp", n_samples=10, n_features=5, nnz=50, k=2).solver
    'anls_bpp'
    """
    if solver not in BLOCK_SOLVERS:
        raise ValueError(
            f"solver {solver!r} cannot run on row blocks; use one of {BLOCK_SOLVERS} "
            "(their W-update treats every sample separately)"
        )
    if solver != "hals" or not inner_repeat:
        return BlockKernel(solver, 1, 1, inner_delta)
    bw = hals_inner_bound(n_samples, nnz + n_features * k, k, inner_alpha)
    bh = hals_inner_bound(n_features, nnz + n_samples * k, k, inner_alpha)
    return BlockKernel(solver, bw, bh, inner_delta)


def block_products(X_i: Any, Wt_i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One block's ``(W_iᵀX_i, W_iᵀW_i)`` from ``Wt_i = W_iᵀ`` (k × rows).

    Examples
    --------
    >>> import numpy as np
    >>> WtX, WtW = block_products(np.ones((3, 2)), np.ones((1, 3)))
    >>> WtX.tolist(), WtW.tolist()
    ([[3.0, 3.0]], [[3.0]])
    """
    return _products_H(X_i, Wt_i), Wt_i @ Wt_i.T


def block_w_step(
    X_i: Any,
    Wt_i: np.ndarray,
    H: np.ndarray,
    HHt: np.ndarray,
    kernel: BlockKernel,
    l1: float = 0.0,
    l2: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row block's share of an alternating iteration.

    Updates ``W_iᵀ`` with the kernel on ``(H X_iᵀ, HHᵀ)`` and returns
    ``(W_iᵀ new, W_iᵀX_i, W_iᵀW_i)``; the inputs are not modified (safe as a
    Dask task).

    Parameters
    ----------
    X_i : ndarray or sparse matrix of shape (rows, n_features)
    Wt_i : ndarray of shape (k, rows)
        The block of Wᵀ (C order).
    H : ndarray of shape (k, n_features)
    HHt : ndarray of shape (k, k)
    kernel : BlockKernel
    l1, l2 : float
        The W penalties.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[2.0, 4.0]]); H = np.array([[1.0, 2.0]])
    >>> kern = make_block_kernel("anls_bpp", n_samples=1, n_features=2, nnz=2, k=1)
    >>> Wt, WtX, WtW = block_w_step(X, np.ones((1, 1)), H, H @ H.T, kern)
    >>> Wt.tolist(), WtX.tolist(), WtW.tolist()
    ([[2.0]], [[4.0, 8.0]], [[4.0]])
    """
    BW = _xt_products_W(X_i, H)
    Wt_new = kernel(Wt_i, BW, HHt, l1=l1, l2=l2, side="W")
    WtX, WtW = block_products(X_i, Wt_new)
    return Wt_new, WtX, WtW
