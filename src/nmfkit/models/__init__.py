"""Estimators: NMF and its variants, one module each."""

from .anchor_words import AnchorWordTopics
from .hierarchical import HierarchicalNMF
from .nmf import NMF
from .separable import SeparableNMF
from .sequential import SequentialNMF
from .symmetric import SymmetricNMF

__all__ = [
    "NMF",
    "AnchorWordTopics",
    "HierarchicalNMF",
    "SeparableNMF",
    "SequentialNMF",
    "SymmetricNMF",
]
