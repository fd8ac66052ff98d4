"""KL-NMF is PLSA: the same model, and multiplicative updates are EM steps.

With documents as rows, PLSA models P(d, w) ∝ Σ_z P(z|d) P(w|z). Normalizing
an NMF so that H's rows sum to one (H[z] = P(w|z)) and W[d, z] = n_d P(z|d),
the KL objective equals −log-likelihood + a constant, and one MU W-step (and
H-step, then row normalization) is one EM update. This script shows both on
a synthetic corpus and prints the topics found in it.

Run: ``python examples/kl_plsa.py``
"""

from __future__ import annotations

import numpy as np

import nmfkit
from nmfkit.losses import beta_divergence


def main() -> None:
    rng = np.random.default_rng(0)
    topics = rng.dirichlet(np.full(40, 0.2), size=4)
    theta = rng.dirichlet(np.full(4, 0.3), size=200)
    X = np.vstack([rng.multinomial(100, t @ topics) for t in theta]).astype(float)

    res = nmfkit.factorize(
        X,
        4,
        beta_loss="kullback-leibler",
        max_iter=3000,
        tol=1e-10,
        random_state=0,
        canonical=False,
    )
    s = res.H.sum(axis=1)
    W, H = res.W * s, res.H / s[:, None]  # PLSA normalization, WH unchanged
    P = W @ H
    nz = X > 0
    loglik = float(np.sum(X[nz] * np.log(P[nz] / P.sum())))
    print(f"sum(WH) = {P.sum():.6f}, sum(X) = {X.sum():.6f}")
    print(f"KL divergence {beta_divergence(X, W, H, 1.0):.6f}; PLSA log-likelihood {loglik:.6f}")
    print(
        f"KL + loglik = {beta_divergence(X, W, H, 1.0) + loglik:.6f} "
        f"(a constant: sum X log X − sum X log sum X = "
        f"{float(np.sum(X[nz] * np.log(X[nz]))) - X.sum() * np.log(X.sum()):.6f})"
    )
    from scipy.optimize import linear_sum_assignment

    C = np.abs(H[:, None, :] - topics[None]).sum(-1) / 2  # total-variation distances
    r, c = linear_sum_assignment(C)
    print("topic recovery, total-variation distance per topic:", np.round(C[r, c], 3))


if __name__ == "__main__":
    main()
