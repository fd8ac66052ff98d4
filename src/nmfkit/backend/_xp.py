"""Array-API support: namespaces of non-NumPy inputs and the sparse-product shim.

NumPy arrays and scipy.sparse matrices take the NumPy path. Every other
array (PyTorch, CuPy, array-api-strict, ...) is handled through its
array-API namespace from ``array_api_compat``; the namespace comes from the
input, never from global state, and no optional library is imported unless
the input already is one of its arrays (so ``import nmfkit`` imports none).

Sparse PyTorch tensors (any sparse layout) and CuPy sparse matrices are
wrapped once in :class:`XpSparse`, which offers the only operations the
array-API solvers need from sparse data: ``X @ D``, ``Xᵀ @ D``, the stored
values with their row and column indices, and a matrix with the same
pattern but other values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "XpSparse",
    "foreign_namespace",
    "is_foreign",
    "namespace_of",
    "to_host",
    "to_float64",
    "xp_vdot",
    "xp_squared_norm",
    "xp_sum",
]


def _is_torch_sparse(X: Any) -> bool:
    mod = type(X).__module__
    if not mod.startswith("torch"):
        return False
    import torch  # already imported: X is a torch object

    return isinstance(X, torch.Tensor) and X.layout != torch.strided


def _is_cupy_sparse(X: Any) -> bool:
    return type(X).__module__.startswith("cupyx.scipy.sparse")


def foreign_namespace(X: Any):
    """The array-API namespace of ``X`` when it is not a NumPy/SciPy/pandas object.

    Returns None for NumPy arrays, scipy.sparse matrices, pandas objects,
    lists and other array-likes (they take the NumPy path).

    Examples
    --------
    >>> import numpy as np
    >>> foreign_namespace(np.ones((2, 2))) is None
    True
    """
    if X is None or isinstance(X, np.ndarray | np.generic) or sp.issparse(X):
        return None
    if isinstance(X, XpSparse):
        return X.xp
    mod = type(X).__module__
    if mod.startswith(("pandas", "builtins", "numpy", "dask")):
        return None
    if _is_cupy_sparse(X):
        import array_api_compat

        return array_api_compat.array_namespace(X.data)
    import array_api_compat

    if not array_api_compat.is_array_api_obj(X):
        return None
    xp = array_api_compat.array_namespace(X)
    if array_api_compat.is_numpy_namespace(xp):
        return None
    return xp


def is_foreign(X: Any) -> bool:
    """True when ``X`` takes the array-API path (see :func:`foreign_namespace`)."""
    return foreign_namespace(X) is not None


def namespace_of(*arrays: Any):
    """The array-API namespace shared by ``arrays`` (NumPy's compat namespace for NumPy)."""
    import array_api_compat

    dense = []
    for a in arrays:
        if a is None:
            continue
        if isinstance(a, XpSparse):
            dense.append(a.values)
        elif sp.issparse(a):
            dense.append(a.data)
        else:
            dense.append(a)
    return array_api_compat.array_namespace(*dense)


def to_host(a: Any) -> np.ndarray:
    """A small device array as a NumPy array, in one transfer (for k-sized vectors)."""
    if isinstance(a, np.ndarray):
        return a
    mod = type(a).__module__
    if mod.startswith("torch"):
        return a.detach().cpu().numpy()
    if mod.startswith("cupy"):
        return a.get()
    try:
        return np.from_dlpack(a)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray([float(v) for v in a])


def to_float64(xp: Any, a: Any) -> Any:
    """``a`` as float64 on its device (no copy when it already is)."""
    return a if a.dtype == xp.float64 else xp.astype(a, xp.float64)


def xp_vdot(xp: Any, a: Any, b: Any) -> float:
    """``Σ a ⊙ b`` accumulated in float64 (one device → host transfer)."""
    return float(xp.sum(to_float64(xp, a) * to_float64(xp, b)))


def xp_sum(xp: Any, a: Any) -> float:
    """Sum of all entries, accumulated in float64."""
    return float(xp.sum(to_float64(xp, a)))


def xp_squared_norm(xp: Any, X: Any) -> float:
    """Squared Frobenius norm of a dense array or :class:`XpSparse`, in float64."""
    if isinstance(X, XpSparse):
        v = to_float64(xp, X.values)
        return float(xp.sum(v * v))
    v = to_float64(xp, X)
    return float(xp.sum(v * v))


@dataclass
class XpSparse:
    """A sparse matrix of a non-NumPy library in CSR order, with the products solvers need.

    Build it with :meth:`from_native`. ``values``, ``rows`` and ``cols`` are
    dense arrays of the library (length nnz, CSR order).
    """

    kind: str  # "torch" or "cupyx"
    native: Any  # CSR matrix of the library
    values: Any
    rows: Any
    cols: Any
    shape: tuple[int, int]
    xp: Any
    _t: Any = field(default=None, repr=False)  # CSR of Xᵀ (torch) once needed
    _perm: Any = field(default=None, repr=False)  # positions of Xᵀ's entries in X's order

    # ------------------------------------------------------------ creation
    @classmethod
    def from_native(cls, X: Any) -> XpSparse:
        """Wrap a sparse PyTorch tensor (any layout) or CuPy sparse matrix."""
        if _is_torch_sparse(X):
            import array_api_compat.torch as xpt
            import torch

            if X.layout != torch.sparse_csr:
                X = X.to_sparse_coo().coalesce().to_sparse_csr()
            crow = X.crow_indices()
            cols = X.col_indices()
            counts = crow[1:] - crow[:-1]
            rows = torch.repeat_interleave(
                torch.arange(X.shape[0], device=X.device, dtype=cols.dtype), counts
            )
            return cls("torch", X, X.values(), rows, cols, tuple(X.shape), xpt)
        if _is_cupy_sparse(X):
            import array_api_compat
            import cupy

            X = X.tocsr()
            if not X.has_canonical_format:
                X = X.copy()
                X.sum_duplicates()
            # row of each stored entry, on the device: the last row whose start is <= it
            pos = cupy.arange(X.nnz, dtype=X.indptr.dtype)
            rows = cupy.searchsorted(X.indptr, pos, side="right") - 1
            rows = rows.astype(X.indices.dtype, copy=False)
            xp = array_api_compat.array_namespace(X.data)
            return cls("cupyx", X, X.data, rows, X.indices, tuple(X.shape), xp)
        raise TypeError(f"not a supported sparse array: {type(X).__name__}")

    # ---------------------------------------------------------- properties
    @property
    def dtype(self) -> Any:
        return self.values.dtype

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])

    # ------------------------------------------------------------ products
    def matmul(self, D: Any) -> Any:
        """``X @ D`` (dense result, n_samples × k)."""
        return self.native @ D

    def rmatmul(self, D: Any) -> Any:
        """``Xᵀ @ D`` (dense result, n_features × k)."""
        if self.kind == "cupyx":
            return self.native.T @ D
        return self._transposed() @ D

    def _transposed(self) -> Any:
        if self._t is None:
            import torch

            m, n = self.shape
            perm = torch.argsort(self.cols * m + self.rows, stable=True)
            t_counts = torch.bincount(self.cols, minlength=n)
            t_crow = torch.zeros(n + 1, dtype=self.cols.dtype, device=self.values.device)
            t_crow[1:] = torch.cumsum(t_counts, 0)
            self._perm = perm
            self._t = torch.sparse_csr_tensor(
                t_crow, self.rows[perm], self.values[perm], size=(n, m)
            )
        return self._t

    def with_values(self, values: Any) -> XpSparse:
        """A matrix with the same pattern and the given stored values (CSR order)."""
        if self.kind == "cupyx":
            import cupyx.scipy.sparse as csp

            nat = csp.csr_matrix(
                (values, self.native.indices, self.native.indptr), shape=self.shape
            )
            return XpSparse("cupyx", nat, values, self.rows, self.cols, self.shape, self.xp)
        import torch

        nat = torch.sparse_csr_tensor(
            self.native.crow_indices(), self.cols, values, size=self.shape
        )
        out = XpSparse("torch", nat, values, self.rows, self.cols, self.shape, self.xp)
        if self._t is not None:
            tt = self._t
            out._perm = self._perm
            out._t = torch.sparse_csr_tensor(
                tt.crow_indices(), tt.col_indices(), values[self._perm], size=tt.shape
            )
        return out

    def dense_rows(self, start: int, stop: int) -> Any:
        """Rows ``start:stop`` as a dense array of the library (one bounded block)."""
        if self.kind == "cupyx":
            return self.native[start:stop].toarray()
        import torch

        crow = self.native.crow_indices()
        s, e = int(crow[start]), int(crow[stop])
        sub = torch.sparse_csr_tensor(
            crow[start : stop + 1] - s, self.cols[s:e], self.values[s:e],
            size=(stop - start, self.shape[1]),
        )
        return sub.to_dense()

    def values_at(self, W: Any, H: Any, block: int = 1 << 16) -> Any:
        """Entries of ``W @ H`` at the stored positions (O(nnz·k), in chunks)."""
        xp = self.xp
        Ht = H.T
        parts = []
        for s in range(0, self.nnz, block):
            e = min(s + block, self.nnz)
            parts.append(xp.sum(xp.take(W, self.rows[s:e], axis=0)
                                * xp.take(Ht, self.cols[s:e], axis=0), axis=1))
        if not parts:
            return xp.zeros((0,), dtype=W.dtype, device=_device(W))
        return xp.concat(parts) if len(parts) > 1 else parts[0]


def _device(a: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(a)
