"""Reading matrices, atomic writes and model files (nmfkit.io)."""

from __future__ import annotations

import json
import os
import stat
import zipfile

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import nmfkit
from nmfkit.io import (
    MODEL_FORMAT_VERSION,
    DataFileError,
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
    load_model,
    read_matrix,
    save_model,
)

pytestmark = pytest.mark.filterwarnings("ignore::nmfkit.exceptions.ConvergenceWarning")

A = np.array([[1.0, 0.0, 2.5], [3.0, 4.0, 0.5]])


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- text formats


@pytest.mark.parametrize(
    "text, rows, cols",
    [
        ("1,0,2.5\n3,4,0.5\n", None, None),
        ("a,b,c\n1,0,2.5\n3,4,0.5\n", None, ["a", "b", "c"]),
        ("r1,1,0,2.5\nr2,3,4,0.5\n", ["r1", "r2"], None),
        ("gene,a,b,c\nr1,1,0,2.5\nr2,3,4,0.5\n", ["r1", "r2"], ["a", "b", "c"]),
        # pandas.DataFrame.to_csv layout: empty corner, numeric default index
        (",a,b,c\n0,1,0,2.5\n1,3,4,0.5\n", ["0", "1"], ["a", "b", "c"]),
        # R write.table layout: no header cell above the row names
        ("a,b,c\nr1,1,0,2.5\nr2,3,4,0.5\n", ["r1", "r2"], ["a", "b", "c"]),
        # quoted names, spaces around numbers, a UTF-8 byte order mark, blank lines
        ('\ufeff"id","x, 1",b,c\n"g,1", 1 ,0,2.5\n\ng2,3,4,0.5\n',
         ["g,1", "g2"], ["x, 1", "b", "c"]),
        # semicolon- and tab-separated files named .csv, Windows line endings
        ("a;b;c\n1;0;2.5\n3;4;0.5\n", None, ["a", "b", "c"]),
        ("a\tb\tc\n1\t0\t2.5\n3\t4\t0.5\n", None, ["a", "b", "c"]),
        ("g,a,b,c\r\nr1,1,0,2.5\r\nr2,3,4,0.5\r\n", ["r1", "r2"], ["a", "b", "c"]),
    ],
)
def test_csv_header_and_index_detection(tmp_path, text, rows, cols):
    X, row_names, col_names = read_matrix(_write(tmp_path / "m.csv", text))
    assert isinstance(X, np.ndarray) and X.dtype == np.float64
    np.testing.assert_array_equal(X, A)
    assert row_names == rows
    assert col_names == cols


def test_tsv(tmp_path):
    path = _write(tmp_path / "m.tsv", "\ta\tb\tc\nr1\t1\t0\t2.5\nr2\t3\t4\t0.5\n")
    X, rows, cols = read_matrix(path)
    np.testing.assert_array_equal(X, A)
    assert rows == ["r1", "r2"] and cols == ["a", "b", "c"]


@pytest.mark.parametrize(
    "text, rows, cols",
    [
        ("# a comment\n1 0 2.5\n\n3   4 0.5  \n", None, None),
        ("x\ty\tz\n1\t0\t2.5\n3\t4\t0.5\n", None, ["x", "y", "z"]),
        ("r1,1,0,2.5\nr2,3,4,0.5  # trailing comment\n", ["r1", "r2"], None),
        ("# header below\ngene a b c\nr1 1 0 2.5\nr2 3 4 0.5\n", ["r1", "r2"], ["a", "b", "c"]),
    ],
)
def test_txt_delimiters_and_comments(tmp_path, text, rows, cols):
    X, row_names, col_names = read_matrix(_write(tmp_path / "m.txt", text))
    np.testing.assert_array_equal(X, A)
    assert row_names == rows and col_names == cols


def test_single_column_with_header(tmp_path):
    X, rows, cols = read_matrix(_write(tmp_path / "m.csv", "value\n1\n2\n"))
    np.testing.assert_array_equal(X, [[1.0], [2.0]])
    assert rows is None and cols == ["value"]


def test_header_and_index_overrides(tmp_path):
    # numeric column names cannot be detected: header=True says so
    path = _write(tmp_path / "m.csv", "gene,1,2,3\nr1,1,0,2.5\nr2,3,4,0.5\n")
    X, rows, cols = read_matrix(path, header=True)
    np.testing.assert_array_equal(X, A)
    assert rows == ["r1", "r2"] and cols == ["1", "2", "3"]
    # a numeric first column read as row names on request
    path = _write(tmp_path / "n.csv", "7,1,0,2.5\n8,3,4,0.5\n")
    X, rows, cols = read_matrix(path, index=True)
    np.testing.assert_array_equal(X, A)
    assert rows == ["7", "8"] and cols is None


# --------------------------------------------------------------------------- binary formats


def test_npy(tmp_path):
    np.save(tmp_path / "f.npy", A)
    np.save(tmp_path / "i.npy", np.arange(6).reshape(2, 3))
    np.save(tmp_path / "s.npy", A.astype(np.float32))
    X, rows, cols = read_matrix(tmp_path / "f.npy")
    np.testing.assert_array_equal(X, A)
    assert rows is None and cols is None
    Xi = read_matrix(tmp_path / "i.npy")[0]
    assert Xi.dtype == np.float64 and Xi.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert read_matrix(tmp_path / "s.npy")[0].dtype == np.float32


def test_npz_dense(tmp_path):
    np.savez(tmp_path / "one.npz", anything=A)
    np.savez(tmp_path / "named.npz", X=A, labels=np.arange(2))
    np.testing.assert_array_equal(read_matrix(tmp_path / "one.npz")[0], A)
    np.testing.assert_array_equal(read_matrix(tmp_path / "named.npz")[0], A)


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.coo_array])
def test_npz_sparse_stays_sparse(tmp_path, kind):
    S = kind(A)
    sp.save_npz(tmp_path / "s.npz", S)
    X, rows, cols = read_matrix(tmp_path / "s.npz")
    assert sp.issparse(X) and X.format == "csr"
    assert isinstance(X, sp.sparray) == isinstance(S, sp.sparray)
    np.testing.assert_array_equal(X.toarray(), A)
    assert rows is None and cols is None


def test_mtx_sparse_and_dense(tmp_path):
    scipy.io.mmwrite(tmp_path / "s.mtx", sp.coo_matrix(A))
    X = read_matrix(tmp_path / "s.mtx")[0]
    assert sp.issparse(X) and X.format == "csr" and X.nnz == 5
    np.testing.assert_array_equal(X.toarray(), A)
    scipy.io.mmwrite(tmp_path / "d.mtx", A)
    Xd = read_matrix(tmp_path / "d.mtx")[0]
    assert isinstance(Xd, np.ndarray)
    np.testing.assert_array_equal(Xd, A)


# --------------------------------------------------------------------------- bad files


def _make_bad(tmp_path, case):
    """Write a broken file for ``case``; return (path, words the message must contain)."""
    p = tmp_path
    if case == "missing":
        return p / "nope.csv", ["file not found"]
    if case == "directory":
        (p / "d.csv").mkdir()
        return p / "d.csv", ["directory"]
    if case.startswith("empty-file-"):
        path = p / f"e.{case.rsplit('-', 1)[1]}"
        path.write_bytes(b"")
        return path, ["empty"]
    if case == "blank-lines":
        return _write(p / "b.csv", "\n\n  \n"), ["empty"]
    if case == "header-only":
        return _write(p / "h.csv", "a,b,c\n"), ["no data rows"]
    if case == "ragged-short":
        return _write(p / "r.csv", "1,2,3\n4,5,6\n7,8\n"), ["ragged", "row 3", "2 fields"]
    if case == "ragged-long":
        return _write(p / "r.csv", "a,b\n1,2\n3,4,5\n"), ["ragged", "row 3", "3 fields"]
    if case == "non-numeric":
        return _write(p / "n.csv", "g,a,b\nr1,1,2\nr2,3,oops\n"), [
            "non-numeric", "'oops'", "row 3", "column 3", "'b'", "'r2'"]
    if case == "empty-cell":
        return _write(p / "m.csv", "a,b\n1,2\n,4\n"), ["missing", "row 3", "column 1"]
    if case == "r-layout-non-numeric":  # the header has no cell above the row names
        return _write(p / "r.csv", "a,b\nr1,1,2\nr2,3,x\n"), [
            "non-numeric value 'x'", "row 3 ('r2'), column 3 ('b')"]
    if case == "trailing-delimiter":
        return _write(p / "t.csv", "1,2,\n3,4,\n"), ["missing", "delimiter at the end"]
    if case == "na-cell":
        return _write(p / "m.tsv", "1\t2\n3\tNA\n"), ["missing", "'NA'", "row 2", "column 2"]
    if case == "nan":
        return _write(p / "m.csv", "1,nan\nnan,4\n"), ["2 missing (NaN)", "row 1, column 2"]
    if case == "inf":
        return _write(p / "m.csv", "1,inf\n3,4\n"), ["1 infinite"]
    if case == "negative":
        return _write(p / "m.csv", "a,b\n1,-2\n-3,-0.5\n"), ["3 negative", "row 2, column 2"]
    if case == "negative-npy":
        np.save(p / "m.npy", -A)
        return p / "m.npy", ["5 negative", "[0, 0]"]
    if case == "nan-sparse":
        S = sp.csr_matrix(A)
        S.data[1] = np.nan
        sp.save_npz(p / "s.npz", S)
        return p / "s.npz", ["1 missing (NaN)"]
    if case == "negative-mtx":
        scipy.io.mmwrite(p / "m.mtx", sp.coo_matrix(-A))
        return p / "m.mtx", ["5 negative"]
    if case == "binary-as-csv":
        (p / "b.csv").write_bytes(bytes(range(256)))
        return p / "b.csv", ["not a UTF-8 text file"]
    if case == "corrupt-npy":
        (p / "c.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
        return p / "c.npy", ["not a valid .npy"]
    if case == "truncated-npy":
        np.save(p / "t.npy", A)
        data = (p / "t.npy").read_bytes()
        (p / "t.npy").write_bytes(data[:-8])
        return p / "t.npy", ["not a valid .npy"]
    if case == "pickled-npy":
        np.save(p / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
        return p / "o.npy", ["pickled"]
    if case == "corrupt-npz":
        (p / "c.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
        return p / "c.npz", ["not a valid .npz"]
    if case == "truncated-npz":
        np.savez(p / "t.npz", X=np.ones((50, 50)))
        data = (p / "t.npz").read_bytes()
        (p / "t.npz").write_bytes(data[: len(data) // 2])
        return p / "t.npz", [".npz"]
    if case == "npz-many-arrays":
        np.savez(p / "m.npz", a=A, b=A)
        return p / "m.npz", ["2 arrays", "'X'"]
    if case == "corrupt-mtx":
        text = "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 x\n"
        return _write(p / "c.mtx", text), ["Matrix Market"]
    if case == "not-mtx":
        return _write(p / "c.mtx", "hello world\n"), ["Matrix Market"]
    if case == "unsupported":
        return _write(p / "m.xlsx", "1,2\n"), ["unsupported file extension", "'.xlsx'", ".csv"]
    if case == "no-extension":
        return _write(p / "matrix", "1,2\n"), ["unsupported file extension"]
    if case == "1d-npy":
        np.save(p / "v.npy", np.arange(3.0))
        return p / "v.npy", ["2-D", "(3,)"]
    if case == "3d-npy":
        np.save(p / "v.npy", np.ones((2, 2, 2)))
        return p / "v.npy", ["2-D", "(2, 2, 2)"]
    if case == "complex-npy":
        np.save(p / "c.npy", A.astype(complex))
        return p / "c.npy", ["complex"]
    if case == "string-npy":
        np.save(p / "s.npy", np.array([["a", "b"]]))
        return p / "s.npy", ["non-numeric"]
    raise AssertionError(case)


BAD_CASES = [
    "missing", "directory", "empty-file-csv", "empty-file-tsv", "empty-file-txt",
    "empty-file-npy", "empty-file-npz", "empty-file-mtx", "blank-lines", "header-only",
    "ragged-short", "ragged-long", "non-numeric", "empty-cell", "trailing-delimiter", "na-cell",
    "r-layout-non-numeric", "nan", "inf", "negative", "negative-npy", "nan-sparse",
    "negative-mtx", "binary-as-csv", "corrupt-npy", "truncated-npy", "pickled-npy",
    "corrupt-npz", "truncated-npz", "npz-many-arrays", "corrupt-mtx", "not-mtx", "unsupported",
    "no-extension", "1d-npy", "3d-npy", "complex-npy", "string-npy",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_files_raise_one_line_data_file_error(tmp_path, case):
    path, words = _make_bad(tmp_path, case)
    with pytest.raises(DataFileError) as info:
        read_matrix(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ")
    for word in words:
        assert word in message, (word, message)


# --------------------------------------------------------------------------- atomic writes


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    atomic_write_text(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "t.txt"]


def test_atomic_open_keeps_old_file_when_writer_raises(tmp_path):
    target = tmp_path / "data.csv"
    target.write_text("old contents")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(target, "w") as f:
            f.write("new half-written contents")
            raise RuntimeError("boom")
    assert target.read_text() == "old contents"
    assert _leftovers(tmp_path) == []
    # a failed first write creates nothing
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "fresh.npy", "wb") as f:
            raise RuntimeError("boom")
    assert not (tmp_path / "fresh.npy").exists()
    assert _leftovers(tmp_path) == []


def test_atomic_open_file_modes(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
        existing = tmp_path / "kept.txt"
        existing.write_text("x")
        existing.chmod(0o600)
        atomic_write_text(existing, "y")
        assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    finally:
        os.umask(mask)
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_atomic_open_works_with_numpy_writers(tmp_path):
    with atomic_open(tmp_path / "a.npy", "wb") as f:
        np.save(f, A)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), A)


# --------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((30, 3)) @ rng.random((3, 12)) + 0.01 * rng.random((30, 12))


def _assert_same_model(a, b, X):
    assert type(a) is type(b)
    for name, value in vars(a).items():
        if name.endswith("_") and not name.startswith("_"):
            other = getattr(b, name)
            if isinstance(value, np.ndarray):
                assert isinstance(other, np.ndarray) and other.dtype == value.dtype, name
                np.testing.assert_array_equal(other, value)
            else:
                assert other == value and type(other) is type(value), name
    np.testing.assert_array_equal(b.transform(X), a.transform(X))


def test_model_round_trip(tmp_path, data):
    model = nmfkit.NMF(3, max_iter=100, random_state=0, callback=lambda state: None).fit(data)
    path = tmp_path / "model.npz"
    save_model(model, path)
    loaded = load_model(path)
    _assert_same_model(model, loaded, data)
    params = model.get_params()
    params["callback"] = None  # callables are not stored
    assert loaded.get_params() == params
    # the archive needs no pickle at all
    with np.load(path, allow_pickle=False) as archive:
        for key in archive.files:
            assert not archive[key].dtype.hasobject
    assert _leftovers(tmp_path) == []


def test_model_numpy_int_params_become_ints(tmp_path, data):
    model = nmfkit.NMF(np.int64(2), max_iter=np.int32(20), random_state=np.int64(3)).fit(data)
    save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.n_components == 2 and type(loaded.n_components) is int
    assert loaded.random_state == 3 and type(loaded.random_state) is int
    np.testing.assert_array_equal(loaded.transform(data), model.transform(data))


def test_model_round_trip_sparse_and_kl(tmp_path, data):
    X = sp.csr_matrix(np.where(data > 0.6, data, 0.0))
    model = nmfkit.NMF(2, beta_loss="kullback-leibler", max_iter=50, random_state=1).fit(X)
    model.save(tmp_path / "kl.npz")
    loaded = nmfkit.load(tmp_path / "kl.npz")
    assert loaded.beta_loss == "kullback-leibler"
    _assert_same_model(model, loaded, X)


def test_model_round_trip_feature_names(tmp_path, data):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(data, columns=[f"f{j}" for j in range(data.shape[1])])
    model = nmfkit.NMF(3, max_iter=50, random_state=0).fit(df)
    save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.feature_names_in_.dtype == object
    assert list(loaded.feature_names_in_) == list(df.columns)
    np.testing.assert_array_equal(loaded.transform(df), model.transform(df))


def test_model_random_state_instance_is_dropped_with_warning(tmp_path, data):
    model = nmfkit.NMF(2, max_iter=20, random_state=np.random.RandomState(0)).fit(data)
    with pytest.warns(UserWarning, match="random_state"):
        save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.random_state is None
    np.testing.assert_array_equal(loaded.components_, model.components_)


def test_save_unfitted_model_raises(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_model(nmfkit.NMF(2), tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def _rewrite_metadata(path, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(bytes(arrays["__nmfkit_metadata__"]).decode())
    change(meta)
    arrays["__nmfkit_metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.fixture
def saved_model(tmp_path, data):
    path = tmp_path / "model.npz"
    nmfkit.NMF(2, max_iter=20, random_state=0).fit(data).save(path)
    return path


def test_load_refuses_newer_format(saved_model):
    newer = MODEL_FORMAT_VERSION + 1
    _rewrite_metadata(saved_model, lambda m: m.update(format_version=newer))
    with pytest.raises(ValueError) as info:
        load_model(saved_model)
    assert (
        f"written by a newer nmfkit (format version {newer} > {MODEL_FORMAT_VERSION}); "
        "upgrade nmfkit"
    ) in str(info.value)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda m: m.update({"class": "Popen"}), ["'Popen'", "not one of nmfkit's estimators"]),
        (lambda m: m.update({"class": "DataFileError"}), ["not one of nmfkit's estimators"]),
        (lambda m: m.update(format="something-else"), ["not an nmfkit model"]),
        (lambda m: m.update(format_version="1"), ["format version"]),
        (lambda m: m["attributes"].update(__class__="x"), ["bad attribute name"]),
    ],
)
def test_load_refuses_tampered_metadata(saved_model, change, words):
    _rewrite_metadata(saved_model, change)
    with pytest.raises(DataFileError) as info:
        load_model(saved_model)
    for word in words:
        assert word in str(info.value)


def test_load_refuses_non_nmfkit_files(tmp_path):
    np.savez(tmp_path / "plain.npz", X=A)
    np.save(tmp_path / "plain.npy", A)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("hello.txt", "hi")
    for name in ["plain.npz", "plain.npy", "junk.npz", "other.zip"]:
        with pytest.raises(DataFileError, match="not an nmfkit model file"):
            load_model(tmp_path / name)
    with pytest.raises(DataFileError, match="file not found"):
        load_model(tmp_path / "absent.npz")
