"""Valid input the bad-input checks must let through: every output name a command's writer accepts is
accepted when the command line is parsed, and an input reached through a folder is still an input.

Each case here was refused (or silently mishandled) by a check of ``tests/test_cli_bad_input.py``'s
commits while the writer behind it handled it fine.
"""

from __future__ import annotations

import lzma
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sim.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("name", ["chart.htm", "chart.HTML", "chart.PNG"])
def test_simulate_writes_every_gantt_kind_its_writer_knows(tmp_path, name):
    # write_gantt has always written .htm; the parse-time check refused it ('must name a .png or .html').
    out = tmp_path / name
    result = invoke("simulate", "tree_reduction:leaves=4", "--planner", "uniform", "--gantt", str(out))
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0


def test_calibrate_takes_every_report_kind_its_writer_knows(tmp_path):
    from calibration.cli import calibrate

    report = next(p for p in calibrate.params if p.name == "report_path")
    for name in ("fit.htm", "fit.HTML", "fit.png"):
        assert report.type.convert(str(tmp_path / name), report, None) == str(tmp_path / name)
    with pytest.raises(click.ClickException, match="must name a .png, .html or .htm file"):
        report.type.convert(str(tmp_path / "fit.txt"), report, None)


def test_export_to_an_upper_case_xz_name_is_read_back(tmp_path):
    # The parse-time check accepts X.JSON.XZ (case-insensitive), and the loader decompresses it by its
    # lower-cased suffix; the writer compared the suffix case-sensitively and wrote plain JSON.
    out = tmp_path / "wf.JSON.XZ"
    assert invoke("workflows", "export", "tree_reduction:leaves=4", "-o", str(out)).exit_code == 0
    assert lzma.open(out, "rt").read().lstrip().startswith("{")
    shown = invoke("workflows", "show", str(out))
    assert shown.exit_code == 0, shown.output


def test_calibrate_refuses_an_output_that_is_a_file_of_an_input_folder(tmp_path):
    # 'calibrate runs/ -o runs/a.jsonl' replaced recorded runs with a models file: the folder's files
    # are inputs too, not only the names on the command line.
    runs = tmp_path / "runs"
    runs.mkdir()
    recorded = runs / "a.jsonl"
    recorded.write_text("{}\n")
    result = invoke("calibrate", str(runs), "-o", str(recorded))
    assert result.exit_code == 1, result.output
    assert "is also an input of this command" in result.output
    assert recorded.read_text() == "{}\n"


def test_an_option_without_its_value_points_at_its_commands_help():
    # click raises this one without a context: the one-line form pointed at `plansim --help`, which does
    # not list simulate's options.
    result = invoke("simulate", "tree_reduction:leaves=4", "--replications")
    assert result.exit_code == 2
    assert result.output.strip().endswith("(see `main simulate --help`)"), result.output


README = Path(__file__).resolve().parents[1] / "README.md"
README_COMMANDS = [line for line in README.read_text().splitlines() if line.startswith(".venv/bin/plansim ")]


@pytest.mark.parametrize("line", README_COMMANDS, ids=[" ".join(c.split()[1:3]) for c in README_COMMANDS])
def test_every_plansim_command_of_the_readme_parses(line, tmp_path, monkeypatch):
    """The README's command lines name commands, options and values plansim accepts (parsed, not run):
    an option renamed in the code and not in the README fails here, not in a new user's terminal."""
    monkeypatch.chdir(tmp_path)  # output files are probed where the README's commands would write them
    for name in ("requirements.txt", "flow.py"):  # inputs the README has the user write first
        (tmp_path / name).write_text("")
    args = shlex.split(line, comments=True)[1:]
    ctx = main.make_context("plansim", list(args))
    cmd: click.Command = main
    while isinstance(cmd, click.Group) and args:
        name, args = args[0], args[1:]
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"{line}: no command {name!r}"
        ctx, cmd = sub.make_context(name, list(args), parent=ctx), sub
    assert not isinstance(cmd, click.Group) or not args


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "--planner", "uniform"],
        ["compare", "--planners", "uniform,wukong"],
        # sweep checked the platform file, then every point read it again in its worker process: each
        # failed with "platform file '/dev/fd/63' is not valid JSON" in a table, exit status 0
        ["sweep", "--planners", "uniform,wukong", "--workers", "2", "--no-plots", "-o", "PLACEHOLDER"],
    ],
)
def test_a_platform_given_by_process_substitution_is_read_once(tmp_path, command):
    """`--platform <(make_platform)` names a pipe, which gives its text to one reader only: simulate read
    the platform file once more for its models line, and compare once per planner, so the second read
    waited forever on the empty pipe."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "platform.json"
    os.mkfifo(fifo)
    writer = subprocess.Popen(
        ["sh", "-c", f"echo '{{\"invoke_latency_ms\": 20}}' > {shlex.quote(str(fifo))}"]
    )
    workflow = ["--workflows"] if command[0] == "sweep" else []
    rest = [str(tmp_path / "s.csv") if a == "PLACEHOLDER" else a for a in command[1:]]
    cmd = [sys.executable, "-m", "sim.cli", command[0], *workflow, "tree_reduction:leaves=4", *rest]
    try:
        done = subprocess.run([*cmd, "--platform", str(fifo)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the command read the platform pipe a second time and waited forever")
    finally:
        writer.kill()
        writer.wait()
    assert done.returncode == 0, done.stderr
    if command[0] == "sweep":
        import csv

        rows = list(csv.DictReader((tmp_path / "s.csv").open()))
        assert len(rows) == 2 and not any(r["error"] for r in rows), rows[0]["error"]
        assert {r["platform"] for r in rows} == {str(fifo)}  # the option as given
    else:
        assert "platform platform," in done.stdout
