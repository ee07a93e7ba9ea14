"""WfFormat I/O: import WfCommons traces (1.4-1.6, and the older flat layout) and export WfFormat 1.5.

Import (:func:`load_wfformat`) maps a trace onto the one :class:`~sim.workflow.dag.Workflow` model:

- ``TaskSpec.function``: the task's ``category`` if given, else its ``name`` when that differs from its
  ``id``, else the id without its numeric suffix (``mProject_ID0000012`` -> ``mProject``);
- ``runtime_ms``: ``execution.tasks[].runtimeInSeconds`` x 1000 (None when the trace has no execution);
- ``output_bytes``: sum of the task's output file sizes;
- ``stored_input_bytes``: sizes of input files that no task of the trace produces (external inputs);
- edge ``bytes``: sum of the sizes of files produced by the parent and read by the child (0 when the
  trace gives only parents/children and no files);
- ``wf.machines``: the execution's machines by node name (cores, speed, memory); ``spec.extra`` keeps the
  task's ``machines``, ``cores``, trace ``name`` and other measured values; ``wf.recorded_makespan_ms``.

Export (:func:`to_wfformat`) writes WfFormat 1.5 that validates against the bundled schema. A producer's
output is split into files so that each consumer reads exactly its edge's bytes and all its outputs add up
to ``output_bytes``; stored inputs become one external input file per task. Inline argument bytes and
hints have no WfFormat field and are not exported.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import math
import os
import re
from collections import defaultdict
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sim.workflow.dag import TaskSpec, Workflow, WorkflowError
from sim.workflow.shared_data import shared_data_dir

SCHEMA_NAME = "wfformat-1.5-schema.json"
_ID_SUFFIX = re.compile(r"(?:[_-]ID)?[_-]?\d+$")


# -- schema ---------------------------------------------------------------------------------------------
def schema_path() -> Path:
    """The WfFormat 1.5 schema: ``$PLANSIM_WFFORMAT_SCHEMA``, the shared data folder, or the bundled copy."""
    env = os.environ.get("PLANSIM_WFFORMAT_SCHEMA")
    if env:
        return Path(env)
    shared = shared_data_dir() / SCHEMA_NAME
    if shared.is_file():
        return shared
    return Path(__file__).resolve().parent / "schemas" / SCHEMA_NAME


@lru_cache(maxsize=4)
def _load_schema(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WorkflowError(f"cannot read the WfFormat schema {path}: {exc}") from None


def validate_wfformat(data: dict[str, Any], *, accept_versions: tuple[str, ...] = ("1.5", "1.6")) -> None:
    """Validate ``data`` against the WfFormat 1.5 schema, offline; 1.6 files (same layout) are accepted.

    Raises :class:`WorkflowError` naming the first failing field (as a JSON path).
    """
    import jsonschema  # local import: only validation needs it

    schema = _load_schema(str(schema_path()))
    if isinstance(data, dict) and data.get("schemaVersion") in accept_versions:
        data = {**data, "schemaVersion": "1.5"}
    validator = jsonschema.Draft7Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise WorkflowError(f"WfFormat validation failed at {where}: {error.message}")


# -- import ---------------------------------------------------------------------------------------------
def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON document from ``path`` (``.xz``, ``.gz`` and ``.bz2`` files are decompressed); errors name
    the file."""
    p = Path(path)
    opener = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}.get(p.suffix.lower(), open)
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise WorkflowError(f"no such workflow file: {p}") from None
    except json.JSONDecodeError as exc:
        raise WorkflowError(
            f"{p}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError, RecursionError) as exc:
        raise WorkflowError(f"{p}: cannot read: {exc or type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise WorkflowError(f"{p}: a WfFormat document is a JSON object, got {type(data).__name__}")
    return data


def function_of(task: dict[str, Any]) -> str:
    """The function (task type) of a trace task: category, else name, else id without its numeric suffix."""
    if task.get("category"):
        return str(task["category"])
    name, tid = task.get("name"), task.get("id")
    if name and tid and name != tid:
        return str(name)
    base = _ID_SUFFIX.sub("", str(tid or name or ""))
    return base or str(tid or name)


def _number(value: Any, where: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorkflowError(f"{where}: expected a number, got {value!r}")
    if not (abs(value) < 1e300 and math.isfinite(value)):  # NaN, infinities, ints too big for a float
        raise WorkflowError(f"{where}: expected a finite number, got {value!r:.40}")
    if value < 0:
        raise WorkflowError(f"{where}: must be >= 0, got {value}")
    return float(value)


def _str_list(task: dict[str, Any], key: str, where: str) -> list[str]:
    value = task.get(key) or []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise WorkflowError(f"{where}: field {key!r} must be a list of strings")
    return value


def load_wfformat(
    source: str | os.PathLike[str] | dict[str, Any],
    *,
    name: str | None = None,
    files: dict[str, tuple[tuple[str, int], ...]] | None = None,
) -> Workflow:
    """A :class:`Workflow` from a WfFormat document: a dict, or a ``.json`` / ``.json.xz`` path.

    Bad input (a cycle, a dangling parent/child id, a file referenced but not declared, a negative size or
    runtime, malformed JSON) raises :class:`WorkflowError` naming the task and field, and the document.
    ``files``, when given, receives per task id its files as ``(name, bytes)``: those it reads, each once,
    then those it writes (the workflow keeps only their sums; trace replay leaves some files out).
    """
    label = "WfFormat document"
    if not isinstance(source, dict):
        label = str(source)
        data = read_json(source)
    else:
        data = source
    wf_block = data.get("workflow")
    if not isinstance(wf_block, dict):
        from sim.models.performance import MODELS_FORMAT

        if data.get("format") == MODELS_FORMAT:  # an easy slip: both are .json files a command takes
            raise WorkflowError(
                f"{label} is a plansim models file, not a WfFormat workflow (give it with --models)"
            )
        raise WorkflowError(f"{label}: missing object field 'workflow'")
    wf_name = name or str(data.get("name") or Path(label).name.split(".json")[0])
    try:
        if "specification" in wf_block:
            wf = _load_v15(data, wf_block, wf_name, label, files)
        elif "tasks" in wf_block or "jobs" in wf_block:
            wf = _load_flat(data, wf_block, wf_name, label, files)
        else:
            raise WorkflowError(
                f"{label}: 'workflow' has neither 'specification' (WfFormat 1.5+) nor 'tasks'"
            )
    except (TypeError, AttributeError, KeyError) as exc:  # a field of the wrong JSON type
        raise WorkflowError(f"{label}: malformed WfFormat document ({type(exc).__name__}: {exc})") from None
    except WorkflowError as exc:
        raise _naming(exc, label) from None
    wf.meta.update(
        {
            "source": label,
            "schemaVersion": data.get("schemaVersion"),
            "runtimeSystem": data.get("runtimeSystem") or data.get("wms"),  # "wms" before WfFormat 1.4
            "description": data.get("description"),
        }
    )
    try:
        return wf.validate()
    except WorkflowError as exc:  # a cycle
        raise _naming(exc, label) from None


def _naming(exc: WorkflowError, label: str) -> WorkflowError:
    """``exc`` with the file it is about in front: 'task 'x': parents lists unknown task' or 'workflow
    'montage' has a cycle' did not say which of a sweep's files (or a file named unlike its workflow)."""
    msg = str(exc)
    return exc if msg.startswith(label) else WorkflowError(f"{label}: {msg}")


def _load_v15(data: dict, block: dict, wf_name: str, label: str, files_out: dict | None) -> Workflow:
    spec = block["specification"]
    if not isinstance(spec, dict) or not isinstance(spec.get("tasks"), list):
        raise WorkflowError(f"{label}: workflow.specification.tasks must be a list")
    files: dict[str, int] = {}
    for i, f in enumerate(spec.get("files") or []):
        if not isinstance(f, dict) or "id" not in f:
            raise WorkflowError(f"{label}: workflow.specification.files[{i}] needs an 'id'")
        files[str(f["id"])] = int(_number(f.get("sizeInBytes"), f"file {f['id']!r}: sizeInBytes"))
    execution = block.get("execution") or {}
    runtimes: dict[str, dict] = {}
    for i, et in enumerate(execution.get("tasks") or []):
        if not isinstance(et, dict) or "id" not in et:
            raise WorkflowError(f"{label}: workflow.execution.tasks[{i}] needs an 'id'")
        runtimes[str(et["id"])] = et

    tasks: list[dict[str, Any]] = []
    for i, t in enumerate(spec["tasks"]):
        if not isinstance(t, dict) or not (t.get("id") or t.get("name")):
            raise WorkflowError(f"{label}: workflow.specification.tasks[{i}] needs an 'id'")
        tid = str(t.get("id") or t["name"])
        where = f"task {tid!r}"
        inputs = _str_list(t, "inputFiles", where)
        outputs = _str_list(t, "outputFiles", where)
        for field_name, names in (("inputFiles", inputs), ("outputFiles", outputs)):
            for fname in names:
                if fname not in files:
                    raise WorkflowError(f"{where}: {field_name} references undeclared file {fname!r}")
        et = runtimes.get(tid, {})
        runtime = _number(et.get("runtimeInSeconds"), f"{where}: runtimeInSeconds", allow_none=True)
        extra: dict[str, Any] = {}
        if t.get("name") and t.get("name") != tid:
            extra["name"] = t["name"]
        for src, dst in (
            ("machines", "machines"),
            ("coreCount", "cores"),
            ("avgCPU", "avg_cpu"),
            ("memoryInBytes", "memory_bytes"),
            ("readBytes", "read_bytes"),
            ("writtenBytes", "written_bytes"),
        ):
            if et.get(src) is not None:
                extra[dst] = et[src]
        tasks.append(
            {
                "id": tid,
                "function": function_of(t),
                "parents": _str_list(t, "parents", where),
                "children": _str_list(t, "children", where),
                "inputs": [(f, files[f]) for f in inputs],
                "outputs": [(f, files[f]) for f in outputs],
                "runtime_s": runtime,
                "extra": extra,
            }
        )
    known = {t["id"] for t in tasks}
    for tid in runtimes:
        if tid not in known:
            raise WorkflowError(f"{label}: workflow.execution.tasks has unknown task {tid!r}")
    wf = _build(wf_name, tasks, label, files_out)
    makespan = execution.get("makespanInSeconds")
    if makespan is not None:
        wf.recorded_makespan_ms = _number(makespan, "workflow.execution.makespanInSeconds") * 1000.0
    for i, m in enumerate(execution.get("machines") or []):
        if not isinstance(m, dict) or not m.get("nodeName"):
            raise WorkflowError(f"{label}: workflow.execution.machines[{i}] needs a 'nodeName'")
        wf.machines[str(m["nodeName"])] = dict(m)
    if execution.get("executedAt"):
        wf.meta["executedAt"] = execution["executedAt"]
    return wf


def _load_flat(data: dict, block: dict, wf_name: str, label: str, files_out: dict | None) -> Workflow:
    """WfFormat <= 1.4 and WorkflowHub: tasks (or jobs) carry ``files`` with ``link`` input/output."""
    raw = block.get("tasks") if "tasks" in block else block.get("jobs")
    if not isinstance(raw, list):
        raise WorkflowError(f"{label}: workflow.tasks must be a list")
    name_to_id = {str(t.get("name")): str(t.get("id") or t.get("name")) for t in raw if isinstance(t, dict)}
    tasks: list[dict[str, Any]] = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not (t.get("id") or t.get("name")):
            raise WorkflowError(f"{label}: workflow.tasks[{i}] needs an 'id' or 'name'")
        tid = str(t.get("id") or t["name"])
        where = f"task {tid!r}"
        inputs, outputs = [], []
        for j, f in enumerate(t.get("files") or []):
            fname = f.get("id") or f.get("name")
            if not fname:
                raise WorkflowError(f"{where}: files[{j}] has no name")
            if "sizeInBytes" in f:
                size = _number(f["sizeInBytes"], f"{where}: file {fname!r} sizeInBytes")
            else:  # WorkflowHub-era traces give "size" in KB
                size = _number(f.get("size", 0), f"{where}: file {fname!r} size") * 1024
            (outputs if f.get("link") == "output" else inputs).append((str(fname), int(size)))
        runtime = t.get("runtimeInSeconds", t.get("runtime"))
        extra: dict[str, Any] = {}
        if t.get("machine"):
            extra["machines"] = [t["machine"]]
        if t.get("cores") is not None:
            extra["cores"] = t["cores"]
        tasks.append(
            {
                "id": tid,
                "function": function_of(t),
                "parents": [name_to_id.get(p, p) for p in _str_list(t, "parents", where)],
                "children": [name_to_id.get(c, c) for c in _str_list(t, "children", where)],
                "inputs": inputs,
                "outputs": outputs,
                "runtime_s": _number(runtime, f"{where}: runtime", allow_none=True),
                "extra": extra,
            }
        )
    wf = _build(wf_name, tasks, label, files_out)
    makespan = block.get("makespanInSeconds", block.get("makespan"))
    if makespan is not None:
        wf.recorded_makespan_ms = _number(makespan, "workflow.makespan") * 1000.0
    for m in block.get("machines") or []:
        if isinstance(m, dict) and m.get("nodeName"):
            wf.machines[str(m["nodeName"])] = dict(m)
    return wf


def _build(wf_name: str, tasks: list[dict[str, Any]], label: str, files_out: dict | None = None) -> Workflow:
    wf = Workflow(wf_name)
    if files_out is not None:  # (see load_wfformat's files)
        for t in tasks:
            files_out[t["id"]] = (*dict(t["inputs"]).items(), *t["outputs"])
    ids = set()
    for t in tasks:
        if t["id"] in ids:
            raise WorkflowError(f"{label}: duplicate task id {t['id']!r}")
        ids.add(t["id"])
    producer: dict[str, str] = {}
    for t in tasks:
        for fname, _ in t["outputs"]:
            producer.setdefault(fname, t["id"])
    edges: set[tuple[str, str]] = set()
    for t in tasks:
        for p in t["parents"]:
            if p not in ids:
                raise WorkflowError(f"task {t['id']!r}: parents lists unknown task {p!r}")
            edges.add((p, t["id"]))
        for c in t["children"]:
            if c not in ids:
                raise WorkflowError(f"task {t['id']!r}: children lists unknown task {c!r}")
            edges.add((t["id"], c))
    parents_of: dict[str, list[str]] = defaultdict(list)
    for u, v in sorted(edges):
        parents_of[v].append(u)
    edge_bytes: dict[tuple[str, str], int] = {}
    for t in tasks:
        stored = 0
        seen: set[str] = set()
        for fname, size in t["inputs"]:
            if fname in seen:
                continue
            seen.add(fname)
            src = producer.get(fname)
            if src is None or src == t["id"]:
                stored += size
            elif (src, t["id"]) in edges:
                edge_bytes[src, t["id"]] = edge_bytes.get((src, t["id"]), 0) + size
            else:  # produced by a task that is not declared a parent: a hidden dependency, keep it as data
                stored += size
        runtime = t["runtime_s"]
        wf.add_task(
            TaskSpec(
                id=t["id"],
                function=t["function"],
                inputs=tuple(parents_of.get(t["id"], ())),
                stored_input_bytes=stored,
                output_bytes=sum(size for _, size in dict(t["outputs"]).items()),
                runtime_ms=None if runtime is None else runtime * 1000.0,
                extra=t["extra"],
            )
        )
    for u, v in sorted(edges):
        wf.graph.add_edge(u, v, bytes=edge_bytes.get((u, v), 0))
    return wf


# -- export ---------------------------------------------------------------------------------------------
def to_wfformat(wf: Workflow, *, validate: bool = True) -> dict[str, Any]:
    """WfFormat 1.5 for ``wf`` (see the module docstring for how sizes become files).

    WfFormat has no dynamic fan-out: each one is written expanded at its expected width (hint or
    default; :func:`sim.workflow.dynamic.expanded`), and the description says which widths were used.
    """
    from sim.workflow.dynamic import expanded

    static = wf
    wf = expanded(wf)
    order = wf.topological_order()
    files: dict[str, int] = {}
    inputs: dict[str, list[str]] = {t: [] for t in order}
    outputs: dict[str, list[str]] = {t: [] for t in order}
    for u in order:
        spec = wf.task(u)
        out_edges = sorted(wf.graph.out_edges(u, data="bytes"), key=lambda e: (e[2], e[1]))
        # Nested pieces: a consumer of b bytes reads the pieces of all sizes up to b.
        levels = sorted({b for _, _, b in out_edges if b > 0})
        piece_names: list[tuple[int, str]] = []
        prev = 0
        for k, level in enumerate(levels):
            fname = f"{u}.out" if k == 0 else f"{u}.out{k}"
            files[fname] = level - prev
            outputs[u].append(fname)
            piece_names.append((level, fname))
            prev = level
        total = spec.output_bytes if spec.output_bytes is not None else prev
        if total > prev or not levels:
            fname = f"{u}.rest" if levels else f"{u}.out"
            files[fname] = max(total - prev, 0)
            outputs[u].append(fname)
        for _, v, b in out_edges:
            inputs[v].extend(name for level, name in piece_names if level <= b)
        if spec.stored_input_bytes:
            fname = f"{u}.in"
            files[fname] = spec.stored_input_bytes
            inputs[u].append(fname)
    spec_tasks = []
    exec_tasks = []
    for t in order:
        spec = wf.task(t)
        spec_tasks.append(
            {
                "name": spec.function,
                "id": t,
                "parents": sorted(wf.graph.predecessors(t)),
                "children": sorted(wf.graph.successors(t)),
                "inputFiles": sorted(inputs[t]),
                "outputFiles": outputs[t],
            }
        )
        if spec.runtime_ms is not None:
            et: dict[str, Any] = {"id": t, "runtimeInSeconds": spec.runtime_ms / 1000.0}
            if spec.extra.get("cores") is not None:
                et["coreCount"] = spec.extra["cores"]
            if spec.extra.get("machines"):
                et["machines"] = list(spec.extra["machines"])
            exec_tasks.append(et)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    doc: dict[str, Any] = {
        "name": wf.name,
        "description": f"Exported by plansim (type {static.type_hash()})"
        + (f"; dynamic fan-outs expanded at widths {wf.meta['dynamic_widths']}" if wf is not static else ""),
        "createdAt": now,
        "schemaVersion": "1.5",
        "author": {"name": "plansim", "email": "plansim@localhost.localdomain"},
        "workflow": {
            "specification": {
                "tasks": spec_tasks,
                "files": [{"id": f, "sizeInBytes": int(s)} for f, s in files.items()],
            }
        },
    }
    if exec_tasks:
        makespan = wf.recorded_makespan_ms
        if makespan is None:
            makespan = wf.critical_path()[1]
        execution: dict[str, Any] = {
            "makespanInSeconds": makespan / 1000.0,
            "executedAt": str(wf.meta.get("executedAt") or now),
            "tasks": exec_tasks,
        }
        if wf.machines:
            execution["machines"] = [
                {"nodeName": k, **{a: b for a, b in m.items() if a != "nodeName"}}
                for k, m in wf.machines.items()
            ]
        doc["workflow"]["execution"] = execution
    if validate:
        validate_wfformat(doc)
    return doc


def write_wfformat(wf: Workflow, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Export ``wf`` to ``path`` (``.json``, or ``.json.xz`` compressed); returns the document."""
    doc = to_wfformat(wf)
    p = Path(path)
    text = json.dumps(doc, indent=1)
    if p.suffix.lower() == ".xz":  # as the loader reads it (and `workflows export -o` accepts it)
        with lzma.open(p, "wt") as fh:
            fh.write(text)
    else:
        p.write_text(text)
    return doc
