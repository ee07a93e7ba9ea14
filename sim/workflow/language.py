"""The workflow language: ``@task`` functions whose calls build a DAG lazily.

Calling a decorated function does not run it; it returns a :class:`TaskNode` that remembers the function
and its arguments. Any node found inside the arguments -- at any depth of lists, tuples, dicts (values),
sets or frozensets -- becomes an edge from that node to the new one; everything else is inline data. The
same node passed twice is one edge. Fan-out is one node passed to several calls; fan-in is several nodes
passed to one call::

    @task
    def add(x, y):
        return x + y

    leaves = [add(i, i) for i in range(4)]
    total = add(add(leaves[0], leaves[1]), add(leaves[2], leaves[3]))
    workflow = Workflow.from_nodes(total, name="tiny-tree")

Hints travel with the function: the I/O relationship (how output size follows input size), a preferred
memory size, and the pip requirements the function needs inside a worker.

A *dynamic fan-out* maps a task over a list whose length is known only at run time (a task's output)::

    parts = split(text)                                 # returns a list
    counts = fan_out(count, parts, width_hint=8)       # or count.map(parts): one count per item
    total = merge(counts)                               # receives the list of the counts

The mapped node is one node of the DAG, expanded into copies when ``split`` has run
(:mod:`sim.workflow.dynamic`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

IOKind = Literal["linear", "power", "constant", "unknown"]


@dataclass(frozen=True, slots=True)
class IORelation:
    """How a function's output size follows its input size.

    ``linear``: ``out = k * in``; ``power``: ``out = k * in ** exponent``; ``constant``: ``out = k`` bytes;
    ``unknown``: let calibration fit it. A declared relation takes precedence over fitting.
    """

    kind: IOKind = "unknown"
    k: float = 1.0
    exponent: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "power", "constant", "unknown"):
            raise ValueError(f"unknown I/O relation {self.kind!r}: use linear, power, constant or unknown")
        if self.k < 0:
            raise ValueError(f"I/O relation factor must be >= 0, got {self.k}")

    def output_bytes(self, input_bytes: float) -> float | None:
        """Predicted output size, or None when the relation is unknown."""
        if self.kind == "linear":
            return self.k * input_bytes
        if self.kind == "power":
            return self.k * max(input_bytes, 1.0) ** self.exponent
        if self.kind == "constant":
            return self.k
        return None


def linear(k: float = 1.0) -> IORelation:
    """Output size is ``k`` times the input size."""
    return IORelation("linear", k=k)


def power(exponent: float, k: float = 1.0) -> IORelation:
    """Output size is ``k * input ** exponent``."""
    return IORelation("power", k=k, exponent=exponent)


def constant(nbytes: float) -> IORelation:
    """Output size is ``nbytes`` whatever the input."""
    return IORelation("constant", k=float(nbytes))


UNKNOWN_IO = IORelation()


@dataclass(frozen=True, slots=True)
class TaskHints:
    """Per-function information a user gives the planners and the runtime."""

    io: IORelation = UNKNOWN_IO
    memory_mb: int | None = None
    requirements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "io": {"kind": self.io.kind, "k": self.io.k, "exponent": self.io.exponent},
            "memory_mb": self.memory_mb,
            "requirements": list(self.requirements),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TaskHints:
        if not data:
            return cls()
        io = data.get("io") or {}
        return cls(
            io=IORelation(io.get("kind", "unknown"), float(io.get("k", 1.0)), float(io.get("exponent", 1.0))),
            memory_mb=data.get("memory_mb"),
            requirements=tuple(data.get("requirements") or ()),
        )


_node_sequence = itertools.count()


class TaskNode:
    """A lazy call of a task function: the function, its arguments, and the nodes it depends on."""

    __slots__ = ("function", "args", "kwargs", "upstream", "seq", "dynamic", "__weakref__")

    def __init__(
        self, function: TaskFunction, args: tuple, kwargs: dict, dynamic: dict[str, Any] | None = None
    ) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.dynamic = dynamic  # a dynamic fan-out: {"width_hint": ..., "flatten": ...} (see fan_out)
        # Order of first appearance, each node once: f(x, x) is one edge.
        self.upstream: tuple[TaskNode, ...] = tuple(dict.fromkeys(iter_nodes((args, kwargs))))
        self.seq = next(_node_sequence)  # creation order gives stable, readable ids

    @property
    def name(self) -> str:
        return self.function.name

    def __repr__(self) -> str:
        kind = " dynamic" if self.dynamic is not None else ""
        return f"<TaskNode{kind} {self.name}#{self.seq} upstream={len(self.upstream)}>"


def iter_nodes(value: Any) -> Iterator[TaskNode]:
    """Every :class:`TaskNode` inside ``value``, depth first, in argument order (duplicates included)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, TaskNode):
            yield item
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, (set, frozenset)):
            # Sets have no order; sort nodes by creation so the edge order is still deterministic.
            stack.extend(sorted((x for x in item if isinstance(x, TaskNode)), key=lambda n: -n.seq))


@dataclass(frozen=True, slots=True)
class Ref:
    """Placeholder for an upstream task's output inside stored arguments."""

    task_id: str


@dataclass(frozen=True, slots=True)
class Item:
    """Placeholder for item ``index`` of an upstream task's output (a copy of a dynamic fan-out)."""

    task_id: str
    index: int


def replace_nodes(value: Any, ids: dict[TaskNode, str]) -> Any:
    """A copy of ``value`` with every node replaced by a :class:`Ref` to its task id."""
    if isinstance(value, TaskNode):
        return Ref(ids[value])
    if isinstance(value, dict):
        return {k: replace_nodes(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_nodes(v, ids) for v in value]
    if isinstance(value, tuple):
        return _same_tuple(value, [replace_nodes(v, ids) for v in value])
    if isinstance(value, (set, frozenset)) and any(isinstance(v, TaskNode) for v in value):
        return type(value)(replace_nodes(v, ids) for v in value)
    return value


def _same_tuple(original: tuple, items: list) -> tuple:
    """A tuple of ``items`` of the same type as ``original`` (named tuples keep their class)."""
    if type(original) is tuple:
        return tuple(items)
    if hasattr(original, "_fields"):
        return type(original)(*items)
    return type(original)(items)


def resolve_refs(value: Any, results: dict[str, Any]) -> Any:
    """The inverse of :func:`replace_nodes`: every :class:`Ref` replaced by ``results[task_id]``."""
    if isinstance(value, Ref):
        return results[value.task_id]
    if isinstance(value, Item):
        return results[value.task_id][value.index]
    if isinstance(value, dict):
        return {k: resolve_refs(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_refs(v, results) for v in value]
    if isinstance(value, tuple):
        return _same_tuple(value, [resolve_refs(v, results) for v in value])
    if isinstance(value, (set, frozenset)):
        return type(value)(resolve_refs(v, results) for v in value)
    return value


@dataclass(eq=False)
class TaskFunction:
    """A function decorated with ``@task``; calling it builds a :class:`TaskNode`."""

    fn: Callable[..., Any]
    hints: TaskHints = field(default_factory=TaskHints)
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.fn.__name__
        functools.update_wrapper(self, self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> TaskNode:
        return TaskNode(self, args, kwargs)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Call the plain function now (no DAG)."""
        return self.fn(*args, **kwargs)

    def map(
        self, items: TaskNode, *args: Any, width_hint: int | None = None, flatten: bool = False, **kwargs: Any
    ) -> TaskNode:
        """``fan_out(self, items, ...)``: this task once per item of ``items``'s output."""
        return fan_out(self, items, *args, width_hint=width_hint, flatten=flatten, **kwargs)


def fan_out(
    fn: TaskFunction,
    items: TaskNode,
    *args: Any,
    width_hint: int | None = None,
    flatten: bool = False,
    **kwargs: Any,
) -> TaskNode:
    """A dynamic fan-out: ``fn(item, *args, **kwargs)`` for every item of the output of task ``items``.

    The result is one lazy node whose value is the list of the mapped results, in item order (with
    ``flatten=True``, where each result is a list, their concatenation); pass it to a later task (fan-in)
    or map over it again (a chain). ``width_hint`` is the expected number of items: planners and the
    simulator use it until a real run tells (default :data:`sim.workflow.dynamic.DEFAULT_WIDTH`). The
    other arguments are the same for every item and must be plain data, not task nodes.
    """
    if not isinstance(fn, TaskFunction):
        raise TypeError(f"fan_out maps an @task function, got {fn!r}")
    if not isinstance(items, TaskNode):
        raise TypeError(
            f"fan_out({fn.name}, ...) maps over the output of a task (a task node), got "
            f"{type(items).__name__}: for a list known now, call the task in a loop"
        )
    if any(True for _ in iter_nodes((args, kwargs))):
        raise TypeError(
            f"fan_out({fn.name}, ...): the arguments besides the mapped list must be plain data, not task "
            "nodes (combine them into the mapped list with a task)"
        )
    if width_hint is not None and (
        isinstance(width_hint, bool) or not isinstance(width_hint, int) or width_hint < 0
    ):
        raise ValueError(f"fan_out({fn.name}, ...): width_hint must be an integer >= 0, got {width_hint!r}")
    return TaskNode(fn, (items, *args), kwargs, {"width_hint": width_hint, "flatten": bool(flatten)})


def task(
    fn: Callable[..., Any] | None = None,
    *,
    io: IORelation | str | None = None,
    memory_mb: int | None = None,
    requirements: tuple[str, ...] | list[str] = (),
    name: str | None = None,
) -> Any:
    """Declare a workflow task. Usable bare (``@task``) or with hints (``@task(io=linear(0.5))``).

    ``io`` may be an :class:`IORelation` or one of the strings ``"linear"``, ``"constant"``, ``"unknown"``.
    """
    if isinstance(io, str):
        io = IORelation(io)  # type: ignore[arg-type]
    if memory_mb is not None and memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb}")
    hints = TaskHints(io=io or UNKNOWN_IO, memory_mb=memory_mb, requirements=tuple(requirements))

    def wrap(f: Callable[..., Any]) -> TaskFunction:
        return TaskFunction(f, hints, name or f.__name__)

    return wrap(fn) if fn is not None else wrap
