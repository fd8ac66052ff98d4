"""Constraints and structured penalties that compose with the shared solvers.

* :mod:`~nmfkit.constraints.sparseness` — Hoyer's (2004) sparseness
  projection (used by the ``"nmfsc"`` solver).
* :mod:`~nmfkit.constraints.laplacian` — graph-Laplacian penalty on W (GNMF)
  and total-variation penalty on the basis images in H, handled as
  majorization–minimization quadratics by the ``"mu"`` solver.
"""

from __future__ import annotations

import numbers

from sklearn.utils._param_validation import Interval

from .laplacian import (
    GraphLaplacian,
    LaplacianPenalty,
    TotalVariation,
    knn_graph,
    total_variation,
)
from .sparseness import hoyer_projection, project_sparseness, sparseness_l1

__all__ = [
    "GraphLaplacian",
    "LaplacianPenalty",
    "REGULARIZATION_CONSTRAINTS",
    "TotalVariation",
    "hoyer_projection",
    "knn_graph",
    "project_sparseness",
    "sparseness_l1",
    "total_variation",
]

#: Parameter constraints of the sparseness, TV and graph options (scikit-learn style).
REGULARIZATION_CONSTRAINTS: dict[str, list] = {
    "sparseness_W": [Interval(numbers.Real, 0, 1, closed="both"), None],
    "sparseness_H": [Interval(numbers.Real, 0, 1, closed="both"), None],
    "tv_H": [Interval(numbers.Real, 0, None, closed="left")],
    "image_shape": [tuple, list, None],
    "graph_neighbors": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "graph_weight": [Interval(numbers.Real, 0, None, closed="left")],
}
