"""Anchor-word topics (Arora et al. 2013) of the BBC News corpus.

Fits :class:`nmfkit.models.anchor_words.AnchorWordTopics` to the 2,225
BBC News articles (Greene & Cunningham 2006; rows = documents, columns =
stemmed terms, raw counts) and prints, for each topic, its anchor word, its
estimated frequency and its most probable words; then how the documents'
dominant topics line up with the five editorial classes (business,
entertainment, politics, sport, tech): a contingency table and the adjusted
Rand index.

The co-occurrence matrix is dense (n_words²), so the vocabulary is cut to
the ``--vocab`` terms occurring in the most documents (default 3000).

Data: ``bbc.mtx`` (terms × documents, Matrix Market), ``bbc.terms``,
``bbc.classes`` from http://mlg.ucd.ie/datasets/bbc.html. The directory is
taken from the first command-line argument, else ``../shared/data/bbc_news``
relative to the repository root.

Usage::

    python examples/anchor_topics.py [DATA_DIR] [-k 5] [--loss l2|kl] [--vocab 3000]
        [--anchor-thresh 0.05] [--top 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io
from sklearn.metrics import adjusted_rand_score

from nmfkit.models.anchor_words import AnchorWordTopics

CLASS_NAMES = ["business", "entertainment", "politics", "sport", "tech"]
FILES = ("bbc.mtx", "bbc.terms", "bbc.classes")


def locate(arg: str | None) -> Path:
    repo = Path(__file__).resolve().parent.parent
    p = Path(arg).expanduser() if arg else repo.parent / "shared" / "data" / "bbc_news"
    missing = [f for f in FILES if not (p / f).is_file()]
    if missing:
        sys.exit(
            f"BBC News data not found in {p} (missing {', '.join(missing)}).\n"
            "Download the pre-processed dataset (bbc.zip) from "
            "http://mlg.ucd.ie/datasets/bbc.html, unzip it and pass its folder as the "
            "first argument."
        )
    return p


def load(data_dir: Path):
    counts = scipy.io.mmread(data_dir / "bbc.mtx").tocsr().T.tocsr()  # documents × terms
    terms = (data_dir / "bbc.terms").read_text().split()
    labels = np.array(
        [
            int(line.split()[1])
            for line in (data_dir / "bbc.classes").read_text().splitlines()
            if line.strip() and not line.startswith("%")
        ]
    )
    return counts, terms, labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", help="folder with bbc.mtx, bbc.terms, bbc.classes")
    parser.add_argument("-k", type=int, default=5, help="number of topics")
    parser.add_argument("--loss", choices=["l2", "kl"], default="l2", help="RecoverL2 or KL")
    parser.add_argument("--vocab", type=int, default=3000, help="terms kept (by document freq.)")
    parser.add_argument("--anchor-thresh", type=float, default=0.05,
                        help="min. document frequency of anchors (proportion of documents)")
    parser.add_argument("--top", type=int, default=10, help="words printed per topic")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    counts, terms, labels = load(locate(args.data_dir))
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    keep = np.sort(np.argsort(-df, kind="stable")[: args.vocab])
    X = counts[:, keep]
    vocab = [terms[i] for i in keep]
    print(
        f"BBC News: {X.shape[0]} documents × {X.shape[1]} terms kept of {counts.shape[1]} "
        f"(each in >= {df[keep].min()} documents), {X.nnz} non-zeros"
    )

    t0 = time.perf_counter()
    model = AnchorWordTopics(
        args.k, loss=args.loss, anchor_thresh=args.anchor_thresh, random_state=args.seed
    ).fit(X)
    fit_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    theta = model.transform(X)
    transform_time = time.perf_counter() - t0
    print(
        f"fit {fit_time:.1f}s (Recover{args.loss.upper()}, at most {model.n_iter_} "
        f"exponentiated-gradient iterations per word), transform {transform_time:.1f}s\n"
    )

    print(f"{'topic':<6}{'anchor':<14}{'p(topic)':>9}   top words")
    for t in range(args.k):
        top = np.argsort(-model.components_[t])[: args.top]
        print(
            f"{t:<6}{vocab[model.anchors_[t]]:<14}{model.topic_weights_[t]:>9.3f}   "
            + " ".join(vocab[i] for i in top)
        )

    dominant = theta.argmax(axis=1)
    print("\ndocuments by dominant topic (rows) and editorial class (columns):")
    print(f"{'topic':<6}" + "".join(f"{c[:8]:>9}" for c in CLASS_NAMES))
    for t in range(args.k):
        row = np.bincount(labels[dominant == t], minlength=len(CLASS_NAMES))
        print(f"{t:<6}" + "".join(f"{v:>9d}" for v in row))
    print(f"adjusted Rand index vs. the 5 classes: {adjusted_rand_score(labels, dominant):.3f}")


if __name__ == "__main__":
    main()
