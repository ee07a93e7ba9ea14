"""``plansim simulate`` and ``plansim compare`` end to end, on a real trace file, and their errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.engine.whatif import what_if
from sim.workflow.shared_data import shared_data_dir
from sim.workflow.wfformat import load_wfformat

DATA = shared_data_dir() / "wfinstances"
FORKJOIN = str(DATA / "helloworld" / "helloworld-forkjoin-10-chameleon.json.xz")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_simulate_json_has_the_promised_fields(tmp_path):
    gantt = tmp_path / "g.png"
    metrics = tmp_path / "m.jsonl"
    r = invoke(
        "simulate",
        FORKJOIN,
        "--planner",
        "uniform",
        "--json",
        "--gantt",
        str(gantt),
        "--metrics-out",
        str(metrics),
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for key in ("makespan_ms", "cost_gb_s", "invocations", "cold_starts", "planner", "workflow", "tasks"):
        assert key in out
    assert out["planner"] == "uniform"
    assert len(out["tasks"]) == len(load_wfformat(FORKJOIN))
    assert {"id", "worker", "start_ms", "end_ms"} <= set(out["tasks"][0])
    assert all(t["end_ms"] >= t["start_ms"] for t in out["tasks"])
    assert gantt.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kinds = [json.loads(line)["kind"] for line in metrics.read_text().splitlines()]
    assert kinds.count("task") == len(out["tasks"]) and kinds.count("run") == 1


def test_compare_prints_every_planner_side_by_side():
    r = invoke("compare", FORKJOIN, "--planners", "uniform,non-uniform,wukong", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["planner"] for row in rows] == ["uniform", "non-uniform", "wukong"]
    table = invoke("compare", FORKJOIN, "--planners", "uniform,wukong")
    assert table.exit_code == 0 and "makespan (ms)" in table.output and "wukong" in table.output


def test_compare_says_what_it_simulated_in_whole_lines():
    # Before: the table's title wrapped at the table's width ("... SLA" / "average" in the demo's own
    # output on an 80-column terminal), and --opt was nowhere in the output.
    args = ["compare", "tree_reduction:leaves=64", "--opt", "prewarm,preload"]
    r = CliRunner(env={"COLUMNS": "80"}).invoke(main, args)
    assert r.exit_code == 0, r.output
    head = r.output.splitlines()[:2]
    assert head[0].startswith("tree_reduction (63 tasks, type "), head
    assert head[1] == "platform default, SLA average, optimizations preload, prewarm", head


def test_plan_summary_shows_the_memory_of_flexible_tasks():
    r = invoke(
        "compare", "tree_reduction:leaves=8", "--planners", "uniform,wukong", "--memory", "1024", "--json"
    )
    assert r.exit_code == 0, r.output
    uniform, wukong = (row["plan"] for row in json.loads(r.output))
    assert uniform["flexible_tasks"] == 0 and uniform["flexible_tasks_by_memory"] == {}
    assert wukong["planned_workers"] == 0
    assert wukong["flexible_tasks_by_memory"] == {"1024": 7}  # JSON object keys are strings
    assert (
        "(1024 MB x7)"
        in invoke("compare", "tree_reduction:leaves=8", "--planners", "wukong", "--memory", "1024").output
    )


def test_sla_percentiles_are_ordered_and_replications_vary():
    wf = load_wfformat(FORKJOIN)
    spans = [what_if(wf, "wukong", sla=sla).result.output.makespan_ms for sla in ("p10", "p50", "p95")]
    assert spans[0] < spans[1] < spans[2]
    reps = what_if(wf, "wukong", replications=8, seed=1).summary()["replications"]
    assert reps["makespan_ms_p5"] < reps["makespan_ms_p95"]
    again = what_if(wf, "wukong", replications=8, seed=1).summary()["replications"]
    assert again == reps  # same seed, same numbers


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate", FORKJOIN, "--planner", "nope"], "unknown planner 'nope'"),
        (["simulate", FORKJOIN, "--memory", "2048,abc"], "memory sizes"),
        (["simulate", FORKJOIN, "--sla", "p200"], "SLA"),
        (["simulate", FORKJOIN, "--platform", "moon"], "unknown platform 'moon'"),
        (["simulate", FORKJOIN, "--opt", "teleport"], "unknown optimization 'teleport'"),
        (["simulate", FORKJOIN, "--models", "/nonexistent/models.json"], "does not exist"),
        (["simulate", FORKJOIN, "--gantt", "chart.pdf"], ".png, .html or .htm"),
        (["compare", FORKJOIN, "--planners", ","], "at least one planner"),
        (["compare", FORKJOIN, "--planners", "uniform,wukong,uniform"], "names uniform more than once"),
    ],
)
def test_bad_input_is_one_clear_error_line(args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke(*args)
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], r.output
    assert "Traceback" not in r.output


def test_platform_file(tmp_path):
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps({"invoke_latency_ms": 500.0}))
    fast = what_if(load_wfformat(FORKJOIN), "wukong").result.output.makespan_ms
    slowed = what_if(load_wfformat(FORKJOIN), "wukong", platform=str(slow)).result.output.makespan_ms
    # the run's first invocation alone comes 500 - 15 ms later (an invoker waits only its request)
    assert slowed > fast + 480.0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"invoke_latency": 1}))
    r = invoke("simulate", FORKJOIN, "--platform", str(bad))
    assert r.exit_code == 1 and "unknown field 'invoke_latency'" in r.output


def test_the_title_says_which_functions_the_models_file_calibrates(tmp_path):
    """A models file fitted on other functions changed nothing, silently: calibrate on pegasus/seismology,
    then `simulate gemm --models seis.json` printed the defaults' 12774.6 ms under the same two lines as a
    run without it. The title now counts the workflow's functions the file has a model of."""
    from sim.models.performance import ExecModel, PerformanceModels

    models = PerformanceModels()
    models.exec["multiply_chunks"] = ExecModel(a=0.001, b=1.0, c=0.3)
    path = tmp_path / "m.json"
    models.save(path)
    gemm = invoke("simulate", "gemm:n=200", "--planner", "uniform", "--models", str(path))
    assert gemm.exit_code == 0, gemm.output
    assert "m.json: calibrated 1 of 2 functions" in gemm.output
    assert "aggregate_results" in gemm.output  # named: it gets the defaults
    tree = invoke("compare", "tree_reduction:leaves=4", "--planners", "uniform", "--models", str(path))
    assert tree.exit_code == 0 and "m.json: calibrated 0 of 1 functions" in tree.output, tree.output
    plain = invoke("simulate", "gemm:n=200", "--planner", "uniform")
    assert "models: built-in defaults" in plain.output, plain.output


def test_the_models_line_says_recorded_runtimes_decide_a_traces_execution(tmp_path):
    """`simulate` of a WfFormat trace printed "models: built-in defaults" while its tasks ran their
    recorded runtimes (scaled by memory), as PerformanceModels.exec_ms takes them before the defaults:
    the line named what did not decide the times. Now it says which tasks run recorded runtimes, how
    (scaled by memory, or as recorded on the ideal platform) and which functions get defaults."""
    from sim.engine.whatif import models_line
    from sim.models.performance import ExecModel, PerformanceModels
    from sim.workflow.dag import from_edges

    r = invoke("simulate", FORKJOIN, "--planner", "uniform")
    assert r.exit_code == 0, r.output
    assert "execution: recorded runtimes of 10 of 10 tasks (scaled by (memory / 1024 MB)^-0.3)" in r.output
    ideal = invoke("simulate", FORKJOIN, "--planner", "uniform", "--platform", "ideal")
    assert "execution: recorded runtimes of 10 of 10 tasks (unscaled: platform ideal)" in ideal.output
    # a models file of the trace's function: under ideal the recorded runtimes still win, and say so
    models = PerformanceModels()
    models.exec["cpuhog_forkjoin"] = ExecModel(a=0.001, b=1.0, c=0.3)
    path = tmp_path / "m.json"
    models.save(path)
    fitted = invoke("simulate", FORKJOIN, "--planner", "uniform", "--models", str(path))
    assert "calibrated 1 of 1 functions" in fitted.output and "recorded" not in fitted.output, fitted.output
    over = invoke("simulate", FORKJOIN, "--planner", "uniform", "--models", str(path), "--platform", "ideal")
    assert "execution: recorded runtimes of 10 of 10 tasks (unscaled: platform ideal)" in over.output

    # some tasks recorded, some not: per task without models, per function with a file
    wf = from_edges(
        "w",
        [("a-1", "b-1", 10), ("a-2", "b-1", 10), ("b-1", "c-1", 10)],
        runtimes_ms={"a-1": 5.0, "b-1": 7.0},
    )
    wf.recorded_makespan_ms = 20.0  # as a trace with an execution section
    line = models_line(wf, None, None)
    assert line == (
        "models: built-in defaults; execution: recorded runtimes of 2 of 4 tasks "
        "(scaled by (memory / 1024 MB)^-0.3), built-in defaults for the other 2"
    )
    models = PerformanceModels()
    models.exec["c"] = ExecModel(a=0.001, b=1.0, c=0.3)
    line = models_line(wf, "m.json", models)
    assert line == (
        "models: m.json: calibrated 1 of 3 functions (recorded runtimes for b; "
        "recorded runtimes or built-in defaults for a)"
    ), line
    assert models_line(from_edges("v", [("x-1", "y-1", 1)]), None, None) == "models: built-in defaults"
    # a known type's runtimes are its annotations' expectation, not a recording
    gemm = invoke("simulate", "gemm:n=200", "--planner", "uniform")
    assert "execution: expected runtimes of 17 of 17 tasks" in gemm.output, gemm.output
