"""Benchmark data sets: loading, vectorizing and caching.

Every loader returns a :class:`Dataset` whose ``X`` is float64 (dense
``ndarray`` or CSR), rows = samples (scikit-learn's orientation). Real data
comes from ``$NMFKIT_DATA`` (default ``../shared/data`` next to the
repository); a data set whose files are missing raises :class:`Missing`
with the reason, and the harness reports it as skipped. Extracted and
vectorized matrices are cached under ``benchmarks/out/cache/``.

* ``synthetic``: dense 5000 × 2000, W*H* of true rank 20 (uniform factors) plus
  Gaussian noise (σ = 5% of the mean, clipped at 0); Frobenius.
* ``digits``: scikit-learn's digits, 1797 × 64, dense; Frobenius.
* ``cbcl``: MIT CBCL faces, 2429 faces × 361 pixels (raw 0..255), dense; Frobenius.
* ``orl``: ORL / AT&T faces, 400 faces × 10304 pixels (raw 0..255), dense; Frobenius.
* ``bbc``: BBC News term counts → TF-IDF (scikit-learn's ``TfidfTransformer``, the
  weighting step of ``TfidfVectorizer``), 2225 docs × 9635 terms, sparse; Frobenius.
* ``20news``: 20 Newsgroups bydate, all 18846 posts →
  ``TfidfVectorizer(min_df=5, max_df=0.5, stop_words="english")``, sparse; Frobenius.
* ``poisson``: sparse Poisson counts 2000 × 1500 from a rank-10 Gamma model (about
  10% non-zero); Kullback–Leibler.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / "out" / "cache"
CACHE_VERSION = 2

DATASETS = ("synthetic", "digits", "cbcl", "orl", "bbc", "20news", "poisson")
DATASET_LOSS = {"poisson": "kullback-leibler"}  # every other one: "frobenius"


class Missing(Exception):
    """A data set that cannot be loaded here (the message says why)."""


@dataclass
class Dataset:
    name: str
    X: object
    loss: str
    description: str
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.X)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.X.shape)

    @property
    def density(self) -> float:
        n = self.X.shape[0] * self.X.shape[1]
        return (self.X.nnz if self.sparse else np.count_nonzero(self.X)) / n


def data_dir() -> Path:
    env = os.environ.get("NMFKIT_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


def _need(path: Path) -> Path:
    if not path.exists():
        raise Missing(f"{path} not found (set NMFKIT_DATA to the shared data folder)")
    return path


def _cached(name: str, build, *, sparse: bool):
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}-v{CACHE_VERSION}.{'npz' if sparse else 'npy'}"
    if path.exists():
        return sp.load_npz(path).tocsr() if sparse else np.load(path)
    X = build()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        if sparse:
            sp.save_npz(fh, X)
        else:
            np.save(fh, X)
    os.replace(tmp, path)
    return X


def _synthetic() -> Dataset:
    def build():
        rng = np.random.default_rng(20)
        W = rng.random((5000, 20))
        H = rng.random((20, 2000))
        Y = W @ H
        Y += rng.normal(0.0, 0.05 * Y.mean(), size=Y.shape)
        np.maximum(Y, 0.0, out=Y)
        return Y

    X = _cached("synthetic", build, sparse=False)
    return Dataset(
        "synthetic", X, "frobenius",
        "dense 5000×2000, true rank 20 + Gaussian noise (σ = 5% of mean)", "generated (seed 20)",
    )


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    X = np.ascontiguousarray(load_digits().data, dtype=np.float64)
    return Dataset("digits", X, "frobenius", "digits 1797×64 (8×8 images)", "scikit-learn")


def _cbcl() -> Dataset:
    path = _need(data_dir() / "cbcl_faces" / "CBCL.mat")

    def build():
        from scipy.io import loadmat

        return np.ascontiguousarray(loadmat(path)["X"].T, dtype=np.float64)

    X = _cached("cbcl", build, sparse=False)
    return Dataset("cbcl", X, "frobenius", "CBCL faces 2429×361 (19×19, raw 0..255)", str(path))


def _read_pgm(raw: bytes) -> np.ndarray:
    """Binary (P5) PGM with maxval < 256."""
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while raw[pos : pos + 1].isspace():
            pos += 1
        if raw[pos : pos + 1] == b"#":
            pos = raw.index(b"\n", pos) + 1
            continue
        end = pos
        while not raw[end : end + 1].isspace():
            end += 1
        tokens.append(raw[pos:end])
        pos = end
    if tokens[0] != b"P5" or int(tokens[3]) > 255:
        raise ValueError("not an 8-bit binary PGM")
    width, height = int(tokens[1]), int(tokens[2])
    pos += 1  # the single whitespace after maxval
    return np.frombuffer(raw, dtype=np.uint8, count=width * height, offset=pos).reshape(
        height, width
    )


def _orl() -> Dataset:
    path = _need(data_dir() / "orl_att_faces" / "orl_faces.tar.xz")

    def build():
        rows = []
        with tarfile.open(path) as tar:
            members = [m for m in tar.getmembers() if m.name.endswith(".pgm")]

            def key(m):
                parts = m.name.split("/")
                return int(parts[-2][1:]), int(parts[-1][:-4])

            for m in sorted(members, key=key):
                rows.append(_read_pgm(tar.extractfile(m).read()).ravel())
        return np.asarray(rows, dtype=np.float64)

    X = _cached("orl", build, sparse=False)
    return Dataset("orl", X, "frobenius", "ORL faces 400×10304 (112×92, raw 0..255)", str(path))


def _bbc() -> Dataset:
    path = _need(data_dir() / "bbc_news" / "bbc.mtx")

    def build():
        from scipy.io import mmread
        from sklearn.feature_extraction.text import TfidfTransformer

        counts = sp.csr_matrix(mmread(path)).T.tocsr()  # docs × terms
        return TfidfTransformer().fit_transform(counts).astype(np.float64).tocsr()

    X = _cached("bbc", build, sparse=True)
    return Dataset(
        "bbc", X, "frobenius", "BBC News TF-IDF 2225 docs × 9635 terms (sparse)", str(path)
    )


def _20news() -> Dataset:
    path = _need(data_dir() / "20newsgroups_bydate" / "20news-bydate.tar.xz")

    def build():
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = []
        with tarfile.open(path) as tar:
            for m in sorted(tar.getmembers(), key=lambda m: m.name):
                if m.isfile() and len(m.name.split("/")) == 4:
                    with io.TextIOWrapper(tar.extractfile(m), encoding="latin-1") as fh:
                        texts.append(fh.read())
        vec = TfidfVectorizer(min_df=5, max_df=0.5, stop_words="english", dtype=np.float64)
        return vec.fit_transform(texts).tocsr()

    X = _cached("20news", build, sparse=True)
    return Dataset(
        "20news", X, "frobenius",
        f"20 Newsgroups TF-IDF {X.shape[0]} posts × {X.shape[1]} terms (sparse)", str(path),
    )


def _poisson() -> Dataset:
    def build():
        rng = np.random.default_rng(10)
        W = rng.gamma(0.3, 1.0, size=(2000, 10))
        H = rng.gamma(0.3, 1.0, size=(10, 1500))
        lam = W @ H
        lam *= 0.12 / lam.mean()
        return sp.csr_matrix(rng.poisson(lam).astype(np.float64))

    X = _cached("poisson", build, sparse=True)
    return Dataset(
        "poisson", X, "kullback-leibler",
        f"Poisson counts 2000×1500, rank-10 Gamma model, "
        f"{X.nnz / (X.shape[0] * X.shape[1]):.1%} non-zero (sparse)",
        "generated (seed 10)",
    )


_LOADERS = {
    "synthetic": _synthetic,
    "digits": _digits,
    "cbcl": _cbcl,
    "orl": _orl,
    "bbc": _bbc,
    "20news": _20news,
    "poisson": _poisson,
}


def load(name: str) -> Dataset:
    """Load (and cache) one data set; raises :class:`Missing` with the reason."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None
    try:
        return loader()
    except Missing:
        raise
    except (OSError, ValueError, KeyError, tarfile.TarError) as exc:
        raise Missing(f"{type(exc).__name__}: {exc}") from exc
