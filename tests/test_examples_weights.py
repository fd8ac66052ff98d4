"""Smoke tests of the missing-data examples (MovieLens fold-in, masked faces).

Each runs the script with ``--quick`` in a subprocess and checks the figures
it prints. They need the real data sets in ``../shared/data`` (or
``$NMFKIT_DATA``) and are skipped with the reason when those are absent.
BLAS is limited to one thread in the child (unless the caller set it): the
matrices are small, and on a busy machine threaded BLAS made these runs
several times slower.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DATA = Path(os.environ.get("NMFKIT_DATA") or REPO.parent / "shared" / "data")


def run_example(script: str, *args: str, timeout: float = 120) -> str:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--data", str(DATA), "--quick", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO,
    )
    assert proc.returncode == 0, (
        f"{script} exited with {proc.returncode}\n--- stdout\n{proc.stdout}\n"
        f"--- stderr\n{proc.stderr}"
    )
    return proc.stdout


def need(*parts: str) -> None:
    path = DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"example data missing: {path} (set NMFKIT_DATA to the shared data directory)")


def test_movielens_quick_beats_baseline():
    need("movielens_100k", "ml-100k-splits.tar.xz")
    need("movielens_100k", "u.item")
    out = run_example("movielens_recommend.py")
    rows = re.findall(r"^(u[1-5])\s+(\d+\.\d+)\s+(\d+\.\d+)\s+[-+]\d", out, re.M)
    assert [r[0] for r in rows] == ["u1"], out
    nmf, base = float(rows[0][1]), float(rows[0][2])
    assert 0.85 < nmf < base < 1.0, out
    assert "Top-10 for user 1" in out and "fold_in_features" in out and "transform(" in out


def test_masked_faces_quick_error_falls(tmp_path):
    need("cbcl_faces", "CBCL.mat")
    png = tmp_path / "faces.png"
    out = run_example("masked_faces.py", "--out", str(png))
    errs = [(int(k), float(e)) for k, e in re.findall(r"^k=(\d+)\s+(\d+\.\d+)", out, re.M)]
    assert len(errs) >= 2, out
    naive = float(re.search(r"naive fill \(per-pixel mean over the faces\): mask error "
                            r"(\d+\.\d+)", out).group(1))
    (k_lo, e_lo), (k_hi, e_hi) = errs[0], errs[-1]
    assert k_lo < k_hi and e_hi < e_lo < naive, out
    assert png.is_file() and png.stat().st_size > 10_000


@pytest.mark.parametrize("script", ["movielens_recommend.py", "masked_faces.py"])
def test_missing_data_exits_2(script, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--data", str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert proc.returncode == 2
    assert "not found" in proc.stderr
