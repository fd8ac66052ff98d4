"""Gram-form non-negative least-squares kernels (pure functions, no iteration state)."""

from .hals import hals_inner_bound, hals_sweep

__all__ = ["hals_inner_bound", "hals_sweep"]
