"""Input checks with clear messages, and the parameter constraints as data."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints

from .backend import to_csr

__all__ = [
    "COMMON_CONSTRAINTS",
    "check_data",
    "check_non_negative",
    "check_n_components",
    "validate_params",
    "overflow_scale",
]

_SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "lil", "dok", "dia")

#: Constraints shared by :func:`nmfkit.factorize` and :class:`nmfkit.NMF`.
COMMON_CONSTRAINTS: dict[str, list] = {
    "init": [
        StrOptions({"auto", "random", "nndsvd", "nndsvda", "nndsvdar", "spa", "custom"}),
        None,
    ],
    "solver": [str],
    "beta_loss": [StrOptions({"frobenius", "kullback-leibler", "itakura-saito"}), numbers.Real],
    "tol": [Interval(numbers.Real, 0, None, closed="left")],
    "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
    "max_time": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "alpha_W": [Interval(numbers.Real, 0, None, closed="left")],
    "alpha_H": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"same"})],
    "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
    "verbose": ["verbose"],
    "callback": [callable, None],
    "stop_rule": [StrOptions({"objective", "pgrad"})],
}


def validate_params(params: dict[str, Any], caller: str) -> None:
    """Check ``params`` against :data:`COMMON_CONSTRAINTS` (unknown keys ignored)."""
    cons = {k: v for k, v in COMMON_CONSTRAINTS.items() if k in params}
    validate_parameter_constraints(cons, {k: params[k] for k in cons}, caller_name=caller)


def check_n_components(k: Any, *, allow_none: bool = False) -> int | None:
    """Validate the rank: an integer ≥ 1."""
    if k is None and allow_none:
        return None
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        if isinstance(k, numbers.Real) and float(k).is_integer():
            raise TypeError(f"n_components must be an integer, got the float {k!r}")
        raise TypeError(f"n_components must be an integer >= 1, got {k!r}")
    if k < 1:
        raise ValueError(f"n_components must be >= 1, got {k}")
    return int(k)


def check_non_negative(X: Any, whom: str) -> None:
    """Raise a ValueError that counts the negative entries of ``X``."""
    data = X.data if sp.issparse(X) else X
    n_neg = int(np.count_nonzero(data < 0))
    if n_neg:
        raise ValueError(
            f"Negative values in data passed to {whom}: {n_neg} negative "
            f"entr{'y' if n_neg == 1 else 'ies'} (min {float(data.min()):.6g}); NMF needs X >= 0"
        )


def check_data(
    X: Any,
    whom: str = "nmfkit",
    *,
    non_negative: bool = True,
    allow_nan: bool = False,
    sort: bool = True,
) -> Any:
    """Validate a data matrix: 2-D, real, finite, non-empty, non-negative.

    NumPy arrays, any scipy.sparse format (converted to CSR without
    duplicates, never densified) and pandas DataFrames are accepted. float32
    stays float32; every other real dtype becomes float64. ``sort=False``
    leaves a duplicate-free CSR matrix's indices unsorted (no copy; see
    :func:`nmfkit.backend.to_csr`).
    """
    if isinstance(X, list | tuple) and len(X) == 0:
        raise ValueError(f"{whom}: X is empty")
    if np.iscomplexobj(X) if not sp.issparse(X) else np.iscomplexobj(X.data):
        raise ValueError(f"{whom}: complex data not supported")
    X = check_array(
        X,
        accept_sparse=_SPARSE_FORMATS,
        dtype=[np.float64, np.float32],
        ensure_2d=True,
        allow_nd=False,
        ensure_all_finite="allow-nan" if allow_nan else True,
        input_name="X",
        estimator=whom,
    )
    if sp.issparse(X):
        X = to_csr(X, sort=sort)
    if non_negative:
        check_non_negative(X, whom)
    return X


def overflow_scale(X: Any) -> float:
    """Return ``c`` such that ``X / c`` is safe to factorize (1.0 when no rescale is needed).

    Sums of squares and products of entries must stay finite in the working
    dtype, so data whose largest entry is above ``finfo.max ** 0.25`` (about
    1e77 in float64, 4e9 in float32) or whose non-zero entries are all below
    ``finfo.tiny ** 0.25`` is rescaled to a maximum of 1; the factors are
    scaled back afterwards, which is exact (the β-divergence is homogeneous).
    """
    data = X.data if sp.issparse(X) else X
    if data.size == 0:
        return 1.0
    m = float(np.max(data))
    if m == 0.0 or not np.isfinite(m):
        return 1.0
    fi = np.finfo(data.dtype)
    if m > float(fi.max) ** 0.25 or m < float(fi.tiny) ** 0.25:
        return m
    return 1.0
