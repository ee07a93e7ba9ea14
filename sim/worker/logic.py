"""The worker logic, written once, with no I/O: the branch loop and the worker lifecycle.

Both drivers run these generators: the simulator (``mock_execute_branch`` in :mod:`sim.engine`) and the
real runtime (``execute_branch`` in :mod:`runtime`). Every scheduling decision lives here.

State transitions of one task (each happens once, on exactly one worker)::

    waiting --(all parents done)--> ready --(claimed by a branch)--> running --> done
       |                              |
       |  planned on worker W:        +-- this worker's id or flexible  -> continue here / fork here
       |  W waits (WaitReady)         +-- other worker W, W running     -> MarkReady (W's waiter wakes)
       |                              +-- other worker W, not running   -> Claim W; winner Invokes W
       |                              +-- flexible, not first           -> Invoke a fresh worker

The rules, and why:

- **Inputs.** Fetch every parent output this worker does not already hold, plus the task's stored
  argument data, in one parallel ``Fetch``. Outputs fetched or produced here are kept for later tasks.
- **Upload rule.** Upload iff the task is a sink, or some child may run elsewhere: a flexible child
  (unless it is the only child and has no other parent: then it surely continues here) or a child
  planned on another worker. Outputs consumed only on the same worker are never stored.
- **Dependency counters.** A child with one parent needs no counter. A child whose parents all share its
  planned worker counts locally. Every other child is counted in the store (one pipelined ``Incr``);
  exactly one incrementer sees the count reach the number of parents and owns the decision.
- **Downstream rule.** Ready children planned here, and the first flexible one, continue on this worker
  (the first in this branch, the others as forks). Each other flexible child gets a fresh worker. A
  child planned on worker W is *marked ready* when W surely runs (a parent of it ran on W); otherwise W
  is *claimed* with set-if-absent, so a worker id starts once globally (the reference could start two),
  and only the winner invokes W. Losers mark the task ready; W's waiter picks it up.
- **Readiness is persistent.** ``MarkReady`` stores a flag before publishing, and ``WaitReady`` checks it
  after subscribing, so no notification can be missed.
- **Lifetime.** A flexible worker ends with its branches. A planned worker also waits for each task it
  owns that has a parent elsewhere, then ends.
- **Duplicates.** A task already started on this worker is never started again here; since a planned
  worker id runs once and flexible tasks are decided by one incrementer, no task runs twice.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.models.plan import Plan
from sim.worker.effects import (
    Claim,
    Complete,
    Execute,
    Fetch,
    Incr,
    Invocation,
    Invoke,
    Join,
    MarkReady,
    Notify,
    Spawn,
    Store,
    WaitReady,
    counter_key,
    input_key,
    output_key,
)

Branch = Generator[Any, Any, None]


class PlanView:
    """Facts about a plan that the worker logic consults on every task, precomputed once per run.

    ``edge_bytes`` and ``output_bytes`` are the sizes the driver expects; the simulator uses them as the
    sizes it moves, the runtime only as hints.
    """

    __slots__ = (
        "plan", "parents", "children", "n_parents", "worker", "memory", "sinks", "stored_input",
        "edge_bytes", "output_bytes", "child_workers", "solo_flexible_child", "counted_locally", "waits", "roots",
    )

    def __init__(
        self,
        plan: Plan,
        edge_bytes: dict[tuple[str, str], int] | None = None,
        output_bytes: dict[str, int] | None = None,
    ) -> None:
        wf = plan.workflow
        g = wf.graph
        order = wf.topological_order()
        self.plan = plan
        self.parents = {t: tuple(g.predecessors(t)) for t in order}
        self.children = {t: tuple(g.successors(t)) for t in order}
        self.n_parents = {t: len(p) for t, p in self.parents.items()}
        self.worker = {t: plan.configs[t].worker_id for t in order}
        self.memory = {t: plan.configs[t].memory_mb for t in order}
        self.sinks = frozenset(t for t in order if not self.children[t])
        self.roots = tuple(t for t in order if not self.parents[t])
        self.stored_input = {t: wf.task(t).stored_input_bytes for t in order}
        self.edge_bytes = edge_bytes if edge_bytes is not None else {(u, v): d.get("bytes") or 0 for u, v, d in g.edges(data=True)}
        self.output_bytes = output_bytes if output_bytes is not None else {t: wf.task(t).output_bytes or 0 for t in order}
        worker = self.worker
        self.counted_locally = frozenset(
            c for c in order
            if self.n_parents[c] > 1 and worker[c] is not None and all(worker[p] == worker[c] for p in self.parents[c])
        )
        self.child_workers = {t: frozenset(worker[c] for c in self.children[t]) for t in order}
        self.solo_flexible_child = frozenset(
            t for t in order
            if len(self.children[t]) == 1 and worker[self.children[t][0]] is None and self.n_parents[self.children[t][0]] == 1
        )
        waits: dict[str, list[str]] = {}
        for t in order:
            w = worker[t]
            if w is not None and any(worker[p] != w for p in self.parents[t]):
                waits.setdefault(w, []).append(t)
        self.waits = waits

    def needs_upload(self, t: str, running_on: str | None) -> bool:
        """The upload rule, for ``t`` running on worker ``running_on`` (None: a flexible worker)."""
        if t in self.sinks:
            return True  # the client reads it
        if t in self.solo_flexible_child:
            return False  # the only child is flexible and has no other parent: it continues here
        workers = self.child_workers[t]
        return None in workers or workers != {running_on}


class WorkerState:
    """What one worker knows: its identity, the outputs it holds, the tasks it started, local counts."""

    __slots__ = ("view", "worker_id", "name", "memory_mb", "held", "started", "local_counts", "waiting")

    def __init__(self, view: PlanView, worker_id: str | None, name: str, memory_mb: int) -> None:
        self.view = view
        self.worker_id = worker_id  # planned id, or None for a flexible worker
        self.name = name  # planned id, or a generated one for a flexible worker
        self.memory_mb = memory_mb
        self.held: set[str] = set()
        self.started: set[str] = set()
        self.local_counts: dict[str, int] = {}
        self.waiting: set[str] = set()


def submit_workflow(view: PlanView) -> Branch:
    """The client's part: start the workers of the root tasks (one invocation per planned worker,
    one per flexible root). Planned workers are claimed first, so nobody else starts them again."""
    planned: dict[str, list[str]] = {}
    invocations: list[Invocation] = []
    for r in view.roots:
        w = view.worker[r]
        if w is None:
            invocations.append(Invocation(None, view.memory[r], (r,)))
        else:
            planned.setdefault(w, []).append(r)
    if planned:
        won = yield Claim("", tuple(planned))
        for (w, tasks), ok in zip(planned.items(), won, strict=True):
            if ok:
                invocations.insert(0, Invocation(w, view.memory[tasks[0]], tuple(tasks)))
    yield Invoke(None, tuple(invocations))


def start_worker_lifecycle(ws: WorkerState, immediate: tuple[str, ...]) -> Branch:
    """A worker from invocation to exit: run the immediate tasks, wait for owned tasks fed from
    elsewhere, end when every branch has ended."""
    waits = ws.view.waits.get(ws.worker_id, ()) if ws.worker_id is not None else ()
    if len(immediate) == 1 and not waits:
        yield from execute_branch(ws, immediate[0])  # the common flexible case: no fork needed
        return
    handles = []
    for t in immediate:
        handles.append((yield Spawn(execute_branch(ws, t))))
    pending = [t for t in waits if t not in immediate and t not in ws.started]
    ws.waiting.update(pending)
    for t in pending:
        handles.append((yield Spawn(wait_then_execute(ws, t))))
    yield Join(tuple(handles))


def wait_then_execute(ws: WorkerState, task: str) -> Branch:
    """Wait until ``task`` is ready (marked by another worker, or started here), then run it here."""
    yield WaitReady(task)
    if task not in ws.started:
        yield from execute_branch(ws, task)


def execute_branch(ws: WorkerState, task: str | None) -> Branch:
    """Run ``task``, then keep going down the DAG on this worker while the downstream rule says so."""
    v = ws.view
    held = ws.held
    forks = []
    while task is not None:
        if task in ws.started:
            break
        ws.started.add(task)
        if task in ws.waiting:
            yield Notify(task)

        items = [(output_key(p), v.edge_bytes[p, task]) for p in v.parents[task] if p not in held]
        if v.stored_input[task]:
            items.append((input_key(task), v.stored_input[task]))
        if items:
            yield Fetch(task, tuple(items))
            held.update(p for p in v.parents[task])
        yield Execute(task)
        held.add(task)
        if v.needs_upload(task, ws.worker_id):
            yield Store(task, output_key(task), v.output_bytes[task])
        if task in v.sinks:
            yield Complete(task)
            break

        ready = yield from update_dependency_counters(ws, task)
        mine = yield from handle_downstream(ws, task, ready)
        task = mine[0] if mine else None
        for extra in mine[1:]:
            forks.append((yield Spawn(execute_branch(ws, extra))))
    if forks:
        yield Join(tuple(forks))


def update_dependency_counters(ws: WorkerState, task: str) -> Generator[Any, Any, list[str]]:
    """Children of ``task`` that its completion made ready (counted here or in the store)."""
    v = ws.view
    ready: list[str] = []
    remote: list[str] = []
    for c in v.children[task]:
        n = v.n_parents[c]
        if n == 1:
            ready.append(c)
        elif c in v.counted_locally:
            count = ws.local_counts.get(c, 0) + 1
            ws.local_counts[c] = count
            if count == n:
                ready.append(c)
        else:
            remote.append(c)
    if remote:
        counts = yield Incr(task, tuple(counter_key(c) for c in remote))
        ready.extend(c for c, count in zip(remote, counts, strict=True) if count == v.n_parents[c])
    return ready


def handle_downstream(ws: WorkerState, task: str, ready: list[str]) -> Generator[Any, Any, list[str]]:
    """Decide who runs each ready child; returns the ones this worker continues with."""
    if not ready:
        return []
    v = ws.view
    mine: list[str] = []
    delegate: list[Invocation] = []
    others: dict[str, list[str]] = {}
    kept_flexible = False
    for c in ready:
        w = v.worker[c]
        if w is None:
            if not kept_flexible:
                kept_flexible = True
                mine.append(c)
            else:
                delegate.append(Invocation(None, v.memory[c], (c,)))
        elif w == ws.worker_id:
            mine.append(c)
        else:
            others.setdefault(w, []).append(c)

    to_mark: list[str] = []
    to_claim: list[str] = []
    for w, tasks in others.items():
        # A parent of one of these tasks ran on W, so W has started (and waits for them): just signal.
        if any(v.worker[p] == w for c in tasks for p in v.parents[c]):
            to_mark.extend(tasks)
        else:
            to_claim.append(w)
    if to_claim:
        won = yield Claim(task, tuple(to_claim))
        for w, ok in zip(to_claim, won, strict=True):
            if ok:
                delegate.append(Invocation(w, v.memory[others[w][0]], tuple(others[w])))
            else:
                to_mark.extend(others[w])
    if to_mark:
        yield MarkReady(task, tuple(to_mark))
    if delegate:
        yield Invoke(task, tuple(delegate))
    return mine
