"""Plots of fits and factors (matplotlib, imported only when a function is called).

Every function returns the :class:`matplotlib.figure.Figure` it drew on. New
figures are made with ``matplotlib.pyplot`` so they display in notebooks and
with ``plt.show()``; close them with ``plt.close(fig)`` when drawing many. On
a machine without a display (no ``DISPLAY``/``WAYLAND_DISPLAY`` on Linux),
the non-interactive Agg backend is selected unless a backend was already
chosen.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_convergence", "plot_components"]


def _headless() -> bool:
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def _pyplot() -> Any:
    """Import pyplot, picking Agg on a headless machine when no backend was chosen."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and _headless() and not os.environ.get("MPLBACKEND"):
        get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
        if get is None or get() is None:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _loss_history(source: Any) -> tuple[np.ndarray, str]:
    """The objective history of an array, a FitResult or a fitted estimator, and a label."""
    if hasattr(source, "loss_history_"):
        history, label = source.loss_history_, getattr(source, "solver_", "")
    elif hasattr(source, "loss_history"):
        history, label = source.loss_history, getattr(source, "solver", "")
    else:
        history, label = source, ""
    history = np.asarray(history, dtype=np.float64)
    if history.ndim != 1 or history.size == 0:
        raise ValueError(
            f"plot_convergence needs a non-empty 1-D loss history, got shape {history.shape}"
        )
    return history, str(label or "")


def plot_convergence(
    loss_history_or_result: Any,
    *,
    ax: Any = None,
    log: bool = True,
) -> Any:
    """Plot the objective against the iteration number.

    Parameters
    ----------
    loss_history_or_result : array-like, FitResult or fitted estimator
        A 1-D objective history, a :class:`~nmfkit.FitResult` (its
        ``loss_history``) or a fitted estimator (its ``loss_history_``).
        Entry 0 is the objective at the start, entry t after iteration t.
    ax : matplotlib Axes, optional
        Draw here; by default a new figure is made.
    log : bool, default=True
        Logarithmic objective axis (linear when some value is ≤ 0).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from nmfkit.plotting import plot_convergence
    >>> fig = plot_convergence([10.0, 4.0, 3.0, 2.9])
    >>> fig.axes[0].lines[0].get_ydata().tolist()
    [10.0, 4.0, 3.0, 2.9]
    """
    history, label = _loss_history(loss_history_or_result)
    if ax is None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    else:
        fig = ax.figure
    ax.plot(np.arange(history.size), history, marker="." if history.size <= 50 else None,
            label=label or None)
    if log and np.all(history > 0):
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    title = "Convergence" + (f" ({label})" if label else "")
    ax.set_title(f"{title}: final objective {history[-1]:.6g}")
    ax.grid(True, which="major", alpha=0.3)
    return fig


def plot_components(
    H: Any,
    image_shape: Sequence[int],
    *,
    n_cols: int | None = None,
    cmap: str = "gray",
) -> Any:
    """Show each row of H (a basis vector) as an image, in a grid.

    Parameters
    ----------
    H : array-like of shape (k, n_features) or fitted estimator
        The basis, e.g. ``model.components_`` (an estimator is accepted and its
        ``components_`` used).
    image_shape : tuple of int
        Shape of one image, with ``prod(image_shape) == n_features``
        (e.g. ``(8, 8)`` for scikit-learn's digits).
    n_cols : int, optional
        Images per row of the grid; default ``ceil(sqrt(k))``.
    cmap : str, default="gray"
        Colormap.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per component (k in all), titled with its index.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.plotting import plot_components
    >>> fig = plot_components(np.random.default_rng(0).random((4, 64)), (8, 8))
    >>> len(fig.axes), fig.axes[0].images[0].get_array().shape
    (4, (8, 8))
    """
    if hasattr(H, "components_"):
        H = H.components_
    if hasattr(H, "toarray"):
        H = H.toarray()  # k × n_features: small
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] == 0:
        raise ValueError(f"plot_components needs H of shape (k, n_features), got {H.shape}")
    shape = tuple(int(s) for s in image_shape)
    if math.prod(shape) != H.shape[1]:
        raise ValueError(
            f"image_shape {shape} holds {math.prod(shape)} pixels but H has "
            f"{H.shape[1]} features per component"
        )
    k = H.shape[0]
    if n_cols is None:
        n_cols = math.ceil(math.sqrt(k))
    if n_cols < 1:
        raise ValueError(f"n_cols must be at least 1, got {n_cols}")
    n_cols = min(n_cols, k)
    n_rows = math.ceil(k / n_cols)
    plt = _pyplot()
    # a fixed layout: the constrained-layout solver is slow on large grids
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(1.6 * n_cols, 1.75 * n_rows), squeeze=False,
        gridspec_kw={"left": 0.02, "right": 0.98, "bottom": 0.02, "top": 0.92,
                     "wspace": 0.08, "hspace": 0.25},
    )
    for i, ax in enumerate(axes.ravel()):
        if i >= k:
            fig.delaxes(ax)
            continue
        ax.imshow(H[i].reshape(shape), cmap=cmap, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=8)
    return fig
