"""Estimators: NMF and its variants, one module each."""

from .nmf import NMF

__all__ = ["NMF"]
