"""Solvers: one signature, a registry with capability flags, one stopping-rule family.

Every solver is called as::

    solve(X, W0, H0, *, beta, penalties, weights, update_H, max_iter, tol,
          max_time, callback, stop_rule, verbose, progress, random_state,
          **solver_options) -> FitResult
"""

from ._registry import (
    auto_solver,
    check_solver,
    compatibility_table,
    get_solver,
    list_solvers,
    register_solver,
)
from ._result import FitResult
from ._stopping import IterationState, Monitor

__all__ = [
    "FitResult",
    "IterationState",
    "Monitor",
    "auto_solver",
    "check_solver",
    "compatibility_table",
    "get_solver",
    "list_solvers",
    "register_solver",
]
