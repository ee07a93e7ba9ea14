"""The simulated container pool: cold and warm starts, keep-alive, a cap on concurrent containers.

A worker asks for a container of its memory size. An idle container of that size still inside its
keep-alive window is reused (a *warm* start); otherwise a new one starts (*cold*) if the cap allows,
else the request waits for a release. Idle containers past keep-alive are removed, and their allocated
memory time is charged up to that moment.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import simpy

from sim.engine.clock import Clock, Timer

_new = object.__new__


@dataclass(slots=True)
class Container:
    id: int
    memory_mb: int
    created_ms: float
    idle_since: float | None = None
    prewarmed: bool = False
    jobs: int = 0


@dataclass(slots=True)
class ContainerPool:
    env: simpy.Environment
    keep_alive_ms: float
    max_containers: int | None
    idle: dict[int, list[Container]] = field(default_factory=dict)
    live: int = 0
    created: int = 0
    alloc_mb_ms: float = 0.0  # memory x time of containers already removed
    all: list[Container] = field(default_factory=list)
    # Requests waiting at the cap, first come first served: a release wakes exactly one of them
    # (waking all of them would cost a round of events per waiter per release).
    waiting: deque[Timer] = field(default_factory=deque)
    clock: Clock = field(init=False)
    # No idle container expires before this time (a lower bound: _reap makes it exact), so requests
    # before it skip the pass over the idle lists: most requests, at 10,000 tasks.
    reap_at: float = float("inf")

    def __post_init__(self) -> None:
        self.clock = Clock(self.env)

    def _reap(self) -> None:
        now = self.env._now
        if now < self.reap_at:
            return  # (nothing idle has expired yet)
        first = float("inf")
        for containers in self.idle.values():
            if containers and containers[0].idle_since + self.keep_alive_ms <= now:
                keep = []
                for c in containers:
                    if c.idle_since + self.keep_alive_ms <= now:
                        self._remove(c, c.idle_since + self.keep_alive_ms)
                    else:
                        keep.append(c)
                containers[:] = keep
            if containers:  # (each list is in the order its containers went idle)
                first = min(first, containers[0].idle_since + self.keep_alive_ms)
        self.reap_at = first

    def _remove(self, c: Container, at: float) -> None:
        self.live -= 1
        self.alloc_mb_ms += c.memory_mb * (at - c.created_ms)
        c.idle_since = -1.0  # removed

    def try_acquire(self, memory_mb: int) -> tuple[Container, str] | None:
        """A container now: ``(container, "warm" | "cold")``, or None at the cap (then wait for
        :meth:`turn` and try again). A callback, not a generator: the simulator runs it from events."""
        while True:
            if self.env._now >= self.reap_at:  # (else nothing to reap: no call)
                self._reap()
            idle = self.idle.get(memory_mb)
            if idle:
                c = idle.pop()  # the most recently used: the least likely to expire
                c.idle_since = None
                c.jobs += 1
                return c, "warm"
            if self.max_containers is None or self.live < self.max_containers:
                return self._new(memory_mb), "cold"
            # (at the cap with nothing idle, the usual case of a request that waits: no pass to evict)
            if not any(self.idle.values()) or not self._evict_one_idle():
                return None

    def turn(self, value: object = None) -> Timer:
        """An event (with ``value``) that fires when a release lets the next waiting request try again
        (callbacks only: see :mod:`sim.engine.clock`)."""
        turn = _new(Timer)  # (new_timer, inline)
        turn.callbacks = []
        turn._value = value
        self.waiting.append(turn)
        return turn

    def _evict_one_idle(self) -> bool:
        """At the cap, an idle container of another size gives way to a new one."""
        oldest = None
        for containers in self.idle.values():
            if containers and (oldest is None or containers[0].idle_since < oldest.idle_since):
                oldest = containers[0]
        if oldest is None:
            return False
        self.idle[oldest.memory_mb].remove(oldest)
        self._remove(oldest, self.env.now)
        return True

    def _new(self, memory_mb: int, prewarmed: bool = False) -> Container:
        self.live += 1
        self.created += 1
        c = Container(self.created, memory_mb, self.env.now, prewarmed=prewarmed, jobs=0 if prewarmed else 1)
        self.all.append(c)
        return c

    def prewarm(self, memory_mb: int) -> Container | None:
        """Start an idle container ahead of need (None at the cap); release it once it has started."""
        self._reap()
        if self.max_containers is not None and self.live >= self.max_containers:
            return None
        return self._new(memory_mb, prewarmed=True)

    def release(self, c: Container) -> None:
        c.idle_since = now = self.env._now
        if now + self.keep_alive_ms < self.reap_at:
            self.reap_at = now + self.keep_alive_ms
        idle = self.idle.get(c.memory_mb)
        if idle is None:
            idle = self.idle[c.memory_mb] = []
        idle.append(c)
        if self.waiting:
            clk = self.clock
            if clk.now_queue is not None:  # (Clock.fire, inline: a release at the cap wakes one each time)
                clk.now_queue.append((next(clk.eid), self.waiting.popleft()))
            else:
                clk.fire(self.waiting.popleft())

    def allocated_mb_ms(self, end_ms: float) -> float:
        """Memory x time of every container, charging idle ones until expiry or ``end_ms``."""
        total = self.alloc_mb_ms
        for containers in self.idle.values():
            for c in containers:
                total += c.memory_mb * (
                    min(c.idle_since + self.keep_alive_ms, max(end_ms, c.idle_since)) - c.created_ms
                )
        for c in self.all:
            if c.idle_since is None:  # still busy
                total += c.memory_mb * (end_ms - c.created_ms)
        return total
