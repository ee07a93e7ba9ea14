"""Small decorated workflows for the real-runtime tests (importable by worker processes)."""

from __future__ import annotations

import os
import time

from sim.workflow.dag import Workflow
from sim.workflow.language import task


def _die_the_first_time(marker: str) -> None:
    """Kill this worker process unless ``marker`` exists; create it first, so a re-run survives."""
    if not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write("died")
        os._exit(137)


@task
def leaf(i):
    return i


@task
def add(a, b):
    return a + b


@task
def total(*xs):
    return sum(xs)


@task
def slow_add(a, b, seconds=0.5):
    time.sleep(seconds)
    return a + b


@task
def boom(x):
    raise ValueError(f"boom on {x}")


@task
def die_once(x, marker):
    """Kill the worker process the first time it runs (the marker file remembers)."""
    _die_the_first_time(marker)
    return x


@task
def sleepy(x, seconds):
    time.sleep(seconds)
    return x


def tree(n: int, name: str = "tree") -> Workflow:
    xs = [leaf(i) for i in range(n)]
    while len(xs) > 1:
        xs = [add(xs[i], xs[i + 1]) for i in range(0, len(xs), 2)]
    return Workflow.from_nodes(xs[0], name=name)


def diamond_fan(width: int = 5) -> Workflow:
    """root -> width branches (2-task chains) -> one fan-in; plus a second sink off the root."""
    r = leaf(3)
    mids = [add(add(r, i), 1) for i in range(width)]
    return Workflow.from_nodes(total(*mids), add(r, 100), name="diamond")


@task
def freeze_once(x, marker):
    """Stop (SIGSTOP) the worker process the first time it runs: alive for the launcher, but silent."""
    import signal

    if not os.path.exists(marker):
        with open(marker, "w") as fh:
            fh.write("frozen")
        os.kill(os.getpid(), signal.SIGSTOP)
    return x


@task
def die_once_add(a, b, marker):
    """``a + b``, but kill the worker process the first time (the marker file remembers)."""
    _die_the_first_time(marker)
    return a + b


@task
def chatty(x, lines=3, seconds=0.0):
    """Print ``lines`` lines, log one warning and one error on stderr, then sleep ``seconds``."""
    import logging
    import sys

    for i in range(lines):
        print(f"chatty {x} line {i}", flush=True)
    logging.getLogger("chatty").warning("chatty %s warned", x)
    print(f"chatty {x} on stderr", file=sys.stderr)
    time.sleep(seconds)
    return x


@task
def burn(x, seconds=0.3):
    """Busy CPU (pure Python, holds the GIL) for ``seconds`` of wall time."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return x + (n > 0)


def fan(node, width: int, **kwargs) -> Workflow:
    """One root, ``width`` parallel children ``node(root, ...)``, one fan-in sink."""
    r = leaf(1)
    return Workflow.from_nodes(total(*[node(r, **kwargs) for _ in range(width)]), name=f"fan-{node.name}")


@task
def payload(nbytes):
    """``nbytes`` bytes with a recognisable pattern (a large output for the streaming tests)."""
    return (bytes(range(256)) * (nbytes // 256 + 1))[:nbytes]


@task
def digest(a, data):
    """What a consumer saw: one small parent plus the length and SHA-256 of a large one."""
    import hashlib

    return a, len(data), hashlib.sha256(data).hexdigest()


@task
def items(n):
    """``[0, 1, .., n-1]``: a list whose length a dynamic fan-out learns at run time."""
    return list(range(n))


@task
def double(x):
    return 2 * x


@task(memory_mb=3000)
def double_big(x):
    """``double`` for a function that needs 3000 MB: its copies must not run on smaller workers."""
    return 2 * x


@task
def listed(xs):
    """A fan-in that returns what it received (a list)."""
    return list(xs)


@task
def pick(xs, i):
    """Item ``i`` of ``xs``, doubled: the static twin of a copy of ``double.map(items(n))``."""
    return 2 * xs[i]


@task
def blobs(n, size):
    """``n`` byte strings of ``size`` bytes: a large list for a dynamic fan-out to split."""
    return [bytes([i % 256]) * size for i in range(n)]


@task
def length(b):
    return len(b)


@task
def die_once_after(x, marker, seconds):
    """``x`` after ``seconds``; the first time, kill the worker process instead (the marker remembers)."""
    time.sleep(seconds)
    _die_the_first_time(marker)
    return x


@task
def slow_after_death(x, marker, seconds):
    """``x``: at once before the marker exists (first attempt), after ``seconds`` once it does (re-run)."""
    if os.path.exists(marker):
        time.sleep(seconds)
    return x


@task
def block(x, mb=24):
    """Allocate and zero-fill ``mb`` MB (every page touched), free it, and pass ``x`` on: a task whose
    page faults tell fresh memory from memory the process had already."""
    return x + len(bytearray(mb << 20)) * 0


def blocks(n: int, mb: int = 24) -> Workflow:
    """A chain ``leaf -> block -> ... -> block`` (``n`` blocks): one worker runs them one after another."""
    node = leaf(1)
    for _ in range(n):
        node = block(node, mb=mb)
    return Workflow.from_nodes(node, name="blocks")
