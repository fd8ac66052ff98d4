"""Graph-regularized NMF (GNMF, Cai et al. 2011) on a two-moons-style data set.

Objective: ½‖X − WH‖² + (λ/2)·tr(Wᵀ L W) with L the Laplacian of a sample
graph, which pulls the memberships of neighbouring samples together. The two
moons are lifted to non-negative features (bumps on a grid); the graph comes
either from side information (``fit(X, graph=A)``) or from X itself
(``NMF(graph_neighbors=p)``).

Run: ``python examples/graph_regularized_moons.py``
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import kneighbors_graph

from nmfkit import NMF


def main() -> None:
    P, y = make_moons(n_samples=300, noise=0.05, random_state=0)
    P[y == 1] += [0.0, -0.3]  # a gap between the moons
    g = np.linspace(P.min(0), P.max(0), 10)
    centers = np.array([[a, b] for a in g[:, 0] for b in g[:, 1]])
    X = np.exp(-((P[:, None, :] - centers[None]) ** 2).sum(-1) / 0.1)  # 300 × 100, ≥ 0
    A = kneighbors_graph(P, 5, include_self=False)
    A = ((A + A.T) > 0).astype(float)

    plain = NMF(2, solver="mu", random_state=0, max_iter=500).fit(X)
    side = NMF(2, solver="mu", random_state=0, max_iter=500).fit(X, graph=A)
    own = NMF(2, solver="mu", random_state=0, max_iter=500, graph_neighbors=10).fit(X)
    for name, m in [
        ("plain NMF", plain),
        ("graph from positions", side),
        ("10-NN graph of X", own),
    ]:
        labels = m.transform(X).argmax(axis=1) if name == "plain NMF" else m.W_.argmax(axis=1)
        print(f"{name:>22}: ARI {adjusted_rand_score(y, labels):.3f}")


if __name__ == "__main__":
    main()
