"""Pausing Python's cyclic garbage collector while the simulator builds and plays out a run.

A run allocates hundreds of thousands of short-lived objects (events, generators, effects) that die by
reference counting, plus per-task and per-worker results that live on. With the collector on, every
700 allocations trigger a young-generation scan, and the survivors are scanned again and again as they
age: at 10,000 tasks that was about a fifth of the run's CPU time. Nothing the simulator builds needs
the collector during the run.

The survivors of a run are young when the pause ends, and the next allocation scans them once: at
10,000 tasks (montage, wukong) some 31,000 objects, mostly the workers and their invocations, since the
per-task traces are columns of a table (sim.engine.traces) and the per-task sizes and dependency
counters are dicts of strings and numbers, which the collector never tracks; the construction's own
survivors (19,300, the workflow shape's parent and child tuples; 37,800 while each task's stored
inputs were a tuple of pairs) are scanned likewise when its pause ends. They
are deliberately left to the collector's own rules: moving
them straight to the oldest generation (``gc.freeze`` then ``gc.unfreeze``) saves that scan but hides
them from the count that triggers full collections, so in a loop of runs (a sweep worker, the
dashboard) garbage that outlived one run was never collected (200 runs of montage:200: 202,464
unreachable objects, 227 MB peak, against 16,150 and 59 MB).

The caller's setting is restored afterwards, also when the block raises, and pauses nest: an inner
pause (a planner's simulation inside a paused caller) leaves the collector off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off; re-enable it after only if it was on before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
