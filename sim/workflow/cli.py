"""``plansim workflows``: list the known types, show a workflow's shape, export it to WfFormat.

A WORKFLOW argument is ``NAME[:key=value,...]`` (see ``list``) or a path to a WfFormat ``.json``/``.json.xz``.
"""

from __future__ import annotations

import json
import sys

import click

from sim.cli import OutputFile, refuse_overwriting_inputs


def _fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return str(n)


def _fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.1f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


@click.group("workflows")
def workflows() -> None:
    """Known workflow types, workflow shapes, WfFormat export."""


@workflows.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def list_cmd(as_json: bool) -> None:
    """Known workflow types: name, parameters (with defaults), description."""
    from sim.workflow.library import workflow_types

    types = workflow_types()
    if as_json:
        out = [
            {
                "name": t.name,
                "description": t.description,
                "runnable": t.runnable,
                "aliases": list(t.aliases),
                "params": {
                    k: {"default": p.default, "type": p.type.__name__, "help": p.help}
                    for k, p in t.params.items()
                },
            }
            for t in types.values()
        ]
        click.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="known workflow types (NAME[:key=value,...] or a WfFormat file)")
    table.add_column("name", style="bold")
    table.add_column("parameters")
    table.add_column("code", justify="center")
    table.add_column("description")
    for t in types.values():
        table.add_row(t.name, t.signature(), "yes" if t.runnable else "-", t.description)
    Console(width=max(120, _terminal_width())).print(table)


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def show_data(wf) -> dict:  # noqa: ANN001
    """Everything ``show`` prints, as JSON-ready data."""
    data = wf.summary()
    path, _ = wf.critical_path()
    data["critical_path"] = path
    data["total_output_bytes"] = sum(s.output_bytes or 0 for s in wf.tasks.values())
    data["total_runtime_ms"] = sum(s.runtime_ms or 0.0 for s in wf.tasks.values())
    levels = wf.levels()
    widths: dict[int, int] = {}
    for lv in levels.values():
        widths[lv] = widths.get(lv, 0) + 1
    data["level_widths"] = [widths[k] for k in sorted(widths)]
    data["machines"] = len(wf.machines)
    from sim.workflow import dynamic

    # dynamic fan-out node -> the width the simulator and the planners expect (hint, else the default)
    data["dynamic_fan_outs"] = {t: dynamic.expected_width(wf.task(t)) for t in dynamic.dynamic_nodes(wf)}
    return data


@workflows.command("show")
@click.argument("workflow")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
@click.option("--tasks", "show_tasks", is_flag=True, help="also list every task")
def show_cmd(workflow: str, as_json: bool, show_tasks: bool) -> None:
    """Tasks, edges, levels, max width, data sizes, critical path and type hash of WORKFLOW."""
    from sim.workflow.library import load_workflow

    wf = load_workflow(workflow)
    data = show_data(wf)
    if show_tasks:
        data["task_list"] = [
            {
                "id": t,
                "function": s.function,
                "inputs": list(s.inputs),
                "inline_bytes": s.inline_bytes,
                "stored_input_bytes": s.stored_input_bytes,
                "output_bytes": s.output_bytes,
                "runtime_ms": s.runtime_ms,
            }
            for t in wf.topological_order()
            for s in [wf.task(t)]
        ]
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, _terminal_width()))
    table = Table(title=f"workflow {data['name']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("parameters", ", ".join(f"{k}={v}" for k, v in data["params"].items()) or "-"),
        ("type hash", data["type_hash"]),
        ("tasks", str(data["tasks"])),
        ("edges", str(data["edges"])),
        ("levels", str(data["levels"])),
        ("max width", str(data["max_width"])),
        ("level widths", _abbrev(data["level_widths"])),
        ("roots / sinks", f"{data['roots']} / {data['sinks']}"),
        ("data on edges", _fmt_bytes(data["total_edge_bytes"])),
        ("task inputs (inline + stored)", _fmt_bytes(data["total_input_bytes"])),
        ("task outputs", _fmt_bytes(data["total_output_bytes"])),
        ("sum of runtimes", _fmt_ms(data["total_runtime_ms"])),
        ("critical path", f"{_fmt_ms(data['critical_path_ms'])} over {data['critical_path_tasks']} tasks"),
        ("critical path tasks", _abbrev(data["critical_path"], 6)),
        ("recorded makespan", _fmt_ms(data["recorded_makespan_ms"])),
        (
            "dynamic fan-outs (expected width)",
            ", ".join(f"{t} ({w})" for t, w in data["dynamic_fan_outs"].items()) or "-",
        ),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    funcs = Table(title="functions")
    funcs.add_column("function")
    funcs.add_column("tasks", justify="right")
    for f, n in data["functions"].items():
        funcs.add_row(f, str(n))
    console.print(funcs)
    if show_tasks:
        tt = Table(title="tasks")
        for col in ("id", "function", "inputs", "stored in", "output", "runtime"):
            tt.add_column(col)
        for t in data["task_list"]:
            tt.add_row(
                t["id"],
                t["function"],
                _abbrev(t["inputs"], 4),
                _fmt_bytes(t["stored_input_bytes"]),
                _fmt_bytes(t["output_bytes"]),
                _fmt_ms(t["runtime_ms"]),
            )
        console.print(tt)


def _abbrev(items: list, keep: int = 12) -> str:
    items = [str(x) for x in items]
    if len(items) <= keep:
        return " ".join(items) if items else "-"
    half = keep // 2
    return " ".join(items[:half]) + f" ... ({len(items) - keep} more) ... " + " ".join(items[-half:])


@workflows.command("export")
@click.argument("workflow")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=OutputFile(allow_dash=True, suffixes=(".json", ".json.xz")),
    help="output file (.json, or .json.xz compressed); '-' for stdout",
)
def export_cmd(workflow: str, output: str) -> None:
    """Write WORKFLOW as WfFormat 1.5 JSON (validated against the schema)."""
    from sim.workflow.library import load_workflow
    from sim.workflow.wfformat import to_wfformat, write_wfformat

    refuse_overwriting_inputs([output], [workflow])
    wf = load_workflow(workflow)
    if str(output) == "-":
        json.dump(to_wfformat(wf), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    try:
        write_wfformat(wf, output)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output} ({len(wf)} tasks, {wf.graph.number_of_edges()} edges)", err=True)
