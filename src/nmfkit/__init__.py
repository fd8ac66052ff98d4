"""nmfkit: non-negative matrix factorization — every method, fast, honest about its numbers.

Public API::

    NMF, factorize, FitResult, list_solvers, load, ConvergenceWarning,
    SeparableNMF, AnchorWordTopics, SymmetricNMF
"""

from __future__ import annotations

from typing import Any

from ._core import factorize
from .exceptions import ConvergenceWarning
from .models import NMF, AnchorWordTopics, SeparableNMF, SymmetricNMF
from .solvers import FitResult, list_solvers

__version__ = "0.1.0"

__all__ = [
    "NMF",
    "AnchorWordTopics",
    "ConvergenceWarning",
    "FitResult",
    "SeparableNMF",
    "SymmetricNMF",
    "factorize",
    "list_solvers",
    "load",
]


def load(path: Any):
    """Load a model written by ``model.save(path)`` (never unpickles)."""
    from .io import load_model

    return load_model(path)
