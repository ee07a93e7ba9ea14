"""Effects: what the worker logic asks its driver to do.

The worker logic (:mod:`sim.worker.logic`) never performs I/O. It is a set of generators that *yield*
effect objects and receive their results, the way h11 and hyper-h2 keep protocol logic apart from sockets.
Two drivers perform the effects:

- the simulator (:mod:`sim.engine`) turns each effect into timed SimPy events;
- the runtime (:mod:`runtime`) performs each effect against Redis and Docker.

Because both run the same generators, the simulator predicts exactly the decisions the runtime makes.

=================  ============================================  ===========================================
effect             meaning                                       result sent back
=================  ============================================  ===========================================
``Fetch``          download stored objects, in parallel          ``{key: value}`` (values may be ``None``
                                                                 in the simulator)
``Execute``        run a task on this worker's CPUs              the output (the simulator sends its size)
``Store``          upload a task's output                        ``None``
``Incr``           increment dependency counters (pipelined)     the new counts, in order
``Claim``          claim worker ids (set-if-absent, pipelined)   one bool per id: True = this caller won
``MarkReady``      persist "task is ready" + publish it          ``None``
``Complete``       persist "sink finished" + publish it          ``None``
``Invoke``         start workers with their first tasks          ``None``
``Spawn``          run a generator as a concurrent branch        a handle for ``Join``
``Join``           wait until the given branches have ended      ``None``
``WaitReady``      wait until a task is marked ready, or         ``None``
                   claimed locally (``Notify``)
``Notify``         wake this worker's own waiter for a task      ``None``
``Prewarm``        after a delay, start an idle container        ``None``
``WaitStored``     wait until a task's output is in the store    ``None``
``Peek``           read dependency counters without changing     one frozenset of counted parents per key
                   them
``Cleanup``        remove the run's intermediate keys            ``None``
``Expand``         the width of a dynamic fan-out node (its      the width (an int)
                   source's output length, kept for the run)
=================  ============================================  ===========================================

Dependency counters are *sets* of parent ids (``Incr`` adds the finishing task to each key's set and
returns the sizes), so a task that runs again after a crash counts nothing twice.

``label`` on ``Fetch`` and ``Execute`` marks work that is not the task's own run: ``"preload"`` (inputs
fetched ahead of time) or ``"dup"`` (a labelled duplicate run by task-dup, which never uploads or
counts). ``stream`` on ``Store`` writes the output in chunks of :data:`STREAM_CHUNK_BYTES`, so that a
consumer already reading gets each chunk as it is written (an output of at most one chunk is written
whole: there is nothing to overlap).

Keys are relative (``out:{task}``, ``dc:{task}``, ``data:{object}``, ...); drivers add the run's namespace.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Invocation:
    """Start one worker: a planned id (or None for a fresh flexible worker), its memory, first tasks."""

    worker_id: str | None
    memory_mb: int
    tasks: tuple[str, ...]
    carried: tuple[str, ...] = ()  # small parent outputs sent inside the invocation
    fragment: frozenset[str] | None = None  # inline-plan: the tasks of the plan sent inside the invocation


@dataclass(slots=True)
class Fetch:
    task: str
    items: tuple[tuple[str, int], ...]  # (key, bytes)
    label: str | None = None
    # The logic's promise: its very next effect is ``Execute(task)``, and what it does in between only
    # touches this branch's own worker state. A driver may then time the two as one step (the simulator
    # does, on a worker running this branch alone); the runtime ignores it.
    then_execute: bool = False


@dataclass(slots=True)
class Execute:
    task: str
    label: str | None = None


@dataclass(slots=True)
class Store:
    task: str
    key: str  # "" when only the items are stored (every consumer reads one item)
    nbytes: int  # everything written: the whole output and/or its items
    stream: bool = False
    items: tuple[str, ...] = ()  # item i of the output (a list) under items[i]: a fan-out's copies read one


@dataclass(slots=True)
class Incr:
    task: str
    keys: tuple[str, ...]


@dataclass(slots=True)
class Claim:
    task: str
    worker_ids: tuple[str, ...]


@dataclass(slots=True)
class MarkReady:
    task: str
    tasks: tuple[str, ...]


@dataclass(slots=True)
class Complete:
    task: str


@dataclass(slots=True)
class Invoke:
    task: str | None  # the task whose completion caused it (None for the client)
    invocations: tuple[Invocation, ...]


@dataclass(slots=True)
class Spawn:
    branch: Generator[Any, Any, None]


@dataclass(slots=True)
class Join:
    handles: tuple[Any, ...]


@dataclass(slots=True)
class WaitReady:
    task: str


@dataclass(slots=True)
class Notify:
    task: str


@dataclass(slots=True)
class Prewarm:
    delay_ms: float
    memory_mb: int


@dataclass(slots=True)
class WaitStored:
    task: str  # whose output to wait for


@dataclass(slots=True)
class Peek:
    task: str
    keys: tuple[str, ...]


@dataclass(slots=True)
class Cleanup:
    task: str


@dataclass(slots=True)
class Expand:
    task: str  # the source that just finished here, or "" when only learning the width
    node: str  # the dynamic node


Effect = (
    Fetch
    | Execute
    | Store
    | Incr
    | Claim
    | MarkReady
    | Complete
    | Invoke
    | Spawn
    | Join
    | WaitReady
    | Notify
    | Prewarm
    | WaitStored
    | Peek
    | Cleanup
    | Expand
)


# Every effect and the driver method that performs it: both drivers bind this same table, so a new
# effect cannot be forgotten by one of them (binding fails if a method is missing).
PERFORMERS: dict[type, str] = {
    Fetch: "_fetch",
    Execute: "_execute",
    Store: "_store",
    Incr: "_incr",
    Claim: "_claim",
    MarkReady: "_mark_ready",
    Complete: "_complete",
    Invoke: "_invoke",
    Spawn: "_spawn",
    Join: "_join",
    WaitReady: "_wait_ready",
    Notify: "_notify",
    Prewarm: "_prewarm",
    WaitStored: "_wait_stored",
    Peek: "_peek",
    Cleanup: "_cleanup",
    Expand: "_expand",
}


def bind_performers(driver: object) -> dict[type, Any]:
    """The effect-type -> bound-method table of a driver."""
    return {effect: getattr(driver, name) for effect, name in PERFORMERS.items()}


def output_key(task_id: str) -> str:
    return f"out:{task_id}"


def input_key(task_id: str) -> str:
    """Key of a task's stored (pre-uploaded) argument data, when it shares no object with another task."""
    return f"in:{task_id}"


def data_key(name: str) -> str:
    """Key of one stored argument object (``Workflow.meta["stored_data"]``), uploaded once per run however
    many tasks read it."""
    return f"data:{name}"


def counter_key(task_id: str) -> str:
    return f"dc:{task_id}"


def item_key(source: str, index: int) -> str:
    """Key of item ``index`` of ``source``'s output, stored for copy ``index`` of a dynamic fan-out over it
    (the copy downloads its item, not the whole list)."""
    return f"item:{source}#{index}"


def width_key(node: str) -> str:
    """Key of a dynamic fan-out node's real width, set once by the worker that ran its source."""
    return f"width:{node}"


SINKS_DONE_KEY = "sinks-done"

STREAM_CHUNK_BYTES = 1 << 20
"""Chunk size of a streamed output: the runtime writes and reads chunks of this size, and the simulator
charges a streaming reader one chunk's transfer after the writer's last chunk (what it has to read then)."""
