"""HALS: hierarchical alternating least squares (Cichocki & Phan; Gillis & Glineur)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend._xp import is_foreign, namespace_of
from ..exceptions import IncompatibleOptionsError
from ..losses import Penalties
from ..nnls import hals_inner_bound, hals_sweep, hals_sweep_xp
from ..nnls._hals_compiled import compiled_sweep_rows
from ._frobenius import alternating_frobenius
from ._registry import register_solver
from ._result import FitResult

__all__ = ["solve_hals"]


#: The row layout from this many factor entries (max(n_samples, n_features)·k) on.
#: It keeps two copies of the larger factor where the column layout's extrapolated
#: loop keeps five, so it is what fits the 10⁶ × 10⁵, k = 50 case (5·10⁷) in 2 GB;
#: below this size the column layout with extrapolation wins on this machine (2
#: cores, default settings, time to the best objective of both × (1 + ε)):
#: 20 Newsgroups k = 50 (1.7·10⁶) ε = 1e-3 1.35–1.43 s against 1.53–1.64 s on the
#: rows, 1e-4 2.5 s against 5.8 s; k = 100: 3.4 / 6.1 s against 4.2 / 9.3 s; a
#: sparse 2·10⁵ × 3·10⁴ rank-30 model, k = 50 (10⁷): 1e-4 4.9 s against 10.1 s
#: (1e-3 2.6 against 2.3 s); dense 20000 × 4000, k = 50: 0.48 s per iteration
#: against 0.92 s (the row sweeps' threads beside BLAS's). Was 10⁶, set when
#: only the row kernel was threaded and before the column kernel vectorized.
ROWS_LAYOUT_MIN = 20_000_000


def rows_kernel_available() -> bool:
    """True when the compiled row-layout HALS sweep can run (numba importable)."""
    from ..nnls._hals_compiled import rows_available

    return rows_available()


#: array operations per row of a HALS sweep on non-NumPy arrays (nnls.hals_sweep_xp)
OPS_PER_ROW = 4
#: operations per sweep when the sweep is one CUDA kernel (launch, reduction, read-back)
FUSED_OPS_PER_SWEEP = 4
#: fixed cost of one array operation on a GPU, in flop-equivalents: fitted on an H200
#: (benchmarks/gpu.py's launch-cost table: the overhead that makes the bound's ρ − 1
#: equal the measured products/sweep time ratio, 1.2e8–2.6e8 for PyTorch and CuPy at
#: 20000², k = 20 and 50)
GPU_LAUNCH_COST = 2.0e8


def _launch_overhead(W: Any) -> float:
    """Per-row sweep overhead in flop-equivalents for ``W``'s library and device."""
    import array_api_compat

    from ..nnls._hals_cuda import cuda_sweeps_available

    if array_api_compat.is_numpy_array(W):
        return 0.0
    dev = str(array_api_compat.device(W)).lower()
    if "cuda" in dev or "gpu" in dev or "rocm" in dev or "cupy" in type(W).__module__:
        if cuda_sweeps_available(W):  # one kernel per sweep, shared by its k rows
            return FUSED_OPS_PER_SWEEP * GPU_LAUNCH_COST / max(int(W.shape[1]), 1)
        return OPS_PER_ROW * GPU_LAUNCH_COST
    # CPU devices: measured with torch 2.13 CPU on 1500², k=20, one thread: a 5e4
    # estimate did not reach a lower objective than 0 at equal time (0.5 s, 2 s)
    return 0.0


@register_solver(
    "hals",
    losses=("frobenius",),
    sparse=True,
    weights=True,
    weight_losses=("frobenius",),
    weight_method="exact weighted coordinate descent on the residual; "
    "dense weights O(mnk), sparse weights O(nnz·k)",
    array_api=True,
    overwrite_input=True,
    description="HALS / coordinate descent, Gillis–Glineur inner repetitions and "
    "Ang–Gillis extrapolation with restart (both default in memory; `extrapolate=False`)",
)
def solve_hals(
    X: Any,
    W: np.ndarray,
    H: np.ndarray,
    *,
    beta: float = 2.0,
    penalties=None,
    weights=None,
    update_H: bool = True,
    max_iter: int = 200,
    tol: float = 1e-4,
    max_time: float | None = None,
    callback=None,
    stop_rule: str = "objective",
    verbose: int = 0,
    progress: bool = False,
    random_state=None,
    inner_repeat: bool = True,
    inner_alpha: float = 0.5,
    inner_delta: float = 0.1,
    launch_cost: float | str = "auto",
    extrapolate: bool | dict | str = "auto",
    overwrite_input: bool = False,
) -> FitResult:
    """Minimise ``½‖X − WH‖²_F`` (+ penalties) by HALS.

    Each outer iteration computes the products ``XHᵀ``/``HHᵀ`` once and then
    runs HALS sweeps over the columns of W; then the same for the rows of H.
    With ``inner_repeat=True`` (default) the sweeps are repeated while they
    still make progress — at most ``⌊1 + α ρ⌋`` times, stopping when a sweep
    changes the factor by less than ``inner_delta`` times the first sweep's
    change (Gillis & Glineur 2012) — which amortises the expensive products.
    With ``inner_repeat=False`` one sweep per factor is done, which is
    exactly scikit-learn's ``solver="cd"`` (without shuffling).

    Parameters
    ----------
    X : ndarray or sparse matrix (n_samples, n_features)
    W, H : ndarray
        Starting factors (not modified).
    inner_repeat : bool, default True
    inner_alpha, inner_delta : float
        Gillis–Glineur's α and δ.
    launch_cost : float or "auto", default "auto"
        Non-NumPy arrays only: the fixed cost of one array operation in
        flop-equivalents, added to a sweep's cost in the inner-repetition
        bound (a sweep of array operations on a GPU costs 4k kernel
        launches, not its flops).
        ``"auto"``: :data:`GPU_LAUNCH_COST` (2e8, fitted on an H200) per
        operation on a GPU, counting four per row, or four per sweep when
        the sweep is one CUDA kernel; 0 on CPU devices (NumPy's iterates).
        ``0`` gives the NumPy path's iterates everywhere.

    extrapolate : bool, dict or "auto", default "auto"
        Ang–Gillis extrapolation with restart around the alternating updates
        (:mod:`nmfkit.solvers._extrapolation`); a dict sets its parameters
        (``beta``, ``eta``, ``gamma``, ``gamma_bar``). The reported iterate is
        the best pair so far, so the recorded objective never rises. In
        memory (NumPy/SciPy or any array-API library), no weights, both
        factors updated, always on the column layout (it keeps three copies
        of each factor). ``"auto"`` extrapolates wherever it can run and
        the problem is below the row-layout size (``max(n_samples,
        n_features)·k`` < :data:`ROWS_LAYOUT_MIN` with numba), with inner
        repetitions on (``inner_repeat=False`` stays scikit-learn's ``cd``);
        elsewhere (weights, ``update_H=False``, the row layout, and the
        checkpointed, out-of-core and Dask loops, which do not carry its
        step-size state) it runs the plain updates. ``extrapolate=False``
        gives the plain updates in memory too, i.e. the iterates of those
        other loops.
    overwrite_input : bool, default False
        Let the plain loop work in the memory of W and H instead of copies
        (their contents are then overwritten). :func:`nmfkit.factorize`
        passes True for the starting arrays it made itself; on the row layout
        that saves an n_samples × k array.

    Other parameters are the common solver signature (see :func:`nmfkit.factorize`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((30, 4)) @ rng.random((4, 20))
    >>> W0, H0 = rng.random((30, 4)), rng.random((4, 20))
    >>> res = solve_hals(X, W0, H0, max_iter=300, tol=0)
    >>> bool(res.loss < 1e-3 * res.loss_history[0])
    True
    """
    n_samples, n_features = X.shape
    k = W.shape[1]
    rows_layout = (
        not is_foreign(W)
        and max(n_samples, n_features) * k >= ROWS_LAYOUT_MIN
        and rows_kernel_available()
    )
    if isinstance(extrapolate, str):
        if extrapolate != "auto":
            raise ValueError(f"hals: extrapolate must be True, False, 'auto' or a dict, "
                             f"got {extrapolate!r}")
        # in memory on the column layout; the one-sweep variant stays scikit-learn's cd
        extrapolate = weights is None and update_H and inner_repeat and not rows_layout
    schedule = None
    if extrapolate:
        from ._extrapolation import Extrapolation

        if weights is not None:
            raise IncompatibleOptionsError("hals: extrapolate=True runs on data without weights")
        if not update_H:
            raise IncompatibleOptionsError("extrapolate=True needs update_H=True")
        params = dict(extrapolate) if isinstance(extrapolate, dict) else {}
        unknown = set(params) - {"beta", "eta", "gamma", "gamma_bar"}
        if unknown:
            raise ValueError(
                f"hals: unknown extrapolation parameter(s) {sorted(unknown)}; valid: "
                "'beta' (initial step, in [0, 1]), 'eta', 'gamma', 'gamma_bar'"
            )
        schedule = Extrapolation(**params)
    if weights is not None:
        from ._weighted import weighted_hals

        return weighted_hals(
            X, W, H, weights, penalties=penalties, update_H=update_H, max_iter=max_iter,
            tol=tol, max_time=max_time, callback=callback, stop_rule=stop_rule,
            verbose=verbose, progress=progress,
        )

    def bound_for(side: str, state: dict, overhead: float = 0.0) -> int:
        if not inner_repeat:
            return 1
        n_rows, other = (n_samples, n_features) if side == "W" else (n_features, n_samples)
        return hals_inner_bound(
            n_rows, state["nnz"] + other * k, k, inner_alpha, overhead=overhead
        )

    if is_foreign(W):
        from ._array_api import alternating_frobenius_xp

        overhead = (
            _launch_overhead(W) if launch_cost == "auto" else OPS_PER_ROW * float(launch_cost)
        )

        def kernel_xp(A, B, G, *, l1, l2, side, state, xp):
            A, _ = hals_sweep_xp(
                A, B, G, xp, l1=l1, l2=l2, max_sweeps=bound_for(side, state, overhead),
                rel_tol=inner_delta,
            )
            return A

        if schedule is not None:
            from ._array_api import xp_loop_ops
            from ._extrapolation import alternating_extrapolated

            pen = penalties or Penalties()
            xp = namespace_of(W, H)
            return alternating_extrapolated(
                X, W, H, kernel=kernel_xp, name="hals", pen=pen, schedule=schedule,
                ops=xp_loop_ops(X, pen, xp), max_iter=max_iter, tol=tol, max_time=max_time,
                callback=callback, stop_rule=stop_rule, verbose=verbose, progress=progress,
                kernel_state=None, kernel_kwargs={"xp": xp},
            )
        return alternating_frobenius_xp(
            X, W, H, kernel=kernel_xp, name="hals", penalties=penalties, update_H=update_H,
            max_iter=max_iter, tol=tol, max_time=max_time, callback=callback,
            stop_rule=stop_rule, verbose=verbose, progress=progress,
        )

    def kernel(A, B, G, *, l1, l2, side, state):
        A, _ = hals_sweep(
            A, B, G, l1=l1, l2=l2, max_sweeps=bound_for(side, state), rel_tol=inner_delta
        )
        return A

    if schedule is not None:
        from ._extrapolation import alternating_extrapolated, numpy_ops

        pen = penalties or Penalties()
        return alternating_extrapolated(
            X, W, H, kernel=kernel, name="hals", pen=pen, schedule=schedule,
            ops=numpy_ops(X, pen), max_iter=max_iter, tol=tol, max_time=max_time,
            callback=callback, stop_rule=stop_rule, verbose=verbose, progress=progress,
            kernel_state=None,
        )

    if rows_layout:
        # large problems: compiled sweeps on the row layout (no transposed copies,
        # parallel over rows); the same updates up to the order of roundings
        def kernel(A, B, G, *, l1, l2, side, state):  # noqa: F811
            # B = XHᵀ is not needed after the W-update: its memory holds the residual
            compiled_sweep_rows(
                A, B, G, l1, l2, bound_for(side, state), inner_delta, overwrite_b=side == "W"
            )
            return A

        kernel.layout = "rows"

    return alternating_frobenius(
        X, W, H, kernel=kernel, name="hals", penalties=penalties, update_H=update_H,
        max_iter=max_iter, tol=tol, max_time=max_time, callback=callback,
        stop_rule=stop_rule, verbose=verbose, progress=progress,
        overwrite_input=overwrite_input,
    )
