"""nmfkit: non-negative matrix factorization — every method, fast, honest about its numbers.

Public API::

    NMF, factorize, FitResult, list_solvers, load, ConvergenceWarning,
    SeparableNMF, AnchorWordTopics, SymmetricNMF, SequentialNMF,
    HierarchicalNMF, OrthogonalNMF, ConvexNMF, SemiNMF, select_rank,
    RankSelection, metrics
"""

from __future__ import annotations

from typing import Any

from . import metrics
from ._core import factorize
from .checkpoint import resume
from .exceptions import ConvergenceWarning
from .models import (
    NMF,
    AnchorWordTopics,
    ConvexNMF,
    HierarchicalNMF,
    OrthogonalNMF,
    SemiNMF,
    SeparableNMF,
    SequentialNMF,
    SymmetricNMF,
)
from .selection import RankSelection, select_rank
from .solvers import FitResult, list_solvers

__version__ = "0.1.0"

__all__ = [
    "NMF",
    "AnchorWordTopics",
    "ConvergenceWarning",
    "ConvexNMF",
    "FitResult",
    "HierarchicalNMF",
    "OrthogonalNMF",
    "RankSelection",
    "SemiNMF",
    "SeparableNMF",
    "SequentialNMF",
    "SymmetricNMF",
    "factorize",
    "list_solvers",
    "load",
    "metrics",
    "resume",
    "select_rank",
]


def load(path: Any):
    """Load a model written by ``model.save(path)`` (never unpickles)."""
    from .io import load_model

    return load_model(path)
