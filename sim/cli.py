"""The ``plansim`` command. Each concern registers its own commands from its own module.

User mistakes (:class:`UserError` and the error types below) print one ``error:`` line and exit 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from sim.models.records import RecordError
from sim.workflow.dag import WorkflowError


class UserError(click.ClickException):
    """A problem with what the user asked for; printed as one line, exit code 1."""

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"error: {self.format_message()}", err=True, file=file)


USER_ERRORS: tuple[type[BaseException], ...] = (WorkflowError, RecordError, ValueError, FileNotFoundError)

# (module, attribute) of each command or group; a module that is not there yet is skipped.
COMMANDS = [
    ("sim.workflow.cli", "workflows"),
    ("sim.engine.cli", "simulate"),
    ("sim.engine.cli", "compare"),
    ("sim.planners.cli", "planners"),
    ("calibration.cli", "calibrate"),
    ("calibration.cli", "models"),
    ("calibration.cli", "replay"),
    ("runtime.cli", "runtime"),
    ("runtime.run_cli", "run"),
    ("sim.sweep.cli", "sweep"),
    ("sim.dashboard.cli", "dashboard"),
    ("sim.compare.cli", "validate"),
]


class PlansimGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            raise UserError(str(exc) or type(exc).__name__) from None


@click.group(cls=PlansimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plansim")
def main() -> None:
    """plansim: what-if simulation, calibration and real runs of serverless workflow planners."""


def _register() -> None:
    for module_name, attr in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part of plansim is not installed or not written yet
            raise
        command = getattr(module, attr, None)
        if command is not None:
            main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
