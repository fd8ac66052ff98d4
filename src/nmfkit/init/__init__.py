"""Initial factors for NMF: random, NNDSVD(a/ar), SPA and user-given (custom).

Use :func:`initialize` for the built-in methods, :func:`resolve_init` to see
which method a request (``"auto"``, or a rank-limited method with too many
components) turns into, and :func:`check_custom_init` to validate user-given
``W`` and ``H`` (``init="custom"``). :func:`nmfkit.init.spa.spa_select` is the
pure SPA row selection, shared with separable NMF.

Examples
--------
>>> import numpy as np
>>> from nmfkit.init import initialize
>>> X = np.arange(12.0).reshape(4, 3)
>>> W, H = initialize(X, 2, "random", random_state=0)
>>> W.shape, H.shape
((4, 2), (2, 3))
"""

from ._custom import check_custom_init
from ._initialize import INIT_METHODS, ZERO_MEAN_FALLBACK, initialize, resolve_init
from .spa import spa_select

__all__ = [
    "INIT_METHODS",
    "ZERO_MEAN_FALLBACK",
    "check_custom_init",
    "initialize",
    "resolve_init",
    "spa_select",
]
