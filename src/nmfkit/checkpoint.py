"""Checkpoints of alternating Frobenius fits, and resuming them.

A checkpoint is one ``.npz`` file written atomically with
:func:`nmfkit.io.atomic_open` (a reader never sees half a file; an
interrupted write leaves the previous checkpoint in place). It holds the
arrays ``W`` (n_samples × k), ``H`` (k × n_features) and ``loss_history``,
plus a JSON record (stored as a byte array named ``__nmfkit_checkpoint__``)
with the format name and version, the solver and its options, the
penalties, the stopping parameters, the iteration count, the elapsed time,
and a fingerprint of X (shape, dtype, ``‖X‖²``). It is read back with
``allow_pickle=False``: nothing in it is executable.

The loop state of an alternating fit is exactly ``(W, H)`` plus the
history the stopping rule looks at, so :func:`resume` continues an
interrupted fit along the very iterates the uninterrupted fit would have
taken, and stops where it would have stopped.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from nmfkit.blocked import fit_blocked
>>> from nmfkit.checkpoint import resume
>>> rng = np.random.default_rng(0)
>>> X = rng.random((40, 12)); W0, H0 = rng.random((40, 3)), rng.random((3, 12))
>>> p = pathlib.Path(tempfile.mkdtemp()) / "fit.npz"
>>> full = fit_blocked(X, W0, H0, max_iter=20, tol=0)
>>> def crash(state):                                 # the run dies at iteration 12
...     if state.n_iter == 12:
...         raise KeyboardInterrupt
>>> try:
...     _ = fit_blocked(X, W0, H0, max_iter=20, tol=0, checkpoint=p, checkpoint_every=5,
...                     callback=crash)
... except KeyboardInterrupt:
...     pass
>>> res = resume(p, X)                                # goes on from iteration 10
>>> res.n_iter, bool(np.allclose(res.H, full.H, rtol=1e-12, atol=0))
(20, True)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_open
from .losses import Penalties
from .solvers._result import FitResult
from .solvers._stopping import Monitor

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "read_checkpoint",
    "resume",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "nmfkit-checkpoint"
CHECKPOINT_VERSION = 1
_META_KEY = "__nmfkit_checkpoint__"


def write_checkpoint(
    path: str | os.PathLike[str],
    W: np.ndarray,
    H: np.ndarray,
    loss_history: np.ndarray,
    meta: dict[str, Any],
) -> None:
    """Write a checkpoint atomically (see the module docstring for the format).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.npz"
    >>> write_checkpoint(p, np.ones((2, 1)), np.ones((1, 3)), np.array([1.0]), {"n_iter": 0})
    >>> read_checkpoint(p)["meta"]["n_iter"]
    0
    """
    record = dict(meta, format=CHECKPOINT_FORMAT, format_version=CHECKPOINT_VERSION)
    blob = np.frombuffer(json.dumps(record).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(
            f, W=np.asarray(W), H=np.asarray(H),
            loss_history=np.asarray(loss_history, dtype=np.float64), **{_META_KEY: blob},
        )


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint: ``{"W", "H", "loss_history", "meta"}`` (no pickle).

    Raises
    ------
    ValueError
        If the file is not an nmfkit checkpoint or has a newer format version.
    """
    p = Path(path)
    with np.load(p, allow_pickle=False) as z:
        if _META_KEY not in z.files:
            raise ValueError(f"{p}: not an nmfkit checkpoint")
        meta = json.loads(bytes(z[_META_KEY]).decode("utf-8"))
        out = {"W": z["W"], "H": z["H"], "loss_history": z["loss_history"], "meta": meta}
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{p}: not an nmfkit checkpoint")
    if int(meta.get("format_version", 0)) > CHECKPOINT_VERSION:
        raise ValueError(
            f"{p}: checkpoint format version {meta['format_version']} is newer than this "
            f"nmfkit reads ({CHECKPOINT_VERSION})"
        )
    return out


class Checkpointer:
    """Writes the loop state every ``every`` iterations and at the end of a fit."""

    def __init__(self, path: str | os.PathLike[str] | None, every: int, meta: dict) -> None:
        if path is not None and (isinstance(every, bool) or int(every) < 1):
            raise ValueError(f"checkpoint_every must be an integer >= 1, got {every!r}")
        self.path = None if path is None else Path(path)
        self.every = int(every)
        self.meta = meta

    def maybe_write(
        self, mon: Monitor, get_W: Any, H: np.ndarray, *, finished: bool = False
    ) -> None:
        if self.path is None:
            return
        if not finished and mon.n_iter % self.every:
            return
        meta = dict(
            self.meta, n_iter=mon.n_iter, elapsed=mon.elapsed, finished=finished,
            stop_reason=mon.stop_reason if finished else None,
        )
        write_checkpoint(self.path, get_W(), H, np.asarray(mon.history), meta)


def penalties_to_json(pen: Penalties) -> dict[str, float]:
    return {"l1_W": pen.l1_W, "l2_W": pen.l2_W, "l1_H": pen.l1_H, "l2_H": pen.l2_H}


def restore_monitor(mon: Monitor, state: dict[str, Any]) -> None:
    """Put a fresh monitor where a checkpointed run left it."""
    mon.history = [float(v) for v in state["loss_history"]]
    mon.n_iter = int(state["n_iter"])
    mon._t0 = time.perf_counter() - float(state.get("elapsed", 0.0))  # noqa: SLF001


def check_fingerprint(meta: dict[str, Any], shape: tuple[int, int], normX2: float) -> None:
    """Raise if X is not the matrix the checkpoint was written for."""
    if tuple(meta["shape"]) != tuple(shape):
        raise ValueError(
            f"X has shape {tuple(shape)} but the checkpoint was written for shape "
            f"{tuple(meta['shape'])}"
        )
    ref = float(meta["normX2"])
    if abs(normX2 - ref) > 1e-10 * max(ref, 1e-300):
        raise ValueError(
            f"X is not the matrix the checkpoint was written for (‖X‖² = {normX2:.17g}, "
            f"checkpoint {ref:.17g})"
        )


def finished_result(state: dict[str, Any]) -> FitResult:
    """The result recorded by a checkpoint written at the end of a fit."""
    meta = state["meta"]
    reason = meta.get("stop_reason") or "max_iter"
    return FitResult(
        W=state["W"], H=state["H"], n_iter=int(meta["n_iter"]),
        converged=reason in ("tol", "exact"), stop_reason=reason,
        loss_history=np.asarray(state["loss_history"], dtype=np.float64),
        elapsed=float(meta.get("elapsed", 0.0)), solver=meta.get("solver", ""), beta=2.0,
        extras={"resumed_from": int(meta["n_iter"])},
    )


def resume(
    path: str | os.PathLike[str],
    X: Any,
    *,
    callback: Any = None,
    checkpoint: str | os.PathLike[str] | None | bool = True,
    **overrides: Any,
) -> FitResult:
    """Continue a fit from its checkpoint.

    Parameters
    ----------
    path : str or path-like
        A checkpoint written by a fit run with ``checkpoint=path``.
    X : array-like, sparse matrix, row-block source or Dask array
        The same data (checked by shape and ``‖X‖²``). A Dask array resumes
        with :func:`nmfkit.backend.dask.fit_dask`, anything else with
        :func:`nmfkit.blocked.fit_blocked`.
    callback : callable, optional
        Callbacks are not stored in checkpoints; pass one again if needed.
    checkpoint : path, True or None, default True
        Where the resumed run keeps checkpointing: ``True`` means the same
        file, ``None``/``False`` stops checkpointing.
    **overrides
        ``max_iter``, ``max_time``, ``tol``, ``verbose``, ``progress``,
        ``block_rows``, ``blas_threads``, ``checkpoint_every``: change a stored setting.

    Returns
    -------
    FitResult
        The whole run's result: ``n_iter`` and ``loss_history`` count the
        iterations before the interruption too. When the checkpoint was
        written at the end of a finished fit, that result is returned as is.

    Examples
    --------
    See the module docstring.
    """
    state = read_checkpoint(path)
    meta = state["meta"]
    if meta.get("finished"):
        return finished_result(state)
    allowed = {
        "max_iter", "max_time", "tol", "verbose", "progress", "block_rows",
        "blas_threads", "checkpoint_every",
    }
    bad = set(overrides) - allowed
    if bad:
        raise TypeError(
            f"resume() got unexpected options {sorted(bad)}; allowed: {sorted(allowed)}"
        )
    if checkpoint is True:
        checkpoint = path
    elif checkpoint is False:
        checkpoint = None
    opts = dict(
        solver=meta["solver"], penalties=Penalties(**meta["penalties"]),
        max_iter=meta["max_iter"], tol=meta["tol"], max_time=meta["max_time"],
        inner_repeat=meta.get("inner_repeat", False), callback=callback,
        checkpoint=checkpoint, checkpoint_every=meta.get("checkpoint_every", 10),
    )
    opts.update(overrides)
    resume_state = {
        "loss_history": state["loss_history"], "n_iter": meta["n_iter"],
        "elapsed": meta.get("elapsed", 0.0), "normX2": meta["normX2"],
        "shape": meta["shape"],
    }
    if _is_dask(X):
        from .backend.dask import fit_dask

        opts.pop("block_rows", None)
        return fit_dask(X, state["W"], state["H"], _resume=resume_state, **opts)
    from .blocked import fit_blocked

    opts.pop("blas_threads", None)
    opts.setdefault("block_rows", meta.get("block_rows"))
    return fit_blocked(X, state["W"], state["H"], _resume=resume_state, **opts)


def _is_dask(X: Any) -> bool:
    mod = type(X).__module__
    return mod.startswith("dask.") and hasattr(X, "__dask_graph__")
