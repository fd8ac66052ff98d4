"""Estimators: NMF and its variants, one module each."""

from .anchor_words import AnchorWordTopics
from .nmf import NMF
from .separable import SeparableNMF
from .symmetric import SymmetricNMF

__all__ = ["NMF", "AnchorWordTopics", "SeparableNMF", "SymmetricNMF"]
