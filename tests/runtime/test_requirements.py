"""A run's pip requirements without Docker: hints + requirements.txt, conflicts, the process launcher check."""

from __future__ import annotations

import importlib.metadata

import pytest
import redis
from click.testing import CliRunner
from runlib.req_workflows import SIX, conflicting, shouting

from runtime.cli import runtime
from runtime.client import run_workflow
from runtime.driver import TaskFailed
from runtime.image import pip_errors
from runtime.requirements import (
    RequirementsError,
    RequirementSet,
    check_installed,
    collect,
    parse,
    read_requirements_file,
)
from sim.cli import main
from sim.workflow.dag import Workflow
from sim.workflow.language import task

NUMPY = importlib.metadata.version("numpy")


@task(requirements=["toolz>=0.10", "six==1.16.0"])
def first(x):
    return x


@task(requirements=["six==1.16.0", "attrs; python_version < '3'"])
def second(x):
    return x


def test_union_of_hints_is_normalised_and_order_free(tmp_path):
    a = collect(Workflow.from_nodes(second(first(1))))
    b = collect(Workflow.from_nodes(first(second(1))))
    assert a.lines() == b.lines() == ['attrs; python_version < "3"', SIX, "toolz>=0.10"]
    assert a.digest() == b.digest()
    req = tmp_path / "requirements.txt"
    req.write_text("# tools\nToolz >= 0.10  # same as the hint\n\nmore-itertools==10.1.0\n")
    c = collect(Workflow.from_nodes(second(first(1))), req)
    assert "more-itertools==10.1.0" in c.lines() and c.digest() != a.digest()
    assert [d.source for d in c.items][-2:] == ["requirements.txt:2", "requirements.txt:4"]


def test_conflicting_pins_name_both_functions():
    with pytest.raises(RequirementsError) as err:
        collect(conflicting())
    assert str(err.value) == (
        "conflicting requirements for numpy: numpy==1.26.4 (function old_numpy) "
        "and numpy==2.1.0 (function new_numpy)"
    )


def test_conflict_with_the_file_names_its_line_and_compatible_ranges_pass(tmp_path):
    req = tmp_path / "reqs.txt"
    req.write_text("six>=1.10\nsix==1.15.0\n")
    with pytest.raises(
        RequirementsError, match=r"six==1.16.0 \(function shout\) and six==1.15.0 \(reqs.txt:2\)"
    ):
        collect(shouting(), req)
    req.write_text("six>=1.10,<2\n")
    assert collect(shouting(), req).lines() == ["six<2,>=1.10", SIX]


def test_requirements_file_errors_name_the_line(tmp_path):
    req = tmp_path / "r.txt"
    req.write_text("six\n--index-url https://example.invalid/simple\n")
    with pytest.raises(RequirementsError, match=r"r.txt:2: pip options are not supported"):
        read_requirements_file(req)
    req.write_text("six ==== 1\n")
    with pytest.raises(RequirementsError, match=r"invalid requirement 'six ==== 1' \(r.txt:1\)"):
        read_requirements_file(req)
    with pytest.raises(RequirementsError, match="cannot read requirements file"):
        read_requirements_file(tmp_path / "missing.txt")


def test_check_installed_names_missing_and_wrong_versions():
    check_installed(RequirementSet())
    check_installed(declared(f"numpy=={NUMPY}", "numpy>=1", "attrs; python_version < '3'"))
    bad = declared(SIX, "numpy==0.1")
    with pytest.raises(RequirementsError) as err:
        check_installed(bad)
    msg = str(err.value)
    assert "six==1.16.0 (test) is not installed" in msg
    assert f"numpy==0.1 (test) finds numpy {NUMPY}" in msg
    assert "--launcher docker" in msg and "\n" not in msg


def declared(*lines: str) -> RequirementSet:
    return RequirementSet(tuple(parse(line, "test") for line in lines))


def test_process_run_fails_before_touching_redis(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    before = set(r.scan_iter(match="plansim:*"))
    with pytest.raises(RequirementsError, match=r"six==1.16.0 \(function shout\) is not installed"):
        run_workflow(shouting(), launcher="process", redis_url=redis_server.url)
    assert set(r.scan_iter(match="plansim:*")) == before


@pytest.mark.parametrize(
    ("target", "expected"),
    [("shouting", "error: process workers run this Python, where six==1.16.0 (function shout) is not installed"),
     ("conflicting", "error: conflicting requirements for numpy: numpy==1.26.4 (function old_numpy)")],
)  # fmt: skip
def test_cli_errors_are_one_line(redis_server, target, expected):
    spec = f"tests/runtime/runlib/req_workflows.py:{target}"
    res = CliRunner().invoke(main, ["run", spec, "--launcher", "process", "--redis", redis_server.url])
    assert res.exit_code == 1
    assert res.stderr.startswith(expected) and res.stderr.count("\n") == 1, res.stderr


def test_up_process_checks_the_file_before_starting_redis(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(f"{SIX}\n")
    res = CliRunner().invoke(
        runtime, ["up", "--process", "--state-dir", str(tmp_path), "--requirements", str(req)]
    )
    assert res.exit_code == 1 and "six==1.16.0 (requirements.txt:1) is not installed" in res.output
    assert not (tmp_path / "runtime.json").exists()
    req.write_text("six==1.16.0\nsix==1.15.0\n")
    res = CliRunner().invoke(runtime, ["up", "--state-dir", str(tmp_path), "--requirements", str(req)])
    assert res.exit_code == 1 and res.stderr.startswith("error: conflicting requirements for six")
    assert "(requirements.txt:1) and six==1.15.0 (requirements.txt:2)" in res.stderr
    assert not (tmp_path / "runtime.json").exists()


def test_missing_module_in_a_worker_says_how_to_provide_it():
    tb = "Traceback (most recent call last):\n  File \"x.py\", line 1\nModuleNotFoundError: No module named 'six'\n"
    err = TaskFailed("shout-0", tb, "w1")
    assert "No module named 'six'" in err.hint and "@task(requirements=" in err.hint
    assert TaskFailed("t", "ValueError: boom\n").hint == "ValueError: boom"


def test_pip_errors_condensed_to_the_requirement():
    stderr = (
        "WARNING: Location 'file:///x' is ignored\n"
        "ERROR: Could not find a version that satisfies the requirement nope==1.0 (from versions: none)\n"
        "ERROR: No matching distribution found for nope==1.0\n"
    )
    assert pip_errors(stderr) == "No matching distribution found for nope==1.0"
