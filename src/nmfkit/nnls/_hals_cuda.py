"""One CUDA kernel per HALS sweep, for CuPy arrays and PyTorch CUDA tensors.

In a HALS sweep the columns of ``A`` (k × p) are independent: row ``t`` of
column ``j`` becomes ``max(0, Bs[t, j] − Σ_u Gs[t, u]·A[u, j])`` with ``Bs``
and ``Gs`` the right-hand side and Gram matrix scaled by the diagonal (``Gs``
with a zero diagonal), the rows taken in order. Written with array
operations that is ``4k`` kernel launches per sweep, which on a GPU costs
far more than the ``k²p`` flops; here one thread walks one column through
the ``k`` rows, so a sweep is one launch plus the reduction of its change
``‖A_new − A_old‖²`` (accumulated in float64 by the same kernel).

The kernel is compiled by CuPy (NVRTC) on first use; PyTorch tensors reach
it through DLPack (no copy) on PyTorch's current stream. Without CuPy, or
with ``NMFKIT_CUDA_KERNELS=0``, or if compilation fails (one warning), the
caller falls back to the array-operation sweep.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

__all__ = ["cuda_sweeps_available", "cuda_sweep"]

_SOURCE = r"""
extern "C" __global__ void hals_sweep_cols(
    const T* __restrict__ Bs, const long long sb0, const long long sb1,
    const T* __restrict__ Gs, const long long sg0, const long long sg1,
    T* __restrict__ A, const long long sa0, const long long sa1,
    const unsigned char* __restrict__ live, const int k, const long long p,
    double* __restrict__ change)
{
    __shared__ double part[256];
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    double local = 0.0;
    if (j < p) {
        for (int t = 0; t < k; ++t) {
            if (!live[t]) continue;
            T acc = Bs[t * sb0 + j * sb1];
            const T* g = Gs + t * sg0;
            for (int u = 0; u < k; ++u) {
                acc -= g[u * sg1] * A[u * sa0 + j * sa1];
            }
            const T v = acc > (T)0 ? acc : (T)0;
            const T d = v - A[t * sa0 + j * sa1];
            local += (double)d * (double)d;
            A[t * sa0 + j * sa1] = v;
        }
    }
    part[threadIdx.x] = local;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(change, part[0]);
}
"""

_THREADS = 256
_kernels: dict[str, Any] = {}
_streams: dict[int, Any] = {}
_failed = False


def _enabled() -> bool:
    return os.environ.get("NMFKIT_CUDA_KERNELS", "1") != "0" and not _failed


_CUPY: list[Any] = []  # [module or None] once looked up (a failed import is not cached)


def _cupy():
    if not _CUPY:
        try:
            import cupy
        except Exception:  # not installed, or installed without a CUDA driver
            cupy = None
        _CUPY.append(cupy)
    return _CUPY[0]


def cuda_sweeps_available(A: Any) -> bool:
    """True when ``A`` is a float32/float64 CuPy array or CUDA tensor and CuPy can run."""
    if not _enabled():
        return False
    mod = type(A).__module__
    if mod.startswith("torch"):
        if not (A.is_cuda and str(A.dtype) in ("torch.float32", "torch.float64")):
            return False
    elif mod.startswith("cupy"):
        if str(A.dtype) not in ("float32", "float64"):
            return False
    else:
        return False
    return _cupy() is not None


def _kernel(dtype_name: str):
    """The compiled kernel for float32/float64, or None after a failed compilation."""
    global _failed
    if dtype_name not in _kernels:
        cupy = _cupy()
        ctype = "float" if dtype_name == "float32" else "double"
        kern = cupy.RawKernel("#define T " + ctype + "\n" + _SOURCE, "hals_sweep_cols")
        try:
            kern.compile()
        except Exception as exc:  # pragma: no cover - needs a GPU
            _failed = True
            warnings.warn(
                f"nmfkit: the CUDA HALS kernel did not compile ({exc}); sweeping with "
                "array operations instead", RuntimeWarning, stacklevel=4,
            )
            return None
        _kernels[dtype_name] = kern
    return _kernels[dtype_name]


def _external_stream(cupy: Any, ptr: int) -> Any:
    """CuPy's handle on PyTorch's stream ``ptr``, made once per stream."""
    if ptr not in _streams:
        with warnings.catch_warnings():  # CuPy 14 deprecates the class, not the use
            warnings.simplefilter("ignore", DeprecationWarning)
            _streams[ptr] = cupy.cuda.ExternalStream(ptr)
    return _streams[ptr]


def _as_cupy(a: Any):
    cupy = _cupy()
    if type(a).__module__.startswith("torch"):
        return cupy.from_dlpack(a)
    return a


def cuda_sweep(A: Any, Bs: Any, Gs: Any, live: list[int]) -> float | None:
    """One HALS sweep of ``A`` in place on the GPU; returns its change ``‖ΔA‖²``.

    ``Bs``, ``Gs``: the diagonal-scaled right-hand side and Gram matrix (zero
    diagonal), in ``A``'s library and dtype; ``live``: the rows to update.
    Returns None (and leaves ``A`` untouched) when the kernel cannot run
    here; the caller then sweeps with array operations.
    """
    cupy = _cupy()
    if cupy is None:
        return None
    torch_stream = None
    if type(A).__module__.startswith("torch"):
        import torch

        torch_stream = torch.cuda.current_stream(A.device).cuda_stream
    import numpy as np

    a, b, g = _as_cupy(A), _as_cupy(Bs), _as_cupy(Gs)
    if not (a.dtype == b.dtype == g.dtype):
        return None
    k, p = int(a.shape[0]), int(a.shape[1])
    item = a.dtype.itemsize

    if p == 0 or not live:
        return 0.0

    def strides(x):
        return np.int64(x.strides[0] // item), np.int64(x.strides[1] // item)

    kern = _kernel(str(a.dtype))
    if kern is None:
        return None
    with cupy.cuda.Device(a.device.id):
        stream = (
            _external_stream(cupy, torch_stream) if torch_stream is not None
            else cupy.cuda.get_current_stream()
        )
        with stream:
            mask = [0] * k
            for t in live:
                mask[t] = 1
            live_d = cupy.asarray(mask, dtype=cupy.uint8)
            change = cupy.zeros(1, dtype=cupy.float64)
            blocks = (p + _THREADS - 1) // _THREADS
            kern(
                (blocks,), (_THREADS,),
                (b, *strides(b), g, *strides(g), a, *strides(a),
                 live_d, np.int32(k), np.int64(p), change),
            )
            return float(change.get(stream=stream)[0])
