"""numba for nmfkit's compiled kernels, with OpenMP threads that do not spin for long.

numba's default threading layer is OpenMP (GNU libgomp). After each parallel
region libgomp's idle workers spin (``GOMP_SPINCOUNT``, 300 000 by default)
before sleeping, and OpenBLAS's workers do the same after each BLAS call. An
NMF iteration alternates the two (compiled sparse products and sweeps, then
small BLAS Gram products), so on a machine with few cores the spinning
workers of one pool take the cores the other pool needs next: on BBC's
2225 × 9635 TF-IDF matrix at k = 20 on 2 cores one HALS iteration took
20 ms with the default spin and 11 ms with ``GOMP_SPINCOUNT=10000``.

:func:`import_numba` therefore sets ``GOMP_SPINCOUNT=10000`` (about tens of
microseconds of spinning) before numba is imported, unless the user has set
``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``. libgomp reads it when numba first
loads it (its first parallel kernel), so it has no effect if the process
already ran numba's OpenMP layer; it is inherited by child processes.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["import_numba", "SPIN_COUNT"]

#: GOMP_SPINCOUNT nmfkit sets when the user set neither it nor OMP_WAIT_POLICY
SPIN_COUNT = "10000"


def import_numba() -> Any:
    """Import numba (ImportError when it is not installed) after the spin default."""
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    import numba

    return numba
