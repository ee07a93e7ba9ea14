"""``plansim run``: result check, metrics, JSON, JSONL records, one-line user errors."""

from __future__ import annotations

import json

from click.testing import CliRunner

from sim.cli import main
from sim.models.records import iter_jsonl


def test_run_known_type_prints_check_and_metrics(redis_server):
    res = CliRunner().invoke(
        main,
        [
            "run",
            "tree_reduction:leaves=8",
            "--planner",
            "non-uniform",
            "--launcher",
            "process",
            "--redis",
            redis_server.url,
        ],
    )
    assert res.exit_code == 0, res.output
    for label in ("result check", "OK", "makespan ms", "invocations", "cold starts", "warm starts"):
        assert label in res.output
    # The check's own time is shown: for gemm it added 8 s to a 13 s run, outside "wall s".
    assert "(in-process run: " in res.output and "--no-check skips it" in res.output, res.output


def test_run_json_and_metrics_out(redis_server, tmp_path):
    out = tmp_path / "m.jsonl"
    res = CliRunner().invoke(
        main,
        [
            "run",
            "gemm:n=40,blocks=2",
            "--planner",
            "wukong",
            "--launcher",
            "process",
            "--redis",
            redis_server.url,
            "--json",
            "--metrics-out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{") :])
    assert summary["result_check"] == "OK" and summary["check_s"] > 0
    assert summary["tasks"] == 5 and summary["tasks_executed"] == 5
    assert summary["keys_left"] == 0
    records = list(iter_jsonl(out))
    assert {r.kind for r in records} == {"task", "worker", "run"}
    assert summary["records_written"] == len(records)


def test_run_user_file_with_sink(redis_server, tmp_path):
    f = tmp_path / "wf.py"
    f.write_text(
        "from sim.workflow.language import task\n"
        "@task\ndef inc(x):\n    return x + 1\n"
        "workflow = inc(inc(1))\n"
    )
    res = CliRunner().invoke(
        main, ["run", f"{f}:workflow", "--launcher", "process", "--redis", redis_server.url, "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout[res.stdout.index("{") :])
    assert summary["result"] == "3" and summary["result_check"] == "skipped"


def test_task_error_is_one_error_block(redis_server, tmp_path):
    f = tmp_path / "bad.py"
    f.write_text(
        "from sim.workflow.language import task\n"
        "@task\ndef bad(x):\n    raise KeyError('nope')\n"
        "workflow = bad(1)\n"
    )
    res = CliRunner().invoke(
        main, ["run", f"{f}:workflow", "--launcher", "process", "--redis", redis_server.url]
    )
    assert res.exit_code == 1
    assert "error: task 'bad-0' failed" in res.output
    assert "KeyError: 'nope'" in res.output
    assert "Traceback" in res.output  # the remote one


def test_user_errors(redis_server):
    runner = CliRunner()
    res = runner.invoke(main, ["run", "no_such_type", "--launcher", "process", "--redis", redis_server.url])
    assert res.exit_code == 1 and res.output.startswith("error:")
    res = runner.invoke(
        main,
        [
            "run",
            "tree_reduction:leaves=4",
            "--planner",
            "nope",
            "--launcher",
            "process",
            "--redis",
            redis_server.url,
        ],
    )
    assert res.exit_code == 1 and "unknown planner" in res.output
    res = runner.invoke(
        main,
        ["run", "tree_reduction:leaves=4", "--launcher", "process", "--redis", "redis://:x@127.0.0.1:1/0"],
    )
    assert res.exit_code == 1 and "not reachable" in res.output
