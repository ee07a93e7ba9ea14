"""``plansim planners``: what planners there are."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from sim.planners import PLANNERS, planner_options


@click.group()
def planners() -> None:
    """Planners: list them (use their names with simulate, compare and run)."""


@planners.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_planners(as_json: bool) -> None:
    """Name, description and options of every planner.

    Options are given after the name: NAME:key=value:key=value (e.g. sim-search:objective=cost).
    """
    rows = [
        {"name": name, "description": cls.description, "options": planner_options(cls)}
        for name, cls in PLANNERS.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=1, default=str))
        return
    table = Table(title="planners (options: NAME:key=value:...)", title_justify="left", show_lines=True)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("description")
    table.add_column("options (default)")
    for r in rows:
        table.add_row(
            r["name"], r["description"], "\n".join(f"{k}={v}" for k, v in r["options"].items()) or "-"
        )
    Console().print(table)
