"""``plansim planners``: what planners and optimizations there are."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from sim.planners import PLANNERS, planner_options
from sim.planners.optimizations import OPTIMIZATIONS

# Which tasks an optimization changes, in words (Optimization.applies_to).
APPLIES_TO = {"planned": "tasks on planned workers", "flexible": "flexible tasks", "all": "all tasks"}


@click.group()
def planners() -> None:
    """Planners and optimizations: list them (use their names with simulate, compare and run)."""


@planners.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def list_planners(as_json: bool) -> None:
    """Name, description and options of every planner, then every optimization (--opt).

    Options are given after the name: NAME:key=value:key=value (e.g. sim-search:objective=cost).
    """
    rows = [
        {"name": name, "description": cls.description, "options": planner_options(cls)}
        for name, cls in PLANNERS.items()
    ]
    opts = [
        {"name": o.name, "description": o.description, "applies_to": o.applies_to}
        for o in OPTIMIZATIONS.values()
    ]
    if as_json:
        click.echo(json.dumps({"planners": rows, "optimizations": opts}, indent=1, default=str))
        return
    table = Table(title="planners (options: NAME:key=value:...)", title_justify="left", show_lines=True)
    table.add_column("name", style="bold", no_wrap=True)
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
