"""The notebooks run top to bottom (executed with nbclient on the venv's python3 kernel, small inputs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NEEDS_REDIS = {"plan_vs_real.ipynb"}


def _execute(name: str, tmp_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return nb


def test_all_notebooks_are_tested():
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} == {
        "whatif_quickstart.ipynb", "calibration_walkthrough.ipynb", "plan_vs_real.ipynb"}


@pytest.mark.parametrize("name", ["whatif_quickstart.ipynb", "calibration_walkthrough.ipynb", "plan_vs_real.ipynb"])
def test_notebook_runs(name, tmp_path):
    if name in NEEDS_REDIS and shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    nb = _execute(name, tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)  # every cell ran
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    if name == "whatif_quickstart.ipynb":
        assert (tmp_path / "whatif_gantt.png").exists() and (tmp_path / "quickstart_sweep.pareto.png").exists()
    if name == "plan_vs_real.ipynb":
        html = (tmp_path / "plan_vs_real_report.html").read_text()
        assert "Run by run" in html and "real critical path" in html
