"""The one workflow model consumed by the simulator, the planners and the runtime.

A :class:`Workflow` is a DAG (networkx underneath) of :class:`TaskSpec` s. An edge ``u -> v`` carries
``bytes``: how much of ``u``'s output ``v`` reads through the key-value store when they run on different
workers. Workflows come from Python code (:meth:`Workflow.from_nodes`) or from WfFormat traces
(:mod:`sim.workflow.wfformat`); both land here.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import networkx as nx

from sim.workflow.language import Ref, TaskFunction, TaskHints, TaskNode, iter_nodes, replace_nodes


class WorkflowError(ValueError):
    """A workflow that cannot be built or used; the message names the task or field at fault."""


@dataclass(slots=True)
class TaskCall:
    """What a worker needs to run a task for real: the function and its arguments with :class:`Ref` s."""

    fn: Callable[..., Any]
    args: tuple
    kwargs: dict


# Workflow.meta key: the tasks' output sizes (and the edges' bytes, which follow them) are estimates made
# before any run (a known type's instance, sim.workflow.known._sizes), not recorded.
ESTIMATED_OUTPUTS = "estimated_outputs"


@dataclass(slots=True)
class TaskSpec:
    """One task of a workflow.

    ``inputs`` are the upstream task ids in argument order. ``inline_bytes`` is argument data that
    travels with the invocation; ``stored_input_bytes`` is data uploaded before the run (large arguments,
    a trace's external input files) that the task downloads. ``output_bytes`` and ``runtime_ms`` are
    expected or recorded values when known.
    """

    id: str
    function: str
    inputs: tuple[str, ...] = ()
    inline_bytes: int = 0
    stored_input_bytes: int = 0
    output_bytes: int | None = None
    runtime_ms: float | None = None
    hints: TaskHints = field(default_factory=TaskHints)
    call: TaskCall | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("inline_bytes", "stored_input_bytes", "output_bytes", "runtime_ms"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise WorkflowError(f"task {self.id!r}: {name} must be >= 0, got {value}")


class Workflow:
    """A DAG of tasks with data sizes on edges.

    Build one with :meth:`from_nodes`, with :meth:`add_task`/:meth:`add_edge`, or by importing WfFormat.
    Call :meth:`validate` after building by hand.
    """

    def __init__(self, name: str = "workflow", params: dict[str, Any] | None = None) -> None:
        self.name = name
        self.params: dict[str, Any] = dict(params or {})
        self.graph: nx.DiGraph = nx.DiGraph()
        self.recorded_makespan_ms: float | None = None
        self.machines: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, Any] = {}
        self._topo: list[str] | None = None
        self._version = 0

    # A workflow pickled before ``_version`` existed reads this one.
    _version = 0

    def changed(self) -> None:
        """Forget what was derived from the graph: call it after editing :attr:`graph` directly
        (:meth:`add_task` and :meth:`add_edge` do). The cached topological order goes, and the version
        that derived facts cached elsewhere (the worker logic's shape of the workflow) are checked
        against moves on."""
        self._topo = None
        self._version += 1

    @property
    def version(self) -> int:
        """A number that changes with every change of the graph made through :meth:`changed`."""
        return self._version

    # -- building ---------------------------------------------------------------------------------------
    def add_task(self, spec: TaskSpec) -> TaskSpec:
        if spec.id in self.graph:
            raise WorkflowError(f"duplicate task id {spec.id!r}")
        self.graph.add_node(spec.id, spec=spec)
        self.changed()
        return spec

    def add_edge(self, producer: str, consumer: str, nbytes: int) -> None:
        for tid, role in ((producer, "parent"), (consumer, "child")):
            if tid not in self.graph:
                raise WorkflowError(f"edge {producer!r} -> {consumer!r}: unknown {role} task {tid!r}")
        if nbytes < 0:
            raise WorkflowError(f"edge {producer!r} -> {consumer!r}: negative size {nbytes}")
        self.graph.add_edge(producer, consumer, bytes=int(nbytes))
        self.changed()

    @classmethod
    def from_nodes(cls, *sinks: TaskNode, name: str | None = None, params: dict | None = None) -> Workflow:
        """The workflow behind one or more sink nodes (several sinks are allowed).

        Task ids are ``{function}-{k}``, numbered per function in node creation order, so the same code
        always gives the same ids.
        """
        if not sinks:
            raise WorkflowError("a workflow needs at least one sink node")
        seen: dict[TaskNode, None] = {}
        stack = list(sinks)
        while stack:
            node = stack.pop()
            if not isinstance(node, TaskNode):
                raise WorkflowError(f"expected a task node (a call of an @task function), got {node!r}")
            if node in seen:
                continue
            seen[node] = None
            stack.extend(node.upstream)
        nodes = sorted(seen, key=lambda n: n.seq)
        ids: dict[TaskNode, str] = {}
        per_function: Counter[str] = Counter()
        for node in nodes:
            ids[node] = f"{node.name}-{per_function[node.name]}"
            per_function[node.name] += 1
        wf = cls(name or sinks[0].name, params)
        budget = INLINE_BUDGET_BYTES
        stored_keys: dict[int, str] = {}  # id(object) -> storage key: a shared object is uploaded once
        stored_sizes: dict[str, int] = {}
        for node in nodes:
            inline = stored = 0
            stored_args: list[dict[str, Any]] = []
            leaves = [leaf for i, a in enumerate(node.args) for leaf in _data_leaves(a, f"args[{i}]")]
            leaves += [leaf for k, v in node.kwargs.items() for leaf in _data_leaves(v, f"kwargs[{k!r}]")]
            for path, value in leaves:
                size = data_size(value)
                key = stored_keys.get(id(value))
                if key is None and budget - size > 0:
                    budget -= size
                    inline += size
                    continue
                if key is None:
                    key = stored_keys[id(value)] = f"data-{len(stored_keys)}"
                    stored_sizes[key] = size
                stored += size
                stored_args.append({"path": path, "bytes": size, "key": key})
            refs = len(node.upstream)
            args = replace_nodes(node.args, ids)
            kwargs = replace_nodes(node.kwargs, ids)
            fn: TaskFunction = node.function
            wf.add_task(
                TaskSpec(
                    id=ids[node],
                    function=node.name,
                    inputs=tuple(ids[u] for u in node.upstream),
                    inline_bytes=inline + 48 * refs,
                    stored_input_bytes=stored,
                    hints=fn.hints,
                    call=TaskCall(fn.fn, args, kwargs),
                    extra={
                        **({"stored_args": stored_args} if stored_args else {}),
                        **({"dynamic": dict(node.dynamic)} if node.dynamic is not None else {}),
                    },
                )
            )
        if stored_sizes:
            wf.meta["stored_data"] = stored_sizes
        for node in nodes:
            for up in node.upstream:
                wf.graph.add_edge(ids[up], ids[node], bytes=0)
        return wf

    # -- queries ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, task_id: str) -> bool:
        return task_id in self.graph

    def __iter__(self):
        return iter(self.topological_order())

    def task(self, task_id: str) -> TaskSpec:
        try:
            return self.graph.nodes[task_id]["spec"]
        except KeyError:
            raise WorkflowError(f"unknown task {task_id!r}") from None

    @property
    def tasks(self) -> dict[str, TaskSpec]:
        return {tid: data["spec"] for tid, data in self.graph.nodes(data=True)}

    def parents(self, task_id: str) -> list[str]:
        return list(self.graph.predecessors(task_id))

    def children(self, task_id: str) -> list[str]:
        return list(self.graph.successors(task_id))

    def edge_bytes(self, producer: str, consumer: str) -> int:
        return self.graph.edges[producer, consumer]["bytes"]

    def input_bytes(self, task_id: str) -> int:
        """Everything a task reads: inline data, stored inputs and upstream outputs."""
        spec = self.task(task_id)
        return (
            spec.inline_bytes
            + spec.stored_input_bytes
            + sum(d["bytes"] for _, _, d in self.graph.in_edges(task_id, data=True))
        )

    @property
    def roots(self) -> list[str]:
        return [t for t in self.topological_order() if self.graph.in_degree(t) == 0]

    @property
    def sinks(self) -> list[str]:
        return [t for t in self.topological_order() if self.graph.out_degree(t) == 0]

    def validate(self) -> Workflow:
        """Raise :class:`WorkflowError` for an empty graph or a cycle (naming tasks on it)."""
        if len(self) == 0:
            raise WorkflowError(f"workflow {self.name!r} has no tasks")
        if nx.is_directed_acyclic_graph(self.graph):  # linear time; find_cycle is slow on large DAGs
            return self
        cycle = nx.find_cycle(self.graph)
        path = " -> ".join(u for u, _ in cycle) + f" -> {cycle[0][0]}"
        raise WorkflowError(f"workflow {self.name!r} has a cycle: {path}")

    def topological_order(self) -> list[str]:
        """Tasks in a deterministic topological order (ties broken by task id)."""
        if self._topo is None:
            # Kahn's algorithm with a heap of task ids: networkx's lexicographical_topological_sort, in a
            # few times less time (large workflows are sorted once per workflow, before every first plan).
            g = self.graph
            pending = {t: len(parents) for t, parents in g._pred.items()}
            ready = [t for t, n in pending.items() if n == 0]
            heapq.heapify(ready)
            order: list[str] = []
            while ready:
                t = heapq.heappop(ready)
                order.append(t)
                for c in g._succ[t]:
                    pending[c] -= 1
                    if pending[c] == 0:
                        heapq.heappush(ready, c)
            if len(order) < len(pending):
                self.validate()  # names a task on the cycle
                raise nx.NetworkXUnfeasible("graph contains a cycle")
            self._topo = order
        return self._topo

    def sorted_order(self) -> list[str] | None:
        """:meth:`topological_order` if it was asked for since the last change, else None (nothing is
        sorted): for callers that have another way when the workflow is not sorted yet."""
        return self._topo

    def levels(self) -> dict[str, int]:
        """Level of each task: roots are 0, every other task is one more than its deepest parent."""
        level: dict[str, int] = {}
        for t in self.topological_order():
            level[t] = 1 + max((level[p] for p in self.graph.predecessors(t)), default=-1)
        return level

    def max_width(self) -> int:
        return max(Counter(self.levels().values()).values(), default=0)

    def total_edge_bytes(self) -> int:
        return sum(d["bytes"] for _, _, d in self.graph.edges(data=True))

    def critical_path(self, cost: Callable[[TaskSpec], float] | None = None) -> tuple[list[str], float]:
        """The longest path by task cost (default: recorded runtime, 0 when unknown) and its length."""
        cost = cost or (lambda s: s.runtime_ms or 0.0)
        finish: dict[str, float] = {}
        best_parent: dict[str, str | None] = {}
        for t in self.topological_order():
            best = max(self.graph.predecessors(t), key=lambda p: (finish[p], p), default=None)
            start = finish[best] if best is not None else 0.0
            best_parent[t] = best
            finish[t] = start + float(cost(self.task(t)))
        if not finish:
            return [], 0.0
        end = max(finish, key=lambda t: (finish[t], t))
        path = [end]
        while best_parent[path[-1]] is not None:
            path.append(best_parent[path[-1]])  # type: ignore[arg-type]
        return path[::-1], finish[end]

    def type_hash(self, iterations: int | None = 16) -> str:
        """A workflow-type identity that ignores task ids, enumeration order and argument values.

        Weisfeiler-Lehman colour refinement (Shervashidze et al., "Weisfeiler-Lehman Graph Kernels", JMLR
        2011), with parent and child colour multisets kept apart because direction matters. A task's first
        colour is (function name, depth from the roots, height above the sinks) -- isomorphism invariants
        that separate chains and layers at once. Refinement stops when the partition of tasks into colours
        stops growing, or after ``iterations`` rounds (None: no cap). The digest covers the colour histogram of
        every round, so it changes when an edge is added, removed or rewired (except between graphs that
        1-WL cannot tell apart), and stays the same when tasks are renamed or added in another order.
        Sizes, runtimes and arguments do not enter: the same code with other data is the same type.
        """
        from sim.workflow.typehash import refine

        g = self.graph
        nodes = list(g)
        n = len(nodes)
        index = {t: i for i, t in enumerate(nodes)}
        pred = [[index[p] for p in g._pred[t]] for t in nodes]
        succ = [[index[c] for c in g._succ[t]] for t in nodes]
        order = [index[t] for t in self.topological_order()]
        depth = [0] * n
        of = depth.__getitem__
        for i in order:
            depth[i] = 1 + max(map(of, pred[i]), default=-1)
        height = [0] * n
        of = height.__getitem__
        for i in reversed(order):
            height[i] = 1 + max(map(of, succ[i]), default=-1)
        specs = nx.get_node_attributes(g, "spec")
        # A dynamic fan-out node is its own kind of task (its width is not part of the type).
        first = [
            (specs[t].function + ("[*]" if "dynamic" in specs[t].extra else ""), depth[i], height[i])
            for i, t in enumerate(nodes)
        ]
        digest = hashlib.sha256()
        digest.update(f"n={n};e={sum(map(len, succ))}".encode())
        # Colours are ranks of sorted signatures: canonical, because two graphs that reach the same round
        # with the same colour histogram assign the same ranks, and a different histogram already changed
        # the digest. A round's signature of a task is (colour, sorted parent colours, sorted child
        # colours); tasks are grouped by it with numpy, and the Python tuple is built once per group.
        refine(digest, first, pred, succ, iterations)  # numpy, imported only when a hash is asked for
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Headline numbers of a workflow, as ``plansim workflows show`` prints them."""
        path, length = self.critical_path()
        levels = self.levels()
        return {
            "name": self.name,
            "params": self.params,
            "type_hash": self.type_hash(),
            "tasks": len(self),
            "edges": self.graph.number_of_edges(),
            "functions": dict(sorted(Counter(s.function for s in self.tasks.values()).items())),
            "levels": 1 + max(levels.values(), default=-1),
            "max_width": self.max_width(),
            "roots": sum(1 for t in self.graph if self.graph.in_degree(t) == 0),
            "sinks": sum(1 for t in self.graph if self.graph.out_degree(t) == 0),
            "total_edge_bytes": self.total_edge_bytes(),
            "total_input_bytes": sum(s.inline_bytes + s.stored_input_bytes for s in self.tasks.values()),
            "critical_path_ms": length,
            "critical_path_tasks": len(path),
            "recorded_makespan_ms": self.recorded_makespan_ms,
        }


INLINE_BUDGET_BYTES = 300_000
"""Argument data a whole workflow may carry inline with its invocations (as in the reference runtime);
larger values are uploaded to the key-value store before the run and downloaded by the tasks using them."""


def edge_dict(in_edges: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """``in_edges`` (task -> ``{parent: bytes}``) as one dict keyed by ``(parent, task)``."""
    return {(p, t): b for t, edges in in_edges.items() for p, b in edges.items()}


def data_size(value: Any) -> int:
    """Approximate serialized size of argument data, without pickling large buffers.

    numpy arrays count ``nbytes`` plus a small header, bytes and str their length, containers the sum of
    their items; other objects are pickled (unpicklable ones count 0: they cannot travel anyway).
    """
    if value is None or isinstance(value, (bool, int, float, complex)):
        return 9
    if isinstance(value, Ref):
        return 48
    if isinstance(value, (bytes, bytearray)):
        return len(value) + 8
    if isinstance(value, memoryview):
        return value.nbytes + 8
    if isinstance(value, str):
        return len(value) + 8 if value.isascii() else len(value.encode("utf-8", "surrogatepass")) + 8
    nbytes, dtype = getattr(value, "nbytes", None), getattr(value, "dtype", None)
    if isinstance(nbytes, int) and dtype is not None and getattr(dtype, "hasobject", True) is False:
        return nbytes + 160
    if isinstance(value, (list, tuple, set, frozenset)):
        return 8 + sum(data_size(v) + 1 for v in value)
    if isinstance(value, dict):
        return 8 + sum(data_size(k) + data_size(v) + 2 for k, v in value.items())
    try:
        return len(cloudpickle.dumps(value, protocol=5))
    except Exception:
        return 0


def inline_size(args: Any, kwargs: Any) -> int:
    """Serialized size of a task's argument data (node references count a few bytes each)."""
    return data_size(args) + data_size(kwargs)


def _data_leaves(value: Any, path: str):
    """Maximal parts of an argument that hold no task node: ``(path, value)``; node refs are skipped."""
    if isinstance(value, TaskNode):
        return
    if not any(True for _ in iter_nodes(value)):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _data_leaves(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _data_leaves(v, f"{path}[{i}]")
    elif isinstance(value, (set, frozenset)):
        for v in value:
            yield from _data_leaves(v, f"{path}{{}}")


def from_edges(
    name: str,
    edges: Iterable[tuple[str, str, int]],
    functions: dict[str, str] | None = None,
    runtimes_ms: dict[str, float] | None = None,
) -> Workflow:
    """A workflow from an edge list; handy for tests and hand-made shapes."""
    edges = list(edges)
    wf = Workflow(name)
    ids = dict.fromkeys([u for u, _, _ in edges] + [v for _, v, _ in edges])
    for extra in functions or {}:
        ids.setdefault(extra, None)
    for tid in ids:
        wf.add_task(
            TaskSpec(
                id=tid,
                function=(functions or {}).get(tid, tid.rsplit("-", 1)[0]),
                runtime_ms=(runtimes_ms or {}).get(tid),
            )
        )
    for u, v, b in edges:
        wf.add_edge(u, v, b)
    for tid in wf.graph:
        spec = wf.task(tid)
        spec.inputs = tuple(wf.graph.predecessors(tid))
    return wf.validate()
