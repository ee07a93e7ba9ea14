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
- :class:`Environment`: a SimPy environment with a second, first-in first-out queue beside the heap for
  the ordinary events triggered *now* (:meth:`Clock.fire`: a container handed to a waiting request, a
  task done on a shared CPU). Such an event's key ``(now, NORMAL, id)`` is larger than every key in
  that queue before it, so the queue is in key order by construction, and :func:`run` takes whichever
  of the two heads has the smaller key: the same order as one heap, without a push and a pop over the
  whole heap (some 900 entries at 10,000 tasks) per event.
- a *delay line* beside them (:attr:`Environment.line`): events scheduled one fixed delay from now
  (:meth:`Clock.after_line`; the simulator's store round trips, one or two per task). Their keys
  ``(now + delay, NORMAL, id)`` grow with each one added, so this queue too is in key order by
  construction, and the heap keeps only the events of other delays: a push and a pop over the heap
  cost some 5,000 machine instructions at 10,000 tasks, an append and a popleft far less.

A timer is not a :class:`simpy.Event`: it cannot be yielded from a SimPy process or put in a condition
(nothing in the simulator does either).
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.events import NORMAL, URGENT


class Timer:
    """A triggered event waiting in the queue: callbacks run when the clock reaches it.

    The hot paths make theirs with :func:`new_timer`, which skips ``__init__``: calling a class with
    an ``__init__`` of its own costs about three times as much as setting the two fields.
    """

    __slots__ = ("callbacks", "_value")
    _ok = True  # (never failed)

    def __init__(self, value: Any = None) -> None:
        self.callbacks: list | None = []
        self._value = value


_new = object.__new__


def new_timer(value: Any = None) -> Timer:
    """``Timer(value)``, made without calling ``__init__`` (inline it where a call would cost as much)."""
    timer = _new(Timer)
    timer.callbacks = []
    timer._value = value
    return timer


class Environment(simpy.Environment):
    """A SimPy environment whose events triggered now by :meth:`Clock.fire` wait in :attr:`now_queue`
    (``(id, timer)`` in id order, all of the current time) instead of the heap, and whose events
    ``line_delay`` from when they were queued (:meth:`Clock.after_line`) wait in :attr:`line`.
    :func:`run` reads the three queues; SimPy's own loop (``env.run(until=...)``, ``env.step()``) finds
    them all on the heap, moved there with the keys they would have had."""

    def __init__(self, initial_time: float = 0, line_delay: float = 0.0) -> None:
        super().__init__(initial_time)
        self.now_queue: deque[tuple[int, Timer]] = deque()
        # Events ``line_delay`` from when they were queued: ``(time, NORMAL, id, event)`` in key order.
        self.line: deque[tuple[float, int, int, Any]] = deque()
        self.line_delay = float(line_delay)
        # The queue entry of the event being processed: ``(time, priority, id, event)``, or ``(id, timer)``
        # from the queue of events triggered now (its key is ``(now, NORMAL, id)``).
        self.current: tuple | None = None
        # Per urgent event of :meth:`Clock.urgent`, :meth:`place` of the event that made it: it is
        # processed right after that one, though its key (priority URGENT) sorts before it.
        self.made_in: dict[int, tuple] = {}

    def _to_heap(self) -> None:
        now_queue = self.now_queue
        while now_queue:
            eid, timer = now_queue.popleft()
            heappush(self._queue, (self._now, NORMAL, eid, timer))
        line = self.line
        while line:
            heappush(self._queue, line.popleft())

    def step(self) -> None:
        self._to_heap()
        if self._queue:
            self.current = self._queue[0]
        super().step()

    def place(self) -> tuple:
        """A key of the event being processed that sorts the events in the order they are processed:
        its queue key, except for an urgent event made while another event of this time was processed
        (the place of that event, then the urgent event's id: after it and before the next). Before the
        run, ``(now, URGENT)``: first."""
        cur = self.current
        if cur is None:
            return (self._now, URGENT)
        if len(cur) == 2:  # (from the queue of events triggered now)
            return (self._now, NORMAL, cur[0])
        if cur[1] >= NORMAL:
            return cur[:3]
        maker = self.made_in.get(cur[2])
        return cur[:3] if maker is None else (*maker, cur[2])

    def peek(self) -> float:
        self._to_heap()
        return super().peek()


class Clock:
    """Timers on one environment's queue."""

    __slots__ = ("env", "queue", "eid", "now_queue", "line", "made_in")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.queue = env._queue
        self.eid = env._eid
        # (a plain SimPy environment has no queue of events triggered now, nor a delay line: such
        # events go on its heap)
        self.now_queue: deque[tuple[int, Timer]] | None = getattr(env, "now_queue", None)
        self.line: deque[tuple[float, int, int, Any]] | None = getattr(env, "line", None)
        self.made_in: dict[int, tuple] | None = getattr(env, "made_in", None)

    def after(self, delay: float, value: Any = None) -> Timer:
        """Like ``env.timeout(delay, value)``: fires ``delay`` from now, after earlier-scheduled events."""
        timer = _new(Timer)  # (new_timer, inline)
        timer.callbacks = []
        timer._value = value
        heappush(self.queue, (self.env._now + delay, NORMAL, next(self.eid), timer))
        return timer

    def at(self, time: float, value: Any = None) -> Timer:
        """Like :meth:`after`, at an absolute ``time`` (not before now)."""
        timer = _new(Timer)  # (new_timer, inline)
        timer.callbacks = []
        timer._value = value
        heappush(self.queue, (time, NORMAL, next(self.eid), timer))
        return timer

    def after_line(self, event: Any, delay: float) -> None:
        """Queue ``event`` (anything with ``callbacks`` and ``_ok``, like a :class:`Timer`) to fire
        ``delay`` from now, like :meth:`after`; on the delay line if ``delay`` is the environment's
        ``line_delay``."""
        key = (self.env._now + delay, NORMAL, next(self.eid), event)
        if self.line is not None and delay == self.env.line_delay:
            self.line.append(key)
        else:
            heappush(self.queue, key)

    def fire(self, timer: Timer) -> None:
        """Trigger a timer made beforehand (like ``event.succeed()``): it fires after the events already
        scheduled for now."""
        if self.now_queue is not None:
            self.now_queue.append((next(self.eid), timer))
        else:
            heappush(self.queue, (self.env._now, NORMAL, next(self.eid), timer))

    def next_id(self) -> int:
        """Take the next event id, as scheduling an event would (see :meth:`push`)."""
        return next(self.eid)

    def push(self, time: float, eid: int, timer: Timer) -> None:
        """Queue ``timer`` as the ordinary event ``(time, eid)``, ``eid`` taken with :meth:`next_id`."""
        heappush(self.queue, (time, NORMAL, eid, timer))

    def urgent(self) -> Timer:
        """Fires now, before every ordinary event of this time (SimPy starts processes this way)."""
        timer = _new(Timer)  # (new_timer, inline)
        timer.callbacks = []
        timer._value = None
        eid = next(self.eid)
        heappush(self.queue, (self.env._now, URGENT, eid, timer))
        made_in = self.made_in
        if made_in is not None:  # (see Environment.place; one made in an urgent event keeps its maker's)
            place = self.env.place()
            cur = self.env.current
            made_in[eid] = place[:-1] if cur is not None and len(cur) == 4 and cur[2] in made_in else place
        return timer


def run(env: simpy.Environment) -> None:
    """``env.run()`` until the queues are empty, with ``env.step()`` inlined (see :class:`Environment`):
    each step takes the event of the smallest key among the heads of the heap, the queue of events
    triggered now and the delay line. (Keys are unique by their ids: comparing two never reaches the
    events.)"""
    queue = env._queue
    now_queue = getattr(env, "now_queue", None)
    if now_queue is None:
        now_queue = deque()  # (always empty)
    line = getattr(env, "line", None)
    if line is None:
        line = deque()  # (always empty)
    while True:
        if now_queue:
            # the event triggered now first, unless the heap's first is of this time with a smaller key
            # (or the line's first is: its events are ordinary ones, and none is earlier than now)
            top = queue[0] if queue else None
            if top is not None and top[0] == env._now and (top[1] < NORMAL or top[2] < now_queue[0][0]):
                entry = line.popleft() if line and line[0] < top else heappop(queue)
                event = entry[3]
            elif line and line[0][0] == env._now and line[0][2] < now_queue[0][0]:
                entry = line.popleft()
                event = entry[3]
            else:
                entry = now_queue.popleft()
                event = entry[1]
        elif line:
            entry = heappop(queue) if queue and queue[0] < line[0] else line.popleft()
            env._now = entry[0]
            event = entry[3]
        elif queue:
            entry = heappop(queue)
            env._now = entry[0]
            event = entry[3]
        else:
            env.current = None  # (the last event would otherwise stay referenced)
            return
        env.current = entry
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            raise event._value
