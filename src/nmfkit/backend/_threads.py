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
setting is restored afterwards), unless the Grams are large enough to need
the threads themselves: from ``max(n_samples, n_features)·k²`` =
:data:`gram_threads_min` on, a Gram takes longer than the spin it causes
(1,000,000 × 100,000 with 5·10⁷ non-zeros, k = 50, float64: 5.7–5.9 s per
iteration with two BLAS threads, 6.1 s with one). Dense fits keep every BLAS thread: there the
products are BLAS calls themselves. Set :data:`limit_on_sparse` to False, or
the environment variable ``NMFKIT_SPARSE_BLAS_LIMIT`` to ``0`` (read at every
fit), to keep the pools as they are.

While the limit holds (:func:`blas_held`), the column-layout HALS sweeps run
their blocks of columns on numba's threads too: with no BLAS spinners to
share the cores with, HALS iterations on 2 cores (medians of 4 fits, run in
turn) went on 20 Newsgroups from 24.9 to 21.4 ms (k = 10) and 37.7 to 31.3 ms
(k = 20), on BBC (k = 20) from 8.3 to 7.1 ms. Beside a spinning BLAS pool
(dense fits) the same threaded sweeps were slower: CBCL k = 50 9.9 → 18.0 ms,
digits k = 20 1.0 → 7.3 ms per iteration.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

import scipy.sparse as sp

__all__ = ["limit_on_sparse", "gram_threads_min", "blas_limit_for", "blas_held"]

#: Module switch: False leaves the BLAS pools alone during sparse fits.
limit_on_sparse: bool = True

#: From this ``max(n_samples, n_features)·k²`` on, sparse fits keep every BLAS
#: thread (their ``WᵀW`` is a multi-GFlop product).
gram_threads_min: float = 5e8

_CONTROLLER: Any = None

#: True inside :func:`blas_limit_for` while it holds BLAS to one thread.
_HELD: contextvars.ContextVar[bool] = contextvars.ContextVar("nmfkit_blas_held", default=False)


def blas_held() -> bool:
    """True while :func:`blas_limit_for` holds the BLAS pools to one thread.

    Compiled kernels that would share the cores with idle BLAS spinners use
    numba's threads only then.

    Examples
    --------
    >>> blas_held()
    False
    """
    return _HELD.get()


def _controller() -> Any:
    """One threadpoolctl controller per process (its set-up scans the loaded libraries)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def blas_limit_for(X: Any, n_components: int) -> Iterator[None]:
    """Run the body with one BLAS thread when ``X`` is a ``scipy.sparse`` matrix.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        The data of the fit; anything other than ``scipy.sparse`` leaves the
        pools untouched.
    n_components : int
        The rank k; from ``max(X.shape)·k²`` = :data:`gram_threads_min` on
        the pools are left untouched too.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from nmfkit.backend._threads import blas_limit_for
    >>> with blas_limit_for(sp.eye(3, format="csr"), 2):
    ...     pass
    """
    off = os.environ.get("NMFKIT_SPARSE_BLAS_LIMIT", "1").strip() == "0"
    if off or not (limit_on_sparse and sp.issparse(X)) or (
        max(X.shape) * float(n_components) ** 2 >= gram_threads_min
    ):
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        token = _HELD.set(True)
        try:
            yield
        finally:
            _HELD.reset(token)
