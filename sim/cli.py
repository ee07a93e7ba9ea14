"""The ``plansim`` command. Each concern registers its own commands from its own module.

User mistakes (:class:`UserError` and the error types below) and a missing optional package (an extra
this install lacks, ``sim/extras.py``) print one ``error:`` line and exit 1;
usage mistakes click finds (an option value out of range, a missing argument) print one ``error:``
line too and exit 2; anything else is a bug and keeps its traceback. SIGTERM ends a command the way
Ctrl-C would, through its clean-up (:func:`exit_on_sigterm`), with exit code 143.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from sim.extras import is_optional, missing, missing_message


class UserError(click.ClickException):
    """A problem with what the user asked for; printed as one line, exit code 1."""

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"error: {self.format_message()}", err=True, file=file)


# WorkflowError, RecordError and the models' and platforms' errors are ValueErrors. The file-system
# errors are the user's paths (an output file the checks of OutputFile could not foresee).
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def output_problem(path: str | os.PathLike[str], make_parents: bool = False) -> str | None:
    """Why ``path`` cannot be written, or None when it can.

    Tried for real: a file that does not exist yet is created and removed again (root passes
    ``os.access`` on read-only and virtual file systems such as /sys, so only a write tells). With
    ``make_parents`` the command creates missing directories itself, so the nearest existing one must
    be a writable directory.
    """
    path = Path(path)
    if path.is_dir():
        return "it is a directory"
    parent = path.parent
    nearest = parent
    while not nearest.exists():  # Path(".") and "/" exist, so this ends
        nearest = nearest.parent
    if not nearest.is_dir():
        return f"{nearest} is not a directory"
    if nearest != parent:
        if not make_parents:
            return f"no such directory: {parent}"
        return None if os.access(nearest, os.W_OK | os.X_OK) else f"directory {nearest} is not writable"
    if path.exists() and not path.is_file():  # a device or a FIFO: opening it could block
        return None if os.access(path, os.W_OK) else "permission denied"
    try:
        if path.exists():
            with open(path, "ab"):  # appends nothing: the file is left as it is
                pass
        else:
            with open(path, "xb"):
                pass
            path.unlink()
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return None


# How a planner is named wherever one is asked for (sim.planners; a plug-in: sim.planners.plugins).
PLANNER_SPEC = (
    "NAME[:key=value...] (plansim planners list), or your own: FILE.py:CLASS or package.module:CLASS"
)
PLANNER_HELP = f"Planner: {PLANNER_SPEC}[:key=value...]."


def refuse_overwriting_inputs(outputs: list[str | None], inputs: list[str | None]) -> None:
    """A command's output file must not be one of its input files: ``calibrate runs.jsonl -o
    runs.jsonl`` would replace the recorded runs with the models fitted on them. Inputs that are not
    files (workflow names, redis:// URLs, folders) are skipped; ``FILE.py:NAME`` is its file."""
    from sim.workflow.library import is_python_spec

    files = []
    for spec in inputs:
        path = Path(spec.partition(":")[0] if spec and is_python_spec(spec) else spec or "")
        if spec and path.is_file():
            files.append(path)
    for out in outputs:
        if out and out != "-" and Path(out).is_file() and any(os.path.samefile(out, f) for f in files):
            raise UserError(f"{out} is also an input of this command: writing it would overwrite it")


@contextlib.contextmanager
def outputs_or_none(paths: Iterable[str | os.PathLike[str] | None]) -> Iterator[None]:
    """Write a command's outputs inside this block: Ctrl-C or SIGTERM in it removes every one of
    ``paths`` (None: no such output), so an 'interrupted' command leaves none of them, as when it is
    stopped before writing any. Without this, Ctrl-C while a sweep drew its plots or calibrate its report
    left the results table or the models file (and a plot cut short) beside the error line. The files
    are being replaced anyway; a failure (an exception) keeps what was written, as its message says."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        for p in paths:
            if p is not None and os.fspath(p) != "-":  # '-': standard output
                Path(p).unlink(missing_ok=True)
        raise


class OutputFile(click.ParamType):
    """An option or argument naming a file the command writes, checked when the command line is parsed.

    A report, chart or models file that cannot be written is then one ``error:`` line before any
    planning, fitting or real run, not a traceback after minutes of work with other outputs already
    written.
    """

    name = "file"

    def __init__(
        self,
        make_parents: bool = False,
        allow_dash: bool = False,
        suffixes: tuple[str, ...] = (),
        needs: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.make_parents = make_parents
        self.allow_dash = allow_dash  # '-' is standard output
        self.suffixes = suffixes  # the kinds of file the command can write, e.g. (".png", ".html")
        # suffix -> the optional packages its writer imports, e.g. {".png": ("matplotlib",)}: a report
        # the installed extras cannot write fails here, not after the fit or the real runs.
        self.needs = needs or {}

    def convert(self, value, param, ctx) -> str:  # noqa: ANN001 - click's signature
        text = os.fspath(value)
        if self.allow_dash and text == "-":
            return text
        what = param.opts[0] if param is not None and param.opts else "the output"
        if self.suffixes and not text.lower().endswith(self.suffixes):
            kinds = (
                ", ".join(self.suffixes[:-1]) + " or " + self.suffixes[-1]
                if len(self.suffixes) > 1
                else self.suffixes[0]
            )
            raise UserError(f"{what} must name a {kinds} file, got {text!r}")
        suffix = next((sfx for sfx in self.needs if text.lower().endswith(sfx)), None)
        module = missing(self.needs[suffix]) if suffix is not None else None
        if module:
            raise UserError(missing_message(module, f"{what} {text}"))
        problem = output_problem(text, self.make_parents)
        if problem:
            raise UserError(f"cannot write {text}: {problem}")
        return text


# name -> (module, attribute, one-line help). Modules are imported only when their command runs, so
# `plansim` starts fast.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "workflows": ("sim.workflow.cli", "workflows", "List, show and export workflows."),
    "simulate": ("sim.engine.cli", "simulate", "Plan a workflow with one planner and simulate it."),
    "compare": (
        "sim.engine.cli",
        "compare",
        "Plan and simulate a workflow with several planners, side by side.",
    ),
    "planners": (
        "sim.planners.cli",
        "planners",
        "Describe the planners (yours too: FILE.py:CLASS) and optimizations.",
    ),
    "calibrate": ("calibration.cli", "calibrate", "Fit performance models from metrics or traces."),
    "models": ("calibration.cli", "models", "Show a models file or predict with it."),
    "replay": ("calibration.cli", "replay", "Replay a recorded WfFormat execution with calibrated models."),
    "runtime": (
        "runtime.cli",
        "runtime",
        "Start, stop or inspect Redis, the Docker engine and the worker image.",
    ),
    "run": ("runtime.run_cli", "run", "Run a workflow for real on Redis and Docker (or local processes)."),
    "sweep": ("sim.sweep.cli", "sweep", "Run a grid of what-if simulations (process pool or Dask)."),
    "dashboard": ("sim.dashboard.cli", "dashboard", "Start the Streamlit dashboard (prints its URL)."),
    "validate": ("sim.compare.cli", "validate", "Simulate, run for real, and compare plan against reality."),
}


class Seconds(click.ParamType):
    """A time limit in seconds: a number > 0 (``inf``: none). click's FloatRange lets ``nan`` through,
    which compares false with everything, so a limit of nan was silently no limit."""

    name = "seconds"

    def convert(self, value, param, ctx) -> float:  # noqa: ANN001 - click's signature
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not seconds > 0:
            self.fail(f"must be > 0 seconds, got {value}", param, ctx)
        return seconds


class OneLineUsageError(click.UsageError):
    """A usage mistake (an option value out of range, a missing argument, an unknown option) as one
    ``error:`` line that points at the command's help, instead of click's usage block; exit code 2."""

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def one_line(exc: click.UsageError, where: str = "plansim") -> click.UsageError:
    """``exc`` as a :class:`OneLineUsageError` (a bare group, which prints its help, stays as it is).
    It points at the help of the command whose context it carries, else at ``where``: click raises some
    (an option given without its value) with no context."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError | OneLineUsageError):
        return exc
    where = exc.ctx.command_path if exc.ctx else where
    return OneLineUsageError(f"{exc.format_message()} (see `{where} --help`)", exc.ctx)


class PlansimGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:  # `plansim --bogus`
            raise one_line(exc) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        return getattr(importlib.import_module(entry[0]), entry[1], None)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # raised while a subcommand parses its own arguments
            sub = ctx.invoked_subcommand  # set before the subcommand parses
            raise one_line(exc, f"{ctx.command_path} {sub}" if sub else ctx.command_path) from None
        except USER_ERRORS as exc:
            raise UserError(str(exc) or type(exc).__name__) from None
        except ModuleNotFoundError as exc:  # an optional extra this install lacks (sim/extras.py)
            if not is_optional(exc.name):
                raise
            raise UserError(missing_message(exc.name)) from None
        except KeyboardInterrupt:  # unwound through the command's clean-up; click would say "Aborted!"
            raise UserError("interrupted (Ctrl-C)") from None


def exit_on_sigterm(ctx: click.Context) -> None:
    """Make SIGTERM (``kill``, a CI timeout, ``docker stop``) raise ``SystemExit(143)`` in the main thread
    while the command runs, and restore the previous handler when it ends.

    Python's default for SIGTERM ends the process at once: no ``finally`` block runs, so a real run left
    its keys in Redis, its private Redis server and its workers behind. As an exception, the signal
    unwinds through the same clean-up as an error does."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the clean-up
        click.echo("error: terminated (SIGTERM); cleaning up", err=True)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@click.group(cls=PlansimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plansim")
@click.pass_context
def main(ctx: click.Context) -> None:
    """plansim: what-if simulation, calibration and real runs of serverless workflow planners."""
    exit_on_sigterm(ctx)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
