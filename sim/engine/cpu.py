"""Tasks sharing a worker's CPUs: an egalitarian processor-sharing server.

A performance model gives each task's execution time when it runs *alone* on its worker. When ``k``
tasks run at once on a worker with ``c`` vCPUs, each progresses at rate ``min(1, max(c, 1) / k)``
(:func:`sim.models.resources.share_rate`): a
single-threaded task cannot use more than one CPU, and the model already covers how fast one task runs
on a small (fractional-CPU) container. Every arrival or departure recomputes the next completion, as in
the classic M/G/1-PS queue (Kleinrock, "Time-shared systems: a theoretical treatment", JACM 1967).

Under egalitarian sharing every task present receives the same service, so the server keeps one
number, the service each task has received since the server started (``served``, the PS queue's
*virtual time*), and each task the service at which it is done (``served`` at its arrival plus its
work), in a heap: the next completion is the heap's top. An arrival or a departure then costs
O(log k) instead of a pass over the ``k`` tasks present (planned workers in non-uniform and heft plans
run dozens of tasks at once).
"""

from __future__ import annotations

from heapq import heappop, heappush

import simpy

from sim.engine.clock import Clock, Timer
from sim.models.resources import share_rate


class SharedCpu:
    """Processor sharing among the tasks running on one worker."""

    __slots__ = ("env", "clock", "parallel", "jobs", "served", "last", "version", "arrivals")

    def __init__(self, env: simpy.Environment, cpus: float) -> None:
        self.env = env
        self.clock = Clock(env)
        self.parallel = max(float(cpus), 1.0)
        self.jobs: list[tuple[float, int, Timer]] = []  # heap of (service when done, arrival, event)
        self.served = 0.0  # service each task present has received since the server started, in ms
        self.last = env.now
        self.version = 0
        self.arrivals = 0

    def run(self, work_ms: float) -> Timer:
        """An event that fires when ``work_ms`` of single-CPU work has been done here (callbacks only:
        see :mod:`sim.engine.clock`)."""
        self._advance()
        done = Timer()
        self.arrivals += 1
        heappush(self.jobs, (self.served + work_ms, self.arrivals, done))
        self._schedule()
        return done

    def _advance(self) -> None:
        now = self.env._now
        if self.jobs and now > self.last:
            self.served += (now - self.last) * share_rate(self.parallel, len(self.jobs))
        self.last = now

    def _schedule(self) -> None:
        self.version += 1
        version = self.version
        rate = share_rate(self.parallel, len(self.jobs))
        timer = self.clock.after(max(0.0, (self.jobs[0][0] - self.served) / rate))
        timer.callbacks.append(lambda _event: self._complete(version))

    def _complete(self, version: int) -> None:
        if version != self.version:
            return  # superseded by a later arrival or departure
        self._advance()
        # Work left below what the clock can still resolve counts as done: at large simulated times a
        # tiny remainder would otherwise schedule timers that do not move the clock, forever.
        now = self.env._now
        eps = max(1e-9, abs(now) * 1e-12)
        rate = share_rate(self.parallel, len(self.jobs))
        jobs, served = self.jobs, self.served
        finished = []
        while jobs and ((left := jobs[0][0] - served) <= eps or now + left / rate == now):
            finished.append(heappop(jobs))
        finished.sort(key=lambda job: job[1])  # tasks done together fire in arrival order
        for job in finished:
            self.clock.fire(job[2])
        if jobs:
            self._schedule()
