"""Convex NMF and semi-NMF next to plain NMF and k-means-like clustering.

* ``ConvexNMF``: X ≈ W Gᵀ X with W, G ≥ 0 — each basis row is a non-negative
  combination of samples (interpretable centroids); W comes out sparser.
* ``SemiNMF``: X ≈ W H with only W ≥ 0, X and H of any sign — the closest
  relative of k-means (H holds centroids, W memberships).

Run: ``python examples/convex_semi_nmf.py``
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from nmfkit import NMF, ConvexNMF, SemiNMF
from nmfkit.metrics import hoyer_sparseness


def main() -> None:
    X, y = make_blobs(n_samples=300, centers=4, n_features=10, cluster_std=1.0, random_state=0)
    semi = SemiNMF(4, random_state=0).fit(X)  # mixed-sign data: NMF would refuse it
    print(
        f"SemiNMF on mixed-sign blobs: ARI {adjusted_rand_score(y, semi.labels_):.3f}, "
        f"relative error {semi.reconstruction_err_ / np.linalg.norm(X):.3f}"
    )

    Xp = X - X.min()  # non-negative copy
    conv = ConvexNMF(4, random_state=0, max_iter=500)
    Wc = conv.fit_transform(Xp)
    Wn = NMF(4, random_state=0, max_iter=500).fit_transform(Xp)
    print(
        f"ConvexNMF: components_ == G_.T @ X: {np.abs(conv.components_ - conv.G_.T @ Xp).max():.1e}"
    )
    print(
        f"Hoyer sparseness of W: convex {np.nanmean(hoyer_sparseness(Wc, axis=1)):.3f}, "
        f"plain NMF {np.nanmean(hoyer_sparseness(Wn, axis=1)):.3f}"
    )
    print(f"ConvexNMF clustering ARI {adjusted_rand_score(y, Wc.argmax(axis=1)):.3f}")


if __name__ == "__main__":
    main()
