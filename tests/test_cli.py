"""The ``nmfkit`` command: end to end for every input format, errors, the demo."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import nmfkit
from nmfkit.cli import main
from nmfkit.io import read_matrix

pytest.importorskip("matplotlib")

@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The matrices here are tiny: BLAS threads only contend with the other test workers."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


STOP_REASONS = {"tol", "max_iter", "max_time", "callback", "exact"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def X():
    """An exactly rank-3, strictly positive 24 × 10 matrix."""
    rng = np.random.default_rng(42)
    return rng.random((24, 3)) @ rng.random((3, 10)) + 0.05


ROWS = [f"s{i}" for i in range(24)]
COLS = [f"f{j}" for j in range(10)]


def _write_input(tmp_path, X, fmt):
    """Write X in ``fmt``; return (path, row names, column names, sparse?)."""
    if fmt == "csv-names":
        path = tmp_path / "data.csv"
        lines = ["gene," + ",".join(COLS)]
        lines += [
            f"{r}," + ",".join(repr(v) for v in row)
            for r, row in zip(ROWS, X.tolist(), strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")
        return path, ROWS, COLS, False
    if fmt == "csv-plain":
        path = tmp_path / "data.csv"
        np.savetxt(path, X, delimiter=",", fmt="%.17g")
        return path, None, None, False
    if fmt == "tsv":
        path = tmp_path / "data.tsv"
        np.savetxt(path, X, delimiter="\t", fmt="%.17g", header="\t".join(COLS), comments="")
        return path, None, COLS, False
    if fmt == "txt":
        path = tmp_path / "data.txt"
        np.savetxt(path, X, fmt="%.17g", header="whitespace-separated values")
        return path, None, None, False
    if fmt == "npy":
        np.save(tmp_path / "data.npy", X)
        return tmp_path / "data.npy", None, None, False
    if fmt == "npz-dense":
        np.savez(tmp_path / "data.npz", X=X)
        return tmp_path / "data.npz", None, None, False
    if fmt == "npz-sparse":
        sp.save_npz(tmp_path / "data.npz", sp.csr_matrix(X))
        return tmp_path / "data.npz", None, None, True
    if fmt == "mtx":
        scipy.io.mmwrite(tmp_path / "data.mtx", sp.coo_matrix(X), precision=17)
        return tmp_path / "data.mtx", None, None, True
    raise AssertionError(fmt)


FORMATS = ["csv-names", "csv-plain", "tsv", "txt", "npy", "npz-dense", "npz-sparse", "mtx"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_fit_end_to_end(tmp_path, X, fmt, capsys):
    path, rows, cols, sparse = _write_input(tmp_path, X, fmt)
    out = tmp_path / "out"
    status = main(["fit", str(path), "-k", "3", "-o", str(out), "--max-iter", "200",
                   "--tol", "1e-7", "--seed", "0"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "wrote" in captured.out
    assert "Traceback" not in captured.err

    expected = {"W.csv", "H.csv", "W.npy", "H.npy", "model.npz", "summary.json",
                "convergence.png"}
    assert {p.name for p in out.iterdir()} == expected  # and no temporary files

    W, H = np.load(out / "W.npy"), np.load(out / "H.npy")
    assert W.shape == (24, 3) and H.shape == (3, 10)
    assert W.min() >= 0 and H.min() >= 0
    rel = np.linalg.norm(X - W @ H) / np.linalg.norm(X)
    assert rel < 0.02  # X has rank 3

    # CSVs hold the same numbers, with the input's names
    Wc, w_rows, w_cols = read_matrix(out / "W.csv")
    Hc, h_rows, h_cols = read_matrix(out / "H.csv")
    np.testing.assert_array_equal(Wc, W)
    np.testing.assert_array_equal(Hc, H)
    components = ["component_0", "component_1", "component_2"]
    assert w_rows == rows and w_cols == components
    assert h_rows == components and h_cols == cols

    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_iter"] >= 1 and isinstance(summary["n_iter"], int)
    assert summary["stop_reason"] in STOP_REASONS
    assert summary["converged"] == (summary["stop_reason"] in ("tol", "exact"))
    assert summary["solver"] == "hals"
    assert summary["reconstruction_err"] == pytest.approx(np.linalg.norm(X - W @ H), rel=1e-6)
    assert summary["relative_error"] == pytest.approx(rel, rel=1e-5, abs=1e-12)
    assert summary["elapsed_seconds"] >= 0
    assert summary["objective_final"] <= summary["objective_initial"]
    assert summary["input"] == {
        "path": str(path), "n_samples": 24, "n_features": 10, "sparse": sparse, "nnz": 240,
    }
    assert summary["options"]["n_components"] == 3
    assert summary["options"]["tol"] == 1e-7 and summary["options"]["seed"] == 0
    assert set(summary["versions"]) >= {"nmfkit", "numpy", "scipy", "scikit-learn", "python"}
    assert summary["versions"]["nmfkit"] == nmfkit.__version__

    assert (out / "convergence.png").read_bytes().startswith(PNG_MAGIC)
    model = nmfkit.load(out / "model.npz")
    np.testing.assert_array_equal(model.components_, H)


def test_fit_options_are_passed_on(tmp_path, X, capsys):
    path, *_ = _write_input(tmp_path, X, "npy")
    out = tmp_path / "out"
    status = main(["fit", str(path), "-k", "2", "-o", str(out), "--beta-loss", "1",
                   "--solver", "mu", "--init", "random", "--max-iter", "7", "--tol", "0",
                   "--seed", "3", "-q"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.out == "" and captured.err == ""  # --quiet
    summary = json.loads((out / "summary.json").read_text())
    assert summary["solver"] == "mu"
    assert summary["n_iter"] == 7 and summary["stop_reason"] == "max_iter"
    assert summary["options"]["beta_loss"] == 1.0
    model = nmfkit.load(out / "model.npz")
    assert model.beta_loss == 1.0 and model.init == "random" and model.random_state == 3


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_shows_objective_on_a_terminal(tmp_path, X, monkeypatch):
    from types import SimpleNamespace

    from nmfkit.cli import _Progress

    path, *_ = _write_input(tmp_path, X, "npy")
    fake = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    status = main(["fit", str(path), "-k", "3", "-o", str(tmp_path / "o"), "--max-iter", "20",
                   "--tol", "0"])
    assert status == 0
    assert "nmfkit fit" in fake.getvalue()  # the bar was drawn (and removed at the end)

    # what the estimator's callback feeds it
    progress = _Progress(50, "nmfkit fit", enabled=True)
    progress(SimpleNamespace(n_iter=3, loss=12.5, elapsed=0.1))
    progress.bar.refresh()
    assert progress.bar.n == 3
    assert "objective=12.5" in fake.getvalue()
    progress(SimpleNamespace(n_iter=1, loss=99.0, elapsed=0.2))  # a new start
    assert progress.bar.n == 1
    progress.close()
    monkeypatch.undo()
    assert _Progress(50, "x", enabled=False).bar is None


def test_no_progress_output_when_stderr_is_not_a_terminal(tmp_path, X, capsys):
    path, *_ = _write_input(tmp_path, X, "npy")
    status = main(["fit", str(path), "-k", "3", "-o", str(tmp_path / "o"), "--tol", "1e-3"])
    captured = capsys.readouterr()
    assert status == 0
    assert "objective=" not in captured.err and "it/s" not in captured.err


def test_max_iter_warning_is_one_line(tmp_path, X, capsys):
    path, *_ = _write_input(tmp_path, X, "npy")
    status = main(["fit", str(path), "-k", "3", "-o", str(tmp_path / "o"), "--max-iter", "2",
                   "--tol", "1e-12"])
    captured = capsys.readouterr()
    assert status == 0
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmfkit: warning: ")


# --------------------------------------------------------------------------- errors


def _bad_file(tmp_path, case):
    if case == "missing":
        return tmp_path / "absent.csv"
    path = {
        "empty": tmp_path / "e.csv",
        "ragged": tmp_path / "r.csv",
        "non-numeric": tmp_path / "n.csv",
        "nan": tmp_path / "nan.tsv",
        "negative": tmp_path / "neg.txt",
        "corrupt-npy": tmp_path / "c.npy",
        "corrupt-npz": tmp_path / "c.npz",
        "corrupt-mtx": tmp_path / "c.mtx",
        "unsupported": tmp_path / "data.xlsx",
        "1d": tmp_path / "v.npy",
    }[case]
    if case == "1d":
        np.save(path, np.arange(4.0))
        return path
    content = {
        "empty": b"",
        "ragged": b"1,2,3\n4,5\n",
        "non-numeric": b"1,2\n3,abc\n",
        "nan": b"1\tnan\n3\t4\n",
        "negative": b"1 -2\n3 4\n",
        "corrupt-npy": b"\x93NUMPY\x01\x00 broken",
        "corrupt-npz": b"PK\x03\x04 broken",
        "corrupt-mtx": b"%%MatrixMarket matrix coordinate real general\n2 2 5\n1 1 1\n",
        "unsupported": b"1,2\n",
    }[case]
    path.write_bytes(content)
    return path


BAD = {
    "missing": "file not found",
    "empty": "empty",
    "ragged": "ragged",
    "non-numeric": "non-numeric value 'abc' at row 2, column 2",
    "nan": "missing (NaN)",
    "negative": "1 negative value",
    "corrupt-npy": "not a valid .npy",
    "corrupt-npz": "not a valid .npz",
    "corrupt-mtx": "Matrix Market",
    "unsupported": "unsupported file extension",
    "1d": "2-D",
}


def _assert_one_line_error(captured, *words):
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("nmfkit: error: ")
    assert "Traceback" not in captured.err
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_exits_2_with_one_line(tmp_path, case, capsys):
    path = _bad_file(tmp_path, case)
    out = tmp_path / "out"
    status = main(["fit", str(path), "-k", "2", "-o", str(out)])
    assert status == 2
    _assert_one_line_error(capsys.readouterr(), path.name, BAD[case])
    assert not out.exists()


@pytest.mark.parametrize(
    "options, words",
    [
        (["-k", "0"], ["-k/--n-components", "positive integer"]),
        (["-k", "two"], ["positive integer", "'two'"]),
        (["-k", "2", "--solver", "bogus"], ["bogus"]),
        (["-k", "2", "--beta-loss", "euclid"], ["beta_loss", "euclid"]),
        (["-k", "2", "--init", "magic"], ["init", "magic"]),
        (["-k", "2", "--tol", "-1"], ["--tol", "-1"]),
        (["-k", "2", "--max-iter", "0"], ["--max-iter"]),
        (["-k", "2", "--beta-loss", "nan"], ["finite"]),
        (["-k", "2", "--frobnicate"], ["unrecognized arguments", "--frobnicate"]),
        ([], ["required", "-k"]),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, X, options, words, capsys):
    path, *_ = _write_input(tmp_path, X, "npy")
    out = tmp_path / "out"
    status = main(["fit", str(path), "-o", str(out), *options])
    assert status == 2
    _assert_one_line_error(capsys.readouterr(), *words)
    assert not out.exists()


def test_output_path_that_is_a_file(tmp_path, X, capsys):
    path, *_ = _write_input(tmp_path, X, "npy")
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    assert main(["fit", str(path), "-k", "2", "-o", str(blocker)]) == 2
    _assert_one_line_error(capsys.readouterr(), "not a directory")
    assert blocker.read_text() == "keep me"


def test_no_command_and_help(capsys):
    assert main([]) == 2
    _assert_one_line_error(capsys.readouterr(), "required")
    assert main(["--help"]) == 0
    assert "fit" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert nmfkit.__version__ in capsys.readouterr().out


def test_python_dash_m_exit_codes(tmp_path, X):
    """Real processes: success gives 0, a bad file gives 2 and one line, no traceback."""
    path, *_ = _write_input(tmp_path, X, "csv-names")
    bad = _bad_file(tmp_path, "non-numeric")
    command = [sys.executable, "-m", "nmfkit", "fit"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    # start both, then wait: the two interpreter start-ups overlap
    procs = [
        subprocess.Popen([*command, str(path), "-k", "3", "-o", str(tmp_path / "out"), "-q"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env),
        subprocess.Popen([*command, str(bad), "-k", "3", "-o", str(tmp_path / "out2")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env),
    ]
    (ok_out, ok_err), (bad_out, bad_err) = (p.communicate(timeout=300) for p in procs)
    assert procs[0].returncode == 0, ok_err
    assert ok_out == "" and ok_err == ""
    assert (tmp_path / "out" / "W.csv").exists()
    assert procs[1].returncode == 2
    assert bad_out == ""
    assert bad_err.count("\n") == 1 and bad_err.startswith("nmfkit: error: ")
    assert "Traceback" not in bad_err and "'abc'" in bad_err
    assert not (tmp_path / "out2").exists()


# --------------------------------------------------------------------------- demo


def test_demo_report(tmp_path, capsys):
    from matplotlib.image import imread

    out = tmp_path / "report"
    status = main(["demo", "-o", str(out), "--max-iter", "30"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert str(out / "index.html") in captured.out
    assert {p.name for p in out.iterdir()} == {
        "components.png", "convergence.png", "summary.json", "index.html"}
    for name in ("components.png", "convergence.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    page = (out / "index.html").read_text()
    assert '<img src="components.png"' in page and '<img src="convergence.png"' in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["n_samples"] == 1797 and summary["input"]["n_features"] == 64
    assert summary["options"]["n_components"] == 16  # the default
    assert 1 <= summary["n_iter"] <= 30
    assert 0 < summary["relative_error"] < 0.5
    assert str(summary["n_iter"]) in page
    assert "matplotlib" in summary["versions"]


# --------------------------------------------------------------------------- rank


@pytest.fixture(scope="module")
def rank_csv(tmp_path_factory):
    """A small CSV with sample names: 30 samples in 3 groups, 12 features, 1% noise."""
    rng = np.random.default_rng(5)
    W = 0.1 * rng.random((30, 3))
    W[np.arange(30), np.arange(30) % 3] = rng.uniform(1, 2, 30)
    H = rng.random((3, 12)) * (rng.random((3, 12)) < 0.6)
    H[np.arange(3), np.arange(3)] = 1.0
    X = W @ H
    X = np.maximum(X + 0.01 * X.std() * rng.standard_normal(X.shape), 0)
    path = tmp_path_factory.mktemp("rank") / "small.csv"
    lines = ["sample," + ",".join(f"f{j}" for j in range(12))]
    lines += [f"s{i}," + ",".join(repr(v) for v in row) for i, row in enumerate(X.tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("method", ["consensus", "frv", "cv"])
def test_rank_end_to_end(tmp_path, rank_csv, method, capsys):
    from matplotlib.image import imread

    out = tmp_path / "sel"
    status = main(["rank", str(rank_csv), "--ks", "2:5", "--method", method, "--n-runs", "3",
                   "--seed", "0", "--max-iter", "300", "-o", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Traceback" not in captured.err
    lines = captured.out.splitlines()
    assert "best k = 3" in captured.out
    # the table: a header, one row per k (2..5 inclusive), the best one starred
    rows = [line for line in lines if line.lstrip("* ").split(" ")[0] in {"2", "3", "4", "5"}]
    assert len(rows) == 4 and rows[1].startswith("*")

    expected = {"rank.json", "rank.csv", "rank.png"}
    if method == "consensus":
        expected.add("consensus.png")
    assert {p.name for p in out.iterdir()} == expected  # and no temporary files

    record = json.loads((out / "rank.json").read_text())
    assert record["method"] == method and record["best_k"] == 3
    assert record["ks"] == [2, 3, 4, 5]
    assert record["table"]["k"] == [2, 3, 4, 5]
    assert record["input"]["n_samples"] == 30 and record["input"]["n_features"] == 12
    assert record["options"]["seed"] == 0 and record["options"]["n_runs"] == 3
    table, _, header = read_matrix(out / "rank.csv")
    assert header[0] == "k" and header == list(record["table"])
    np.testing.assert_array_equal(table[:, 0], [2, 3, 4, 5])
    for j, col in enumerate(header):
        np.testing.assert_array_equal(table[:, j], record["table"][col])
    for name in expected - {"rank.json", "rank.csv"}:
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
        assert imread(out / name).ndim == 3


def test_rank_ks_list_quiet_and_no_output_dir(tmp_path, rank_csv, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = main(["rank", str(rank_csv), "--ks", "4,2,3", "--method", "cv", "--n-runs", "2",
                   "--seed", "1", "-q"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.out == "3\n" and captured.err == ""
    assert list(tmp_path.iterdir()) == []  # nothing written without -o


def test_rank_results_do_not_depend_on_n_jobs(tmp_path, rank_csv, capsys):
    from joblib import parallel_config

    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        with parallel_config(backend="threading"):  # processes would take ~10 s to start
            assert main(["rank", str(rank_csv), "--ks", "2:4", "--method", "cv", "--n-runs",
                         "2", "--seed", "3", "--n-jobs", jobs, "-o", str(out), "-q"]) == 0
        outs.append(json.loads((out / "rank.json").read_text())["table"])
    capsys.readouterr()
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "options, words",
    [
        (["--ks", "5:2"], ["--ks", "A <= B", "'5:2'"]),
        (["--ks", "two"], ["--ks", "inclusive range", "'two'"]),
        (["--ks", "2:x"], ["--ks", "'2:x'"]),
        (["--ks", "0:3"], ["--ks", ">= 1"]),
        (["--ks", "2:3:4"], ["--ks", "'2:3:4'"]),
        (["--ks", "1:3"], ["k >= 2"]),  # consensus needs two clusters at least
        (["--ks", "2:3", "--method", "aic"], ["--method", "invalid choice", "aic"]),
        (["--ks", "2:3", "--n-runs", "0"], ["--n-runs", "positive integer"]),
        (["--ks", "2:3", "--method", "cv", "--holdout", "0.9"], ["--holdout", "(0, 0.5]"]),
        (["--ks", "2:3", "--method", "frv", "--beta-loss", "1"], ["does not take", "beta_loss"]),
        ([], ["required", "--ks"]),
    ],
)
def test_rank_bad_options_exit_2_with_one_line(tmp_path, rank_csv, options, words, capsys):
    out = tmp_path / "out"
    status = main(["rank", str(rank_csv), "-o", str(out), *options])
    assert status == 2
    _assert_one_line_error(capsys.readouterr(), *words)
    assert not out.exists()


def test_rank_bad_file_exits_2(tmp_path, capsys):
    path = _bad_file(tmp_path, "non-numeric")
    assert main(["rank", str(path), "--ks", "2:3"]) == 2
    _assert_one_line_error(capsys.readouterr(), path.name, "'abc'")


# --------------------------------------------------------------------------- fit --report


def test_fit_report(tmp_path, rank_csv, capsys):
    from matplotlib.image import imread

    out = tmp_path / "rep"
    status = main(["fit", str(rank_csv), "-k", "3", "-o", str(out), "--seed", "0", "--report",
                   "--image-shape", "3x4", "--n-top", "4"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert {p.name for p in out.iterdir()} == {
        "W.csv", "H.csv", "W.npy", "H.npy", "model.npz", "summary.json", "convergence.png",
        "components.png", "top_features.png", "report.html"}
    page = (out / "report.html").read_text()
    for name in ("components.png", "top_features.png", "convergence.png"):
        assert f'<img src="{name}"' in page  # relative paths: the folder can be moved
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    summary = json.loads((out / "summary.json").read_text())
    assert str(summary["n_iter"]) in page and "small.csv" in page
    assert "30 samples" in page and "12 features" in page


def test_fit_report_heatmap_by_default_and_bad_image_shape(tmp_path, rank_csv, capsys):
    out = tmp_path / "rep"
    assert main(["fit", str(rank_csv), "-k", "2", "-o", str(out), "--report", "-q"]) == 0
    assert (out / "components.png").exists() and (out / "report.html").exists()
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["fit", str(rank_csv), "-k", "2", "-o", str(bad), "--report",
                 "--image-shape", "5x5"]) == 2
    _assert_one_line_error(capsys.readouterr(), "--image-shape 5x5", "12 columns")
    assert not bad.exists()
    assert main(["fit", str(rank_csv), "-k", "2", "-o", str(bad), "--image-shape", "ax4"]) == 2
    _assert_one_line_error(capsys.readouterr(), "HEIGHTxWIDTH")
