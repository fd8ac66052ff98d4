"""MovieLens 100K: rating prediction and recommendation by NMF with missing data.

A rating matrix is mostly *missing*, not zero: 943 users rated on average
6% of the 1,682 movies. nmfkit fits only the observed entries when a sparse
matrix is given with ``absent="missing"``::

    minimise over W, H ≥ 0:  ½ Σ_(u,i) observed (y_ui − (WH)_ui)²
                             + ½ l2_W ‖W‖²_F + ½ l2_H ‖H‖²_F
    l2_W = alpha · n_items,  l2_H = alpha · n_users     (scikit-learn's scaling)

with exact weighted HALS (``solver="hals"``); X is never densified. Users are
samples (rows of W), movies are features (columns of H = ``components_``).

Two NMF targets y are compared, both non-negative:

* ``ratings`` — the ratings themselves (1–5), prediction ``(WH)_ui``;
* ``residual`` — what a bias baseline leaves, shifted by an offset c = 1 and
  clipped at 0 (NMF cannot fit negative values):
  ``y_ui = max(r_ui − μ − b_u − b_i + c, 0)``, prediction
  ``μ + b_u + b_i − c + (WH)_ui``. About 7% of the training residuals lie
  below −c and are clipped to 0 (they stay observed as zeros).

Both are clipped to [1, 5]. A user or movie with no training rating has no
learned factor (nmfkit leaves such a row of W / column of H at its random
start), so its ratings are predicted by the baseline.

Baseline: global mean plus damped item and user biases,
``b_i = Σ_u (r_ui − μ) / (λ_i + n_i)``, then
``b_u = Σ_i (r_ui − μ − b_i) / (λ_u + n_u)``.

Model selection uses u1.base only: 10% of its ratings (seed 0) are held out
as a validation set; the target, the rank k and alpha of the NMF and the
damping λ_u, λ_i of the baseline are chosen by validation RMSE (the baseline
is tuned too, so the comparison is fair). The official test files are used
for the final scores only. The chosen settings are then used on all five
official splits u1–u5 (80,000 training / 20,000 test ratings each; the test
sets are disjoint). With the full grid the validation picked the residual
target with k = 4 and alpha = 0.002 (l2_W ≈ 3.4, l2_H ≈ 1.9): rank 2–4 with
L2 shrinkage wins, because the median user has under 50 ratings to fit;
larger k or smaller alpha overfit. Validation RMSE: residual 0.925, ratings
fitted directly 0.926 (k = 2), tuned baseline 0.941 (λ_u = 5, λ_i = 2).
On the official test sets this gives 0.919 against 0.944 for the baseline,
averaged over u1–u5 (u1: 0.930 vs 0.956). The printout shows
the whole validation grid.

Demonstrations on u1 (all with the chosen settings):

* the top-10 movies for one user (default: user 1), excluding the movies
  they rated in u1.base and movies with fewer than 20 training ratings;
  ``*`` marks those the user rated in u1.test (with that rating);
* ``fold_in_features``: five movies are removed from training; with the
  users' factors W fixed, each new movie's column of H is one small NNLS
  solve on its ratings by the known users. Its test ratings are predicted
  about as well as by a model trained with it;
* ``transform(..., weights=...)``: one user is removed from training; their
  u1.base ratings (a sparse row with weight 1 on the rated movies, 0
  elsewhere) give their W row with H fixed, and their u1.test ratings are
  predicted from it.

Data: MovieLens 100K (GroupLens; Harper & Konstan 2015) from
``<data>/movielens_100k``: ``ml-100k-splits.tar.xz`` (u1–u5 .base/.test,
read directly from the archive, nothing is extracted) and ``u.item``
(titles, latin-1). ``<data>`` is ``--data``, else ``$NMFKIT_DATA``, else
``../shared/data`` relative to the repository root. The data may not be
redistributed; it is read in place.

Usage::

    python examples/movielens_recommend.py [--data DIR] [--quick] [--user 1] [--seed 0]

``--quick``: split u1 only and a two-point grid (used by the smoke test).
The full run takes about 2 minutes on a 2-core machine, most of it the
validation grid.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import nmfkit

N_USERS, N_ITEMS = 943, 1682
SPLITS = ("u1", "u2", "u3", "u4", "u5")
ARCHIVE = "ml-100k-splits.tar.xz"
OFFSET = 1.0  # shift c of the residual target
MIN_RATINGS_TO_RECOMMEND = 20

# validation grids: (target, k, alpha)
FULL_GRID = [
    (target, k, alpha)
    for target in ("ratings", "residual")
    for k in (2, 4, 8)
    for alpha in (0.002, 0.004, 0.008)
]
QUICK_GRID = [("ratings", 2, 0.002), ("residual", 4, 0.002)]
LAMBDA_GRID = [(lu, li) for lu in (2.0, 5.0, 10.0, 25.0) for li in (2.0, 5.0, 10.0, 25.0)]


# ---------------------------------------------------------------- data
def data_root(arg: str | None) -> Path:
    """``--data``, else $NMFKIT_DATA, else ../shared/data next to the repository."""
    if arg:
        return Path(arg).expanduser()
    if os.environ.get("NMFKIT_DATA"):
        return Path(os.environ["NMFKIT_DATA"]).expanduser()
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def locate(root: Path) -> Path:
    folder = root / "movielens_100k"
    missing = [f for f in (ARCHIVE, "u.item") if not (folder / f).is_file()]
    if missing:
        print(
            f"MovieLens 100K not found: {folder} lacks {', '.join(missing)}.\n"
            "Pass the data directory holding movielens_100k/ with --data or set NMFKIT_DATA "
            "(MovieLens 100K: https://grouplens.org/datasets/movielens/100k/).",
            file=sys.stderr,
        )
        sys.exit(2)
    return folder


@dataclass
class Ratings:
    """0-based user ids, 0-based item ids, ratings."""

    u: np.ndarray
    i: np.ndarray
    r: np.ndarray

    def __len__(self) -> int:
        return self.r.size

    def take(self, mask: np.ndarray) -> Ratings:
        return Ratings(self.u[mask], self.i[mask], self.r[mask])


def read_splits(folder: Path, names: list[str]) -> dict[str, Ratings]:
    """Read ``ml-100k-splits/<name>`` members straight from the tar archive."""
    out = {}
    with tarfile.open(folder / ARCHIVE) as tar:
        for name in names:
            f = tar.extractfile(f"ml-100k-splits/{name}")
            if f is None:
                raise FileNotFoundError(f"{name} not in {ARCHIVE}")
            a = np.loadtxt(f, dtype=np.int64, usecols=(0, 1, 2), ndmin=2)
            out[name] = Ratings(a[:, 0] - 1, a[:, 1] - 1, a[:, 2].astype(np.float64))
    return out


def read_titles(folder: Path) -> list[str]:
    titles = [""] * N_ITEMS
    for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
        if line.strip():
            fields = line.split("|")
            titles[int(fields[0]) - 1] = fields[1]
    return titles


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


# ------------------------------------------------------------ baseline
@dataclass
class Biases:
    """μ + b_u + b_i with damped means (item biases first, then user biases)."""

    mu: float
    b_user: np.ndarray
    b_item: np.ndarray
    lam_user: float
    lam_item: float

    @classmethod
    def fit(cls, d: Ratings, lam_user: float, lam_item: float) -> Biases:
        mu = float(d.r.mean())
        b_item = item_bias(d.i, d.r, mu, lam_item, N_ITEMS)
        b_user = user_bias(d.u, d.r - b_item[d.i], mu, lam_user, N_USERS)
        return cls(mu, b_user, b_item, lam_user, lam_item)

    def predict(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return self.mu + self.b_user[u] + self.b_item[i]


def item_bias(i, r, mu, lam, n):
    return np.bincount(i, r - mu, n) / (lam + np.bincount(i, minlength=n))


def user_bias(u, r_minus_bi, mu, lam, n):
    return np.bincount(u, r_minus_bi - mu, n) / (lam + np.bincount(u, minlength=n))


# ------------------------------------------------------- NMF recommender
class NMFRecommender:
    """NMF on observed entries only; the bias baseline for unseen users/items."""

    def __init__(self, target: str, k: int, alpha: float, lam: tuple[float, float], seed: int):
        self.target, self.k, self.alpha, self.lam, self.seed = target, k, alpha, lam, seed

    def values(self, u, i, r, base: Biases) -> np.ndarray:
        """The non-negative NMF target at the given ratings."""
        if self.target == "ratings":
            return r.copy()
        return np.maximum(r - base.predict(u, i) + OFFSET, 0.0)

    def fit(self, d: Ratings) -> NMFRecommender:
        self.base = Biases.fit(d, *self.lam)
        y = self.values(d.u, d.i, d.r, self.base)
        X = sp.csr_matrix((y, (d.u, d.i)), shape=(N_USERS, N_ITEMS))
        assert X.nnz == len(d), "explicit zeros must stay stored (they are observed)"
        self.model = nmfkit.NMF(
            self.k, absent="missing", solver="hals", init="random", alpha_W=self.alpha,
            alpha_H="same", l1_ratio=0.0, max_iter=400, tol=1e-4, random_state=self.seed,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nmfkit.ConvergenceWarning)
            self.model.fit(X)
        self.fit_time = time.perf_counter() - t0
        self.W, self.H = self.model.W_, self.model.components_
        self.known_user = np.bincount(d.u, minlength=N_USERS) > 0
        self.known_item = np.bincount(d.i, minlength=N_ITEMS) > 0
        return self

    def combine(self, base_pred: np.ndarray, nmf_pred: np.ndarray) -> np.ndarray:
        return nmf_pred if self.target == "ratings" else base_pred - OFFSET + nmf_pred

    def predict(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        p = self.base.predict(u, i)
        ok = self.known_user[u] & self.known_item[i]
        nmf = np.einsum("nk,kn->n", self.W[u[ok]], self.H[:, i[ok]])
        p[ok] = self.combine(p[ok], nmf)
        return np.clip(p, 1.0, 5.0)


def describe(target: str, k: int, alpha: float) -> str:
    return (f"target={target}, k={k}, alpha={alpha:g} (l2_W={alpha * N_ITEMS:.2f}, "
            f"l2_H={alpha * N_USERS:.2f})")


# ----------------------------------------------------------- main steps
def tune(train: Ratings, grid, seed: int):
    """Hold out 10% of u1.base; pick the baseline's λ and the NMF settings on it."""
    rng = np.random.default_rng(seed)
    val_mask = rng.random(len(train)) < 0.1
    fit, val = train.take(~val_mask), train.take(val_mask)
    print(f"validation: {len(fit)} ratings to fit, {len(val)} held out (from u1.base only)")

    scores = {}
    for lam in LAMBDA_GRID:
        scores[lam] = rmse(np.clip(Biases.fit(fit, *lam).predict(val.u, val.i), 1, 5), val.r)
    lam = min(scores, key=scores.get)
    lams_u = sorted({a for a, _ in LAMBDA_GRID})
    lams_i = sorted({b for _, b in LAMBDA_GRID})
    print("  baseline validation RMSE: λ_user (rows) x λ_item (columns)")
    print("  " + " " * 8 + "".join(f"{b:>8g}" for b in lams_i))
    for a in lams_u:
        print(f"  {a:>8g}" + "".join(f"{scores[(a, b)]:>8.4f}" for b in lams_i))
    print(f"  -> baseline λ_user={lam[0]:g}, λ_item={lam[1]:g} (validation RMSE {scores[lam]:.4f})")

    print(f"  {'target':<9}{'k':>3}{'alpha':>8}{'val RMSE':>10}{'iters':>7}{'fit s':>7}")
    best = None
    for target, k, alpha in grid:
        rec = NMFRecommender(target, k, alpha, lam, seed).fit(fit)
        s = rmse(rec.predict(val.u, val.i), val.r)
        print(f"  {target:<9}{k:>3}{alpha:>8g}{s:>10.4f}{rec.model.n_iter_:>7}"
              f"{rec.fit_time:>7.1f}", flush=True)
        if best is None or s < best[0]:
            best = (s, target, k, alpha)
    s, target, k, alpha = best
    n_med = int(np.median(np.bincount(fit.u, minlength=N_USERS)))
    print(f"  -> NMF {describe(target, k, alpha)}: validation RMSE {s:.4f} "
          f"vs baseline {scores[lam]:.4f}\n"
          f"     (lowest validation RMSE on the grid; the median user has only {n_med} ratings "
          f"to fit, so a small k with L2 shrinkage generalises best)")
    return lam, (target, k, alpha)


def evaluate(data, splits, lam, cfg, seed):
    print(f"\nOfficial splits: test RMSE (NMF {describe(*cfg)}; baseline λ_user={lam[0]:g}, "
          f"λ_item={lam[1]:g})")
    print(f"{'split':<9}{'nmfkit':>9}{'baseline':>10}{'diff':>9}{'iters':>7}{'fit s':>7}")
    rows, models = [], {}
    for s in splits:
        train, test = data[f"{s}.base"], data[f"{s}.test"]
        rec = NMFRecommender(*cfg, lam, seed).fit(train)
        e_nmf = rmse(rec.predict(test.u, test.i), test.r)
        e_base = rmse(np.clip(rec.base.predict(test.u, test.i), 1, 5), test.r)
        rows.append((e_nmf, e_base))
        models[s] = rec
        print(f"{s:<9}{e_nmf:>9.4f}{e_base:>10.4f}{e_nmf - e_base:>+9.4f}"
              f"{rec.model.n_iter_:>7}{rec.fit_time:>7.1f}", flush=True)
    a = np.mean(rows, axis=0)
    print(f"{'average':<9}{a[0]:>9.4f}{a[1]:>10.4f}{a[0] - a[1]:>+9.4f}")
    verdict = "beats" if a[0] < a[1] else "does NOT beat"
    print(f"nmfkit {verdict} the baseline on average over {len(splits)} split(s).")
    return models


def top_n(rec: NMFRecommender, user: int, train: Ratings, test: Ratings, titles, n=10):
    counts = np.bincount(train.i, minlength=N_ITEMS)
    rated = train.i[train.u == user]
    items = np.flatnonzero(counts >= MIN_RATINGS_TO_RECOMMEND)
    items = np.setdiff1d(items, rated)
    pred = rec.predict(np.full(items.size, user), items)
    order = items[np.argsort(-pred, kind="stable")[:n]]
    in_test = dict(zip(test.i[test.u == user].tolist(), test.r[test.u == user].tolist(),
                       strict=True))
    print(f"\nTop-{n} for user {user + 1} ({rated.size} ratings in u1.base; movies with >= "
          f"{MIN_RATINGS_TO_RECOMMEND} training ratings, not rated in u1.base; * = in u1.test):")
    for rank, it in enumerate(order, 1):
        p = rec.predict(np.array([user]), np.array([it]))[0]
        mark = f"  * rated {in_test[it]:.0f} in test" if it in in_test else ""
        print(f"  {rank:>2}. {p:.2f}  {titles[it]}{mark}")


def fold_in_demo(full: NMFRecommender, cfg, lam, seed, train, test, titles, new_user):
    """Hold out five movies and one user from u1.base; fold them in afterwards."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(train.i, minlength=N_ITEMS)
    test_counts = np.bincount(test.i, minlength=N_ITEMS)
    pool = np.flatnonzero((counts >= 50) & (test_counts >= 20))
    new_items = np.sort(rng.choice(pool, 5, replace=False))
    held = np.isin(train.i, new_items) | (train.u == new_user)
    rec = NMFRecommender(*cfg, lam, seed).fit(train.take(~held))
    print(f"\nFold-in demo: model refit on u1.base without {new_items.size} movies and user "
          f"{new_user + 1} ({held.sum()} ratings removed), {rec.fit_time:.1f} s")

    # --- new movies: their ratings by the known users, W fixed
    d = train.take(np.isin(train.i, new_items) & (train.u != new_user))
    base = rec.base
    col = {it: c for c, it in enumerate(new_items)}
    b_new = item_bias(d.i, d.r, base.mu, base.lam_item, N_ITEMS)[new_items]
    b_item = base.b_item.copy()
    b_item[new_items] = b_new  # the same damped mean as in training
    nb = Biases(base.mu, base.b_user, b_item, base.lam_user, base.lam_item)
    y = rec.values(d.u, d.i, d.r, nb)
    cols = np.array([col[it] for it in d.i])
    X_cols = sp.csr_matrix((y, (d.u, cols)), shape=(N_USERS, new_items.size))
    t1 = time.perf_counter()
    H_new = rec.model.fold_in_features(X_cols)  # absent="missing": stored = observed
    t_fold = time.perf_counter() - t1
    print(f"  fold_in_features: H_new {H_new.shape} for {new_items.size} movies from "
          f"{len(d)} ratings in {t_fold * 1e3:.0f} ms")
    print(f"  {'movie':<42}{'train n':>8}{'test n':>7}{'fold-in':>9}{'full fit':>9}"
          f"{'baseline':>9}")
    for c, it in enumerate(new_items):
        tm = (test.i == it) & rec.known_user[test.u]
        tu, tr = test.u[tm], test.r[tm]
        bp = nb.predict(tu, np.full(tu.size, it))
        p_fold = np.clip(rec.combine(bp, rec.W[tu] @ H_new[:, c]), 1, 5)
        p_full = full.predict(tu, np.full(tu.size, it))  # u1 model, trained with the movie
        print(f"  {titles[it][:41]:<42}{counts[it]:>8}{tm.sum():>7}{rmse(p_fold, tr):>9.4f}"
              f"{rmse(p_full, tr):>9.4f}{rmse(np.clip(bp, 1, 5), tr):>9.4f}")

    # --- new user: a sparse row and weights (1 = rated, not stored = missing), H fixed
    du = train.take(train.u == new_user)
    b_u = user_bias(du.u, du.r - base.b_item[du.i], base.mu, base.lam_user, N_USERS)[new_user]
    b_user = base.b_user.copy()
    b_user[new_user] = b_u
    nb = Biases(base.mu, b_user, base.b_item, base.lam_user, base.lam_item)
    y = rec.values(du.u, du.i, du.r, nb)
    zeros = np.zeros(len(du), dtype=np.int64)
    x_new = sp.csr_matrix((y, (zeros, du.i)), shape=(1, N_ITEMS))
    w_new = sp.csr_matrix((np.ones(len(du)), (zeros, du.i)), shape=(1, N_ITEMS))
    t1 = time.perf_counter()
    w_row = rec.model.transform(x_new, weights=w_new)[0]
    t_tr = time.perf_counter() - t1
    tm = (test.u == new_user) & rec.known_item[test.i]
    ti, tr = test.i[tm], test.r[tm]
    bp = nb.predict(np.full(ti.size, new_user), ti)
    p_new = np.clip(rec.combine(bp, rec.H[:, ti].T @ w_row), 1, 5)
    p_full = full.predict(np.full(ti.size, new_user), ti)
    print(f"  transform(x_new, weights=w_new) for user {new_user + 1} from {len(du)} ratings "
          f"in {t_tr * 1e3:.0f} ms: test RMSE on {ti.size} ratings {rmse(p_new, tr):.4f} "
          f"(full fit {rmse(p_full, tr):.4f}, baseline {rmse(np.clip(bp, 1, 5), tr):.4f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="directory holding movielens_100k/ "
                    "(default: $NMFKIT_DATA or ../shared/data from the repository root)")
    ap.add_argument("--quick", action="store_true",
                    help="split u1 only and a two-point validation grid")
    ap.add_argument("--user", type=int, default=1, help="user id (1-based) for the top-10")
    ap.add_argument("--new-user", type=int, default=5,
                    help="user id (1-based) held out and folded in with transform")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    folder = locate(data_root(args.data))
    splits = SPLITS[:1] if args.quick else SPLITS
    data = read_splits(folder, [f"{s}.{p}" for s in splits for p in ("base", "test")])
    titles = read_titles(folder)
    print(f"MovieLens 100K from {folder}: {N_USERS} users x {N_ITEMS} movies; "
          f"splits {', '.join(splits)} (loaded in {time.perf_counter() - t_start:.1f} s)")

    t0 = time.perf_counter()
    lam, cfg = tune(data["u1.base"], QUICK_GRID if args.quick else FULL_GRID, args.seed)
    t_tune = time.perf_counter() - t0

    t0 = time.perf_counter()
    models = evaluate(data, splits, lam, cfg, args.seed)
    t_eval = time.perf_counter() - t0

    t0 = time.perf_counter()
    train, test = data["u1.base"], data["u1.test"]
    top_n(models["u1"], args.user - 1, train, test, titles)
    fold_in_demo(models["u1"], cfg, lam, args.seed, train, test, titles, args.new_user - 1)
    t_demo = time.perf_counter() - t0
    print(f"\nTimings: validation grid {t_tune:.1f} s, {len(splits)} split(s) {t_eval:.1f} s, "
          f"demos {t_demo:.1f} s, total {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
