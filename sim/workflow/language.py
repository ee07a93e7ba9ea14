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

    __slots__ = ("function", "args", "kwargs", "upstream", "seq", "__weakref__")

    def __init__(self, function: TaskFunction, args: tuple, kwargs: dict) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs
        # Order of first appearance, each node once: f(x, x) is one edge.
        self.upstream: tuple[TaskNode, ...] = tuple(dict.fromkeys(iter_nodes((args, kwargs))))
        self.seq = next(_node_sequence)  # creation order gives stable, readable ids

    @property
    def name(self) -> str:
        return self.function.name

    def __repr__(self) -> str:
        return f"<TaskNode {self.name}#{self.seq} upstream={len(self.upstream)}>"


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
