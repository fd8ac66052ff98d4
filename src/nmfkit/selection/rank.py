"""Choosing the rank k: consensus clustering, the FRV elbow, cross-validation.

Orientation is scikit-learn's: X (n_samples × n_features) ≈ W H, the
samples' cluster labels are ``argmax`` over the rows of W.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from .._core import fit_factorization
from .._validation import check_data
from ..exceptions import ConvergenceWarning

__all__ = [
    "RankSelection",
    "select_rank",
    "connectivity",
    "consensus_matrix",
    "cophenetic_correlation",
    "dispersion",
    "consensus_order",
]

_METHODS = ("consensus", "frv", "cv")


# ------------------------------------------------------------ consensus
def connectivity(labels: Any) -> np.ndarray:
    """Connectivity matrix of one clustering: ``C[i, j] = 1`` if samples i, j share a label.

    Examples
    --------
    >>> connectivity([0, 1, 0]).tolist()
    [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]
    """
    lab = np.asarray(labels).ravel()
    return (lab[:, None] == lab[None, :]).astype(np.float64)


def consensus_matrix(label_runs: Iterable[Any]) -> np.ndarray:
    """Mean connectivity over several clusterings (Brunet et al. 2004).

    ``C̄[i, j]`` is the share of runs that put samples i and j in the same
    cluster: symmetric, unit diagonal, entries in [0, 1].

    Examples
    --------
    >>> consensus_matrix([[0, 0, 1], [0, 1, 1]]).tolist()
    [[1.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 1.0]]
    """
    runs = [np.asarray(r).ravel() for r in label_runs]
    if not runs:
        raise ValueError("consensus_matrix needs at least one clustering")
    n = runs[0].size
    C = np.zeros((n, n))
    for lab in runs:
        if lab.size != n:
            raise ValueError("all clusterings must label the same samples")
        C += lab[:, None] == lab[None, :]
    return C / len(runs)


def cophenetic_correlation(C: np.ndarray) -> float:
    """Cophenetic correlation of a consensus matrix (Brunet et al. 2004).

    The Pearson correlation between the distances ``1 − C̄`` (off the
    diagonal) and the cophenetic distances of their average-linkage
    (UPGMA) tree, :func:`scipy.cluster.hierarchy.cophenet`. 1 means the
    consensus is a perfect nested block structure (stable clusters). When
    all distances are equal (e.g. every run agrees on one cluster) the
    correlation is undefined and 1.0 is returned: the clustering is as
    stable as it can be.

    Examples
    --------
    >>> import numpy as np
    >>> C = np.kron(np.eye(2), np.ones((2, 2)))   # two perfectly stable clusters
    >>> cophenetic_correlation(C)
    1.0
    """
    from scipy.cluster.hierarchy import cophenet, linkage
    from scipy.spatial.distance import squareform

    C = np.asarray(C, dtype=np.float64)
    D = 1.0 - (C + C.T) / 2.0
    np.fill_diagonal(D, 0.0)
    d = squareform(np.clip(D, 0.0, None), checks=False)
    if d.size < 2 or np.ptp(d) <= 1e-12:
        return 1.0
    Z = linkage(d, method="average")
    c, _ = cophenet(Z, d)
    return float(np.clip(c, -1.0, 1.0))


def consensus_order(C: np.ndarray) -> np.ndarray:
    """Order of the samples that puts a consensus matrix into blocks.

    The leaf order of the average-linkage (UPGMA) tree of the distances
    ``1 − C̄`` (:func:`scipy.cluster.hierarchy.linkage`, ``leaves_list``),
    the tree behind :func:`cophenetic_correlation`. ``C[order][:, order]``
    shows stable clusters as blocks on the diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> C = consensus_matrix([[0, 1, 0, 1]] * 2)
    >>> order = consensus_order(C)
    >>> C[order][:, order].tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    C = np.asarray(C, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"a consensus matrix must be square, got shape {C.shape}")
    n = C.shape[0]
    if n < 3:
        return np.arange(n)
    D = 1.0 - (C + C.T) / 2.0
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(np.clip(D, 0.0, None), checks=False), method="average")
    return np.asarray(leaves_list(Z), dtype=np.intp)


def dispersion(C: np.ndarray) -> float:
    """Dispersion of a consensus matrix (Kim & Park 2007).

    ``ρ = (1/n²) Σ_ij 4 (C̄_ij − ½)²``, in [0, 1]; 1 when every entry is 0
    or 1 (all runs agree), lower as entries approach ½.

    Examples
    --------
    >>> import numpy as np
    >>> dispersion(np.eye(3)), dispersion(np.full((2, 2), 0.5))
    (1.0, 0.0)
    """
    C = np.asarray(C, dtype=np.float64)
    return float(np.mean(4.0 * (C - 0.5) ** 2))


def _one_run(X: Any, k: int, seed: int, options: dict) -> tuple[np.ndarray, float, bool]:
    """One seeded factorization; the labels, the relative error, and convergence."""
    from ..metrics import relative_error

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = fit_factorization(
            X, k, random_state=seed, validated=True, whom="select_rank", **options
        )
    unconverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return np.argmax(res.W, axis=1), relative_error(X, res.W, res.H), unconverged


# --------------------------------------------------------------- result
@dataclass
class RankSelection:
    """The outcome of :func:`select_rank`.

    Attributes
    ----------
    method : str
        ``"consensus"``, ``"frv"`` or ``"cv"``.
    ks : ndarray of int
        The ranks tried, increasing.
    best_k : int
        The rank chosen by ``rule``.
    table : dict of str → ndarray
        Equal-length columns, one row per k (the first column is ``"k"``).
        consensus: ``cophenetic``, ``dispersion``, ``rel_error_mean``,
        ``rel_error_min``; frv: ``frv``, ``pca_frv``, ``improvement``,
        ``relative_improvement``; cv: ``cv_error`` (mean held-out error
        over the repeats), ``cv_std`` (its standard deviation over the
        repeats), ``train_error`` (mean error on the training entries).
    rule : str
        The decision rule, in words.
    consensus_ : dict of int → ndarray, or None
        The consensus matrix (n_samples × n_samples) of each k (consensus only).
    model_ : SequentialNMF or None
        The fitted sequential model (frv only).
    cv_errors_ : ndarray of shape (len(ks), n_runs) or None
        The held-out error of every repeat (cv only).
    """

    method: str
    ks: np.ndarray
    best_k: int
    table: dict[str, np.ndarray]
    rule: str
    consensus_: dict[int, np.ndarray] | None = None
    model_: Any = field(default=None, repr=False)
    cv_errors_: np.ndarray | None = field(default=None, repr=False)

    def to_pandas(self):
        """The table as a :class:`pandas.DataFrame` indexed by k (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - optional dependency
            raise ImportError(
                "RankSelection.to_pandas needs pandas: pip install 'nmfkit[pandas]'"
            ) from exc
        return pd.DataFrame(self.table).set_index("k")


# ----------------------------------------------------------------- rules
CONSENSUS_RULE = (
    "largest supported k whose cophenetic correlation is within coph_drop of the best "
    "supported value (supported: in at least half of the runs all k clusters are non-empty)"
)
CV_RULE = (
    "k with the lowest mean held-out error cv_error (the smallest such k on ties, errors "
    "within 1e-10 times the mean squared entry of X counting as ties); "
    "entries held out at random (holdout share per repeat), weighted 0 in the fit"
)
FRV_RULE = (
    "largest k whose FRV improvement FRV(k-1) - FRV(k) is at least frv_fraction times "
    "the first improvement 1 - FRV(1)"
)


def _consensus_best(ks: np.ndarray, coph: np.ndarray, supported: np.ndarray, drop: float) -> int:
    """The consensus rule (see :func:`select_rank`)."""
    ok = supported.copy()
    if not ok.any():  # nothing fills its clusters: fall back to the smallest rank
        return int(ks[0])
    best = float(np.max(coph[ok]))
    ok &= coph >= best - drop
    return int(ks[ok][-1])


def _frv_best(ks: np.ndarray, frv: np.ndarray, fraction: float) -> int:
    """The FRV rule; ``frv`` holds FRV(k) for k = 1..max(ks)."""
    curve = np.r_[1.0, frv]
    gains = curve[:-1] - curve[1:]  # gains[k-1] = FRV(k-1) - FRV(k)
    first = gains[0]
    if first <= 0:
        return int(ks[0])
    good = [k for k in ks if gains[k - 1] >= fraction * first]
    return int(good[-1]) if good else int(ks[0])


def _cv_scale(X: Any, options: dict) -> float:
    """Mean of ``x^β`` over all entries: the scale of the held-out error (1 for β ≤ 0)."""
    from ..losses import resolve_beta

    beta = resolve_beta(options.get("beta_loss", "frobenius"))
    if beta <= 0:
        return 1.0
    data = X.data if sp.issparse(X) else X
    return float(np.sum(np.asarray(data, dtype=np.float64) ** beta)) / (X.shape[0] * X.shape[1])


def _cv_best(ks: np.ndarray, cv_error: np.ndarray, scale: float) -> int:
    """The cv rule: the smallest k whose mean held-out error is within round-off
    (``1e-10·scale``) of the lowest one."""
    finite = np.isfinite(cv_error)
    if not finite.any():
        return int(ks[0])
    low = float(np.min(cv_error[finite]))
    return int(ks[finite & (cv_error <= low + 1e-10 * scale)][0])


def _select_cv(
    X: Any,
    ks: np.ndarray,
    n_runs: int,
    random_state: Any,
    n_jobs: int | None,
    fraction: float,
    options: dict,
) -> RankSelection:
    """Entry-wise cross-validation of the rank (see :mod:`nmfkit.selection._cv`)."""
    from joblib import Parallel, delayed

    from ._cv import cv_run

    for key in ("random_state", "W", "H", "callback", "weights", "missing"):
        if key in options:
            raise ValueError(
                f"select_rank(method='cv') does not accept {key!r} in nmf_options"
                + (" (it makes its own weights to hold out entries)"
                   if key in ("weights", "missing") else "")
            )
    absent = options.get("absent", "zero")
    if absent not in ("zero", "missing"):
        raise ValueError(f"absent must be 'zero' or 'missing', got {absent!r}")
    if absent == "missing" and not sp.issparse(X):
        raise ValueError(
            "absent='missing' applies to sparse X only (dense X has no absent entries)"
        )
    if sp.issparse(X) and not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()  # sorted indices, no duplicates: positions are unique
    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=(n_runs, 2))
    tasks = [(int(k), r) for k in ks for r in range(n_runs)]
    out = Parallel(n_jobs=n_jobs)(
        delayed(cv_run)(X, k, int(seeds[r, 0]), int(seeds[r, 1]), fraction, options)
        for k, r in tasks
    )
    errors = np.array([t for t, _, _ in out]).reshape(ks.size, n_runs)
    train = np.array([t for _, t, _ in out]).reshape(ks.size, n_runs)
    n_unconverged = sum(bool(u) for _, _, u in out)
    if n_unconverged:
        warnings.warn(
            f"select_rank: {n_unconverged} of {len(tasks)} runs stopped on max_iter before "
            "reaching tol; pass a larger max_iter or a looser tol",
            ConvergenceWarning,
            stacklevel=3,
        )
    mean = errors.mean(axis=1)
    std = errors.std(axis=1, ddof=1) if n_runs > 1 else np.zeros(ks.size)
    table = {"k": ks.copy(), "cv_error": mean, "cv_std": std, "train_error": train.mean(axis=1)}
    best = _cv_best(ks, mean, _cv_scale(X, options))
    return RankSelection(
        method="cv", ks=ks, best_k=best, table=table,
        rule=CV_RULE.replace("holdout", f"holdout={fraction}"), cv_errors_=errors,
    )


# --------------------------------------------------------------- front door
def _check_ks(ks: Any) -> np.ndarray:
    if isinstance(ks, numbers.Integral) and not isinstance(ks, bool):
        raise ValueError(f"ks must be a sequence of ranks (e.g. range(2, 11)), got the int {ks}")
    try:
        vals = list(ks)
    except TypeError as exc:
        raise ValueError(f"ks must be a sequence of integers, got {ks!r}") from exc
    if not vals:
        raise ValueError("ks is empty: give at least one rank to try")
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ValueError(f"ks must hold integers, got {v!r}")
        if v < 1:
            raise ValueError(f"ranks in ks must be >= 1, got {v}")
    return np.unique(np.asarray(vals, dtype=np.int64))


_SEQUENTIAL_OPTIONS = ("init", "solver", "tol", "max_iter", "verbose", "solver_options")


def select_rank(
    X: Any,
    ks: Iterable[int],
    method: str = "consensus",
    n_runs: int = 10,
    random_state: Any = None,
    n_jobs: int | None = None,
    *,
    coph_drop: float = 0.02,
    frv_fraction: float = 0.01,
    holdout: float = 0.1,
    **nmf_options: Any,
) -> RankSelection:
    """Choose the rank k of an NMF ``X ≈ W H`` (W, H ≥ 0) among ``ks``.

    The factorizations minimise ``½‖X − W H‖²_F`` (or the β-divergence
    given in ``nmf_options``) with W (n_samples × k), H (k × n_features).

    ``method="consensus"`` (Brunet et al. 2004; Kim & Park 2007)
        For each k, ``n_runs`` factorizations from different random starts
        (``init="random"`` unless ``nmf_options`` says otherwise; a
        deterministic init such as NNDSVD would make every run identical).
        Each run clusters the samples by ``argmax`` over the rows of W; the
        consensus matrix is the mean of the runs' connectivity matrices
        (:func:`consensus_matrix`). The table reports its cophenetic
        correlation (:func:`cophenetic_correlation`) and dispersion
        (:func:`dispersion`). Rule: a rank is *supported* when in at least
        half of the runs every one of its k clusters receives a sample (an
        NMF with more components than the data hold leaves clusters empty
        and then looks perfectly stable); ``best_k`` is the **largest
        supported k whose cophenetic correlation is at least the best
        supported value minus ``coph_drop``** — the last k before the
        cophenetic correlation drops. Needs every k ≥ 2 and
        ``n_runs ≥ 2``.
    ``method="frv"``
        One :class:`~nmfkit.models.sequential.SequentialNMF` up to
        ``max(ks)`` (Ren et al. 2018) gives the fraction of residual
        variance FRV(k) = ‖X − W_k H_k‖²/‖X‖² for k = 1..max(ks), with
        FRV(0) = 1. Rule: ``best_k`` is the **largest k in ks whose
        improvement FRV(k−1) − FRV(k) is at least ``frv_fraction`` times
        the first improvement 1 − FRV(1)** — the elbow after which adding
        a component explains less than that share of what the first one
        did (``ks[0]`` when none qualifies). ``n_runs`` and ``n_jobs`` are
        not used.
    ``method="cv"`` (entry-wise cross-validation, Wold 1978; Owen & Perry 2009)
        ``n_runs`` repeats; each holds out a random ``holdout`` share of
        the entries of X by giving them weight 0 (``weights=``, 0 =
        missing), fits every k on the remaining entries and measures the
        error on the held-out ones: the mean of ``2·d_β(x | (W H))``, i.e.
        the mean squared error ``(x − (W H))²`` for Frobenius. All k of a
        repeat share its held-out set. Sparse X stays sparse: a share of
        the stored entries and as many zeros are held out (the error is
        the stratified mean over both, an estimate of the mean error over
        all entries), fitted by EM imputation of the held-out entries; with
        ``absent="missing"`` only stored entries are data and the fit uses
        sparse pattern weights. Rows or columns that would lose all their
        training entries keep them. Rule: ``best_k`` is the **k with the
        lowest mean held-out error** ``cv_error`` (the smallest on ties;
        errors within ``1e-10`` times the mean of ``x^β`` over the entries
        of X of the lowest count as ties, so that exact fits, whose errors
        are round-off, give the smallest exact rank);
        no one-standard-error rule is applied (``cv_std`` is reported so
        that one can be). An underfitting k misses structure, an
        overfitting k fits the training noise, and both predict the
        held-out entries worse. ``init`` defaults to ``"auto"`` (NNDSVD
        of the training entries, held-out ones at 0); every repeat's seed
        also seeds its fits. Details: :mod:`nmfkit.selection._cv`.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Non-negative data; sparse stays sparse.
    ks : iterable of int
        Ranks to try (each ≥ 1; sorted, duplicates dropped).
    method : {"consensus", "frv", "cv"}, default "consensus"
    n_runs : int, default 10
        Restarts per k (consensus); held-out repeats (cv).
    random_state : int, RandomState instance or None
        All per-run seeds are drawn from it up front, so the result does not
        depend on ``n_jobs``.
    n_jobs : int or None, default None
        Parallel restarts through :mod:`joblib` (``None``: one job, or the
        active ``joblib.parallel_config``; ``-1``: all cores).
    coph_drop : float, default 0.02
        Tolerance of the consensus rule.
    frv_fraction : float, default 0.01
        Threshold of the FRV rule.
    holdout : float in (0, 0.5], default 0.1
        Share of the entries held out in each repeat (cv).
    **nmf_options
        consensus and cv: options of :func:`nmfkit.factorize` (``solver``,
        ``beta_loss``, ``tol``, ``max_iter``, ``init``, ...); frv: options
        of :class:`~nmfkit.models.sequential.SequentialNMF` (``init``,
        ``solver``, ``tol``, ``max_iter``, ``verbose``, ``solver_options``).
        cv also takes ``absent="missing"`` (sparse X: matrix completion)
        and does not take ``weights`` or ``missing``.

    Returns
    -------
    RankSelection
        ``best_k``, ``ks``, ``table`` (dict of equal-length arrays; see
        :class:`RankSelection`), ``rule``, ``consensus_`` (dict k → matrix),
        ``cv_errors_`` (cv) and ``to_pandas()``.

    Examples
    --------
    >>> import numpy as np
    >>> from nmfkit.selection import select_rank
    >>> rng = np.random.default_rng(0)
    >>> W = np.kron(np.eye(3), np.ones((10, 1))) + 0.1 * rng.random((30, 3))
    >>> X = W @ (rng.random((3, 20)) * (rng.random((3, 20)) < 0.5)) + 0.01 * rng.random((30, 20))
    >>> sel = select_rank(X, range(2, 6), method="frv", random_state=0, max_iter=1000)
    >>> sel.best_k, sorted(sel.table)
    (3, ['frv', 'improvement', 'k', 'pca_frv', 'relative_improvement'])
    >>> cv = select_rank(X, range(2, 6), method="cv", n_runs=3, random_state=0, max_iter=1000)
    >>> cv.best_k, sorted(cv.table)
    (3, ['cv_error', 'cv_std', 'k', 'train_error'])
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    X = check_data(X, "select_rank")
    ks_arr = _check_ks(ks)
    if isinstance(n_runs, bool) or not isinstance(n_runs, numbers.Integral) or n_runs < 1:
        raise ValueError(f"n_runs must be an integer >= 1, got {n_runs!r}")
    if method == "cv":
        if isinstance(holdout, bool) or not isinstance(holdout, numbers.Real) or not (
            0 < holdout <= 0.5
        ):
            raise ValueError(f"holdout must be a number in (0, 0.5], got {holdout!r}")
        return _select_cv(X, ks_arr, int(n_runs), random_state, n_jobs, float(holdout),
                          nmf_options)
    for name, val in (("coph_drop", coph_drop), ("frv_fraction", frv_fraction)):
        if not isinstance(val, numbers.Real) or not 0 <= val < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {val!r}")
    if method == "frv":
        return _select_frv(X, ks_arr, random_state, frv_fraction, nmf_options)
    return _select_consensus(X, ks_arr, int(n_runs), random_state, n_jobs, coph_drop,
                             nmf_options)


def _select_frv(
    X: Any, ks: np.ndarray, random_state: Any, fraction: float, options: dict
) -> RankSelection:
    from ..models.sequential import SequentialNMF

    bad = sorted(set(options) - set(_SEQUENTIAL_OPTIONS))
    if bad:
        raise ValueError(
            f"select_rank(method='frv') does not take {bad}; SequentialNMF accepts "
            f"{list(_SEQUENTIAL_OPTIONS)}"
        )
    model = SequentialNMF(int(ks[-1]), random_state=random_state, **options).fit(X)
    frv = model.frv_
    curve = np.r_[1.0, frv]
    idx = ks - 1
    improvement = curve[idx] - curve[idx + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(curve[idx] > 0, improvement / np.where(curve[idx] > 0, curve[idx], 1), 0)
    table = {
        "k": ks.copy(),
        "frv": frv[idx].copy(),
        "pca_frv": model.pca_frv_[idx].copy(),
        "improvement": improvement,
        "relative_improvement": rel,
    }
    return RankSelection(
        method="frv", ks=ks, best_k=_frv_best(ks, frv, fraction), table=table,
        rule=FRV_RULE.replace("frv_fraction", f"frv_fraction={fraction}"), model_=model,
    )


def _select_consensus(
    X: Any,
    ks: np.ndarray,
    n_runs: int,
    random_state: Any,
    n_jobs: int | None,
    drop: float,
    options: dict,
) -> RankSelection:
    from joblib import Parallel, delayed

    if ks[0] < 2:
        raise ValueError(
            "method='consensus' needs every k >= 2 (one cluster is always perfectly stable); "
            f"got ks={ks.tolist()}"
        )
    if n_runs < 2:
        raise ValueError("method='consensus' needs n_runs >= 2 restarts per k")
    for key in ("random_state", "W", "H", "callback"):
        if key in options:
            raise ValueError(f"select_rank does not accept {key!r} in nmf_options")
    opts = {"init": "random", **options}
    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=(ks.size, n_runs))
    tasks = [(int(k), int(seeds[i, r])) for i, k in enumerate(ks) for r in range(n_runs)]
    out = Parallel(n_jobs=n_jobs)(delayed(_one_run)(X, k, seed, opts) for k, seed in tasks)
    coph = np.zeros(ks.size)
    disp = np.zeros(ks.size)
    err_mean = np.zeros(ks.size)
    err_min = np.zeros(ks.size)
    filled = np.zeros(ks.size)
    consensus: dict[int, np.ndarray] = {}
    n_unconverged = 0
    for i, k in enumerate(ks):
        runs = out[i * n_runs : (i + 1) * n_runs]
        labels = [lab for lab, _, _ in runs]
        errs = np.array([e for _, e, _ in runs])
        n_unconverged += sum(bool(u) for _, _, u in runs)
        C = consensus_matrix(labels)
        consensus[int(k)] = C
        coph[i] = cophenetic_correlation(C)
        disp[i] = dispersion(C)
        err_mean[i] = errs.mean()
        err_min[i] = errs.min()
        filled[i] = np.mean([np.unique(lab).size == k for lab in labels])
    if n_unconverged:
        warnings.warn(
            f"select_rank: {n_unconverged} of {len(tasks)} runs stopped on max_iter before "
            "reaching tol; pass a larger max_iter or a looser tol",
            ConvergenceWarning,
            stacklevel=3,
        )
    supported = filled >= 0.5
    table = {
        "k": ks.copy(),
        "cophenetic": coph,
        "dispersion": disp,
        "filled": filled,
        "rel_error_mean": err_mean,
        "rel_error_min": err_min,
    }
    return RankSelection(
        method="consensus", ks=ks, best_k=_consensus_best(ks, coph, supported, drop),
        table=table, rule=CONSENSUS_RULE.replace("coph_drop", f"coph_drop={drop}"),
        consensus_=consensus,
    )
