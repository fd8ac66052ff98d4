"""Choosing the rank k: consensus clustering, the FRV elbow, (cross-validation).

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
        ``"consensus"`` or ``"frv"``.
    ks : ndarray of int
        The ranks tried, increasing.
    best_k : int
        The rank chosen by ``rule``.
    table : dict of str → ndarray
        Equal-length columns, one row per k (the first column is ``"k"``).
        consensus: ``cophenetic``, ``dispersion``, ``rel_error_mean``,
        ``rel_error_min``; frv: ``frv``, ``pca_frv``, ``improvement``,
        ``relative_improvement``.
    rule : str
        The decision rule, in words.
    consensus_ : dict of int → ndarray, or None
        The consensus matrix (n_samples × n_samples) of each k (consensus only).
    model_ : SequentialNMF or None
        The fitted sequential model (frv only).
    """

    method: str
    ks: np.ndarray
    best_k: int
    table: dict[str, np.ndarray]
    rule: str
    consensus_: dict[int, np.ndarray] | None = None
    model_: Any = field(default=None, repr=False)

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


def _select_cv(X: Any, ks: np.ndarray, **kwargs: Any) -> RankSelection:
    """Hook for ``method="cv"``: entry-wise cross-validation of the rank.

    The plan (not implemented yet): hold out a random share of the entries
    of X in each of several folds by giving them weight 0 through the
    ``weights=`` keyword (0 = missing, see DESIGN), fit each k on the rest
    with the weighted solvers, and pick the k with the lowest error on the
    held-out entries (Wold's / Owen & Perry's entry-wise cross-validation).
    This needs the weighted fit path (``weights=`` in
    :func:`nmfkit.factorize`), which is being added separately.
    """
    raise NotImplementedError(
        "select_rank(method='cv') is not implemented yet: it needs entry weights "
        "(weights=, 0 = missing) to hold out entries and fit on the rest. "
        "Use method='consensus' or method='frv' for now."
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
    ``method="cv"``
        Not implemented yet: raises ``NotImplementedError`` (it needs
        ``weights=`` to hold out entries).

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Non-negative data; sparse stays sparse.
    ks : iterable of int
        Ranks to try (each ≥ 1; sorted, duplicates dropped).
    method : {"consensus", "frv", "cv"}, default "consensus"
    n_runs : int, default 10
        Restarts per k (consensus).
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
    **nmf_options
        consensus: options of :func:`nmfkit.factorize` (``solver``,
        ``beta_loss``, ``tol``, ``max_iter``, ``init``, ...); frv: options
        of :class:`~nmfkit.models.sequential.SequentialNMF` (``init``,
        ``solver``, ``tol``, ``max_iter``, ``verbose``, ``solver_options``).

    Returns
    -------
    RankSelection
        ``best_k``, ``ks``, ``table`` (dict of equal-length arrays; see
        :class:`RankSelection`), ``rule``, ``consensus_`` (dict k → matrix)
        and ``to_pandas()``.

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
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    X = check_data(X, "select_rank")
    ks_arr = _check_ks(ks)
    if method == "cv":
        return _select_cv(X, ks_arr, n_runs=n_runs, random_state=random_state, **nmf_options)
    if isinstance(n_runs, bool) or not isinstance(n_runs, numbers.Integral) or n_runs < 1:
        raise ValueError(f"n_runs must be an integer >= 1, got {n_runs!r}")
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
