"""Dynamic fan-outs: one DAG node standing for N copies of a task, N known only at run time.

``fan_out(process, parts)`` (or ``process.map(parts)``) maps a task over the output of another task,
as Dask's ``client.map``, Airflow's ``.expand()`` or Prefect's ``.map`` do. The workflow holds one
*dynamic node* ``D`` whose only parent is the *source* (the task whose output is the list). When the
source has run and its output has N items, the node is **expanded**, by :func:`expand_node`, always the
same way:

- N copies ``D#0 .. D#N-1`` (ids WfFormat accepts, which brackets are not; same function, same hints, same memory), copy ``i`` called with item ``i``
  of the source's output in place of the list, and the other arguments unchanged; the source stores each
  item under its own key (``item:{source}#i``) and copy ``i`` downloads only that item;
- ``D`` itself becomes the *gather*: a built-in task whose parents are the copies and whose output is the
  list of their outputs, in order (concatenated with ``flatten=True``). With N = 0 its parent is the
  source and its output is ``[]``. Consumers of ``D`` keep their edge to ``D``: fan-in needs nothing new.

Because the gather is a plain task, a dynamic node may map over another one's gather: chains of dynamic
fan-outs expand one after the other, each when its source is done. Copies and gathers are flexible
(no planned worker): the worker that ran the source continues with the first copy and starts fresh
workers for the others, exactly as for any ready flexible children.

Who expands when:

- the worker logic (:mod:`sim.worker.logic`), at run time, with the real width (the ``Expand`` effect);
- the simulator and WfFormat export, ahead of time, with the *expected* width (:func:`expected_width`:
  a width given by the caller, else the ``width_hint`` -- which :func:`predict_widths` sets from the
  widths earlier runs recorded (:func:`widths_from_records`) --, else
  :data:`DEFAULT_WIDTH`), through :func:`expanded` -- the same :func:`expand_node`, so both see the same
  graph for the same width.

The type hash covers the dynamic node, not N: the same code with another width is the same type.
"""

from __future__ import annotations

import re
import statistics
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx

from sim.workflow.dag import TaskCall, TaskSpec, Workflow, WorkflowError
from sim.workflow.language import Item, Ref, TaskHints, linear

DYNAMIC = "dynamic"  # TaskSpec.extra of an unexpanded node: {"width_hint": int | None, "flatten": bool}
COPY = "dynamic_copy"  # extra of a copy: {"node": D, "index": i, "width": N}
GATHER = "dynamic_gather"  # extra of an expanded node: {"width": N, "flatten": bool}
GATHER_FUNCTION = "gather"
DEFAULT_WIDTH = 8
"""Expected width of a dynamic node without a hint (what the simulator plays)."""

_COPY_ID = re.compile(r"^(.*)#(\d+)$")


def copy_id(node: str, index: int) -> str:
    return f"{node}#{index}"


def node_of_copy(task_id: str) -> str | None:
    """The dynamic node a copy id (``D#i``) belongs to, or None for any other id."""
    m = _COPY_ID.match(task_id)
    return m.group(1) if m else None


def is_dynamic(spec: TaskSpec) -> bool:
    """An unexpanded dynamic node."""
    return DYNAMIC in spec.extra


_NODES: weakref.WeakKeyDictionary[Workflow, tuple[list[str], tuple[str, ...]]] = weakref.WeakKeyDictionary()


def dynamic_nodes(wf: Workflow) -> list[str]:
    """The unexpanded dynamic nodes of ``wf``, in topological order.

    Cached while the workflow's topological order is the same list (every added task or edge resets it):
    the simulator asks once per simulated plan, and planners simulate many plans of one workflow."""
    order = wf.topological_order()
    cached = _NODES.get(wf)
    if cached is None or cached[0] is not order:
        node = wf.graph._node
        cached = _NODES[wf] = (order, tuple(t for t in order if DYNAMIC in node[t]["spec"].extra))
    return list(cached[1])


def gather(*outputs: Any) -> list[Any]:
    """The gather of a dynamic node: its copies' outputs, in order."""
    return list(outputs)


def gather_flat(*outputs: Any) -> list[Any]:
    """The gather of a ``flatten=True`` node: its copies' outputs (lists) concatenated."""
    return [x for out in outputs for x in out]


def expected_width(spec: TaskSpec, widths: Mapping[str, int] | None = None) -> int:
    """The width a planner or the simulator assumes: given, else the hint, else :data:`DEFAULT_WIDTH`."""
    if widths and spec.id in widths:
        return int(widths[spec.id])
    hint = spec.extra[DYNAMIC].get("width_hint")
    return DEFAULT_WIDTH if hint is None else int(hint)


def item_bytes(nbytes: int | None, width: int) -> int:
    """The expected size of one item of an output of ``nbytes`` split ``width`` ways (only the total is
    known, so the items are assumed equal)."""
    return (nbytes or 0) // width if width > 0 else (nbytes or 0)


def expand_node(wf: Workflow, node: str, width: int) -> tuple[str, ...]:
    """Expand dynamic ``node`` of ``wf`` in place into ``width`` copies and its gather; returns the copies.

    Copies are added after the node's source's existing children, in index order (the first copy is the
    one the source's worker keeps). The edge of each copy from the source is an item's size
    (:func:`item_bytes`): the source stores its items under their own keys and a copy reads only its own.
    """
    if width < 0:
        raise WorkflowError(f"dynamic node {node!r}: width must be >= 0, got {width}")
    g = wf.graph
    spec: TaskSpec = g._node[node]["spec"]
    if not is_dynamic(spec):
        raise WorkflowError(f"task {node!r} is not an unexpanded dynamic node")
    info = spec.extra[DYNAMIC]
    source = spec.inputs[0]
    edge = dict(g._pred[node][source])
    edge["bytes"] = item_bytes(edge.get("bytes"), width)
    rest = {k: v for k, v in spec.extra.items() if k != DYNAMIC}
    call = spec.call
    copies = tuple(copy_id(node, i) for i in range(width))
    for i, c in enumerate(copies):
        g.add_node(
            c,
            spec=TaskSpec(
                id=c,
                function=spec.function,
                inputs=(source,),
                inline_bytes=spec.inline_bytes,
                stored_input_bytes=spec.stored_input_bytes,
                output_bytes=spec.output_bytes,
                runtime_ms=spec.runtime_ms,
                hints=spec.hints,
                call=None
                if call is None
                else TaskCall(call.fn, (Item(source, i), *call.args[1:]), call.kwargs),
                extra={**rest, COPY: {"node": node, "index": i, "width": width}},
            ),
        )
        g.add_edge(source, c, **edge)
    if copies:
        g.remove_edge(source, node)
        for c in copies:
            g.add_edge(c, node, bytes=0)
    flatten = bool(info.get("flatten"))
    g._node[node]["spec"] = TaskSpec(
        id=node,
        function=GATHER_FUNCTION,
        inputs=copies or (source,),
        inline_bytes=48 * len(copies),
        runtime_ms=0.0,
        hints=TaskHints(io=linear(1.0)),
        call=TaskCall(gather_flat if flatten else gather, tuple(Ref(c) for c in copies), {}),
        extra={GATHER: {"width": width, "flatten": flatten}},
    )
    wf.changed()
    return copies


_expansions: weakref.WeakKeyDictionary[Workflow, dict[tuple, Workflow]] = weakref.WeakKeyDictionary()


def expanded(wf: Workflow, widths: Mapping[str, int] | None = None) -> Workflow:
    """A static copy of ``wf`` with every dynamic node expanded at its :func:`expected_width`.

    ``wf`` itself is untouched; without dynamic nodes it is returned as is. The copy is cached per
    workflow and widths (planners simulate many candidate plans of one workflow: one expansion, and the
    predictor's per-workflow caches stay warm). It keeps the original's type hash.
    """
    nodes = dynamic_nodes(wf)
    if not nodes:
        return wf
    want = {t: expected_width(wf.task(t), widths) for t in nodes}
    key = (len(wf.graph), wf.graph.number_of_edges(), tuple(sorted(want.items())))
    cache = _expansions.setdefault(wf, {})
    if key in cache:
        return cache[key]
    from sim.engine.simulator import workflow_type  # the type hash cache lives with the simulator

    out = Workflow(wf.name, wf.params)
    out.graph = nx.DiGraph(wf.graph)  # own node/edge dicts: the original keeps its specs
    out.recorded_makespan_ms = wf.recorded_makespan_ms
    out.machines = dict(wf.machines)
    out.meta = {k: v for k, v in wf.meta.items() if k != "_type_hash"}
    for node in nodes:
        expand_node(out, node, want[node])
    g = out.graph
    out.meta["_type_hash"] = ((len(g), sum(map(len, g._succ.values()))), workflow_type(wf))
    out.meta["dynamic_widths"] = want
    cache[key] = out
    return out


def widths_from_records(records: Iterable[Any], workflow_type: str | None = None) -> dict[str, int]:
    """The median real width of each dynamic node in task records (of its gather, which every run has,
    even at width 0), optionally of one workflow type: a calibrated prediction for :func:`predict_widths`."""
    seen: dict[str, list[int]] = {}
    for rec in records:
        extra = getattr(rec, "extra", None) or {}
        if "dynamic_width" not in extra or "dynamic_index" in extra:
            continue  # not a gather (copies repeat the same width)
        if workflow_type is not None and getattr(rec, "workflow_type", None) != workflow_type:
            continue
        seen.setdefault(extra["dynamic_node"], []).append(int(extra["dynamic_width"]))
    return {node: int(statistics.median_low(ws)) for node, ws in seen.items()}


def predict_widths(wf: Workflow, widths: Mapping[str, int]) -> Workflow:
    """Make ``widths`` (e.g. :func:`widths_from_records`) the width hints of ``wf``'s dynamic nodes, so
    that planners, the simulator and exports expect them; nodes not in ``widths`` keep their hint. The
    type hash does not change (the width is not part of it). Returns ``wf``."""
    for node in dynamic_nodes(wf):
        if node in widths:
            wf.task(node).extra[DYNAMIC] = {**wf.task(node).extra[DYNAMIC], "width_hint": int(widths[node])}
    return wf


def record_extra(spec: TaskSpec) -> dict[str, Any]:
    """What a task record says about dynamic fan-out: the node, the copy's index and the real width."""
    copy = spec.extra.get(COPY)
    if copy is not None:
        return {"dynamic_node": copy["node"], "dynamic_index": copy["index"], "dynamic_width": copy["width"]}
    gathered = spec.extra.get(GATHER)
    if gathered is not None:
        return {"dynamic_node": spec.id, "dynamic_width": gathered["width"]}
    return {}
