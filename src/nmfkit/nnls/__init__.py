"""Gram-form non-negative least-squares kernels (pure functions, no iteration state)."""

from .hals import hals_inner_bound, hals_sweep
from .nesterov import nesterov_nnls
from .pgd import pgd_nnls

__all__ = ["hals_inner_bound", "hals_sweep", "nesterov_nnls", "pgd_nnls"]
