"""Estimators: NMF and its variants, one module each."""

from .anchor_words import AnchorWordTopics
from .convex import ConvexNMF
from .hierarchical import HierarchicalNMF
from .nmf import NMF
from .orthogonal import OrthogonalNMF
from .semi import SemiNMF
from .separable import SeparableNMF
from .sequential import SequentialNMF
from .symmetric import SymmetricNMF

__all__ = [
    "NMF",
    "AnchorWordTopics",
    "ConvexNMF",
    "HierarchicalNMF",
    "OrthogonalNMF",
    "SemiNMF",
    "SeparableNMF",
    "SequentialNMF",
    "SymmetricNMF",
]
