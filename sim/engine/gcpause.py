"""Pausing Python's cyclic garbage collector while the simulator builds and plays out a run.

A run allocates hundreds of thousands of short-lived objects (events, generators, effects) that die by
reference counting, plus per-task and per-worker results that live on. With the collector on, every
700 allocations trigger a young-generation scan, and the survivors are scanned again and again as they
age: at 10,000 tasks that was about a fifth of the run's CPU time. Nothing the simulator builds needs
the collector during the run.

At the end of the pause the survivors would still be young: the next allocation would scan all of them
at once (about 0.5 us each, 8% of a 10,000-task run). They are the run's results, so
:func:`paused_gc` moves them straight to the oldest generation instead (``gc.freeze`` then
``gc.unfreeze``: two list splices, no scan), where they are looked at by full collections only, as
long-lived objects are. That promotes the caller's few young objects too; it is skipped when the
caller froze objects itself (unfreezing them is not ours to do). A result the caller drops is still
freed at once: the simulation leaves no reference cycle behind (``Simulation.run``).

The caller's setting is restored afterwards, also when the block raises, and pauses nest: an inner
pause (a planner's simulation inside a paused caller) leaves the collector off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off; re-enable it after only if it was on before, with
    the objects allocated meanwhile promoted to the oldest generation."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
