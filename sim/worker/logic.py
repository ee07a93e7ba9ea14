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

- **Inputs.** Fetch every parent output and every stored argument object this worker does not already
  hold, in one parallel ``Fetch``. Outputs and stored objects fetched or produced here are kept for later
  tasks: an object shared by several tasks (a gemm block) is downloaded once per worker, and tasks that
  start together here fetch their shared objects once, up front.
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
- **Dynamic fan-outs.** A dynamic node (:mod:`sim.workflow.dynamic`) is flexible and has one parent,
  its source. When the source finishes, its worker asks the width (``Expand``: the length of the output,
  kept for the run) and expands the node in its view *before* the upload rule: the copies are then the
  source's flexible children (the first continues here, each other one gets a fresh worker) and the
  node is their gather (counted like any fan-in). The source stores each item under its own key (and
  the whole list only if a sink or another child reads it): a copy elsewhere downloads its item only, the
  copy that continues here nothing. A worker started with copies its view has not
  expanded (it holds the static plan) asks the width first and expands the same way.
- **Duplicates.** A task already started on this worker is never started again here; since a planned
  worker id runs once and flexible tasks are decided by one incrementer, no task runs twice (task-dup
  runs are labelled duplicates that never upload or count).

Optimizations, each switched on per plan (``Plan.optimizations``), change these rules as follows:

- ``preload``: a planned worker fetches each remote parent output of the tasks it waits for as soon as
  it is stored, in the background; the task later joins the preload instead of downloading again.
- ``prewarm``: the client starts idle containers at planned times (``Plan.annotations["prewarm"]``).
- ``async-upload``: children that run here without the store start while the output uploads; the
  counters of the others are updated once the upload has finished.
- ``clustering`` (WUKONG task clustering with delayed I/O, for flexible tasks whose output is at least
  ``Plan.annotations["large_output_bytes"]``): every single-parent flexible child runs here (fan-out
  clustering); a multi-parent flexible child whose other parents are all done runs here without
  counting (fan-in clustering, decided on one ``Peek``; a child is never both peeked-and-run and
  counted, which fixes the reference's double increment); the output is uploaded only if a child still
  needs it elsewhere. The client is the producer of the stored argument objects: flexible roots that
  share an object of at least that size start on one worker (``root_clusters``), and a flexible child
  fed only by tasks clustered on one worker runs there without storing their outputs.
- ``task-dup``: for each ``(task, parent)`` in ``Plan.annotations["task_dup"]`` the task's worker runs
  the parent itself as soon as the parent's inputs are stored, and runs the task at once if every other
  parent is done.
- ``streaming``: children whose planned worker is already running are told before the upload ends and
  read the output while it is written.
- ``cleanup``: whoever completes the last sink removes the run's intermediate keys.
- ``carry-inputs``: an invocation carries the small parent outputs its invoker holds, so the new worker
  does not download them.
- ``inline-plan``: an invocation carries the plan fragment its worker needs (:func:`plan_fragment`) when
  that has at most ``INLINE_PLAN_MAX_TASKS`` tasks, so the worker starts without fetching the plan;
  otherwise (and without the optimization) a worker fetches the whole plan from the store once per
  container and run.
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections.abc import Generator, Iterable
from typing import Any

from sim.models.plan import Plan
from sim.models.resources import expansion_config
from sim.worker.effects import (
    SINKS_DONE_KEY,
    Claim,
    Cleanup,
    Complete,
    Execute,
    Expand,
    Fetch,
    Incr,
    Invocation,
    Invoke,
    Join,
    MarkReady,
    Notify,
    Peek,
    Prewarm,
    Spawn,
    Store,
    WaitReady,
    WaitStored,
    counter_key,
    data_key,
    input_key,
    item_key,
    output_key,
)
from sim.workflow.dag import Workflow, edge_dict
from sim.workflow.dynamic import COPY, DYNAMIC, expand_node, item_bytes, node_of_copy

Branch = Generator[Any, Any, None]

PRELOAD = "preload"
PREWARM = "prewarm"
ASYNC_UPLOAD = "async-upload"
CLUSTERING = "clustering"
TASK_DUP = "task-dup"
STREAMING = "streaming"
CLEANUP = "cleanup"
CARRY_INPUTS = "carry-inputs"
INLINE_PLAN = "inline-plan"
ALL_OPTIMIZATIONS = (
    PRELOAD,
    PREWARM,
    ASYNC_UPLOAD,
    CLUSTERING,
    TASK_DUP,
    STREAMING,
    CLEANUP,
    CARRY_INPUTS,
    INLINE_PLAN,
)

LARGE_OUTPUT_BYTES = 5_000_000  # WUKONG's threshold for a "large" output (reference: 5 MB)
CARRY_LIMIT_BYTES = 250_000  # at most this much parent output travels inside one invocation
INLINE_PLAN_MAX_TASKS = 64  # inline-plan: a larger plan fragment is fetched from the store instead


class WorkflowShape:
    """The part of a :class:`PlanView` that depends on the workflow alone, not on the plan.

    Planners simulate many candidate plans of one workflow: :func:`workflow_shape` builds this once per
    workflow (and again only after the workflow changed). Shared between views: never modified.
    """

    __slots__ = (
        "version",
        "_position",
        "parents",
        "children",
        "n_parents",
        "sinks",
        "roots",
        "stored_inputs",
        "output_key",
        "counter_key",
        "dynamic",
        "item_input",
        "items_of",
    )

    def __init__(self, wf: Workflow) -> None:
        # networkx's adjacency dicts directly (same order as predecessors()/successors(), less overhead),
        # walked in the order networkx stores them, not in topological order: that is the order their
        # dicts were allocated in, and at 100,000 tasks a topological walk's jumps between them miss the
        # caches (the per-task dicts below took 0.46 s that way, 0.24 s this way). The topological order
        # itself is not sorted here (a fifth of a simulation's construction at 10,000 tasks): the facts
        # whose order matters either come out in it anyway (the roots) or are rare (dynamic nodes and
        # copies); a plan's view asks for it (:meth:`position`) only where it needs it.
        g = wf.graph
        pred, succ, node = g._pred, g._succ, g._node
        self.version = wf.version
        self._position: dict[str, int] | None = None
        parents = self.parents = {t: tuple(p) for t, p in pred.items()}
        children = self.children = {t: tuple(c) for t, c in succ.items()}
        self.n_parents = {t: len(p) for t, p in parents.items()}
        self.sinks = frozenset(t for t, c in children.items() if not c)
        # The roots in topological order: Workflow.topological_order takes the smallest id first from
        # its heap of ready tasks, where every root is from the start, so its roots come sorted.
        self.roots = tuple(sorted(t for t, p in parents.items() if not p))
        # Every fact read from a task's spec in one pass: at 100,000 tasks each pass over the scattered
        # spec objects costs about 0.1 s of cache misses, whatever it reads.
        stored: dict[str, dict[str, int]] = {}
        dynamic: list[str] = []
        copies: list[str] = []
        for t, data in node.items():
            spec = data["spec"]
            stored[t] = stored_items(spec)
            extra = spec.extra
            if extra:
                if DYNAMIC in extra:
                    dynamic.append(t)
                if COPY in extra:
                    copies.append(t)
        if dynamic or copies:  # rare; kept in topological order (item_facts names items in it)
            position = self.position(wf)
            dynamic.sort(key=position.__getitem__)
            copies.sort(key=position.__getitem__)
        self.stored_inputs = stored
        # Store keys, built once (the logic names them for every task it runs).
        self.output_key = {t: output_key(t) for t in node}
        self.counter_key = {t: counter_key(t) for t in node}
        self.dynamic = frozenset(dynamic)
        self.item_input, self.items_of = item_facts(wf, copies)

    def position(self, wf: Workflow) -> dict[str, int]:
        """Each task's index in the topological order of ``wf`` (the workflow this is the shape of),
        made at first use and kept: planners simulate many plans of one workflow."""
        if self._position is None:
            self._position = {t: i for i, t in enumerate(wf.topological_order())}
        return self._position


def item_facts(
    wf: Workflow, copies: Iterable[str]
) -> tuple[dict[str, tuple[str, int, str]], dict[str, tuple[str, ...]]]:
    """What copies of dynamic fan-outs read: copy -> (source, index, item key), and source -> its item
    keys in index order (two fan-outs over one source read the same items)."""
    item_input: dict[str, tuple[str, int, str]] = {}
    width: dict[str, int] = {}
    for c in copies:
        info = wf.task(c).extra[COPY]
        (source,) = wf.task(c).inputs
        item_input[c] = (source, info["index"], item_key(source, info["index"]))
        width[source] = max(width.get(source, 0), info["width"])
    return item_input, {s: tuple(item_key(s, i) for i in range(n)) for s, n in width.items()}


_SHAPES: weakref.WeakKeyDictionary[Workflow, WorkflowShape] = weakref.WeakKeyDictionary()


def workflow_shape(wf: Workflow) -> WorkflowShape:
    """The workflow's :class:`WorkflowShape`, cached while the workflow's :attr:`~Workflow.version`
    (moved on by every added task or edge) is the same."""
    shape = _SHAPES.get(wf)
    if shape is None or shape.version != wf.version:
        shape = _SHAPES[wf] = WorkflowShape(wf)
    return shape


class PlanView:
    """Facts about a plan that the worker logic consults on every task, precomputed once per run.

    ``in_edges`` (per task, ``{parent: bytes}`` in the graph's order; :attr:`edge_bytes` keys the same
    sizes by edge) and ``output_bytes`` are the sizes the driver expects; the simulator uses them as the
    sizes it moves, the runtime only as hints.
    """

    __slots__ = (
        "plan",
        "parents",
        "children",
        "n_parents",
        "worker",
        "memory",
        "sinks",
        "stored_inputs",
        "in_edges",
        "_edge_bytes",
        "output_bytes",
        "keep_on",
        "solo_flexible_child",
        "counted_locally",
        "waits",
        "roots",
        "opts",
        "large_output",
        "dups",
        "prewarm",
        "root_clusters",
        "n_sinks",
        "tasks_of",
        "output_key",
        "counter_key",
        "dynamic",
        "item_input",
        "items_of",
    )

    def __init__(
        self,
        plan: Plan,
        in_edges: dict[str, dict[str, int]] | None = None,
        output_bytes: dict[str, int] | None = None,
    ) -> None:
        wf = plan.workflow
        shape = workflow_shape(wf)
        # Every task: in topological order if the workflow is sorted already (by its planner, or by a
        # view before this one), and then no wait needs sorting; else in the order networkx stores them.
        known = wf.sorted_order()
        tasks = known if known is not None else shape.parents
        self.plan = plan
        self.parents = shape.parents
        self.children = shape.children
        self.n_parents = shape.n_parents
        self.sinks = shape.sinks
        self.roots = shape.roots
        self.stored_inputs = shape.stored_inputs
        self.output_key = shape.output_key
        self.counter_key = shape.counter_key
        # Unexpanded dynamic fan-out nodes: flexible whatever the plan says (their copies are).
        self.dynamic = shape.dynamic
        self.item_input, self.items_of = shape.item_input, shape.items_of
        configs = plan.configs
        worker: dict[str, str | None] = {}
        memory: dict[str, int] = {}
        for t in tasks:  # one look-up of each config for both facts
            config = configs[t]
            worker[t] = config.worker_id
            memory[t] = config.memory_mb
        for t in self.dynamic:
            worker[t] = None
        self.worker, self.memory = worker, memory
        if in_edges is None:
            pred = wf.graph._pred
            in_edges = {t: {p: d.get("bytes") or 0 for p, d in pred[t].items()} for t in tasks}
        self.in_edges = in_edges
        self._edge_bytes: dict[tuple[str, str], int] | None = None
        self.output_bytes = (
            output_bytes if output_bytes is not None else {t: wf.task(t).output_bytes or 0 for t in tasks}
        )
        self.keep_on: dict[str, str] = {}
        waiting, solo, counted = self._task_rules(tasks)
        self.solo_flexible_child = frozenset(solo)
        self.counted_locally = frozenset(counted)
        if waiting and known is None:  # a planned worker waits for them in topological order
            waiting.sort(key=shape.position(wf).__getitem__)  # (no task waits under wukong)
        waits: dict[str, list[str]] = {}
        for t in waiting:
            waits.setdefault(worker[t], []).append(t)
        self.waits = waits
        self.opts = frozenset(plan.optimizations)
        self.large_output = int(plan.annotations.get("large_output_bytes", LARGE_OUTPUT_BYTES))
        dups: dict[str, list[tuple[str, str]]] = {}
        if TASK_DUP in self.opts:
            for t, p in plan.annotations.get("task_dup", ()):
                if t in worker and p in worker:  # (a pair naming a simulated copy is no plan's business)
                    dups.setdefault(worker[t], []).append((t, p))
        self.dups = dups
        self.prewarm = tuple(plan.annotations.get("prewarm", ())) if PREWARM in self.opts else ()
        cap = plan.annotations.get("cluster_max_tasks")
        self.root_clusters = cluster_roots(self, cap) if CLUSTERING in self.opts else ()
        # A plan fragment (inline-plan) holds some of the sinks; cleanup needs them all.
        self.n_sinks = int(plan.annotations.get("sinks_total", len(self.sinks)))
        tasks_of: dict[str, list[str]] = {}
        if INLINE_PLAN in self.opts:
            for t in wf.topological_order():
                if worker[t] is not None:
                    tasks_of.setdefault(worker[t], []).append(t)
        self.tasks_of = tasks_of

    @property
    def edge_bytes(self) -> dict[tuple[str, str], int]:
        """Bytes per ``(parent, task)`` edge, for the rarer look-ups of one edge (preloads, task-dup,
        copies of dynamic fan-outs); built from ``in_edges`` at first use."""
        if self._edge_bytes is None:
            self._edge_bytes = edge_dict(self.in_edges)
        return self._edge_bytes

    def _task_rules(self, tasks: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
        """The per-task rules of the plan, for ``tasks`` (all of them, or those an expansion touched), in
        one pass: a pass over 10,000 tasks' dicts costs milliseconds of every simulation's construction.

        Sets :attr:`keep_on` of each task whose children all run on one planned worker (and removes the
        others: a task missing from it keeps its output nowhere; under an all-flexible plan such as
        wukong's it stays empty). Returns, in the order of ``tasks``:

        - the planned tasks with a parent elsewhere (their worker waits for them: :attr:`waits`);
        - the tasks whose only child is flexible and has no other parent (that child surely continues
          where the task ran: :attr:`solo_flexible_child`);
        - the planned fan-ins whose parents all share their worker (counted there, not in the store:
          :attr:`counted_locally`).
        """
        worker, parents, children, n_parents = self.worker, self.parents, self.children, self.n_parents
        keep_on = self.keep_on
        waiting: list[str] = []
        solo: list[str] = []
        counted: list[str] = []
        for t in tasks:
            kids = children[t]
            w = worker[kids[0]] if kids else None
            if w is not None and (len(kids) == 1 or all(worker[c] == w for c in kids)):
                keep_on[t] = w
            else:
                if kids and len(kids) == 1 and n_parents[kids[0]] == 1:  # (w is None: flexible)
                    solo.append(t)
                if t in keep_on:
                    del keep_on[t]
            w = worker[t]
            if w is not None:
                if any(worker[p] != w for p in parents[t]):
                    waiting.append(t)
                elif n_parents[t] > 1:
                    counted.append(t)
        return waiting, solo, counted

    def expand(self, node: str, width: int) -> tuple[str, ...]:
        """Expand dynamic ``node`` to ``width`` copies (:func:`sim.workflow.dynamic.expand_node`, on the
        plan's workflow) and bring the facts about every task it touches up to date; returns the copies.

        Copies and the gather are flexible, with the node's memory, or each on a worker of its own when the
        node was pinned for the memory it declares (:func:`~sim.models.resources.expansion_config`). Sizes
        are the node's: each copy reads one item of the source's output
        (:func:`sim.workflow.dynamic.item_bytes`; stored under its own key, :func:`store_output`) and writes
        what the node would. Expanding an expanded node does nothing.
        """
        if node not in self.dynamic:
            return ()
        plan = self.plan
        wf = plan.workflow
        (source,) = self.parents[node]
        copies = expand_node(wf, node, width)
        # The workflow's shape is shared by every view of it (never modified): this view's own copies.
        facts = ("parents", "children", "n_parents", "stored_inputs", "output_key", "counter_key")
        for fact in (*facts, "item_input", "items_of"):
            setattr(self, fact, dict(getattr(self, fact)))
        self.dynamic = self.dynamic - {node}
        planned = plan.configs[node]
        pred, succ = wf.graph._pred, wf.graph._succ
        touched = (source, *copies, node)
        for t in touched:
            self.parents[t] = tuple(pred[t])
            self.children[t] = tuple(succ[t])
            self.n_parents[t] = len(self.parents[t])
        for t in copies:
            self.output_key[t] = output_key(t)
            self.counter_key[t] = counter_key(t)
        pinned: list[str] = []
        for t in (*copies, node):
            cfg = plan.configs[t] = expansion_config(planned, t)
            self.worker[t] = cfg.worker_id
            self.memory[t] = cfg.memory_mb
            self.stored_inputs[t] = stored_items(wf.task(t))
            if cfg.worker_id is not None:
                pinned.append(t)
        # The node's in-edges before expanding: the source's (each copy reads an item of it), and any it keeps.
        kept = dict(self.in_edges.get(node, {}))
        edge, out = item_bytes(kept.get(source, 0), width), self.output_bytes.get(node, 0)
        self.in_edges = dict(self.in_edges)  # (perhaps the simulator's sizes: a view of its own)
        self._edge_bytes = None  # rebuilt from in_edges at the next look-up
        item_input, items_of = item_facts(wf, copies)
        self.item_input.update(item_input)
        self.items_of.update(items_of)
        for c in copies:
            self.in_edges[c] = {source: edge}
            self.output_bytes[c] = out
        # The gather reads each copy's output; an edge it kept (no copies: the source's) keeps its size.
        made = set(copies)
        self.in_edges[node] = {p: out if p in made else kept.get(p, 0) for p in self.parents[node]}
        self.output_bytes[node] = out * len(copies)
        waiting, solo, counted = self._task_rules(touched)
        self.counted_locally = (self.counted_locally - set(touched)) | set(counted)
        self.solo_flexible_child = (self.solo_flexible_child - set(touched)) | set(solo)
        if pinned:  # workers of their own, as the plan's pinned tasks have (their lists are new)
            self.waits = {**self.waits, **{self.worker[t]: [t] for t in waiting if t in pinned}}
            if INLINE_PLAN in self.opts:
                self.tasks_of = {**self.tasks_of, **{self.worker[t]: [t] for t in pinned}}
        return copies

    def needs_upload(self, t: str, running_on: str | None) -> bool:
        """The upload rule, for ``t`` running on worker ``running_on`` (None: a flexible worker)."""
        if t in self.sinks:
            return True  # the client reads it
        if t in self.solo_flexible_child:
            return False  # the only child is flexible and has no other parent: it continues here
        # unless every child is planned on this very worker
        return self.keep_on.get(t, NOWHERE) != running_on


_EMPTY: frozenset[str] = frozenset()


class _Nowhere:
    """Where a task missing from :attr:`PlanView.keep_on` keeps its output: nowhere (its children do
    not all run on one planned worker), unequal to every worker, flexible (None) or planned."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOWHERE"

    def __reduce__(self) -> str:
        return "NOWHERE"  # pickled and copied as the module's one instance


NOWHERE: Any = _Nowhere()


class WorkerState:
    """What one worker knows: its identity, the outputs it holds, the tasks it started, local counts."""

    __slots__ = (
        "view",
        "worker_id",
        "name",
        "memory_mb",
        "held",
        "inputs",
        "started",
        "local_counts",
        "waiting",
        "preloads",
        "cluster_local",
    )

    def __init__(self, view: PlanView, worker_id: str | None, name: str, memory_mb: int) -> None:
        self.view = view
        self.worker_id = worker_id  # planned id, or None for a flexible worker
        self.name = name  # planned id, or a generated one for a flexible worker
        self.memory_mb = memory_mb
        self.held: set[str] = set()
        self.started: set[str] = set()
        # Empty on most workers, so made at first use: a simulation runs thousands of short-lived
        # workers, and every dict or set is one more object to allocate, free, and for the garbage
        # collector to scan. None until the first local count (count_here) / preload (worker_lifecycle).
        self.local_counts: dict[str, int] | None = None
        self.preloads: dict[str, Any] | None = None  # parent -> handle of its background preload
        # Likewise a shared empty frozenset until the first add (see add_to).
        self.inputs: set[str] | frozenset[str] = _EMPTY  # keys of stored argument objects fetched here
        self.waiting: set[str] | frozenset[str] = _EMPTY
        self.cluster_local: set[str] | frozenset[str] = (
            _EMPTY  # fan-ins whose parents were all clustered here
        )

    def add_to(self, name: str, items: Iterable[str]) -> None:
        """Add ``items`` to the set attribute ``name`` (``inputs``, ``waiting`` or ``cluster_local``),
        making it a set of its own first if it is still the shared empty one."""
        current = getattr(self, name)
        if current is _EMPTY:
            setattr(self, name, set(items))
        else:
            current.update(items)


def submit_workflow(view: PlanView) -> Branch:
    """The client's part: start the workers of the root tasks (one invocation per planned worker,
    one per flexible root). Planned workers are claimed first, so nobody else starts them again."""
    for delay_ms, memory_mb in view.prewarm:
        yield Prewarm(delay_ms, memory_mb)
    planned: dict[str, list[str]] = {}
    invocations = [
        Invocation(None, view.memory[group[0]], group, fragment=plan_fragment(view, None, group))
        for group in view.root_clusters
    ]
    clustered = {r for group in view.root_clusters for r in group}
    for r in view.roots:
        w = view.worker[r]
        if w is None:
            if r not in clustered:
                invocations.append(
                    Invocation(None, view.memory[r], (r,), fragment=plan_fragment(view, None, (r,)))
                )
        else:
            planned.setdefault(w, []).append(r)
    if planned:
        won = yield Claim("", tuple(planned))
        for (w, tasks), ok in zip(planned.items(), won, strict=True):
            if ok:
                invocations.insert(
                    0,
                    Invocation(
                        w, view.memory[tasks[0]], tuple(tasks), fragment=plan_fragment(view, w, tasks)
                    ),
                )
    yield Invoke(None, tuple(invocations))


def start_worker_lifecycle(
    ws: WorkerState, immediate: tuple[str, ...], carried: tuple[str, ...] = ()
) -> Branch:
    """A worker from invocation to exit: run the immediate tasks, wait for owned tasks fed from
    elsewhere (preloading their inputs, duplicating slow parents), end when every branch has ended.

    The common case -- one task, nothing carried or to expand, no owned task to wait for or duplicate
    -- is that task's branch itself: every effect the worker yields then passes through one generator
    less (a simulation starts thousands of such workers).
    """
    v = ws.view
    me = ws.worker_id
    if (
        len(immediate) == 1
        and not carried
        and not v.dynamic
        and (me is None or not (v.waits.get(me) or v.dups.get(me)))
    ):
        return execute_branch(ws, immediate[0])
    return worker_lifecycle(ws, immediate, carried)


def worker_lifecycle(ws: WorkerState, immediate: tuple[str, ...], carried: tuple[str, ...] = ()) -> Branch:
    """:func:`start_worker_lifecycle`'s general case."""
    v = ws.view
    if carried:
        ws.held.update(carried)
    if v.dynamic:
        yield from learn_expansions(ws, immediate)
    me = ws.worker_id
    waits = v.waits.get(me, ()) if me is not None else ()
    dups = v.dups.get(me, ()) if me is not None else ()
    if len(immediate) > 1:
        if me is None and CLUSTERING in v.opts:
            mark_cluster_local(ws, immediate)  # a root cluster (see cluster_roots)
        yield from prefetch_shared_inputs(ws, immediate)
    if len(immediate) == 1 and not waits and not dups:
        yield from execute_branch(ws, immediate[0])  # the common flexible case: no fork needed
        return
    handles = []
    for t in immediate:
        handles.append((yield Spawn(execute_branch(ws, t))))
    pending = [t for t in waits if t not in immediate and t not in ws.started]
    ws.add_to("waiting", pending)
    if PRELOAD in v.opts:
        if ws.preloads is None:
            ws.preloads = {}
        for t in pending:
            for p in v.parents[t]:
                # Only parents planned elsewhere surely upload; a flexible one may even run here.
                if v.worker[p] is not None and v.worker[p] != me and p not in ws.preloads:
                    ws.preloads[p] = yield Spawn(preload_output(ws, p, t))
                    handles.append(ws.preloads[p])
    for t, p in dups:
        handles.append((yield Spawn(duplicate_then_execute(ws, t, p))))
    for t in pending:
        handles.append((yield Spawn(wait_then_execute(ws, t))))
    yield Join(tuple(handles))


def learn_expansions(ws: WorkerState, tasks: tuple[str, ...]) -> Branch:
    """This worker was started with copies of dynamic nodes its view has not expanded (it holds the
    static plan): ask each node's width, which the source's worker recorded, and expand it here too."""
    v = ws.view
    for t in tasks:
        node = node_of_copy(t) if t not in v.parents else None
        if node is not None and node in v.dynamic:
            v.expand(node, (yield Expand("", node)))


def expand_children(ws: WorkerState, task: str) -> Branch:
    """``task`` is done: expand the dynamic fan-outs over its output (their copies become its children)."""
    v = ws.view
    for c in v.children[task]:
        if c in v.dynamic:
            v.expand(c, (yield Expand(task, c)))


def wait_then_execute(ws: WorkerState, task: str) -> Branch:
    """Wait until ``task`` is ready (marked by another worker, or started here), then run it here."""
    yield WaitReady(task)
    if task not in ws.started:
        yield from execute_branch(ws, task)


def preload_output(ws: WorkerState, parent: str, consumer: str) -> Branch:
    """Fetch ``parent``'s output as soon as it is stored, before ``consumer`` is ready."""
    yield WaitStored(parent)
    if parent not in ws.held:
        yield Fetch(
            consumer, ((ws.view.output_key[parent], ws.view.edge_bytes[parent, consumer]),), "preload"
        )
        ws.held.add(parent)


def duplicate_then_execute(ws: WorkerState, task: str, parent: str) -> Branch:
    """task-dup: run ``parent`` here as a labelled duplicate once its inputs are stored, then run
    ``task`` at once if every other parent of it is done (else its waiter runs it, without fetching
    ``parent``)."""
    v = ws.view
    for q in v.parents[parent]:
        if q not in ws.held:
            yield WaitStored(q)
    items = [(v.output_key[q], v.edge_bytes[q, parent]) for q in v.parents[parent] if q not in ws.held]
    items += [kv for kv in v.stored_inputs[parent].items() if kv[0] not in ws.inputs]
    if items:
        yield Fetch(parent, tuple(items), "dup")
        ws.held.update(v.parents[parent])
        ws.add_to("inputs", v.stored_inputs[parent])
    if task in ws.started:
        return
    yield Execute(parent, "dup")
    ws.held.add(parent)
    others = frozenset(v.parents[task]) - {parent}
    if others:
        (counted,) = yield Peek(task, (v.counter_key[task],))
        if not others <= counted:
            return
    if task not in ws.started:
        yield from execute_branch(ws, task)


def execute_branch(ws: WorkerState, task: str | None) -> Branch:
    """Run ``task``, then keep going down the DAG on this worker while the downstream rule says so."""
    v = ws.view
    held = ws.held
    forks: list[Any] = []
    while task is not None:
        if task in ws.started:
            break
        ws.started.add(task)
        if task in ws.waiting:
            yield Notify(task)

        if ws.preloads:
            # A parent being preloaded is fetched by its preload only: join it instead of downloading.
            pending = tuple(
                dict.fromkeys(ws.preloads[p] for p in v.parents[task] if p not in held and p in ws.preloads)
            )
            if pending:
                yield Join(pending)
        item = v.item_input.get(task)
        if item is None:
            out_key = v.output_key
            items = [(out_key[p], b) for p, b in v.in_edges[task].items() if p not in held]
            got: tuple[str, ...] = v.parents[task]
        else:  # a copy: its item, unless this worker holds the whole source (or the item)
            source, _, key = item
            # (a copy's one in-edge is from its source: no edge dict, which each expansion invalidates)
            items = [] if source in held or key in held else [(key, v.in_edges[task][source])]
            got = (key,)
        stored = v.stored_inputs[task]
        if stored:
            # (a worker that fetched no stored object yet -- most -- needs no test per object)
            items += (
                stored.items()
                if ws.inputs is _EMPTY
                else [kv for kv in stored.items() if kv[0] not in ws.inputs]
            )
        if items:
            yield Fetch(task, tuple(items), None, True)  # Execute(task) is next (see Fetch)
            held.update(got)
            if stored:
                if ws.inputs is _EMPTY:
                    ws.inputs = set(stored)
                else:
                    ws.inputs.update(stored)
        yield Execute(task)
        held.add(task)
        mine = yield from finish_task(ws, task, forks)
        task = mine[0] if mine else None
        if len(mine) > 1:
            yield from prefetch_shared_inputs(ws, mine)
        for extra in mine[1:]:
            forks.append((yield Spawn(execute_branch(ws, extra))))
    if forks:
        yield Join(tuple(forks))


def finish_task(ws: WorkerState, task: str, forks: list[Any]) -> Generator[Any, Any, list[str]]:
    """After ``task`` ran here: upload, count, and decide who runs its children. Returns the children
    this branch continues with; background work (async uploads) is appended to ``forks``."""
    v = ws.view
    if v.dynamic:
        yield from expand_children(ws, task)
    if task in v.sinks:
        yield store_output(v, task)
        yield Complete(task)
        if CLEANUP in v.opts:
            (done,) = yield Incr(task, (SINKS_DONE_KEY,))
            if done == v.n_sinks:
                yield Cleanup(task)
        return []
    children = v.children[task]
    if CLUSTERING in v.opts and ws.worker_id is None and v.output_bytes[task] >= v.large_output:
        return (yield from cluster_downstream(ws, task, forks))
    if not v.needs_upload(task, ws.worker_id) or (
        ws.cluster_local and all(c in ws.cluster_local for c in children)
    ):
        ready = yield from update_dependency_counters(ws, task, children)
        return (yield from handle_downstream(ws, task, ready)) if ready else []
    if ASYNC_UPLOAD in v.opts:
        local, rest, kept_flexible = split_local_children(ws, task)
        if rest:
            forks.append((yield Spawn(upload_then_release(ws, task, rest, not kept_flexible))))
        return local
    if STREAMING in v.opts:
        live = [c for c in children if running_elsewhere(ws, c)]
        if live:
            upload = yield Spawn(store_streamed(ws, task))
            ready = yield from update_dependency_counters(ws, task, live)
            mine = yield from handle_downstream(ws, task, ready, keep_flexible=False)
            yield Join((upload,))
            rest = [c for c in children if c not in live]
            ready = yield from update_dependency_counters(ws, task, rest)
            return mine + (yield from handle_downstream(ws, task, ready))
    yield store_output(v, task)
    ready = yield from update_dependency_counters(ws, task, children)
    # (most tasks of a wide fan-in make no child ready: no generator of handle_downstream for them)
    return (yield from handle_downstream(ws, task, ready)) if ready else []


def store_output(v: PlanView, task: str, stream: bool = False) -> Store:
    """The upload of ``task``'s output. A source of expanded dynamic fan-outs stores each item under its own
    key (its copies read one item each) and the whole list only if someone else reads it: a sink's client,
    or a child that is not a copy."""
    items = v.items_of.get(task)
    if not items:
        return Store(task, v.output_key[task], v.output_bytes[task], stream)
    nbytes = v.output_bytes[task]
    if task in v.sinks or any(c not in v.item_input for c in v.children[task]):
        return Store(task, v.output_key[task], 2 * nbytes, stream, items)
    return Store(task, "", nbytes, False, items)


def store_streamed(ws: WorkerState, task: str) -> Branch:
    yield store_output(ws.view, task, stream=True)


def running_elsewhere(ws: WorkerState, child: str) -> bool:
    """The child is planned on another worker that surely runs now (a parent of it ran there)."""
    v = ws.view
    w = v.worker[child]
    return w is not None and w != ws.worker_id and any(v.worker[p] == w for p in v.parents[child])


def split_local_children(ws: WorkerState, task: str) -> tuple[list[str], list[str], bool]:
    """async-upload: children that can start here without the store, and the rest."""
    v = ws.view
    me = ws.worker_id
    local: list[str] = []
    rest: list[str] = []
    kept_flexible = False
    for c in v.children[task]:
        w = v.worker[c]
        if v.n_parents[c] == 1 and w is not None and w == me:
            local.append(c)
        elif (c in v.counted_locally and w == me) or c in ws.cluster_local:
            if count_here(ws, c):
                local.append(c)
        elif v.n_parents[c] == 1 and w is None and not kept_flexible:
            kept_flexible = True
            local.append(c)
        else:
            rest.append(c)
    return local, rest, kept_flexible


def upload_then_release(ws: WorkerState, task: str, children: list[str], keep_flexible: bool) -> Branch:
    """The background half of async-upload: store, then count and hand over the remaining children."""
    yield store_output(ws.view, task)
    ready = yield from update_dependency_counters(ws, task, children)
    mine = yield from handle_downstream(ws, task, ready, keep_flexible)
    if mine:
        yield from continue_with(ws, mine)


def continue_with(ws: WorkerState, tasks: list[str]) -> Branch:
    forks = []
    for extra in tasks[1:]:
        forks.append((yield Spawn(execute_branch(ws, extra))))
    yield from execute_branch(ws, tasks[0])
    if forks:
        yield Join(tuple(forks))


def cluster_downstream(ws: WorkerState, task: str, forks: list[Any]) -> Generator[Any, Any, list[str]]:
    """WUKONG clustering for a large output on a flexible worker (see the module docstring)."""
    v = ws.view
    local: list[str] = []
    remote: list[str] = []
    fan_in: list[str] = []
    for c in v.children[task]:
        if v.worker[c] is not None:
            remote.append(c)
        elif c in ws.cluster_local:
            if count_here(ws, c):
                local.append(c)
        elif v.n_parents[c] == 1:
            local.append(c)  # fan-out clustering: the big output stays with its consumers
        else:
            fan_in.append(c)
    if len(local) > 1:
        mark_cluster_local(ws, local)
    if fan_in:
        counted = yield Peek(task, tuple([v.counter_key[c] for c in fan_in]))
        for c, parents_done in zip(fan_in, counted, strict=True):
            if len(parents_done) == v.n_parents[c] - 1 and task not in parents_done:
                local.append(c)  # fan-in clustering: every other parent is done
            else:
                remote.append(c)
    if remote:  # delayed I/O: only what someone elsewhere still needs is uploaded
        forks.append((yield Spawn(upload_then_release(ws, task, remote, keep_flexible=False))))
    return local


def mark_cluster_local(ws: WorkerState, siblings: tuple[str, ...] | list[str]) -> None:
    """The clustered ``siblings`` all run on this flexible worker: a flexible child fed only by them is
    counted here, and their outputs need not be stored for it."""
    v = ws.view
    group = set(siblings)
    for sibling in siblings:
        for g in v.children[sibling]:
            if v.worker[g] is None and all(p in group for p in v.parents[g]):
                ws.add_to("cluster_local", (g,))


def prefetch_shared_inputs(ws: WorkerState, tasks: tuple[str, ...] | list[str]) -> Branch:
    """``tasks`` are about to start concurrently here: fetch each stored object that several of them read
    once, on behalf of the first that reads it (concurrent branches would each download it)."""
    v = ws.view
    readers: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    for t in tasks:
        for key, nbytes in v.stored_inputs[t].items():
            if key not in ws.inputs:
                readers.setdefault(key, []).append(t)
                sizes[key] = nbytes
    per_task: dict[str, list[tuple[str, int]]] = {}
    for key, ts in readers.items():
        if len(ts) > 1:
            per_task.setdefault(ts[0], []).append((key, sizes[key]))
    if not per_task:
        return
    handles = []
    for t, items in per_task.items():
        handles.append((yield Spawn(fetch_inputs(ws, t, tuple(items)))))
    yield Join(tuple(handles))


def fetch_inputs(ws: WorkerState, task: str, items: tuple[tuple[str, int], ...]) -> Branch:
    yield Fetch(task, items)
    ws.add_to("inputs", [k for k, _ in items])


def stored_items(spec: Any) -> dict[str, int]:
    """The stored objects a task downloads, as ``{key: bytes}``: each argument object of the workflow's
    ``stored_data`` under its own key (uploaded once per run, however many tasks read it; an object named
    twice is read once), or, for a task without that detail (a trace, a hand-set size), its whole stored
    arguments under ``in:{task}``. (A dict of strings and ints: never tracked by the garbage collector,
    where a tuple of pairs was two objects per task for its first scan.)"""
    args = spec.extra.get("stored_args")
    if args:
        objects: dict[str, int] = {}
        for a in args:
            objects.setdefault(data_key(a["key"]), int(a["bytes"]))
        return objects
    return {input_key(spec.id): spec.stored_input_bytes} if spec.stored_input_bytes else {}


def cluster_roots(view: PlanView, cap: int | None = None) -> tuple[tuple[str, ...], ...]:
    """clustering for the client's fan-out: flexible roots sharing a stored object of at least
    ``view.large_output`` bytes start on one worker, which downloads the object once -- WUKONG runs every
    consumer of a large object where the object is. Without ``cap`` the groups are closed under sharing
    (a gemm root reading block A_i and block B_j joins A_i's group and B_j's group into one). With
    ``cap`` (``Plan.annotations["cluster_max_tasks"]``) a root joins the group with room that holds the
    most of its large bytes, else starts a new group (gemm, cap 4: one group per row block). Roots
    sharing nothing large are left out (they start alone, as without clustering)."""
    order = {r: i for i, r in enumerate(view.roots)}
    # Creation order (multiply_chunks-2 before -10), so a cap fills groups along the user's own loops.
    roots = sorted(view.roots, key=lambda t: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", t)])
    fresh = itertools.count()
    groups: dict[int, list[str]] = {}
    keys_of: dict[int, set[str]] = {}  # group -> the large objects it reads
    holders: dict[str, set[int]] = {}  # large object -> the groups that read it
    for r in roots:
        large = {k: b for k, b in view.stored_inputs[r].items() if b >= view.large_output}
        if not large or view.worker[r] is not None:
            continue
        touching = {g for k in large for g in holders.get(k, ())}
        if cap is None:
            gid = max(touching, key=lambda g: (len(groups[g]), -g), default=None)
            if gid is None:
                gid = next(fresh)
            for g in sorted(touching - {gid}):  # this root links the groups: merge them into one
                groups[gid].extend(groups.pop(g))
                for k in keys_of.pop(g):
                    holders[k].discard(g)
                    holders[k].add(gid)
                    keys_of[gid].add(k)
        else:
            shared = {
                g: 0 for g in touching if len(groups[g]) < cap
            }  # groups with room -> large bytes shared
            for k, b in large.items():
                for g in holders.get(k, ()):
                    if g in shared:
                        shared[g] += b
            gid = max(shared, key=lambda g: (shared[g], -g), default=None)
            if gid is None:
                gid = next(fresh)
        groups.setdefault(gid, []).append(r)
        keys_of.setdefault(gid, set()).update(large)
        for k in large:
            holders.setdefault(k, set()).add(gid)
    return tuple(tuple(sorted(g, key=order.__getitem__)) for g in groups.values() if len(g) > 1)


def update_dependency_counters(
    ws: WorkerState, task: str, children: tuple[str, ...] | list[str]
) -> Generator[Any, Any, list[str]]:
    """Children of ``task`` that its completion made ready (counted here or in the store)."""
    v = ws.view
    n_parents, counted_locally, cluster_local = v.n_parents, v.counted_locally, ws.cluster_local
    ready: list[str] = []
    remote: list[str] = []
    for c in children:
        if n_parents[c] == 1:
            ready.append(c)
        elif c in counted_locally or c in cluster_local:
            if count_here(ws, c):
                ready.append(c)
        else:
            remote.append(c)
    if remote:
        # (map and a plain loop, not comprehensions: each comprehension is a function call of its own,
        # and this runs once per task)
        counts = yield Incr(task, tuple(map(v.counter_key.__getitem__, remote)))
        # (by index: zip(strict=True) parses its keyword on every call, some 1,700 instructions)
        for i, c in enumerate(remote):
            if counts[i] == n_parents[c]:
                ready.append(c)
    return ready


def count_here(ws: WorkerState, child: str) -> bool:
    """Count one finished parent of ``child`` on this worker; True when it was the last one."""
    counts = ws.local_counts
    if counts is None:
        counts = ws.local_counts = {}
    count = counts.get(child, 0) + 1
    counts[child] = count
    return count == ws.view.n_parents[child]


def handle_downstream(
    ws: WorkerState, task: str, ready: list[str], keep_flexible: bool = True
) -> Generator[Any, Any, list[str]]:
    """Decide who runs each ready child; returns the ones this worker continues with."""
    if not ready:
        return []
    v = ws.view
    mine: list[str] = []
    delegate: list[Invocation] = []
    others: dict[str, list[str]] = {}
    extras = CARRY_INPUTS in v.opts or INLINE_PLAN in v.opts  # an invocation may carry inputs or a plan
    for c in ready:
        w = v.worker[c]
        if w is None:
            if keep_flexible:
                keep_flexible = False
                mine.append(c)
            elif not extras:  # the common case, without the helpers' calls
                delegate.append(Invocation(None, v.memory[c], (c,)))
            else:
                delegate.append(
                    Invocation(
                        None, v.memory[c], (c,), carried_inputs(ws, (c,)), plan_fragment(v, None, (c,))
                    )
                )
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
                tasks = tuple(others[w])
                delegate.append(
                    Invocation(
                        w, v.memory[tasks[0]], tasks, carried_inputs(ws, tasks), plan_fragment(v, w, tasks)
                    )
                )
            else:
                to_mark.extend(others[w])
    if to_mark:
        yield MarkReady(task, tuple(to_mark))
    if delegate:
        yield Invoke(task, tuple(delegate))
    return mine


def carried_inputs(ws: WorkerState, tasks: tuple[str, ...]) -> tuple[str, ...]:
    """carry-inputs: the small parent outputs held here that the invoked tasks need."""
    v = ws.view
    if CARRY_INPUTS not in v.opts:
        return ()
    carried: list[str] = []
    budget = CARRY_LIMIT_BYTES
    for c in tasks:
        for p in v.parents[c]:
            size = v.output_bytes[p]
            if p in ws.held and p not in carried and size <= budget:
                carried.append(p)
                budget -= size
    return tuple(carried)


def plan_fragment(
    v: PlanView, worker_id: str | None, tasks: tuple[str, ...] | list[str]
) -> frozenset[str] | None:
    """inline-plan: the tasks of the plan a worker started with ``tasks`` needs, or None (fetch the plan).

    The worker may run ``tasks``, every task planned on it, and everything below them (a planned worker
    met on the way brings all its tasks: whoever invokes it must be able to compute *its* fragment, so a
    fragment is closed under this rule); for each of those it needs the parents (counts, inputs), and for
    task-dup the duplicated parent's parents. None when the optimization is off or the fragment has more
    than ``INLINE_PLAN_MAX_TASKS`` tasks (the search stops there: a few dozen steps per invocation).
    """
    if INLINE_PLAN not in v.opts:
        return None
    found = fragment_runs(v, worker_id, tasks)
    if found is None:
        return None
    runs, workers = found
    needed = set(runs)
    for t in runs:
        needed.update(v.parents[t])
    for w in workers:
        for _, p in v.dups.get(w, ()):
            needed.add(p)
            needed.update(v.parents[p])
    return frozenset(needed) if len(needed) <= INLINE_PLAN_MAX_TASKS else None


def fragment_runs(
    v: PlanView, worker_id: str | None, tasks: tuple[str, ...] | list[str]
) -> tuple[set[str], set[str]] | None:
    """The tasks a worker started with ``tasks`` may run, and the planned workers met on the way (see
    :func:`plan_fragment`); None past ``INLINE_PLAN_MAX_TASKS``."""
    limit = INLINE_PLAN_MAX_TASKS
    workers = {worker_id} if worker_id is not None else set()
    stack = list(tasks) + list(v.tasks_of.get(worker_id, ()) if worker_id is not None else ())
    runs: set[str] = set()
    while stack:
        t = stack.pop()
        if t in runs:
            continue
        runs.add(t)
        if len(runs) > limit:
            return None
        for c in v.children[t]:
            w = v.worker[c]
            if w is not None and w not in workers:
                workers.add(w)
                stack.extend(v.tasks_of[w])
            stack.append(c)
    return runs, workers
