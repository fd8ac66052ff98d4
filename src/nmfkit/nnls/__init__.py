"""Gram-form non-negative least-squares kernels (pure functions, no iteration state)."""

from .active_set import active_set_nnls
from .admm import admm_nnls
from .bpp import bpp_nnls
from .hals import hals_inner_bound, hals_sweep, hals_sweep_xp
from .nesterov import nesterov_nnls
from .pgd import pgd_nnls

__all__ = [
    "active_set_nnls",
    "admm_nnls",
    "bpp_nnls",
    "hals_inner_bound",
    "hals_sweep",
    "hals_sweep_xp",
    "nesterov_nnls",
    "pgd_nnls",
]
