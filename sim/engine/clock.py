"""SimPy's event queue, driven with less overhead: the simulator's timers and run loop.

The simulator schedules several timeouts per task. ``env.timeout(ms)`` builds a full
:class:`simpy.Timeout` (argument checks, a ``schedule`` call, a ``now`` property read), and
``env.run()`` calls ``step()`` once per event. Both are general; the simulator needs neither generality,
so it uses:

- :class:`Timer`: an object with exactly what SimPy's loop reads from an event (``callbacks``, ``_ok``,
  ``_value``), pushed on the environment's own queue with the same ``(time, priority, id)`` key that
  ``env.timeout`` would use. Events therefore fire in exactly the order they would with SimPy's
  timeouts, and ordinary SimPy events (``env.event()``, ``AllOf``) share the queue unchanged.
- :func:`run`: ``env.run()`` with ``step()`` inlined.

A timer is not a :class:`simpy.Event`: it cannot be yielded from a SimPy process or put in a condition
(nothing in the simulator does either).
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.events import NORMAL, URGENT


class Timer:
    """A triggered event waiting in the queue: callbacks run when the clock reaches it."""

    __slots__ = ("callbacks", "_value", "_ok")

    def __init__(self, value: Any = None) -> None:
        self.callbacks: list | None = []
        self._value = value
        self._ok = True


class Clock:
    """Timers on one environment's queue."""

    __slots__ = ("env", "queue", "eid")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.queue = env._queue
        self.eid = env._eid

    def after(self, delay: float, value: Any = None) -> Timer:
        """Like ``env.timeout(delay, value)``: fires ``delay`` from now, after earlier-scheduled events."""
        timer = Timer(value)
        heappush(self.queue, (self.env._now + delay, NORMAL, next(self.eid), timer))
        return timer

    def at(self, time: float, value: Any = None) -> Timer:
        """Like :meth:`after`, at an absolute ``time`` (not before now)."""
        timer = Timer(value)
        heappush(self.queue, (time, NORMAL, next(self.eid), timer))
        return timer

    def fire(self, timer: Timer) -> None:
        """Trigger a timer made beforehand (like ``event.succeed()``): it fires after the events already
        scheduled for now."""
        heappush(self.queue, (self.env._now, NORMAL, next(self.eid), timer))

    def next_id(self) -> int:
        """Take the next event id, as scheduling an event would (see :meth:`push`)."""
        return next(self.eid)

    def push(self, time: float, eid: int, timer: Timer) -> None:
        """Queue ``timer`` as the ordinary event ``(time, eid)``, ``eid`` taken with :meth:`next_id`."""
        heappush(self.queue, (time, NORMAL, eid, timer))

    def comes_first(self, time: float, eid: int) -> bool:
        """Whether an event in the queue fires before the ordinary event ``(time, eid)`` would."""
        queue = self.queue
        return bool(queue) and queue[0][:3] < (time, NORMAL, eid)

    def urgent(self) -> Timer:
        """Fires now, before every ordinary event of this time (SimPy starts processes this way)."""
        timer = Timer()
        heappush(self.queue, (self.env._now, URGENT, next(self.eid), timer))
        return timer


def run(env: simpy.Environment) -> None:
    """``env.run()`` until the queue is empty, with ``env.step()`` inlined."""
    queue = env._queue
    while queue:
        env._now, _, _, event = heappop(queue)
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            raise event._value
