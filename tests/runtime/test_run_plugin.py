"""A planner of the user's own (``--planner FILE.py:CLASS``) in real runs: the host plans, the workers get
only the plan, so local processes and containers run it without the file or a new image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from sim.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "planners" / "critical_path.py"
WF = "tree_reduction:leaves=4"


def _run(spec: str, launcher: str, redis_url: str) -> dict:
    res = CliRunner().invoke(
        main, ["run", WF, "--planner", spec, "--launcher", launcher, "--redis", redis_url, "--json"]
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{") :])


def test_run_and_validate_with_a_file_plugin_on_local_processes(redis_server, tmp_path):
    copy = tmp_path / "cp.py"
    shutil.copy(EXAMPLE, copy)
    spec = f"{copy}:CriticalPathClustering:slack=0"
    summary = _run(spec, "process", redis_server.url)
    assert summary["result_check"] == "OK" and summary["tasks_executed"] == 3 and summary["keys_left"] == 0
    assert summary["planner"] == spec
    # linear clustering of a 4-leaf tree (3 tasks): a leaf with the sink, the other leaf alone
    assert summary["invocations"] == 2, summary
    report = tmp_path / "v.html"
    res = CliRunner(env={"COLUMNS": "400"}).invoke(  # the spec is a long path: kept on one line
        main,
        [
            "validate",
            WF,
            "--planner",
            spec,
            "--runs",
            "1",
            "--redis",
            redis_server.url,
            "--report",
            str(report),
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"tree_reduction with {spec}: last run, overall" in res.output, res.output
    assert "the real run failed" not in report.read_text()


def test_run_with_a_file_plugin_in_containers(redis_server, worker_image, tmp_path):
    copy = tmp_path / "cp.py"  # a path no container mounts: the containers get the plan only
    shutil.copy(EXAMPLE, copy)
    summary = _run(f"{copy}:CriticalPathClustering", "docker", redis_server.url)
    assert summary["result_check"] == "OK" and summary["tasks_executed"] == 3 and summary["keys_left"] == 0
    assert summary["launcher"] == "docker" and summary["invocations"] == 2, summary
