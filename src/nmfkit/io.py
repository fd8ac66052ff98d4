"""Read data matrices, write files atomically, save and load models (never with pickle).

Matrices
    :func:`read_matrix` reads ``.csv``, ``.tsv``, ``.txt`` (delimited text with an
    optional header row and index column, detected automatically), ``.npy``,
    ``.npz`` (a ``scipy.sparse.save_npz`` file, or a dense archive holding one
    array or an array named ``X``) and ``.mtx`` (Matrix Market). Sparse files
    stay sparse (CSR). Anything wrong with a file raises :class:`DataFileError`
    with a one-line message that names the file and the problem.

Atomic writes
    :func:`atomic_open` and :func:`atomic_write_bytes` write to a temporary file
    in the target's directory, ``fsync`` it and ``os.replace`` it over the
    target, so a reader never sees a half-written file and a failed write
    leaves the old file untouched. Every file nmfkit writes goes through them.

Models
    :func:`save_model` writes a fitted estimator to one ``.npz`` file: every
    fitted array attribute, plus a JSON metadata record (format name and
    version, class, constructor parameters, scalar fitted attributes, nmfkit
    version). :func:`load_model` reads it back with ``allow_pickle=False`` and
    rebuilds the estimator from nmfkit's own public classes only.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DataFileError",
    "read_matrix",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_model",
    "load_model",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
]

#: Extensions :func:`read_matrix` understands.
SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".txt", ".npy", ".npz", ".mtx")

#: Format name stored in every model file.
MODEL_FORMAT = "nmfkit-model"
#: Newest model format version this nmfkit reads and the one it writes.
MODEL_FORMAT_VERSION = 1

_META_KEY = "__nmfkit_metadata__"
#: What a fitted attribute's name may look like (``components_``, ``n_iter_``).
_FITTED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*_")

#: Cell texts read as "missing" (compared case-insensitively, after stripping).
_MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "-nan", "#n/a", "?"})


class DataFileError(ValueError):
    """A data or model file is missing, unreadable or holds unusable values.

    The message is one line and names the file and the problem.

    Examples
    --------
    >>> from nmfkit.io import DataFileError, read_matrix
    >>> try:
    ...     read_matrix("no-such-file.csv")
    ... except DataFileError as exc:
    ...     message = str(exc)
    >>> message
    'no-such-file.csv: file not found'
    """

    def __init__(self, path: Any, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.path}: {self.problem}")


# --------------------------------------------------------------------------- reading


def read_matrix(
    path: str | os.PathLike[str],
    *,
    header: bool | None = None,
    index: bool | None = None,
) -> tuple[Any, list[str] | None, list[str] | None]:
    """Read a non-negative data matrix from a file.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv``, ``.txt``, ``.npy``, ``.npz`` or ``.mtx`` file.
        Text files: ``.csv`` is comma-separated (semicolon- or tab-separated
        when the first line has those and no commas), ``.tsv`` tab-separated, ``.txt`` tab-,
        comma- or whitespace-separated (taken from the first line) and may hold
        ``#`` comments. Fields may be quoted with ``"``.
    header : bool or None, default=None
        Whether the first row of a text file holds column names. ``None``
        detects it: the first row is a header when all its cells (after the
        first) are non-numeric. Numeric column names (``1, 2, 3``) therefore
        need ``header=True``.
    index : bool or None, default=None
        Whether the first column of a text file holds row names. ``None``
        detects it: the first column is an index when all its cells (below the
        header) are non-numeric, or when the header's first cell is empty (the
        layout ``pandas.DataFrame.to_csv`` and R's ``write.csv`` produce).

    Returns
    -------
    X : ndarray or scipy.sparse CSR matrix/array of shape (n_samples, n_features)
        Floating point (float32 kept, everything else float64), finite and
        non-negative. ``.npz`` sparse and ``.mtx`` files give CSR.
    row_names : list of str or None
        From the index column of a text file.
    col_names : list of str or None
        From the header row of a text file.

    Raises
    ------
    DataFileError
        Missing, empty or unreadable file; unsupported extension; ragged rows;
        non-numeric or missing cells (with their row and column); NaN,
        infinite or negative values (with a count); an array that is not 2-D.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from nmfkit.io import read_matrix
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "counts.csv"
    >>> _ = p.write_text("gene,s1,s2\\ng1,1,0\\ng2,3,4\\n")
    >>> X, rows, cols = read_matrix(p)
    >>> X.tolist(), rows, cols
    ([[1.0, 0.0], [3.0, 4.0]], ['g1', 'g2'], ['s1', 's2'])
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        shown = repr(ext) if ext else "(none)"
        raise DataFileError(
            p,
            f"unsupported file extension {shown}; supported: {', '.join(SUPPORTED_EXTENSIONS)}",
        )
    _check_readable(p)
    if ext in (".csv", ".tsv", ".txt"):
        return _read_text(p, ext, header=header, index=index)
    if header is not None or index is not None:
        raise DataFileError(p, "header= and index= only apply to text files")
    if ext == ".npy":
        X = _read_npy(p)
    elif ext == ".npz":
        X = _read_npz(p)
    else:
        X = _read_mtx(p)
    return _finish_binary(p, X), None, None


def _check_readable(p: Path) -> None:
    if not p.exists():
        raise DataFileError(p, "file not found")
    if p.is_dir():
        raise DataFileError(p, "is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise DataFileError(p, "cannot read the file (permission denied)")
    if p.stat().st_size == 0:
        raise DataFileError(p, "empty file")


# ---- text


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _is_missing(s: str) -> bool:
    return s.strip().lower() in _MISSING_TOKENS


def _is_label(s: str) -> bool:
    """A cell that reads as a name: neither a number nor a missing-value token."""
    return not _is_missing(s) and not _is_number(s)


def _first_content_line(p: Path, comments: str | None) -> str:
    with open(p, encoding="utf-8-sig") as f:
        for line in f:
            content = line.split(comments, 1)[0] if comments else line
            if content.strip():
                return content
    return ""


def _sniff_delimiter(first: str, ext: str) -> str | None:
    if ext == ".tsv":
        return "\t"
    if ext == ".csv":
        if "," not in first:
            return ";" if ";" in first else "\t" if "\t" in first else ","
        return ","
    if "\t" in first:
        return "\t"
    if "," in first:
        return ","
    return None  # runs of whitespace


def _header_skiprows(p: Path, comments: str | None) -> int:
    """Number of raw lines up to and including the first non-blank, non-comment one."""
    with open(p, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            content = line.split(comments, 1)[0] if comments else line
            if content.strip():
                return n
    return 0


def _loadtxt(source: Any, **kw: Any) -> np.ndarray:
    with warnings.catch_warnings():
        # numpy notes that blank/comment lines do not count towards max_rows
        warnings.simplefilter("ignore", UserWarning)
        return np.loadtxt(source, ndmin=2, **kw)


_RAGGED = re.compile(r"number of columns changed from (\d+) to (\d+) at row (\d+)")


def _text_error(p: Path, exc: Exception, row_offset: int = 0) -> DataFileError:
    if isinstance(exc, UnicodeDecodeError):
        return DataFileError(
            p, "not a UTF-8 text file (is it a binary file with a text extension?)"
        )
    m = _RAGGED.search(str(exc))
    if m:
        expected, got, row = m.groups()
        return DataFileError(
            p,
            f"ragged rows: row {int(row) + row_offset} has {got} fields, expected {expected} "
            "like the rows above",
        )
    return DataFileError(p, f"cannot parse the file: {exc}")


def _read_text(
    p: Path, ext: str, *, header: bool | None, index: bool | None
) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    comments = "#" if ext == ".txt" else None
    try:
        first = _first_content_line(p, comments)
    except UnicodeDecodeError as exc:
        raise _text_error(p, exc) from None
    if not first.strip():
        raise DataFileError(p, "empty file (no data rows)")
    delimiter = _sniff_delimiter(first, ext)
    kw: dict[str, Any] = {
        "delimiter": delimiter,
        "comments": comments,
        "quotechar": '"',
        "encoding": "utf-8-sig",
    }
    try:
        row0 = [s.strip() for s in _loadtxt(p, dtype=str, max_rows=1, **kw)[0]]
        col0 = [s.strip() for s in _loadtxt(p, dtype=str, usecols=0, **kw)[:, 0]]
    except (ValueError, UnicodeDecodeError) as exc:
        raise _text_error(p, exc) from None
    n_cols = len(row0)

    if header is None:
        if n_cols == 1:
            header = _is_label(row0[0])
        else:
            rest = row0[1:]
            header = all(_is_label(s) or _is_missing(s) for s in rest) and any(
                _is_label(s) for s in rest
            )
    if index is None:
        below = col0[1:] if header else col0
        index = n_cols > 1 and (
            (bool(below) and all(_is_label(s) or _is_missing(s) for s in below)
             and any(_is_label(s) for s in below))
            or (header and row0[0] == "")
        )
    if index and n_cols == 1:
        raise DataFileError(p, "only one column, which would be the index; no data columns left")
    r0, c0 = int(header), int(index)
    if len(col0) <= r0:
        raise DataFileError(p, "no data rows below the header")

    skiprows = _header_skiprows(p, comments) if header else 0
    try:
        X = _loadtxt(
            p,
            dtype=np.float64,
            skiprows=skiprows,
            converters={0: lambda s: 0.0} if index else None,
            **kw,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise _diagnose_text(p, exc, kw, skiprows, r0, c0, row0, col0) from None
    col_names = row0[c0:] if header else None
    if header and index and X.shape[1] == n_cols + 1:
        # R's write.table layout: the header has no cell above the row names
        col_names = row0
    elif X.shape[1] != n_cols:  # a header with more/fewer fields than the data
        raise DataFileError(
            p, f"ragged rows: row 1 has {n_cols} fields, the data rows have {X.shape[1]}"
        )
    X = X[:, c0:]
    row_names = col0[r0:] if index else None

    def where(i: int, j: int) -> str:
        rname = f" ({row_names[i]!r})" if row_names else ""
        cname = f" ({col_names[j]!r})" if col_names else ""
        return f"row {i + r0 + 1}{rname}, column {j + c0 + 1}{cname}"

    _check_values(p, X, where)
    return X, row_names, col_names


def _diagnose_text(
    p: Path,
    exc: Exception,
    kw: dict[str, Any],
    skiprows: int,
    r0: int,
    c0: int,
    row0: list[str],
    col0: list[str],
) -> DataFileError:
    """Explain why the numeric read failed: re-read as text and find the bad cells."""
    try:
        cells = _loadtxt(p, dtype=str, skiprows=skiprows, **kw)
    except (ValueError, UnicodeDecodeError) as exc2:
        return _text_error(p, exc2, row_offset=r0)
    body = cells[:, c0:]
    # column names (an R-style header has no cell above the row names)
    names = row0[len(row0) - body.shape[1]:] if r0 and len(row0) >= body.shape[1] else None
    bad: list[tuple[int, int]] = []
    missing: list[tuple[int, int]] = []
    for i, row in enumerate(body.tolist()):
        for j, s in enumerate(row):
            try:
                float(s)  # "nan" parses here; NaN cells are reported later
            except ValueError:
                (missing if _is_missing(s) else bad).append((i, j))

    def where(i: int, j: int) -> str:
        rname = f" ({col0[i + r0]!r})" if c0 and i + r0 < len(col0) else ""
        cname = f" ({names[j]!r})" if names else ""
        return f"row {i + r0 + 1}{rname}, column {j + c0 + 1}{cname}"

    if bad:
        i, j = bad[0]
        more = f" ({len(bad)} non-numeric cells in all)" if len(bad) > 1 else ""
        return DataFileError(p, f"non-numeric value {body[i, j].strip()!r} at {where(i, j)}{more}")
    if missing:
        i, j = missing[0]
        more = f" ({len(missing)} missing cells in all)" if len(missing) > 1 else ""
        what = f"{body[i, j].strip()!r}" if body[i, j].strip() else "(empty cell)"
        last = body.shape[1] - 1
        if len(missing) == body.shape[0] > 1 and all(jj == last for _, jj in missing):
            more += "; is there a delimiter at the end of every line?"
        return DataFileError(p, f"missing value {what} at {where(i, j)}{more}")
    return _text_error(p, exc)


# ---- binary


def _read_npy(p: Path) -> Any:
    try:
        X = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            return _fail(p, "holds pickled Python objects, which nmfkit never loads")
        return _fail(p, f"not a valid .npy file ({exc})")
    except (OSError, EOFError) as exc:
        return _fail(p, f"not a valid .npy file ({exc})")
    if not isinstance(X, np.ndarray):  # an .npz archive named .npy
        X.close()
        return _fail(p, "is an .npz archive, not an .npy array; rename it to .npz")
    return X


def _is_sparse_npz(files: list[str]) -> bool:
    return {"format", "shape", "data"} <= set(files)


def _read_npz(p: Path) -> Any:
    try:
        archive = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        return _fail(p, f"not a valid .npz file ({_short(exc)})")
    if isinstance(archive, np.ndarray):
        return _fail(p, "is an .npy array, not an .npz archive; rename it to .npy")
    try:
        with archive:
            files = list(archive.files)
            if _is_sparse_npz(files):
                name = None
            elif len(files) == 1:
                name = files[0]
            elif "X" in files:
                name = "X"
            elif not files:
                return _fail(p, "the .npz archive holds no arrays")
            else:
                return _fail(
                    p,
                    f"the .npz archive holds {len(files)} arrays ({', '.join(files[:5])}"
                    f"{', ...' if len(files) > 5 else ''}); name the data array 'X'",
                )
            if name is not None:
                return archive[name]
        return sp.load_npz(p)
    except DataFileError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            return _fail(p, "holds pickled Python objects, which nmfkit never loads")
        return _fail(p, f"corrupt .npz file ({_short(exc)})")
    except Exception as exc:  # corrupt archives raise many exception types
        return _fail(p, f"corrupt .npz file ({_short(exc)})")


def _read_mtx(p: Path) -> Any:
    import scipy.io

    try:
        X = scipy.io.mmread(p)
    except Exception as exc:  # the Matrix Market readers raise many exception types
        return _fail(p, f"not a valid Matrix Market file ({_short(exc)})")
    return X


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _fail(p: Path, problem: str) -> Any:
    raise DataFileError(p, problem)


def _finish_binary(p: Path, X: Any) -> Any:
    if sp.issparse(X):
        if X.ndim != 2:
            raise DataFileError(p, f"expected a 2-D matrix, got shape {X.shape}")
        X = X.tocsr()
        X = X.astype(_float_dtype(p, X.dtype), copy=False)
        _check_values(p, X, None)
        return X
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataFileError(p, f"expected a 2-D matrix, got a {X.ndim}-D array of shape {X.shape}")
    if X.size == 0:
        raise DataFileError(p, f"the matrix is empty (shape {X.shape})")
    X = X.astype(_float_dtype(p, X.dtype), copy=False)
    _check_values(p, X, None)
    return X


def _float_dtype(p: Path, dtype: np.dtype) -> type:
    if dtype.kind == "c":
        raise DataFileError(p, "holds complex numbers; NMF needs real, non-negative data")
    if dtype.kind not in "biuf":
        raise DataFileError(p, f"holds non-numeric data (dtype {dtype})")
    return np.float32 if dtype == np.float32 else np.float64


def _check_values(p: Path, X: Any, where: Any) -> None:
    """NaN, infinite and negative values are errors; report a count and the first."""
    if sp.issparse(X):
        coo = X.tocoo()
        values, rows, cols = coo.data, coo.row, coo.col
    else:
        values, rows, cols = X, None, None

    def first(mask: np.ndarray) -> str:
        if rows is None:
            i, j = (int(v) for v in np.argwhere(mask)[0])
        else:
            k = int(np.flatnonzero(mask)[0])
            i, j = int(rows[k]), int(cols[k])
        return where(i, j) if where else f"[{i}, {j}] (0-based)"

    nan = np.isnan(values)
    if nan.any():
        raise DataFileError(
            p, f"{int(nan.sum())} missing (NaN) value(s), first at {first(nan)}"
        )
    inf = np.isinf(values)
    if inf.any():
        raise DataFileError(p, f"{int(inf.sum())} infinite value(s), first at {first(inf)}")
    neg = values < 0
    if neg.any():
        k = first(neg)
        raise DataFileError(
            p,
            f"{int(neg.sum())} negative value(s), first at {k} "
            f"(value {float(values[neg].flat[0]):g}); NMF needs non-negative data",
        )


# --------------------------------------------------------------------------- writing


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", *, encoding: str = "utf-8"
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it is replaced atomically on success.

    Data goes to a temporary file in the same directory, which is flushed,
    ``fsync``-ed and moved over ``path`` with ``os.replace`` when the block
    exits normally. If the block raises, the temporary file is removed and
    an existing ``path`` is left untouched.

    Parameters
    ----------
    path : str or path-like
        The file to write. Its directory must exist.
    mode : {"w", "wt", "wb"}, default="w"
        Text or binary.
    encoding : str, default="utf-8"
        Text mode only.

    Yields
    ------
    file
        The open temporary file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from nmfkit.io import atomic_open
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_open(p) as f:
    ...     _ = f.write("hello")
    >>> p.read_text()
    'hello'
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open mode must be 'w', 'wt' or 'wb', got {mode!r}")
    target = Path(path)
    directory = target.parent
    try:
        perms = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        perms = _new_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, perms)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from nmfkit.io import atomic_write_bytes
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "blob.bin"
    >>> atomic_write_bytes(p, b"abc")
    >>> p.read_bytes()
    b'abc'
    """
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from nmfkit.io import atomic_write_text
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> atomic_write_text(p, "{}")
    >>> p.read_text()
    '{}'
    """
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


# --------------------------------------------------------------------------- models


def _jsonable(value: Any) -> Any:
    """Convert ``value`` to plain JSON types, or raise TypeError."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _fitted_attributes(model: Any) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(model).items()
        if name.endswith("_") and not name.startswith("_")
    }


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """Write a fitted nmfkit estimator to a single ``.npz`` file (no pickle).

    The archive holds every fitted array attribute (name ending in ``_``)
    and a JSON metadata record: the format name ``"nmfkit-model"`` and
    version, the estimator's class and module, its JSON-serialisable
    constructor parameters (callables such as ``callback`` are dropped, and
    so, with a warning, is anything else JSON cannot hold, e.g. a
    ``RandomState``), its scalar fitted attributes and the nmfkit version.
    The file is written atomically, to exactly ``path`` (no suffix is added).

    Parameters
    ----------
    model : estimator
        A fitted nmfkit estimator.
    path : str or path-like
        Destination, conventionally ending in ``.npz``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    TypeError
        If a fitted attribute has a type the format cannot hold.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from nmfkit import NMF
    >>> from nmfkit.io import save_model, load_model
    >>> X = np.random.default_rng(0).random((10, 6))
    >>> model = NMF(2, random_state=0).fit(X)
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
    >>> save_model(model, p)
    >>> np.array_equal(load_model(p).transform(X), model.transform(X))
    True
    """
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(model)
    cls = type(model)
    params: dict[str, Any] = {}
    dropped: list[str] = []
    for name, value in model.get_params(deep=False).items():
        if callable(value) and not isinstance(value, type):
            dropped.append(name)
            continue
        try:
            params[name] = _jsonable(value)
        except TypeError as exc:
            warnings.warn(
                f"save_model: parameter {name}={value!r} is not stored ({exc}); "
                "the loaded model gets the default",
                UserWarning,
                stacklevel=2,
            )
            dropped.append(name)

    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    numpy_scalars: list[str] = []
    string_arrays: dict[str, dict[str, Any]] = {}
    for name, value in _fitted_attributes(model).items():
        if isinstance(value, np.ndarray):
            if not value.dtype.hasobject:
                arrays[name] = value
            elif all(isinstance(v, str) for v in value.flat):
                string_arrays[name] = {"shape": list(value.shape), "values": value.ravel().tolist()}
            else:
                raise TypeError(
                    f"save_model: fitted attribute {name!r} is an object array holding "
                    "non-strings, which the format cannot store without pickle"
                )
        elif isinstance(value, np.generic):
            arrays[name] = np.asarray(value)
            numpy_scalars.append(name)
        else:
            try:
                scalars[name] = _jsonable(value)
            except TypeError:
                raise TypeError(
                    f"save_model: cannot store fitted attribute {name!r} of type "
                    f"{type(value).__name__}"
                ) from None

    meta = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "class": cls.__name__,
        "module": cls.__module__,
        "nmfkit_version": __version__,
        "numpy_version": np.__version__,
        "params": params,
        "dropped_params": dropped,
        "arrays": sorted(n for n in arrays if n not in numpy_scalars),
        "numpy_scalars": sorted(numpy_scalars),
        "string_arrays": string_arrays,
        "attributes": scalars,
    }
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays, **{_META_KEY: blob})


def _public_estimator_classes() -> dict[str, type]:
    """nmfkit's public estimator classes by name (nothing is imported from the file)."""
    import importlib

    import nmfkit

    found: dict[str, type] = {}
    modules = [nmfkit]
    with suppress(ImportError):
        modules.append(importlib.import_module("nmfkit.models"))
    for mod in modules:
        names = set(getattr(mod, "__all__", ())) | {n for n in dir(mod) if not n.startswith("_")}
        for name in names:
            obj = getattr(mod, name, None)
            if (
                isinstance(obj, type)
                and obj.__module__.startswith("nmfkit")
                and hasattr(obj, "get_params")
            ):
                found[obj.__name__] = obj
    return found


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load an estimator written by :func:`save_model` (``allow_pickle=False``).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model` or ``model.save``.

    Returns
    -------
    estimator
        A fitted estimator of the saved class whose ``transform`` gives
        identical results.

    Raises
    ------
    DataFileError
        The file is missing, is not an nmfkit model, is corrupt, was written
        by a newer nmfkit (format version too new) or names a class this
        nmfkit does not have.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> import nmfkit
    >>> X = np.random.default_rng(0).random((10, 6))
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
    >>> nmfkit.NMF(2, random_state=0).fit(X).save(p)
    >>> nmfkit.load(p).components_.shape
    (2, 6)
    """
    p = Path(path)
    _check_readable(p)
    not_ours = "not an nmfkit model file"
    try:
        archive = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFileError(p, f"{not_ours} ({_short(exc)})") from None
    if isinstance(archive, np.ndarray):
        raise DataFileError(p, f"{not_ours} (it is a plain .npy array)")
    try:
        with archive:
            if _META_KEY not in archive.files:
                raise DataFileError(p, f"{not_ours} (no nmfkit metadata in the .npz archive)")
            meta = json.loads(bytes(archive[_META_KEY]).decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
                raise DataFileError(p, f"{not_ours} (unknown format in its metadata)")
            version = meta.get("format_version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise DataFileError(p, f"invalid model format version {version!r}")
            if version > MODEL_FORMAT_VERSION:
                raise DataFileError(
                    p,
                    f"written by a newer nmfkit (format version {version} > "
                    f"{MODEL_FORMAT_VERSION}); upgrade nmfkit",
                )
            arrays = {name: archive[name] for name in meta.get("arrays", [])}
            scalars = {name: archive[name][()] for name in meta.get("numpy_scalars", [])}
    except DataFileError:
        raise
    except Exception as exc:  # corrupt archive or metadata: many exception types
        raise DataFileError(p, f"corrupt model file ({_short(exc)})") from None

    name = meta.get("class")
    classes = _public_estimator_classes()
    if name not in classes:
        raise DataFileError(
            p,
            f"the model class {name!r} is not one of nmfkit's estimators "
            f"({', '.join(sorted(classes))})",
        )
    cls = classes[name]
    valid = set(cls().get_params(deep=False))
    params = dict(meta.get("params", {}))
    unknown = sorted(set(params) - valid)
    if unknown:
        warnings.warn(
            f"load_model: ignoring parameters this nmfkit's {name} does not have: "
            f"{', '.join(unknown)}",
            UserWarning,
            stacklevel=2,
        )
    model = cls(**{k: v for k, v in params.items() if k in valid})
    try:
        fitted: dict[str, Any] = dict(meta.get("attributes", {}))
        for attr, spec in meta.get("string_arrays", {}).items():
            values = np.empty(len(spec["values"]), dtype=object)
            values[:] = [str(v) for v in spec["values"]]
            fitted[attr] = values.reshape(spec["shape"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise DataFileError(p, f"corrupt model metadata ({_short(exc)})") from None
    fitted.update(arrays)
    fitted.update(scalars)
    for attr, value in fitted.items():
        if not isinstance(attr, str) or not _FITTED_NAME.fullmatch(attr) or attr in valid:
            raise DataFileError(p, f"corrupt model metadata (bad attribute name {attr!r})")
        setattr(model, attr, value)
    return model

