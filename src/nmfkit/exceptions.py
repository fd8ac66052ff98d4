"""Exceptions and warnings raised by nmfkit."""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

__all__ = ["ConvergenceWarning", "IncompatibleOptionsError", "ComponentCollapseWarning"]


class ConvergenceWarning(_SklearnConvergenceWarning):
    """A fit stopped on ``max_iter`` or ``max_time`` before reaching ``tol``.

    Subclasses scikit-learn's ``ConvergenceWarning`` so existing warning
    filters keep working.
    """


class ComponentCollapseWarning(UserWarning):
    """A component of the factorization collapsed to exactly zero."""


class IncompatibleOptionsError(ValueError):
    """A combination of options (solver, loss, input kind) is not supported."""
