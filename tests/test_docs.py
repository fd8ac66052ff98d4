"""The README's solver table is generated from the registry and must stay in step."""

from pathlib import Path

from nmfkit.solvers import compatibility_table


def test_readme_solver_table_matches_registry():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- solver-table:start -->")[1].split("<!-- solver-table:end -->")[0]
    assert block.strip() == compatibility_table().strip()
