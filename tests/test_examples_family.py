"""The synthetic-data examples of the NMF family run and print what they claim."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(name: str) -> str:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def floats(pattern: str, text: str) -> list[float]:
    return [float(x) for x in re.findall(pattern, text)]


@pytest.mark.parametrize(
    "name,checks",
    [
        (
            "symmetric_graph_clustering.py",
            [(r"ARI = ([\d.]+)", 0.95, ">="), (r"relative error ([\d.e+-]+)\n?$", 1e-10, "<=")],
        ),
        ("convex_semi_nmf.py", [(r"SemiNMF on mixed-sign blobs: ARI ([\d.]+)", 0.9, ">=")]),
        ("graph_regularized_moons.py", [(r"graph from positions: ARI ([\d.]+)", 0.95, ">=")]),
        ("kl_plsa.py", [(r"distance per topic: \[([\d. ]+)", None, None)]),
        ("admm_solver.py", [(r"frobenius  admm: objective ([\d.e+-]+)", 0.3, "<=")]),
    ],
)
def test_family_examples(name, checks):
    text = run(name)
    for pattern, bound, op in checks:
        vals = floats(pattern, text.strip()) if op else []
        if op == ">=":
            assert vals and min(vals) >= bound, text
        elif op == "<=":
            assert vals and max(vals) <= bound, text
    if name == "kl_plsa.py":
        m = re.search(r"KL \+ loglik = (-?[\d.]+).*= (-?[\d.]+)\)", text)
        assert m, text
        assert abs(float(m.group(1)) - float(m.group(2))) < 1e-6 * abs(float(m.group(2)))
        tv = [float(v) for v in re.search(r"per topic: \[([\d. ]+)\]", text).group(1).split()]
        assert max(tv) < 0.1
