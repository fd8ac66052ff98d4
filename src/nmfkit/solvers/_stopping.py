"""The stopping-rule family, loss history, callbacks and progress shared by all solvers.

Rules (``stop_rule=``):

* ``"objective"`` (default): stop when the relative change of the
  objective over one iteration, ``|f_{t-1} − f_t| / f_{t-1}``, falls below ``tol``.
  With ``tol=0`` the run never stops on this rule.
* ``"pgrad"``: stop when the projected-gradient norm relative to its value
  at the start, ``‖∇ᴾf(W_t, H_t)‖ / ‖∇ᴾf(W_0, H_0)‖``, falls below ``tol``
  (scale-invariant; Lin 2007).

In every case ``max_iter`` and ``max_time`` (seconds) bound the run, an
objective of exactly zero stops it (``"exact"``), and a callback returning
True or raising ``StopIteration`` stops it (``"callback"``).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._result import FitResult

__all__ = ["IterationState", "Monitor", "STOP_RULES"]

logger = logging.getLogger("nmfkit")

STOP_RULES = ("objective", "pgrad")


@dataclass(frozen=True)
class IterationState:
    """What a callback receives after every iteration.

    ``W`` and ``H`` are the solver's working arrays (often views), which the
    next iterations and the final canonical form change in place: copy them
    to keep a snapshot.
    """

    n_iter: int
    W: Any
    H: Any
    loss: float
    elapsed: float


class Monitor:
    """Tracks one run: history, timing, the stopping decision and progress output."""

    def __init__(
        self,
        *,
        tol: float = 1e-4,
        max_iter: int = 200,
        max_time: float | None = None,
        callback: Callable[[IterationState], Any] | None = None,
        stop_rule: str = "objective",
        verbose: int = 0,
        progress: bool = False,
        solver: str = "",
        beta: float = 2.0,
    ) -> None:
        if stop_rule not in STOP_RULES:
            raise ValueError(f"unknown stop_rule {stop_rule!r}; valid rules are {STOP_RULES}")
        self.tol = float(tol)
        self.max_iter = int(max_iter)
        self.max_time = None if max_time is None else float(max_time)
        self.callback = callback
        self.stop_rule = stop_rule
        self.verbose = verbose
        self.solver = solver
        self.beta = beta
        self.history: list[float] = []
        self.n_iter = 0
        self.stop_reason = "max_iter"
        self._t0 = time.perf_counter()
        self._pg0: float | None = None
        self._bar = None
        if progress and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.max_iter, desc=f"nmfkit {solver}", leave=False)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def start(self, loss0: float, pgrad0: Callable[[], float] | None = None) -> bool:
        """Record the initial objective. Returns True if the run should not start."""
        self._check_finite(loss0)
        self.history.append(float(loss0))
        if self.stop_rule == "pgrad":
            if pgrad0 is None:
                raise ValueError(f"solver {self.solver!r} does not provide stop_rule='pgrad'")
            self._pg0 = float(pgrad0())
        if loss0 == 0.0:
            self.stop_reason = "exact"
            return True
        if self.max_iter <= 0:
            self.stop_reason = "max_iter"
            return True
        return False

    def _check_finite(self, loss: float) -> None:
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"the objective became {loss} in solver {self.solver!r}; the data may be too "
                "large in magnitude or contain values the loss cannot handle"
            )

    def step(
        self,
        W: Any,
        H: Any,
        loss: float,
        pgrad: Callable[[], float] | None = None,
        check_tol: bool = True,
    ) -> bool:
        """Record one finished iteration; return True when the run must stop.

        ``check_tol=False``: this iteration cannot signal convergence (a solver
        that reports its best iterate so far, after a step that did not improve
        it).
        """
        self._check_finite(loss)
        self.n_iter += 1
        prev = self.history[-1]
        self.history.append(float(loss))
        elapsed = self.elapsed
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
        if self.verbose:
            logger.info(
                "%s iter %d: objective %.10g (%.3fs)", self.solver, self.n_iter, loss, elapsed
            )
        if self.callback is not None:
            try:
                stop = self.callback(IterationState(self.n_iter, W, H, float(loss), elapsed))
            except StopIteration:
                stop = True
            if stop is not None and bool(stop):
                self.stop_reason = "callback"
                return True
        if loss == 0.0:
            self.stop_reason = "exact"
            return True
        if not check_tol:
            pass
        elif self.stop_rule == "objective":
            # |change|: a large increase (non-monotone solvers) is not convergence
            if self.tol > 0 and prev > 0 and abs(prev - loss) / prev < self.tol:
                self.stop_reason = "tol"
                return True
        elif self.tol > 0 and pgrad is not None and self._pg0:
            if pgrad() / self._pg0 < self.tol:
                self.stop_reason = "tol"
                return True
        if self.n_iter >= self.max_iter:
            self.stop_reason = "max_iter"
            return True
        if self.max_time is not None and elapsed >= self.max_time:
            self.stop_reason = "max_time"
            return True
        return False

    def result(self, W: Any, H: Any, **extras: Any) -> FitResult:
        if self._bar is not None:
            self._bar.close()
        return FitResult(
            W=W,
            H=H,
            n_iter=self.n_iter,
            converged=self.stop_reason in ("tol", "exact"),
            stop_reason=self.stop_reason,
            loss_history=np.asarray(self.history, dtype=np.float64),
            elapsed=self.elapsed,
            solver=self.solver,
            beta=self.beta,
            extras=extras,
        )
