"""Validation of user-given initial factors (``init="custom"``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..backend import is_sparse

__all__ = ["check_custom_init"]


def _check_factor(
    A: Any, name: str, expected: tuple[int, int], labels: str, dtype: np.dtype
) -> np.ndarray:
    if A is None:
        raise ValueError(f"init='custom' requires both W and H; {name} is None")
    if is_sparse(A):
        raise TypeError(f"{name} must be a dense numeric array, got a scipy.sparse matrix")
    try:
        arr = np.asarray(A)
    except (TypeError, ValueError) as exc:  # ragged nested sequences, odd objects
        raise TypeError(f"{name} must be a numeric array: {exc}") from exc
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must be a numeric array, got dtype object that cannot be "
                f"converted to float: {exc}"
            ) from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got ndim={arr.ndim} (shape {arr.shape})")
    if arr.shape != expected:
        raise ValueError(
            f"{name} has the wrong shape: expected {labels} = {expected}, got {arr.shape}"
        )
    if arr.dtype.kind == "f":
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        if n_bad:
            raise ValueError(f"{name} contains NaN or infinity ({n_bad} entries)")
    n_neg = int(np.count_nonzero(arr < 0))
    if n_neg:
        raise ValueError(
            f"{name} has {n_neg} negative entries (min {float(arr.min())!r}); "
            "initial factors must be non-negative"
        )
    if arr.dtype.kind == "f" and arr.size and arr.dtype.itemsize > dtype.itemsize:
        big = float(np.max(arr))
        if big > float(np.finfo(dtype).max):
            raise ValueError(f"{name} has entries too large for dtype {dtype.name} (max {big!r})")
    out = np.array(arr, dtype=dtype, order="C", copy=True)
    return out


def check_custom_init(
    W: Any,
    H: Any,
    n_samples: int,
    n_features: int,
    n_components: int,
    dtype: npt.DTypeLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate user-given initial factors and return copies in ``dtype``.

    Checks, in this order for ``W`` then ``H``: present (not ``None``),
    dense and numeric, 2-D, of the expected shape, finite, non-negative.

    Parameters
    ----------
    W : array-like of shape (n_samples, n_components)
        Initial per-sample coefficients.
    H : array-like of shape (n_components, n_features)
        Initial basis.
    n_samples, n_features : int
        Shape of the data matrix ``X``.
    n_components : int
        Number of components ``k``.
    dtype : dtype-like
        Working dtype (``float32`` or ``float64``) of the returned copies.

    Returns
    -------
    W, H : ndarray
        C-contiguous copies in ``dtype`` (the inputs are never modified
        by later in-place updates).

    Raises
    ------
    TypeError
        If a factor is sparse, non-numeric (strings, objects, complex).
    ValueError
        If a factor is missing, not 2-D, of the wrong shape (the message gives
        the expected and the received shape), contains NaN or infinity, or has
        negative entries (the message gives their count).

    Examples
    --------
    >>> import numpy as np
    >>> W, H = check_custom_init(np.ones((3, 2)), np.ones((2, 4)), 3, 4, 2, np.float32)
    >>> W.dtype, H.shape
    (dtype('float32'), (2, 4))
    >>> check_custom_init(np.ones((3, 2)), np.ones((2, 5)), 3, 4, 2, np.float64)
    Traceback (most recent call last):
    ...
    ValueError: H has the wrong shape: expected (n_components, n_features) = (2, 4), got (2, 5)
    """
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dt}")
    Wc = _check_factor(W, "W", (int(n_samples), int(n_components)), "(n_samples, n_components)", dt)
    Hc = _check_factor(
        H, "H", (int(n_components), int(n_features)), "(n_components, n_features)", dt
    )
    return Wc, Hc
