"""Clustering with orthogonal NMF: digits and BBC News against k-means.

Orthogonal NMF (:class:`nmfkit.models.orthogonal.OrthogonalNMF`; Ding, Li,
Peng & Park 2006) minimises ‖X − W H‖²_F with W, H ≥ 0 and WᵀW = I, so every
sample belongs to exactly one cluster (``labels_`` = argmax of its row of
W). This script clusters

* scikit-learn's handwritten digits (1,797 images of 8 × 8 pixels, 10
  classes), on the raw pixel intensities, and
* the BBC News corpus (2,225 articles, 5 editorial classes; Greene &
  Cunningham 2006), on TF-IDF vectors (scikit-learn's ``TfidfTransformer``
  on the raw counts, rows of unit L2 norm),

and reports, over several seeds, the adjusted Rand index (ARI) of
orthogonal NMF (the default exact EM solver, and Ding et al.'s
multiplicative updates, ``solver="mu"``) against the true classes, the ARI of
scikit-learn's ``KMeans`` against the true classes (KMeans is used only as
the reference here), and the ARI between the two clusterings.

Data: ``bbc_news/bbc.mtx`` (terms × documents, Matrix Market; transposed
here to documents × terms) and ``bbc_news/bbc.classes`` under ``--data``,
which defaults to ``../shared/data`` relative to the repository root (see
``bbc_news/SOURCE.txt`` there). The original archive is the "pre-processed
dataset" of http://mlg.ucd.ie/datasets/bbc.html.

Usage::

    python examples/orthogonal_clustering.py [--data DIR] [--seeds 5]
        [--datasets digits,bbc] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.io
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.metrics import adjusted_rand_score

from nmfkit.models.orthogonal import OrthogonalNMF

REPO = Path(__file__).resolve().parent.parent
BBC_FILES = ("bbc.mtx", "bbc.classes")


def load_bbc(data: Path):
    """TF-IDF documents × terms (CSR) and the class of each document."""
    folder = data / "bbc_news"
    missing = [f for f in BBC_FILES if not (folder / f).is_file()]
    if missing:
        sys.exit(
            f"BBC News data not found: {folder} lacks {', '.join(missing)}.\n"
            "Pass the folder that contains bbc_news/ with --data (default: ../shared/data "
            "relative to the repository), or download the pre-processed dataset (bbc.zip) "
            "from http://mlg.ucd.ie/datasets/bbc.html into DATA/bbc_news/, or run with "
            "--datasets digits."
        )
    counts = scipy.io.mmread(folder / "bbc.mtx").tocsr().T.tocsr()  # documents × terms
    labels = np.array(
        [
            int(line.split()[1])
            for line in (folder / "bbc.classes").read_text().splitlines()
            if line.strip() and not line.startswith("%")
        ]
    )
    if counts.shape[0] != labels.size:
        sys.exit(f"inconsistent BBC files: {counts.shape[0]} documents, {labels.size} labels")
    return TfidfTransformer().fit_transform(counts).tocsr(), labels


def run(name: str, X, y: np.ndarray, seeds: int) -> dict:
    k = int(np.unique(y).size)
    rows: dict[str, list[float]] = {
        "onmf_em_vs_truth": [], "onmf_mu_vs_truth": [], "kmeans_vs_truth": [],
        "onmf_em_vs_kmeans": [], "onmf_em_seconds": [], "kmeans_seconds": [],
    }
    for seed in range(seeds):
        t = time.perf_counter()
        em = OrthogonalNMF(k, random_state=seed, max_iter=300).fit(X)
        rows["onmf_em_seconds"].append(time.perf_counter() - t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mu = OrthogonalNMF(k, solver="mu", random_state=seed, max_iter=300).fit(X)
        t = time.perf_counter()
        km = KMeans(k, n_init=4, random_state=seed).fit(X)  # the reference only
        rows["kmeans_seconds"].append(time.perf_counter() - t)
        rows["onmf_em_vs_truth"].append(adjusted_rand_score(y, em.labels_))
        rows["onmf_mu_vs_truth"].append(adjusted_rand_score(y, mu.labels_))
        rows["kmeans_vs_truth"].append(adjusted_rand_score(y, km.labels_))
        rows["onmf_em_vs_kmeans"].append(adjusted_rand_score(km.labels_, em.labels_))
    print(f"\n{name}: {X.shape[0]} samples × {X.shape[1]} features, {k} classes, {seeds} seeds")
    print(f"  {'':38s} {'mean':>6s} {'sd':>6s} {'min':>6s} {'max':>6s}")
    labels = {
        "onmf_em_vs_truth": "ARI OrthogonalNMF (em) vs truth",
        "onmf_mu_vs_truth": "ARI OrthogonalNMF (mu, Ding) vs truth",
        "kmeans_vs_truth": "ARI KMeans vs truth",
        "onmf_em_vs_kmeans": "ARI OrthogonalNMF (em) vs KMeans",
        "onmf_em_seconds": "seconds OrthogonalNMF (em, n_init=4)",
        "kmeans_seconds": "seconds KMeans (n_init=4)",
    }
    for key, text in labels.items():
        v = np.asarray(rows[key])
        print(f"  {text:38s} {v.mean():6.3f} {v.std():6.3f} {v.min():6.3f} {v.max():6.3f}")
    return {key: [float(x) for x in val] for key, val in rows.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data",
        help="folder holding bbc_news/ (default: ../shared/data relative to the repository)",
    )
    ap.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    ap.add_argument("--datasets", default="digits,bbc", help="comma list: digits, bbc")
    ap.add_argument("--json", type=Path, default=None, help="write the ARIs to this file")
    args = ap.parse_args(argv)
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = sorted(set(wanted) - {"digits", "bbc"})
    if unknown:
        ap.error(f"unknown dataset(s) {unknown}; choose from digits, bbc")
    bbc = load_bbc(args.data.expanduser()) if "bbc" in wanted else None  # fail early
    results = {}
    if "digits" in wanted:
        X, y = load_digits(return_X_y=True)
        results["digits"] = run("digits (raw pixels)", X, y, args.seeds)
    if bbc is not None:
        results["bbc"] = run("BBC News (TF-IDF)", bbc[0], bbc[1], args.seeds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
