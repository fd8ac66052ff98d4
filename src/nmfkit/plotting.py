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

__all__ = [
    "plot_convergence",
    "plot_components",
    "plot_rank_selection",
    "plot_consensus",
    "plot_top_features",
    "plot_tree",
]


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
    image_shape: Sequence[int] | None,
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
    image_shape : tuple of int or None
        Shape of one image, with ``prod(image_shape) == n_features``
        (e.g. ``(8, 8)`` for scikit-learn's digits). ``None`` for data that
        are not images: H itself is drawn as one heatmap (components as
        rows, features as columns) on a single Axes, with a colorbar.
    n_cols : int, optional
        Images per row of the grid; default ``ceil(sqrt(k))``.
    cmap : str, default="gray"
        Colormap.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per component (k in all), titled with its index (with
        ``image_shape=None``: one Axes holding H, and its colorbar).

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
    if image_shape is None:
        return _heatmap_of_H(H, cmap)
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


def _heatmap_of_H(H: np.ndarray, cmap: str) -> Any:
    """H (k × n_features) as one heatmap: components as rows, features as columns."""
    plt = _pyplot()
    k, n = H.shape
    fig, ax = plt.subplots(figsize=(min(12.0, max(5.0, 2.0 + 0.12 * n)), 1.4 + 0.35 * k),
                           layout="constrained")
    from matplotlib.ticker import MaxNLocator

    image = ax.imshow(H, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.set_yticks(np.arange(k))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("feature")
    ax.set_ylabel("component")
    ax.set_title(f"Components: the {k} rows of H")
    fig.colorbar(image, ax=ax)
    return fig


def _integer_ticks(ax: Any, ks: np.ndarray) -> None:
    if ks.size <= 20:
        ax.set_xticks(ks)
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


#: Panels of plot_rank_selection: (column, y label, extra columns on the same Axes).
_RANK_PANELS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "consensus": [
        ("cophenetic", "cophenetic correlation", ()),
        ("dispersion", "dispersion", ()),
        ("rel_error_mean", "relative error (mean over runs)", ("rel_error_min",)),
    ],
    "frv": [
        ("frv", "fraction of residual variance", ("pca_frv",)),
        ("improvement", "FRV(k-1) - FRV(k)", ()),
    ],
    "cv": [("cv_error", "held-out error", ("train_error",))],
}

_EXTRA_LABELS = {
    "rel_error_min": "best run",
    "pca_frv": "PCA (uncentred SVD)",
    "train_error": "training entries",
}


def plot_rank_selection(result: Any) -> Any:
    """Plot the rank-selection criteria of :func:`nmfkit.selection.select_rank` against k.

    One Axes per criterion, the chosen ``best_k`` marked by a dotted
    vertical line (``gid="best_k"``) on each. Every plotted line has the
    table column it shows as its ``gid``.

    * consensus: cophenetic correlation; dispersion; mean relative error
      (and the best run's, dashed).
    * frv: FRV(k) (and PCA's, dashed); the improvement FRV(k−1) − FRV(k).
    * cv: the mean held-out error with ``cv_std`` error bars, and the
      training error (dashed), on a log scale when all are positive.

    Parameters
    ----------
    result : RankSelection
        The outcome of :func:`~nmfkit.selection.select_rank` (any object
        with ``method``, ``table`` and ``best_k``; for an unknown method
        every column but ``k`` gets its own Axes).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.selection import RankSelection
    >>> from nmfkit.plotting import plot_rank_selection
    >>> table = {"k": np.array([2, 3, 4]), "cv_error": np.array([0.5, 0.1, 0.2]),
    ...          "cv_std": np.array([0.05, 0.01, 0.02]), "train_error": np.array([0.4, 0.1, 0.05])}
    >>> sel = RankSelection("cv", table["k"], 3, table, "lowest held-out error")
    >>> fig = plot_rank_selection(sel)
    >>> len(fig.axes), fig.axes[0].lines[0].get_ydata().tolist()
    (1, [0.5, 0.1, 0.2])
    """
    try:
        table = {str(key): np.asarray(val) for key, val in result.table.items()}
        method = str(result.method)
        best_k = int(result.best_k)
    except AttributeError:
        raise TypeError(
            "plot_rank_selection needs the result of select_rank (method, table, best_k), "
            f"got {type(result).__name__}"
        ) from None
    if "k" not in table:
        raise ValueError("the rank-selection table has no 'k' column")
    ks = np.asarray(table["k"], dtype=np.int64)
    panels = _RANK_PANELS.get(method)
    if panels is None:
        panels = [(col, col, ()) for col in table if col != "k"]
    missing = [col for col, _, _ in panels if col not in table]
    if missing:
        raise ValueError(f"the {method} table lacks the column(s) {missing}")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False,
                             layout="constrained")
    for ax, (col, ylabel, extras) in zip(axes.ravel(), panels, strict=True):
        y = np.asarray(table[col], dtype=np.float64)
        if method == "cv" and "cv_std" in table:
            bars = ax.errorbar(ks, y, yerr=np.asarray(table["cv_std"], dtype=np.float64),
                               marker="o", capsize=3, label="held-out entries")
            bars.lines[0].set_gid(col)
        else:
            (line,) = ax.plot(ks, y, marker="o", label=ylabel)
            line.set_gid(col)
        for extra in extras:
            if extra in table:
                (line,) = ax.plot(ks, np.asarray(table[extra], dtype=np.float64), ls="--",
                                  marker=".", label=_EXTRA_LABELS.get(extra, extra))
                line.set_gid(extra)
        if method == "cv":
            shown = [y] + [np.asarray(table[e], dtype=np.float64) for e in extras if e in table]
            if all(np.all(v[np.isfinite(v)] > 0) for v in shown):
                ax.set_yscale("log")
        ax.axvline(best_k, color="C3", ls=":", lw=1.5, label=f"best k = {best_k}", gid="best_k")
        _integer_ticks(ax, ks)
        ax.set_xlabel("rank k")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Rank selection ({method}): best k = {best_k}")
    return fig


def plot_consensus(
    C: Any,
    *,
    labels: Sequence[Any] | None = None,
    k: int | None = None,
    ax: Any = None,
    cmap: str = "viridis",
) -> Any:
    """Heatmap of a consensus matrix, samples ordered by hierarchical clustering.

    The rows and columns are put in the leaf order of the average-linkage
    tree of ``1 − C`` (:func:`nmfkit.selection.consensus_order`, the tree
    behind the cophenetic correlation), so stable clusters show as blocks
    on the diagonal. The image holds ``C[order][:, order]`` on the colour
    range [0, 1]; recompute ``order`` with ``consensus_order(C)``.

    Parameters
    ----------
    C : array-like of shape (n_samples, n_samples) or RankSelection
        A consensus matrix, or the result of ``select_rank(method="consensus")``
        (then the matrix of ``k``, by default ``best_k``).
    labels : sequence of length n_samples, optional
        Names of the samples (or their known classes), shown in the new
        order along the vertical axis.
    k : int, optional
        Which rank's matrix, when ``C`` is a RankSelection.
    ax : matplotlib Axes, optional
        Draw here; by default a new figure is made.
    cmap : str, default "viridis"

    Returns
    -------
    matplotlib.figure.Figure
        The heatmap Axes and its colorbar.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.selection import consensus_matrix, consensus_order
    >>> from nmfkit.plotting import plot_consensus
    >>> C = consensus_matrix([[0, 1, 0, 1], [0, 1, 0, 0]])
    >>> fig = plot_consensus(C)
    >>> order = consensus_order(C)
    >>> bool(np.array_equal(fig.axes[0].images[0].get_array(), C[order][:, order]))
    True
    """
    from .selection.rank import consensus_order, cophenetic_correlation

    title = "Consensus matrix"
    if hasattr(C, "consensus_"):
        if not C.consensus_:
            raise ValueError("this RankSelection holds no consensus matrices "
                             "(select_rank(method='consensus') makes them)")
        k = int(C.best_k) if k is None else int(k)
        if k not in C.consensus_:
            raise ValueError(f"no consensus matrix for k={k}; ranks tried: {sorted(C.consensus_)}")
        C = C.consensus_[k]
        title += f", k = {k}"
    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1] or C.shape[0] == 0:
        raise ValueError(f"plot_consensus needs a square matrix, got shape {C.shape}")
    n = C.shape[0]
    if labels is not None:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"labels has {len(labels)} entries, C has {n} samples")
    order = consensus_order(C)
    if ax is None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6.0, 5.0), layout="constrained")
    else:
        fig = ax.figure
    image = ax.imshow(C[order][:, order], vmin=0.0, vmax=1.0, cmap=cmap,
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="share of runs that cluster the pair together")
    ax.set_xticks([])
    if labels is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(np.arange(n), labels=[str(labels[i]) for i in order],
                      fontsize=max(3.0, min(8.0, 400.0 / n)))
    ax.set_xlabel("samples (clustered order)")
    ax.set_title(f"{title}: cophenetic {cophenetic_correlation(C):.3f}")
    return fig


def plot_top_features(
    H: Any,
    feature_names: Sequence[Any] | None = None,
    n_top: int = 10,
    *,
    n_cols: int | None = None,
) -> Any:
    """Horizontal bar charts of the heaviest features of each component.

    One Axes per component (row of H), its ``n_top`` largest entries as
    bars, heaviest at the top (the order of :func:`nmfkit.metrics.top_features`;
    zero weights are not shown). Bar lengths are the entries of H.

    Parameters
    ----------
    H : array-like of shape (k, n_features) or fitted estimator
        The basis (an estimator's ``components_``; its ``feature_names_in_``
        name the features when ``feature_names`` is not given).
    feature_names : sequence of length n_features, optional
        Names for the bars (e.g. a vectorizer's ``get_feature_names_out()``);
        default the feature indices.
    n_top : int, default 10
    n_cols : int, optional
        Axes per row of the grid; default ``min(k, 4)``.

    Returns
    -------
    matplotlib.figure.Figure
        k Axes, titled ``component i``.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.plotting import plot_top_features
    >>> H = np.array([[0.1, 0.7, 0.2], [0.5, 0.0, 0.0]])
    >>> fig = plot_top_features(H, ["a", "b", "c"], n_top=2)
    >>> [float(p.get_width()) for p in fig.axes[0].patches]
    [0.7, 0.2]
    """
    from .metrics import top_features

    if hasattr(H, "components_"):
        if feature_names is None:
            feature_names = getattr(H, "feature_names_in_", None)
        H = H.components_
    if hasattr(H, "toarray"):
        H = H.toarray()  # k × n_features: small
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] == 0:
        raise ValueError(f"plot_top_features needs H of shape (k, n_features), got {H.shape}")
    if isinstance(n_top, bool) or not isinstance(n_top, int | np.integer) or n_top < 1:
        raise ValueError(f"n_top must be an integer >= 1, got {n_top!r}")
    k, n = H.shape
    names = [str(j) for j in range(n)] if feature_names is None else [str(v) for v in
                                                                      feature_names]
    if len(names) != n:
        raise ValueError(f"feature_names has {len(names)} entries, H has {n} features")
    tops = top_features(H, int(n_top))
    if n_cols is None:
        n_cols = min(k, 4)
    if n_cols < 1:
        raise ValueError(f"n_cols must be at least 1, got {n_cols}")
    n_cols = min(n_cols, k)
    n_rows = math.ceil(k / n_cols)
    plt = _pyplot()
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols, (0.9 + 0.24 * n_top) * n_rows),
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.ravel()):
        if i >= k:
            fig.delaxes(ax)
            continue
        idx = tops[i]
        pos = np.arange(len(idx))
        ax.barh(pos, H[i, idx], color=f"C{i % 10}")
        ax.set_yticks(pos, labels=[names[j] for j in idx], fontsize=8)
        ax.set_ylim(max(len(idx), 1) - 0.5, -0.5)  # heaviest at the top
        ax.set_title(f"component {i}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        if not idx:
            ax.text(0.5, 0.5, "all zero", transform=ax.transAxes, ha="center", va="center")
    return fig


def plot_tree(model: Any, *, feature_names: Sequence[Any] | None = None, n_top: int = 3,
              ax: Any = None) -> Any:
    """Draw the tree of a fitted :class:`~nmfkit.models.hierarchical.HierarchicalNMF`.

    Leaves are spread evenly from left to right in label order (depth
    first, larger child first), every parent sits above the middle of its
    children, depth grows downwards. Each node is a text box (``gid``
    ``"node-<id>"``) giving its id, its number of samples, its leaf label
    for leaves, and its ``n_top`` heaviest features; each edge is one line
    (``gid`` ``"edge-<parent>-<child>"``). Plain matplotlib: no graphviz.

    Parameters
    ----------
    model : HierarchicalNMF or list of TreeNode
        A fitted model (its ``tree_``) or a node list indexed by id.
    feature_names : sequence of length n_features, optional
        Names of the features (default: the model's ``feature_names_in_``,
        else the indices).
    n_top : int, default 3
        Features listed per node (at most the ``n_top_features`` stored).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.models.hierarchical import HierarchicalNMF
    >>> from nmfkit.plotting import plot_tree
    >>> X = np.repeat(np.kron(np.eye(3), np.ones((1, 4))), 6, axis=0) + 0.01
    >>> model = HierarchicalNMF(3, random_state=0).fit(X)
    >>> fig = plot_tree(model)
    >>> len(fig.axes[0].texts), len(fig.axes[0].lines)
    (5, 4)
    """
    tree = getattr(model, "tree_", model)
    if feature_names is None:
        feature_names = getattr(model, "feature_names_in_", None)
    try:
        nodes = list(tree)
        _ = [(nd.id, nd.children, nd.samples, nd.depth) for nd in nodes]
    except (TypeError, AttributeError):
        raise TypeError(
            "plot_tree needs a fitted HierarchicalNMF or its tree_ (a list of TreeNode), "
            f"got {type(model).__name__}"
        ) from None
    if not nodes or [nd.id for nd in nodes] != list(range(len(nodes))):
        raise ValueError("plot_tree needs a non-empty node list indexed by id")
    if isinstance(n_top, bool) or not isinstance(n_top, int | np.integer) or n_top < 0:
        raise ValueError(f"n_top must be an integer >= 0, got {n_top!r}")

    # leaves in depth-first order (larger child first), as labels_ numbers them
    leaves: list[int] = []
    stack = [0]
    while stack:
        nid = stack.pop()
        if nodes[nid].children:
            stack.extend(reversed(nodes[nid].children))
        else:
            leaves.append(nid)
    x: dict[int, float] = {nid: float(i) for i, nid in enumerate(leaves)}

    def place(nid: int) -> float:
        if nid not in x:
            x[nid] = float(np.mean([place(c) for c in nodes[nid].children]))
        return x[nid]

    place(0)
    depth = max(nd.depth for nd in nodes)
    if ax is None:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(max(4.0, 1.9 * len(leaves)), 1.0 + 1.4 * (depth + 1)),
                               layout="constrained")
    else:
        fig = ax.figure
    for nd in nodes:
        for c in nd.children:
            ax.plot([x[nd.id], x[c]], [-nd.depth, -nodes[c].depth], color="0.55", lw=1.2,
                    zorder=1, gid=f"edge-{nd.id}-{c}")
    label_of = {nid: i for i, nid in enumerate(leaves)}
    for nd in nodes:
        head = f"#{nd.id}  n={nd.samples.size}"
        if nd.id in label_of:
            head = f"leaf {label_of[nd.id]}: {head}"
        top = list(nd.top_features)[: int(n_top)]
        words = [str(feature_names[j]) if feature_names is not None else str(j) for j in top]
        text = head + ("\n" + "\n".join(words) if words else "")
        leaf = nd.id in label_of
        ax.text(x[nd.id], -nd.depth, text, ha="center", va="center", fontsize=7, zorder=2,
                gid=f"node-{nd.id}",
                bbox={"boxstyle": "round,pad=0.3", "fc": "#e8f0fa" if leaf else "#f4f4f4",
                      "ec": "C0" if leaf else "0.5"})
    ax.set_xlim(-0.7, len(leaves) - 0.3)
    ax.set_ylim(-depth - 0.6, 0.6)
    ax.set_axis_off()
    ax.set_title(f"Hierarchical NMF: {len(leaves)} leaves, depth {depth}")
    return fig
