from __future__ import annotations

import json

from click.testing import CliRunner

from sim.cli import main
from sim.planners import PLANNERS
from sim.planners.optimizations import OPTIMIZATIONS


def test_planners_list_names_every_planner_and_optimization():
    r = CliRunner().invoke(main, ["planners", "list", "--json"])
    assert r.exit_code == 0, r.output
    listed = json.loads(r.output)
    rows = listed["planners"]
    assert [row["name"] for row in rows] == list(PLANNERS)
    assert all(row["description"] for row in rows)
    assert "objective" in next(row for row in rows if row["name"] == "sim-search")["options"]
    # The README and `plansim --help` promise the optimizations too; before, --opt's names were
    # nowhere on the command line.
    assert [o["name"] for o in listed["optimizations"]] == list(OPTIMIZATIONS)
    assert all(o["description"] for o in listed["optimizations"])
    table = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["planners", "list"])
    assert table.exit_code == 0 and "dask-like" in table.output
    assert all(name in table.output for name in OPTIMIZATIONS), table.output


def test_new_planners_work_in_compare(tmp_path):
    import pytest

    pytest.importorskip("sim.workflow.library")
    r = CliRunner().invoke(
        main,
        [
            "compare",
            "tree_reduction",
            "--planners",
            "heft,cpop,dask-like,sim-search:max_simulations=10",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    names = [s["planner"] for s in json.loads(r.output)]
    assert names == ["heft", "cpop", "dask-like", "sim-search:max_simulations=10"]
