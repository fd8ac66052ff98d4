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
from nmfkit.plotting import plot_components, plot_convergence  # noqa: E402

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
