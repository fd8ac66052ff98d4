"""The BLAS thread pool during fits on sparse data.

On sparse data the heavy work of an iteration is the sparse × dense products,
which run on numba's threads (:mod:`nmfkit.backend._sparse_compiled`) or on
one core in SciPy; BLAS only sees the small dense work around them (k × k
Grams, ``WᵀW`` of an n × k factor, the HALS sweeps' setup). After each call
OpenBLAS's worker threads keep spinning for a while (``OPENBLAS_THREAD_TIMEOUT``,
about 0.1 s by default), and MKL's OpenMP workers do the same
(``KMP_BLOCKTIME``), so the compiled product that follows a Gram shares its
cores with idle spinners. Measured on 2 cores (20 Newsgroups TF-IDF, 18846 ×
34877, k = 10, HALS): 54 ms per iteration with two BLAS threads, 35 ms with
one; the products themselves went from 22 to 10 ms.

:func:`blas_limit_for` therefore limits the BLAS pools to one thread for the
duration of a fit on a ``scipy.sparse`` matrix (threadpoolctl; the user's
setting is restored afterwards). Dense fits keep every BLAS thread: there the
products are BLAS calls themselves. Set :data:`limit_on_sparse` to False to
keep the pools as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import scipy.sparse as sp

__all__ = ["limit_on_sparse", "blas_limit_for"]

#: Module switch: False leaves the BLAS pools alone during sparse fits.
limit_on_sparse: bool = True

_CONTROLLER: Any = None


def _controller() -> Any:
    """One threadpoolctl controller per process (its set-up scans the loaded libraries)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def blas_limit_for(X: Any) -> Iterator[None]:
    """Run the body with one BLAS thread when ``X`` is a ``scipy.sparse`` matrix.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        The data of the fit; anything other than ``scipy.sparse`` leaves the
        pools untouched.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from nmfkit.backend._threads import blas_limit_for
    >>> with blas_limit_for(sp.eye(3, format="csr")):
    ...     pass
    """
    if not (limit_on_sparse and sp.issparse(X)):
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        yield
