"""In-process reference executor: run a code-built workflow task by task, as a worker would."""

from __future__ import annotations

from typing import Any

from sim.workflow.dag import Workflow, WorkflowError
from sim.workflow.language import resolve_refs


def run_task(wf: Workflow, task_id: str, results: dict[str, Any]) -> Any:
    """Run one task from its :class:`~sim.workflow.dag.TaskCall`, given its parents' results."""
    spec = wf.task(task_id)
    if spec.call is None:
        raise WorkflowError(f"task {task_id!r} has no code to run (it comes from a trace or a recipe)")
    args = resolve_refs(spec.call.args, results)
    kwargs = resolve_refs(spec.call.kwargs, results)
    return spec.call.fn(*args, **kwargs)


def run_local(wf: Workflow, *, keep: str = "all") -> dict[str, Any]:
    """Every task's result, computed in topological order in this process.

    ``keep="sinks"`` drops intermediate results as soon as no remaining task needs them (less memory) and
    returns the sinks' results only.
    """
    if keep not in ("all", "sinks"):
        raise ValueError(f"keep must be 'all' or 'sinks', got {keep!r}")
    from sim.workflow import dynamic

    if dynamic.dynamic_nodes(wf):
        return _run_dynamic(wf, keep)
    results: dict[str, Any] = {}
    remaining = {t: wf.graph.out_degree(t) for t in wf.graph}
    for tid in wf.topological_order():
        results[tid] = run_task(wf, tid, results)
        if keep == "sinks":
            for p in wf.graph.predecessors(tid):
                remaining[p] -= 1
                if remaining[p] == 0:
                    results.pop(p, None)
    return results


def _run_dynamic(wf: Workflow, keep: str) -> dict[str, Any]:
    """``run_local`` of a workflow with dynamic fan-outs: each dynamic node is expanded (on a private copy
    of the graph) with the real length of its source's output, as a worker does, once the source ran."""
    from sim.workflow import dynamic

    own = Workflow(wf.name, wf.params)
    own.graph = wf.graph.copy()
    results: dict[str, Any] = {}
    pending = True
    while pending:
        pending = False
        for tid in own.topological_order():
            if tid in results:
                continue
            spec = own.task(tid)
            if dynamic.is_dynamic(spec):
                dynamic.expand_node(own, tid, len(results[spec.inputs[0]]))
                pending = True  # the order changed: walk it again
                break
            results[tid] = run_task(own, tid, results)
    if keep == "sinks":
        return {t: results[t] for t in own.sinks}
    return results
