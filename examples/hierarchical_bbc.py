"""Hierarchical topic tree of the BBC News corpus with HierNMF2.

Builds a tree of the 2,225 BBC News articles (Greene & Cunningham 2006) by
repeated rank-2 NMF (:class:`nmfkit.models.hierarchical.HierarchicalNMF`),
prints the tree with each node's top terms, and the purity and entropy of
the leaves against the five editorial classes (business, entertainment,
politics, sport, tech).

Data: ``bbc.mtx`` (terms × documents, Matrix Market, raw counts),
``bbc.terms``, ``bbc.classes`` from http://mlg.ucd.ie/datasets/bbc.html.
The directory is taken from, in order: the first command-line argument,
the ``NMFKIT_BBC_DIR`` environment variable, ``../shared/data/bbc_news``
relative to the repository root.

Usage::

    python examples/hierarchical_bbc.py [DATA_DIR] [--leaves N] [--seed S] [--json tree.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.metrics import adjusted_rand_score

from nmfkit.metrics import entropy, purity
from nmfkit.models.hierarchical import HierarchicalNMF

CLASS_NAMES = ["business", "entertainment", "politics", "sport", "tech"]
FILES = ("bbc.mtx", "bbc.terms", "bbc.classes")


def locate(arg: str | None) -> Path:
    """The data directory: argument, then $NMFKIT_BBC_DIR, then ../shared/data/bbc_news."""
    repo = Path(__file__).resolve().parent.parent
    candidates = [
        ("command-line argument", arg),
        ("NMFKIT_BBC_DIR", os.environ.get("NMFKIT_BBC_DIR")),
        ("default", str(repo.parent / "shared" / "data" / "bbc_news")),
    ]
    tried = []
    for how, path in candidates:
        if not path:
            continue
        p = Path(path).expanduser()
        missing = [f for f in FILES if not (p / f).is_file()]
        if not missing:
            return p
        tried.append(f"  {p} ({how}): missing {', '.join(missing)}")
        if how != "default":
            break  # an explicit location that is wrong is an error, not a fallback
    sys.exit(
        "BBC News data not found. Tried:\n" + "\n".join(tried) + "\n"
        "Download the pre-processed dataset (bbc.zip) from http://mlg.ucd.ie/datasets/bbc.html, "
        "unzip it and pass its directory as the first argument or set NMFKIT_BBC_DIR."
    )


def load(data_dir: Path):
    counts = scipy.io.mmread(data_dir / "bbc.mtx").tocsr().T.tocsr()  # docs × terms
    terms = (data_dir / "bbc.terms").read_text().split()
    labels = np.array(
        [
            int(line.split()[1])
            for line in (data_dir / "bbc.classes").read_text().splitlines()
            if line.strip() and not line.startswith("%")
        ]
    )
    if counts.shape != (labels.size, len(terms)):
        sys.exit(f"inconsistent files: matrix {counts.shape}, {labels.size} labels, "
                 f"{len(terms)} terms")
    return counts, terms, labels


def show(model: HierarchicalNMF, terms: list[str], labels: np.ndarray) -> None:
    def walk(nid: int) -> None:
        nd = model.tree_[nid]
        counts = np.bincount(labels[nd.samples], minlength=len(CLASS_NAMES))
        major = CLASS_NAMES[int(np.argmax(counts))]
        share = counts.max() / max(1, counts.sum())
        words = ", ".join(terms[j] for j in nd.top_features[:8]) or "(all documents)"
        tag = f"leaf {model.leaves_.index(nid)}" if nd.is_leaf else "split"
        score = "" if nd.score is None else f" score={nd.score:.3f}"
        print(f"{'    ' * nd.depth}[{nd.id}] {tag}: {nd.samples.size} docs, "
              f"{share:.0%} {major}{score} | {words}")
        for c in nd.children:
            walk(c)

    walk(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", nargs="?", default=None)
    ap.add_argument("--leaves", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--criterion", default="ndcg", choices=["ndcg", "error"])
    ap.add_argument("--json", default=None, help="write the tree as JSON to this file")
    args = ap.parse_args()

    data_dir = locate(args.data_dir)
    counts, terms, labels = load(data_dir)
    X = TfidfTransformer().fit_transform(counts)  # l2-normalised TF-IDF rows, still sparse
    print(f"BBC News: {X.shape[0]} documents × {X.shape[1]} terms, {X.nnz} non-zeros")

    t0 = time.perf_counter()
    model = HierarchicalNMF(
        args.leaves, split_criterion=args.criterion, random_state=args.seed
    ).fit(X)
    print(f"HierNMF2 with {model.n_leaves_} leaves in {time.perf_counter() - t0:.1f} s\n")
    show(model, terms, labels)

    pred = model.labels_
    kept = pred >= 0
    print()
    print(f"documents clustered: {kept.sum()} of {pred.size} "
          f"({(~kept).sum()} removed as outliers)")
    print(f"leaf purity   (vs 5 classes): {purity(labels[kept], pred[kept]):.3f}")
    print(f"leaf entropy  (vs 5 classes): {entropy(labels[kept], pred[kept]):.3f}")
    for depth in (1, 2, 3):
        lab = model.labels_at(depth)
        ok = lab >= 0
        print(f"depth {depth}: {len(np.unique(lab[ok]))} clusters, "
              f"purity {purity(labels[ok], lab[ok]):.3f}, "
              f"ARI {adjusted_rand_score(labels[ok], lab[ok]):.3f}")
    if args.json:
        Path(args.json).write_text(model.tree_json(terms, indent=1))
        print(f"tree written to {args.json}")


if __name__ == "__main__":
    main()
