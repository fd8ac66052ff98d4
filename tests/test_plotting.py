"""Figures from nmfkit.plotting, inspected through matplotlib's object model."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import nmfkit  # noqa: E402
from nmfkit.plotting import (  # noqa: E402
    plot_components,
    plot_consensus,
    plot_convergence,
    plot_rank_selection,
    plot_top_features,
    plot_tree,
)

pytestmark = pytest.mark.filterwarnings("ignore::nmfkit.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


HISTORY = np.array([100.0, 40.0, 20.0, 15.0, 14.5, 14.4])


def test_convergence_from_array():
    fig = plot_convergence(HISTORY)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 1
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), HISTORY)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(HISTORY.size))
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "objective"


def test_convergence_linear_scale_and_non_positive_values():
    assert plot_convergence(HISTORY, log=False).axes[0].get_yscale() == "linear"
    # a log axis cannot show 0: falls back to linear
    assert plot_convergence([3.0, 1.0, 0.0]).axes[0].get_yscale() == "linear"


def test_convergence_from_fit_result_and_estimator():
    X = np.random.default_rng(0).random((15, 8))
    result = nmfkit.factorize(X, 2, max_iter=30, random_state=0)
    fig = plot_convergence(result)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), result.loss_history)

    model = nmfkit.NMF(2, max_iter=30, random_state=0).fit(X)
    fig = plot_convergence(model)
    assert len(fig.axes) == 1
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), model.loss_history_)
    assert model.solver_ in fig.axes[0].get_title()


def test_convergence_on_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    out = plot_convergence(HISTORY, ax=b)
    assert out is fig
    assert len(a.lines) == 0 and len(b.lines) == 1
    np.testing.assert_array_equal(b.lines[0].get_ydata(), HISTORY)


@pytest.mark.parametrize("bad", [[], np.ones((2, 3))])
def test_convergence_rejects_bad_history(bad):
    with pytest.raises(ValueError, match="1-D loss history"):
        plot_convergence(bad)


def test_components_grid():
    H = np.random.default_rng(0).random((5, 12))
    fig = plot_components(H, (4, 3))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5  # unused grid cells are removed
    for i, ax in enumerate(fig.axes):
        assert len(ax.images) == 1
        image = ax.images[0].get_array()
        assert image.shape == (4, 3)
        np.testing.assert_array_equal(image, H[i].reshape(4, 3))
        assert ax.get_title() == str(i)
        assert ax.images[0].get_cmap().name == "gray"
    # default layout: ceil(sqrt(5)) = 3 columns, 2 rows
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)


def test_components_options_and_estimator():
    X = np.random.default_rng(1).random((20, 16))
    model = nmfkit.NMF(3, max_iter=20, random_state=0).fit(X)
    fig = plot_components(model, (4, 4), n_cols=1, cmap="viridis")
    assert len(fig.axes) == 3
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 1)
    for i, ax in enumerate(fig.axes):
        assert ax.images[0].get_array().shape == (4, 4)
        np.testing.assert_array_equal(ax.images[0].get_array(), model.components_[i].reshape(4, 4))
        assert ax.images[0].get_cmap().name == "viridis"


def test_components_rejects_wrong_shape():
    with pytest.raises(ValueError, match="image_shape"):
        plot_components(np.ones((2, 10)), (3, 3))
    with pytest.raises(ValueError, match="n_cols"):
        plot_components(np.ones((2, 9)), (3, 3), n_cols=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is an X11/Wayland notion")
def test_headless_machine_gets_agg_backend():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    code = (
        "import matplotlib\n"
        "from nmfkit.plotting import plot_convergence\n"
        "fig = plot_convergence([3.0, 2.0, 1.0])\n"
        "print(matplotlib.get_backend().lower())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "agg"


# ------------------------------------------------------------------ components as a heatmap


def test_components_heatmap_without_image_shape():
    H = np.random.default_rng(2).random((3, 17))
    fig = plot_components(H, None)
    assert len(fig.axes) == 2  # the heatmap and its colorbar
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3, 17)
    np.testing.assert_array_equal(image, H)


# ------------------------------------------------------------------ rank selection


def _lines_by_gid(ax):
    return {line.get_gid(): line for line in ax.lines if line.get_gid()}


def _selection(method, table, best_k):
    from nmfkit.selection import RankSelection

    table = {key: np.asarray(val) for key, val in table.items()}
    return RankSelection(method, table["k"], best_k, table, "a rule")


KS = np.array([2, 3, 4, 5])


@pytest.mark.parametrize(
    "method, table, panels",
    [
        ("consensus",
         {"k": KS, "cophenetic": [0.99, 1.0, 0.95, 0.9], "dispersion": [0.9, 1.0, 0.8, 0.7],
          "filled": [1, 1, 1, 0.5], "rel_error_mean": [0.5, 0.2, 0.19, 0.18],
          "rel_error_min": [0.49, 0.2, 0.18, 0.17]},
         [["cophenetic"], ["dispersion"], ["rel_error_mean", "rel_error_min"]]),
        ("frv",
         {"k": KS, "frv": [0.3, 0.1, 0.09, 0.08], "pca_frv": [0.25, 0.08, 0.07, 0.06],
          "improvement": [0.5, 0.2, 0.01, 0.01], "relative_improvement": [0.6, 0.6, 0.1, 0.1]},
         [["frv", "pca_frv"], ["improvement"]]),
        ("cv",
         {"k": KS, "cv_error": [0.1, 1e-4, 2e-4, 3e-4], "cv_std": [0.01, 1e-5, 2e-5, 1e-4],
          "train_error": [0.09, 1e-4, 5e-5, 2e-5]},
         [["cv_error", "train_error"]]),
    ],
)
def test_rank_selection_plot(method, table, panels):
    fig = plot_rank_selection(_selection(method, table, 3))
    assert isinstance(fig, Figure)
    assert len(fig.axes) == len(panels)
    for ax, cols in zip(fig.axes, panels, strict=True):
        lines = _lines_by_gid(ax)
        assert set(lines) == {*cols, "best_k"}
        for col in cols:
            np.testing.assert_array_equal(lines[col].get_xdata(), KS)
            np.testing.assert_array_equal(lines[col].get_ydata(), table[col])
        np.testing.assert_array_equal(lines["best_k"].get_xdata(), [3, 3])
        assert ax.get_xlabel() == "rank k"
    assert "best k = 3" in fig._suptitle.get_text()
    if method == "cv":
        ax = fig.axes[0]
        assert ax.get_yscale() == "log"
        # error bars of half-length cv_std around cv_error
        segments = ax.collections[0].get_segments()
        lows = [seg[0][1] for seg in segments]
        highs = [seg[1][1] for seg in segments]
        np.testing.assert_allclose(np.subtract(highs, lows), 2 * np.asarray(table["cv_std"]))


def test_rank_selection_plot_of_a_real_selection():
    from nmfkit.selection import select_rank

    rng = np.random.default_rng(0)
    X = rng.random((30, 3)) @ rng.random((3, 12)) + 0.01 * rng.random((30, 12))
    sel = select_rank(X, [2, 3, 4], method="cv", n_runs=2, random_state=0, max_iter=100)
    fig = plot_rank_selection(sel)
    line = _lines_by_gid(fig.axes[0])["cv_error"]
    np.testing.assert_array_equal(line.get_ydata(), sel.table["cv_error"])
    np.testing.assert_array_equal(line.get_xdata(), sel.ks)


def test_rank_selection_plot_rejects_other_objects():
    with pytest.raises(TypeError, match="select_rank"):
        plot_rank_selection(np.ones(3))
    with pytest.raises(ValueError, match="lacks"):
        plot_rank_selection(_selection("cv", {"k": KS, "train_error": KS * 1.0}, 2))


# ------------------------------------------------------------------ consensus heatmap


def test_consensus_heatmap_is_the_reordered_matrix():
    from nmfkit.selection import consensus_matrix, consensus_order

    rng = np.random.default_rng(0)
    truth = rng.permutation(np.arange(24) % 3)
    runs = [truth.copy() for _ in range(6)]
    runs[0][:3] = (runs[0][:3] + 1) % 3  # some disagreement
    C = consensus_matrix(runs)
    fig = plot_consensus(C)
    assert len(fig.axes) == 2  # heatmap and colorbar
    image = np.asarray(fig.axes[0].images[0].get_array())
    order = consensus_order(C)
    np.testing.assert_array_equal(image, C[order][:, order])
    np.testing.assert_array_equal(image, image.T)
    np.testing.assert_array_equal(np.diag(image), 1.0)
    # the clustered order puts the planted groups in contiguous blocks
    assert np.count_nonzero(np.diff(truth[order])) <= 4
    assert fig.axes[0].images[0].get_clim() == (0.0, 1.0)


def test_consensus_from_a_selection_with_labels():
    from nmfkit.selection import consensus_order, select_rank

    rng = np.random.default_rng(1)
    W = np.kron(np.eye(2), np.ones((6, 1))) + 0.05 * rng.random((12, 2))
    X = W @ rng.random((2, 8))
    sel = select_rank(X, [2, 3], n_runs=3, random_state=0, max_iter=100)
    names = [f"s{i}" for i in range(12)]
    fig = plot_consensus(sel, labels=names)
    C = sel.consensus_[sel.best_k]
    order = consensus_order(C)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), C[order][:, order])
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [names[i] for i in order]
    fig3 = plot_consensus(sel, k=3)
    assert "k = 3" in fig3.axes[0].get_title()
    with pytest.raises(ValueError, match="no consensus matrix for k=7"):
        plot_consensus(sel, k=7)
    with pytest.raises(ValueError, match="labels has 2"):
        plot_consensus(C, labels=["a", "b"])
    with pytest.raises(ValueError, match="square"):
        plot_consensus(np.ones((2, 3)))


# ------------------------------------------------------------------ top features


def test_top_features_bars_are_the_largest_entries():
    rng = np.random.default_rng(3)
    H = rng.random((5, 30))
    H[4, 3:] = 0.0  # a component with only three non-zero features
    names = [f"word{j}" for j in range(30)]
    fig = plot_top_features(H, names, n_top=6)
    assert len(fig.axes) == 5
    for i, ax in enumerate(fig.axes):
        top = np.argsort(-H[i], kind="stable")[:6]
        top = top[H[i, top] > 0]
        widths = [p.get_width() for p in ax.patches]
        np.testing.assert_array_equal(widths, H[i, top])
        assert [t.get_text() for t in ax.get_yticklabels()] == [names[j] for j in top]
        assert ax.get_title() == f"component {i}"
        # heaviest at the top: the first bar has the highest position on screen
        ys = [p.get_y() for p in ax.patches]
        assert ax.yaxis_inverted() and ys == sorted(ys)
    assert len(fig.axes[4].patches) == 3
    # default grid: min(k, 4) = 4 columns, 2 rows
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 4)


def test_top_features_from_estimator_and_errors():
    import pandas as pd

    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.random((20, 6)), columns=list("abcdef"))
    model = nmfkit.NMF(2, max_iter=50, random_state=0).fit(X)
    fig = plot_top_features(model, n_top=3, n_cols=1)
    assert len(fig.axes) == 2
    top = np.argsort(-model.components_[0], kind="stable")[:3]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [list("abcdef")[j]
                                                                       for j in top]
    # without names: indices
    fig = plot_top_features(model.components_, n_top=2)
    assert all(t.get_text().isdigit() for t in fig.axes[0].get_yticklabels())
    with pytest.raises(ValueError, match="feature_names has 2"):
        plot_top_features(model.components_, ["a", "b"])
    with pytest.raises(ValueError, match="n_top"):
        plot_top_features(model.components_, n_top=0)


# ------------------------------------------------------------------ hierarchy tree


def test_tree_nodes_and_edges():
    from nmfkit.models.hierarchical import HierarchicalNMF

    rng = np.random.default_rng(0)
    topics = np.kron(np.eye(4), np.ones((1, 5)))
    X = np.repeat(topics, 8, axis=0) + 0.05 * rng.random((32, 20))
    names = [f"t{j}" for j in range(20)]
    model = HierarchicalNMF(4, random_state=0).fit(X)
    fig = plot_tree(model, feature_names=names, n_top=2)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    tree = model.tree_
    texts = {t.get_gid(): t for t in ax.texts}
    edges = {line.get_gid(): line for line in ax.lines}
    assert len(texts) == len(tree) == 7
    n_edges = sum(len(nd.children) for nd in tree)
    assert len(edges) == n_edges == len(tree) - 1
    for nd in tree:
        t = texts[f"node-{nd.id}"]
        assert f"n={nd.samples.size}" in t.get_text()
        for j in nd.top_features[:2]:
            assert names[j] in t.get_text()
        x, y = t.get_position()
        assert y == -nd.depth
        for c in nd.children:
            line = edges[f"edge-{nd.id}-{c}"]
            cx, cy = texts[f"node-{c}"].get_position()
            np.testing.assert_array_equal(line.get_xdata(), [x, cx])
            np.testing.assert_array_equal(line.get_ydata(), [y, cy])
    # leaves from left to right in label order
    leaf_x = [texts[f"node-{nid}"].get_position()[0] for nid in model.leaves_]
    assert leaf_x == sorted(leaf_x) == [0.0, 1.0, 2.0, 3.0]
    for label, nid in enumerate(model.leaves_):
        assert texts[f"node-{nid}"].get_text().startswith(f"leaf {label}:")
    # the tree alone (a node list) draws the same
    fig2 = plot_tree(model.tree_)
    assert len(fig2.axes[0].texts) == 7
    with pytest.raises(TypeError, match="HierarchicalNMF"):
        plot_tree(np.ones(3))
