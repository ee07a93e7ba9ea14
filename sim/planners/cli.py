"""``plansim planners``: what planners and optimizations there are."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from sim.planners import PLANNERS, Planner, get_planner, planner_options
from sim.planners.optimizations import OPTIMIZATIONS

# Which tasks an optimization changes, in words (Optimization.applies_to).
APPLIES_TO = {"planned": "tasks on planned workers", "flexible": "flexible tasks", "all": "all tasks"}


@click.group()
def planners() -> None:
    """Planners and optimizations: list them (use their names with simulate, compare, validate, run and
    sweep; a planner of your own is FILE.py:CLASS or package.module:CLASS)."""


@planners.command("list")
@click.argument("plugins", nargs=-1, metavar="[FILE.py:CLASS | package.module:CLASS]...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def list_planners(plugins: tuple[str, ...], as_json: bool) -> None:
    """Name, description and options of every planner (and of the plug-ins given), then every
    optimization (--opt).

    Options are given after the name: NAME:key=value:key=value (e.g. sim-search:objective=cost). A planner
    of your own (a subclass of sim.planners.base.Planner) is named FILE.py:CLASS[:key=value...] or
    package.module:CLASS[:key=value...] wherever a planner is named (README: "Writing a planner").
    """
    classes = {**PLANNERS, **{spec: type(get_planner(spec)) for spec in plugins}}
    rows = [
        {"name": name, "description": _description(cls), "options": planner_options(cls)}
        for name, cls in classes.items()
    ]
    opts = [
        {"name": o.name, "description": o.description, "applies_to": o.applies_to}
        for o in OPTIMIZATIONS.values()
    ]
    if as_json:
        click.echo(json.dumps({"planners": rows, "optimizations": opts}, indent=1, default=str))
        return
    table = Table(
        title="planners (options: NAME:key=value:...; your own: FILE.py:CLASS or package.module:CLASS)",
        title_justify="left",
        show_lines=True,
    )
    # a plug-in's name is its path: folded, so that the descriptions keep their room
    table.add_column("name", style="bold", overflow="fold", max_width=max(12, len(max(PLANNERS, key=len))))
    table.add_column("description")
    table.add_column("options (default)")
    for r in rows:
        table.add_row(
            r["name"], r["description"], "\n".join(f"{k}={v}" for k, v in r["options"].items()) or "-"
        )
    console = Console()
    console.print(table)
    table = Table(title="optimizations (--opt NAME,NAME,...)", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("description")
    table.add_column("changes")
    for o in opts:
        table.add_row(o["name"], o["description"], APPLIES_TO.get(o["applies_to"], o["applies_to"]))
    console.print(table)


def _description(cls: type[Planner]) -> str:
    """A planner's ``description``, else (a plug-in that set none) its docstring's first line."""
    if cls.description or cls.__doc__ is None or cls.__doc__ == Planner.__doc__:
        return cls.description
    return cls.__doc__.strip().splitlines()[0]
