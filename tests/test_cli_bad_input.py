"""Bad input to the ``plansim`` commands: one ``error:`` line naming the problem, exit 1, nothing written.

The shared checks live in ``sim.cli`` (``OutputFile``) and at the entry points of what the commands
load; these tests go through the real command line, one case per kind of mistake.
"""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from sim.cli import main, output_problem


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def one_error_line(result) -> str:
    """The single ``error:`` line of a failed command (and nothing else on its output)."""
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, SystemExit) or result.exception.code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def free_port() -> int:
    import socket

    with socket.socket() as s:  # nobody listens on it once closed
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def a_file(tmp_path):
    """A regular file: a path "under" it has a parent that is not a directory."""
    f = tmp_path / "plain.txt"
    f.write_text("x")
    return f


# Every command that writes a file, with its output option pointed under a regular file. Before the
# shared check each of these ran its whole work, then died with a NotADirectoryError traceback.
OUTPUT_CASES = {
    "simulate --gantt": ["simulate", "tree_reduction:leaves=4", "--planner", "uniform", "--gantt"],
    "simulate --metrics-out": ["simulate", "tree_reduction:leaves=4", "--metrics-out"],
    "sweep -o": ["sweep", "--workflows", "tree_reduction:leaves=4", "--planners", "uniform", "-o"],
    "workflows export -o": ["workflows", "export", "tree_reduction:leaves=4", "-o"],
    "validate --report": ["validate", "tree_reduction:leaves=4", "--report"],
    "run --metrics-out": ["run", "tree_reduction:leaves=4", "--launcher", "process", "--metrics-out"],
}


@pytest.mark.parametrize("case", sorted(OUTPUT_CASES))
def test_an_unwritable_output_is_one_error_line_before_any_work(case, a_file):
    kind = {"--gantt": "out.html", "--report": "out.html", "export": "out.json", "sweep": "out.csv"}
    target = a_file / next((name for key, name in kind.items() if key in case), "out.jsonl")
    line = one_error_line(invoke(*OUTPUT_CASES[case], str(target)))
    assert f"cannot write {target}" in line and "not a directory" in line


def test_calibrate_checks_both_outputs_before_fitting(tmp_path, a_file):
    # Before: the models file was written, then the report failed with a traceback.
    metrics = tmp_path / "m.jsonl"
    metrics.write_text("")  # never read: the outputs are checked first
    models = tmp_path / "models.json"
    line = one_error_line(
        invoke("calibrate", str(metrics), "-o", str(models), "--report", str(a_file / "fit.html"))
    )
    assert "fit.html" in line
    assert not models.exists()


def test_output_problem_names_each_case(tmp_path, a_file):
    assert output_problem(tmp_path / "new.json") is None
    assert not (tmp_path / "new.json").exists(), "the probe file is removed again"
    assert output_problem(a_file) is None and a_file.read_text() == "x", "an existing file is untouched"
    assert output_problem(tmp_path) == "it is a directory"
    assert output_problem(tmp_path / "no" / "x.csv") == f"no such directory: {tmp_path / 'no'}"
    assert output_problem(tmp_path / "no" / "x.csv", make_parents=True) is None
    assert output_problem(a_file / "x.csv") == f"{a_file} is not a directory"


# A platform file is JSON: any field can hold a string, null, NaN or Infinity. Before, "fast" and null
# were a TypeError traceback from __post_init__, and NaN/Infinity a makespan of nan/inf with exit 0.
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('{"invoke_latency_ms": "fast"}', "invoke_latency_ms must be a finite number, got 'fast'"),
        ('{"plan_bytes_per_task": null}', "plan_bytes_per_task must be a finite number, got None"),
        ('{"invoke_latency_ms": NaN}', "invoke_latency_ms must be a finite number, got nan"),
        ('{"store_latency_ms": Infinity}', "store_latency_ms must be a finite number, got inf"),
        ('{"cpu_sharing": "yes"}', "cpu_sharing must be true or false, got 'yes'"),
        ('{"max_containers": 4.5}', "max_containers must be an integer or null, got 4.5"),
    ],
)
def test_a_platform_field_of_the_wrong_type_is_one_error_line(tmp_path, fields, message):
    plat = tmp_path / "plat.json"
    plat.write_text(fields)
    line = one_error_line(invoke("simulate", "tree_reduction:leaves=4", "--platform", str(plat)))
    assert line == f"error: platform 'plat': {message}"


def test_a_missing_platform_file_is_named_as_a_file(tmp_path):
    line = one_error_line(invoke("simulate", "tree_reduction:leaves=4", "--platform", "plat.json"))
    assert line == "error: platform file 'plat.json' does not exist"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--platform", "moon"], "unknown platform 'moon'"),
        (["--opt", "prewarn"], "unknown optimization 'prewarn'"),
        (["--models", "EMPTY"], "is not valid JSON"),
        (["--planners", "heft:max_workers=0"], "max_workers must be a whole number >= 1, got 0"),
        (["--planners", "wukong:nope=1"], "planner 'wukong' has no option 'nope'"),
    ],
)
def test_sweep_checks_what_every_point_shares_before_running(tmp_path, option, message):
    # Before: every point failed alike, the table of failures was written and the exit status was 0.
    (tmp_path / "empty.json").write_text("")
    option = [str(tmp_path / "empty.json") if x == "EMPTY" else x for x in option]
    out = tmp_path / "r.csv"
    planners = [] if "--planners" in option else ["--planners", "uniform"]
    args = ["sweep", "--workflows", "tree_reduction:leaves=4", *planners, "-o", str(out)]
    line = one_error_line(invoke(*args, *option))
    assert message in line
    assert not out.exists()


def test_sweep_on_a_dask_address_with_nothing_listening_is_one_error_line():
    from sim.sweep.grid import expand_grid
    from sim.sweep.runner import run_dask

    port = free_port()
    groups = expand_grid(["tree_reduction:leaves=4"], ["uniform"], [(2048,)], ["average"])
    with pytest.raises(ValueError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        run_dask(groups, f"tcp://127.0.0.1:{port}", connect_timeout="1s")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["sweep", "--seeds", "-1", "-o", "r.csv"],
            "Invalid value for '--seeds': -1 is not in the range x>=1",
        ),
        (["simulate", "gemm", "--replications", "-3"], "Invalid value for '--replications'"),
        (["simulate"], "Missing argument 'WORKFLOW'"),
        (["models", "predict", "m.json", "--memory", "0"], "Invalid value for '--memory'"),
        (["--bogus"], "No such option '--bogus'"),
    ],
)
def test_a_usage_mistake_is_one_error_line_pointing_at_help(args, message):
    # Before: click's block (Usage: ..., Try ... for help., Error: ...).
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert "--help`)" in lines[0]


@pytest.fixture()
def taken_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_dashboard_on_a_taken_port_is_one_error_line(taken_port):
    # Before: Streamlit started and died with a timestamped log line (a traceback for --port -1 or an
    # address of no interface here).
    line = one_error_line(invoke("dashboard", "--port", str(taken_port)))
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{taken_port}: ")


def test_dashboard_loads_its_models_file_before_starting(tmp_path, taken_port):
    # Before: only existence was checked, so an empty models file started the server (the taken port
    # makes the old code stop instead of serving).
    (tmp_path / "m.json").write_text("")
    line = one_error_line(
        invoke("dashboard", "--models", str(tmp_path / "m.json"), "--port", str(taken_port))
    )
    assert "is not valid JSON" in line


def test_validate_with_a_redis_url_nobody_answers_is_one_error_line(tmp_path):
    # Before: the prediction was printed, every run failed, the report was written, then 'Error: ...'.
    url = f"redis://127.0.0.1:{free_port()}/0"
    report = tmp_path / "v.html"
    line = one_error_line(
        invoke("validate", "tree_reduction:leaves=4", "--redis", url, "--report", str(report))
    )
    assert line.startswith(f"error: Redis at {url} is not reachable")
    assert not report.exists()


def test_replay_of_a_trace_without_machines_is_one_error_line(tmp_path):
    # Before: every task queued on one core, and the 'prediction' was printed with exit 0 (gemm's
    # exported file: predicted 86.1 s against the 5.4 s it records, +1482%).
    wf = tmp_path / "gemm.json"
    assert invoke("workflows", "export", "gemm", "-o", str(wf)).exit_code == 0
    line = one_error_line(invoke("replay", str(wf)))
    assert line == (
        f"error: {wf} records no machines (workflow.execution.machines): replay needs a recorded "
        "execution, with the machines it ran on"
    )


FLOW = """
from sim.workflow import Workflow, task


@task
def add(x, y):
    return x + y


wf = Workflow.from_nodes(add(add(1, 2), add(3, 4)), name="my-tree")
"""


def test_a_python_workflow_file_is_understood_by_every_command(tmp_path):
    # Before: only `run` read FILE.py:NAME; `simulate flow.py:wf` said "workflow 'flow.py': parameter
    # 'wf' is not key=value".
    flow = tmp_path / "flow.py"
    flow.write_text(FLOW)
    r = invoke("simulate", f"{flow}:wf", "--planner", "uniform", "--json")
    assert r.exit_code == 0, r.output
    assert '"workflow": "my-tree"' in r.output
    assert invoke("workflows", "show", f"{flow}:wf").exit_code == 0
    assert one_error_line(invoke("simulate", f"{flow}:nope")) == f"error: {flow} has no attribute 'nope'"
    missing = tmp_path / "missing.py"
    assert one_error_line(invoke("simulate", f"{missing}:wf")) == f"error: no such file: {missing}"
    # the file behind FILE.py:NAME is an input: writing over it is refused, and it is left as it was
    err = one_error_line(invoke("simulate", f"{flow}:wf", "--metrics-out", str(flow)))
    assert err == f"error: {flow} is also an input of this command: writing it would overwrite it"
    assert flow.read_text() == FLOW


def test_a_failed_run_prints_its_error_line_and_nothing_else():
    # Before: the (invisible, transient) progress bar left an empty line on standard output.
    url = f"redis://127.0.0.1:{free_port()}/0"
    r = invoke("run", "tree_reduction:leaves=4", "--launcher", "process", "--redis", url)
    assert r.exit_code == 1
    assert r.stdout == "" and r.stderr.startswith(f"error: Redis at {url} is not reachable"), r.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"startup": {"cold_ms": "x", "cold_exp": 0, "warm_ms": 1, "warm_exp": 0}}, "startup: cold_ms must be a finite number, got 'x'"),
        ({"exec": {"add": {"a": None, "b": 0, "c": 0}}}, "exec[add]: a must be a finite number, got None"),
        ({"transfer": {"latency_ms": 1, "bytes_per_ms": -5, "alpha": 0}}, "transfer: bytes_per_ms must be > 0, got -5"),
        ({"exec": {"add": {"b": 0, "c": 0}}}, "exec[add]: missing field 'a'"),
        ({"exec": {"add": 5}}, "exec[add]: must be an object, got int"),
        ({"output": "x"}, "'output' must be an object, got str"),
        ({"exec": {"add": {"a": 1, "b": 0, "c": 0, "residuals": ["x"]}}}, "exec[add]: residuals must be numbers, got 'x'"),
    ],
)  # fmt: skip
def test_a_models_file_with_a_bad_value_is_one_error_line(tmp_path, change, message):
    # Before: "x" or null in a parameter was a TypeError traceback in the middle of the simulation, and
    # a negative bandwidth was used as it was; the malformed cases said only "'a'" or "'int' object ...".
    import json

    models = tmp_path / "m.json"
    models.write_text(json.dumps({"format": "plansim.models", "version": 1, **change}))
    line = one_error_line(
        invoke("simulate", "tree_reduction:leaves=4", "--planner", "uniform", "--models", str(models))
    )
    assert line == f"error: models file {str(models)!r} is malformed: {message}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "version 2 is not supported (expected 1)"),
        ({"version": None}, "has no version (expected 1)"),
        ({"format": "other"}, 'is not a plansim models file (missing "format": "plansim.models")'),
    ],
)
def test_a_models_file_of_another_version_is_named(tmp_path, change, message):
    """'error: models file version 2 is not supported' named no file, where validate and the dashboard
    read one given on the command line and another written by a calibration; a missing version read
    'version None'."""
    import json

    models = tmp_path / "m.json"
    models.write_text(json.dumps({"format": "plansim.models", "version": 1, **change}))
    line = one_error_line(invoke("simulate", "tree_reduction:leaves=4", "--models", str(models)))
    assert line == f"error: models file {str(models)!r} {message}"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_workflow_parameter_is_one_error_line(value):
    # Before: float() parsed them, and simulate printed a makespan of nan or inf with exit 0.
    line = one_error_line(invoke("simulate", f"fixed_times:sleep_s={value}"))
    assert line.startswith("error: workflow 'fixed_times': parameter 'sleep_s' must be a finite number")


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_timeout_that_is_no_time_limit_is_refused_when_parsed(command, value):
    # Before: validate planned, printed its prediction and failed every run on -1; nan was no limit.
    r = invoke(command, "tree_reduction:leaves=4", "--launcher", "process", "--timeout", value)
    assert r.exit_code == 2, r.output
    assert r.output == (
        f"error: Invalid value for '--timeout': must be > 0 seconds, got {value} "
        f"(see `main {command} --help`)\n"
    )


def test_an_output_that_is_an_input_is_refused_and_left_as_it_is(tmp_path):
    # Before: calibrate replaced the recorded runs with the models fitted on them, and simulate wrote
    # its metric records over the models file it had just read.
    import json

    runs = tmp_path / "runs.jsonl"
    record = {"kind": "worker", "v": 1, "run_id": "r", "worker_id": "w", "memory_mb": 2048}
    runs.write_text(json.dumps({**record, "state": "cold", "startup_ms": 900.0}) + "\n")
    before = runs.read_text()
    line = one_error_line(invoke("calibrate", str(runs), "-o", str(runs)))
    assert line == f"error: {runs} is also an input of this command: writing it would overwrite it"
    assert runs.read_text() == before
    models = tmp_path / "m.json"
    models.write_text(json.dumps({"format": "plansim.models", "version": 1}))
    line = one_error_line(
        invoke("simulate", "tree_reduction:leaves=4", "--models", str(models), "--metrics-out", str(models))
    )
    assert "is also an input of this command" in line
    assert json.loads(models.read_text())["format"] == "plansim.models"


def test_a_models_file_kept_beside_its_traces_is_not_read_as_one(tmp_path):
    # Before: 'calibrate traces/ -o traces/models.json' worked once, and every later calibrate of the
    # folder failed with "traces/models.json: missing object field 'workflow'".
    import shutil

    from sim.workflow.shared_data import shared_data_dir

    folder = tmp_path / "traces"
    folder.mkdir()
    shutil.copy(
        shared_data_dir() / "wfinstances" / "helloworld" / "helloworld-forkjoin-10-chameleon.json.xz", folder
    )
    first = invoke("calibrate", str(folder), "--quick", "-o", str(folder / "models.json"))
    assert first.exit_code == 0, first.output
    again = invoke("calibrate", str(folder), "--quick", "-o", str(tmp_path / "again.json"))
    assert again.exit_code == 0, again.output
    line = one_error_line(invoke("calibrate", str(folder / "models.json"), "-o", str(tmp_path / "x.json")))
    assert line.endswith("is a plansim models file, not metric records or a WfFormat trace")


@pytest.mark.parametrize(
    ("planner", "message"),
    [
        ("heft:max_workers=0", "max_workers must be a whole number >= 1, got 0"),
        ("cpop:max_workers=-1", "max_workers must be a whole number >= 1, got -1"),
        ("dask-like:n_workers=0", "n_workers must be a whole number >= 1, got 0"),
        ("dask-like:memory_mb=-5", "memory_mb must be a whole number >= 1, got -5"),
        ("sim-search:max_seconds=nan", "max_seconds must be a finite number > 0, got nan"),
        ("sim-search:polish_share=2", "polish_share must be a finite number >= 0 and <= 1, got 2"),
        # none is no value for an option whose default is a number (it was a TypeError traceback)
        ("sim-search:max_simulations=none", "max_simulations must be a whole number >= 0, got None"),
        ("sim-search:polish_share=none", "polish_share must be a finite number >= 0 and <= 1, got None"),
        ("sim-search:deadline_slack=none", "deadline_slack must be a finite number >= 0, got None"),
        ("sim-search:tie_tolerance=none", "tie_tolerance must be a finite number >= 0, got None"),
        ("sim-search:makespan_tolerance=none", "makespan_tolerance must be a finite number >= 0, got None"),
    ],
)
def test_a_planner_option_out_of_range_is_one_error_line(planner, message):
    # Before: 0 and -1 workers were silently "no limit", max_seconds=nan no time limit, and
    # dask-like:memory_mb=-5 a TypeError traceback (a complex number from a negative memory's power).
    line = one_error_line(invoke("simulate", "tree_reduction:leaves=8", "--planner", planner))
    assert line == f"error: planner {planner!r}: {message}"


def test_an_output_of_a_kind_the_command_cannot_write_is_refused_before_any_work(tmp_path):
    # Before: calibrate fitted, wrote the models file, then failed on --report fit.txt; workflows
    # export -o x.json.gz wrote plain JSON that the loader then tried to gunzip.
    models = tmp_path / "m.json"
    metrics = tmp_path / "runs.jsonl"
    metrics.write_text("")
    line = one_error_line(
        invoke("calibrate", str(metrics), "-o", str(models), "--report", str(tmp_path / "fit.txt"))
    )
    assert line == f"error: --report must name a .png, .html or .htm file, got '{tmp_path / 'fit.txt'}'"
    assert not models.exists()
    line = one_error_line(invoke("workflows", "export", "gemm", "-o", str(tmp_path / "x.json.gz")))
    assert "-o must name a .json or .json.xz file" in line
    assert not (tmp_path / "x.json.gz").exists()


def test_a_worker_smaller_than_the_launchers_minimum_is_refused_before_the_run(tmp_path):
    # Before: the launcher refused the size inside the running driver, so the run waited for its whole
    # timeout (300 s by default) and then blamed the sink: "waited 5s for sink(s) add-2 to complete".
    url = f"redis://127.0.0.1:{free_port()}/0"  # never reached: the check comes first
    args = ["tree_reduction:leaves=4", "--planner", "uniform", "--memory", "1", "--redis", url]
    line = one_error_line(invoke("run", *args, "--launcher", "process", "--timeout", "5"))
    assert line == "error: a real worker needs at least 16 MB of memory, got 1 MB"
    line = one_error_line(invoke("validate", *args, "--report", str(tmp_path / "v.html")))
    assert line == "error: a real worker needs at least 16 MB of memory, got 1 MB"
    assert not (tmp_path / "v.html").exists()


@pytest.mark.parametrize("command", ["simulate", "replay", "workflows show"])
def test_a_models_file_given_as_the_workflow_says_so(tmp_path, command):
    # Before: "m.json: missing object field 'workflow'".
    models = tmp_path / "m.json"
    models.write_text('{"format": "plansim.models", "version": 1}')
    line = one_error_line(invoke(*command.split(), str(models)))
    assert (
        line == f"error: {models} is a plansim models file, not a WfFormat workflow (give it with --models)"
    )


def test_metric_records_of_another_schema_version_are_skipped_by_name(tmp_path):
    # Before: "v": 2 records were read as version 1 without a word (and fitted on).
    import json

    runs = tmp_path / "runs.jsonl"
    record = {"kind": "worker", "v": 2, "run_id": "r", "worker_id": "w", "memory_mb": 2048}
    runs.write_text(json.dumps({**record, "state": "cold", "startup_ms": 900.0}) + "\n")
    line = one_error_line(invoke("calibrate", str(runs), "-o", str(tmp_path / "m.json")))
    assert "worker record: schema version 2 is not supported (expected 1)" in line
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "source, error",
    [
        (
            "import math\nx = 1\ny = x / 0\n",
            "could not be loaded: ZeroDivisionError: division by zero (line 3)",
        ),
        ("def workflow(:\n    pass\n", "could not be loaded: SyntaxError: invalid syntax (line 1)"),
        ("import no_such_module_xyz\n", "could not be loaded: ModuleNotFoundError: No module named"),
        ("def workflow():\n    return {}['k']\n", "workflow() failed: KeyError: 'k' (line 2)"),
    ],
)
def test_an_error_in_a_python_workflow_file_is_one_line_that_says_where(tmp_path, source, error):
    # Before: the user's exception ended the command with plansim's own traceback around it.
    flow = tmp_path / "flow.py"
    flow.write_text(source)
    r = invoke("simulate", str(flow), "--planner", "uniform")
    assert r.exit_code == 1
    line = one_error_line(r)
    assert line.startswith(f"error: {flow}") and error in line, line


# A missing optional package (an extra `bash scripts/demo.sh`'s core install lacks): one line naming it
# and the command that installs it, before any work. Before: calibrate fitted, wrote the models file,
# then died with a ModuleNotFoundError traceback; validate did the same after its real runs.
HIDDEN_CASES = {
    "calibrate --report": (["calibrate", "IN", "-o", "OUT", "--report", "fit.html"], "matplotlib"),
    "simulate --gantt .png": (["simulate", "tree_reduction:leaves=4", "--gantt", "g.png"], "matplotlib"),
    "simulate --gantt .html": (["simulate", "tree_reduction:leaves=4", "--gantt", "g.html"], "plotly"),
    "validate --report": (["validate", "tree_reduction:leaves=4", "--report", "v.html"], "matplotlib"),
    "sweep -o": (["sweep", "--workflows", "tree_reduction:leaves=4", "-o", "s.csv"], "pandas"),
}


@pytest.mark.parametrize("case", sorted(HIDDEN_CASES))
def test_a_missing_extra_is_one_line_naming_its_installer_before_any_work(case, tmp_path, monkeypatch):
    args, module = HIDDEN_CASES[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails as if not installed
    metrics = tmp_path / "m.jsonl"
    metrics.write_text("")  # never read: the outputs are checked first
    args = [str(metrics) if a == "IN" else "models.json" if a == "OUT" else a for a in args]
    line = one_error_line(invoke(*args))
    assert f"needs {module}, which is not installed" in line and "bash scripts/setup.sh" in line, line
    assert list(tmp_path.iterdir()) == [metrics], "nothing written"


def test_a_missing_extra_found_while_running_is_one_line(tmp_path, monkeypatch):
    # An optional import a command reaches without an early check (here: the sweep's plots, after its
    # table) is one line too; a missing module of plansim's own would stay a traceback (a bug).
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    table = tmp_path / "s.csv"
    args = ["sweep", "--workflows", "tree_reduction:leaves=4", "--planners", "uniform", "--quiet"]
    line = one_error_line(invoke(*args, "--workers", "1", "-o", str(table)))
    assert line == "error: matplotlib is not installed: `bash scripts/setup.sh` installs it (extra 'plots')"
    assert table.exists(), "the table was written before the plots"


def test_ctrl_c_is_one_error_line_naming_it(monkeypatch):
    """Ctrl-C ended every command with click's bare 'Aborted!' (exit 1), where SIGTERM says
    'error: terminated (SIGTERM); cleaning up'. The interrupt unwinds through the same clean-up."""
    import sim.engine.cli

    def interrupted(text):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.engine.cli, "load_workflow", interrupted)
    result = invoke("simulate", "gemm")
    assert result.exit_code == 1
    assert one_error_line(result) == "error: interrupted (Ctrl-C)"
    assert "Aborted" not in result.output


def test_ctrl_c_while_a_sweep_writes_its_outputs_leaves_none(tmp_path, monkeypatch):
    """Ctrl-C once every point had run, while the plots were drawn, left the results table and a plot
    (maybe cut short) beside an 'interrupted' error; Ctrl-C during the points leaves nothing. Now the
    outputs are written together or not at all."""
    import sim.sweep.cli as sweep_cli

    def interrupted(df, out):
        (tmp_path / "s.makespan_cost.png").write_bytes(b"\x89PNG half")  # cut short by the signal
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_cli, "plot_summary", interrupted)
    out = tmp_path / "s.csv"
    args = ["sweep", "--workflows", "tree_reduction:leaves=4", "--planners", "uniform", "--workers", "1"]
    line = one_error_line(invoke(*args, "--quiet", "-o", str(out)))
    assert line == "error: interrupted (Ctrl-C)"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("spelled", ["runs", "./runs", "runs/"])
@pytest.mark.parametrize(
    "command",
    [
        ["simulate"],
        ["workflows", "show"],
        ["validate", "--launcher", "process"],
        ["run", "--launcher", "process"],
    ],
)
def test_a_folder_given_as_the_workflow_is_named_as_a_folder(tmp_path, monkeypatch, spelled, command):
    """A folder where a workflow file was expected was 'unknown workflow' (a known-type name not found)
    or '[Errno 21] Is a directory' depending on how it was spelled."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    line = one_error_line(
        invoke(*command[:2], spelled, *command[2:])
        if command[0] == "workflows"
        else invoke(command[0], spelled, *command[1:])
    )
    assert (
        line
        == f"error: {spelled} is a folder, not a workflow (a WfFormat .json or .json.xz file, or FILE.py:NAME)"
    )


def test_a_folder_given_as_the_platform_file_is_named_as_a_folder(tmp_path):
    line = one_error_line(invoke("simulate", "tree_reduction:leaves=4", "--platform", str(tmp_path)))
    assert line == f"error: platform file {str(tmp_path)!r} is a folder, not a JSON file"


def test_a_folder_given_as_the_dashboards_models_file_is_named_as_a_folder(tmp_path):
    # Before the server starts (the dashboard loads its models file first): '[Errno 21] Is a directory'.
    line = one_error_line(invoke("dashboard", "--models", str(tmp_path), "--port", str(free_port())))
    assert line == f"error: models file {str(tmp_path)!r} is a folder, not a models file"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda tasks: tasks[-1]["parents"].append("ghost"),
            "task 'add-2': parents lists unknown task 'ghost'",
        ),
        (
            lambda tasks: tasks[0]["parents"].append("add-2"),
            "workflow 'tree_reduction' has a cycle: add-0 -> add-2 -> add-0",
        ),
    ],
)
@pytest.mark.parametrize("command", [["simulate"], ["sweep", "-o", "s.csv", "--workflows"]])
def test_a_wfformat_file_with_a_dangling_parent_or_a_cycle_is_named(
    tmp_path, monkeypatch, change, message, command
):
    """simulate and sweep said what was wrong but not in which file (calibrate and replay did): with
    several files in a sweep, or a file named unlike its workflow, the user could not tell."""
    import json

    monkeypatch.chdir(tmp_path)
    assert invoke("workflows", "export", "tree_reduction:leaves=4", "-o", "good.json").exit_code == 0
    doc = json.loads((tmp_path / "good.json").read_text())
    change(doc["workflow"]["specification"]["tasks"])
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    line = one_error_line(invoke(*command, "good.json,bad.json" if command[0] == "sweep" else "bad.json"))
    assert line == f"error: bad.json: {message}"


def test_calibrating_an_empty_metrics_file_names_it(tmp_path, monkeypatch):
    # 'no records in the input' did not say which input, nor that the file was empty.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs.jsonl").write_text("")
    line = one_error_line(invoke("calibrate", "runs.jsonl", "-o", "models.json"))
    assert line == "error: no records in runs.jsonl (empty)"
    (tmp_path / "more.jsonl").write_text("\n")
    line = one_error_line(invoke("calibrate", "runs.jsonl", "more.jsonl", "-o", "models.json"))
    assert line == "error: no records in runs.jsonl (empty), more.jsonl"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["more.jsonl", "runs.jsonl"]


def test_ctrl_c_while_calibrate_writes_its_report_leaves_no_models_file(tmp_path, monkeypatch):
    """Ctrl-C while the fit report was drawn (seconds, after the models file was saved) left models.json
    beside 'error: interrupted (Ctrl-C)' (seen at 17 s into calibrating the 972 runs). As for sweep,
    an interrupted command's outputs are written together or not at all."""

    def interrupted(report, path):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("calibration.report.write_report", interrupted)
    metrics = tmp_path / "runs.jsonl"
    ok = invoke("simulate", "tree_reduction:leaves=4", "--planner", "uniform", "--metrics-out", str(metrics))
    assert ok.exit_code == 0, ok.output
    done = invoke("calibrate", str(metrics), "-o", "models.json", "--report", "fit.html")
    assert done.exit_code == 1 and done.output.splitlines()[-1] == "error: interrupted (Ctrl-C)", done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.jsonl"]


def test_a_container_cap_the_plan_cannot_finish_under_is_one_error_line(tmp_path):
    """A uniform plan of image_transform holds its workers' containers while they wait for each other:
    at a cap of 4 containers the run cannot finish. It was a RuntimeError traceback that blamed the plan
    ("leaves it unreachable") and named a sink picked in set order, different from run to run."""
    platform = tmp_path / "cap4.json"
    platform.write_text('{"name": "cap4", "max_containers": 4}')
    line = one_error_line(
        invoke("simulate", "image_transform", "--planner", "uniform", "--platform", str(platform))
    )
    assert "waited for a container at the platform's cap of 4" in line and "raise max_containers" in line
    assert "sink 'merge_chunks_grid-0'" in line  # the first unfinished sink by name, every run
