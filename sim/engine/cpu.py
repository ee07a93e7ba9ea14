"""Tasks sharing a worker's CPUs: an egalitarian processor-sharing server.

A performance model gives each task's execution time when it runs *alone* on its worker. When ``k``
tasks run at once on a worker with ``c`` vCPUs, each progresses at rate ``min(1, max(c, 1) / k)``
(:func:`sim.models.resources.share_rate`): a
single-threaded task cannot use more than one CPU, and the model already covers how fast one task runs
on a small (fractional-CPU) container. Every arrival or departure recomputes the next completion, as in
the classic M/G/1-PS queue (Kleinrock, "Time-shared systems: a theoretical treatment", JACM 1967).
"""

from __future__ import annotations

import simpy

from sim.engine.clock import Clock, Timer
from sim.models.resources import share_rate


class SharedCpu:
    """Processor sharing among the tasks running on one worker."""

    __slots__ = ("env", "clock", "parallel", "jobs", "last", "version")

    def __init__(self, env: simpy.Environment, cpus: float) -> None:
        self.env = env
        self.clock = Clock(env)
        self.parallel = max(float(cpus), 1.0)
        self.jobs: list[list] = []  # [remaining work in ms, completion event]
        self.last = env.now
        self.version = 0

    def run(self, work_ms: float) -> Timer:
        """An event that fires when ``work_ms`` of single-CPU work has been done here (callbacks only:
        see :mod:`sim.engine.clock`)."""
        self._advance()
        done = Timer()
        self.jobs.append([work_ms, done])
        self._schedule()
        return done

    def _rate(self) -> float:
        return share_rate(self.parallel, len(self.jobs))

    def _advance(self) -> None:
        now = self.env._now
        if self.jobs and now > self.last:
            work = (now - self.last) * self._rate()
            for job in self.jobs:
                job[0] -= work
        self.last = now

    def _schedule(self) -> None:
        self.version += 1
        version = self.version
        delay = max(0.0, min(job[0] for job in self.jobs) / self._rate())
        timer = self.clock.after(delay)
        timer.callbacks.append(lambda _event: self._complete(version))

    def _complete(self, version: int) -> None:
        if version != self.version:
            return  # superseded by a later arrival or departure
        self._advance()
        # Work left below what the clock can still resolve counts as done: at large simulated times a
        # tiny remainder would otherwise schedule timers that do not move the clock, forever.
        now = self.env._now
        eps = max(1e-9, abs(now) * 1e-12)
        rate = self._rate()
        finished, left = [], []
        for job in self.jobs:
            (finished if job[0] <= eps or now + job[0] / rate == now else left).append(job)
        self.jobs = left
        for job in finished:
            self.clock.fire(job[1])
        if self.jobs:
            self._schedule()
