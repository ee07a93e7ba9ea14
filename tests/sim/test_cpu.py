"""Processor sharing inside a worker."""

from __future__ import annotations

import pytest
import simpy

from sim.engine.cpu import SharedCpu


def finish_times(cpus: float, jobs: list[tuple[float, float]], until: float | None = None) -> list[float]:
    env = simpy.Environment()
    cpu = SharedCpu(env, cpus)
    out: list[float] = []

    def job(start: float, work: float):
        yield env.timeout(start)
        yield cpu.run(work)
        out.append(env.now)

    for start, work in jobs:
        env.process(job(start, work))
    env.run(until=until)
    return out


def test_two_jobs_on_one_cpu_share_it():
    assert finish_times(1.0, [(0, 100), (0, 100)]) == pytest.approx([200, 200])


def test_a_late_arrival_slows_the_running_job_down():
    # 0..50 alone (50 done); both at half speed until the first ends at 150 (the second has 50 done);
    # then the second alone: 50 more, ends at 200.
    assert finish_times(1.0, [(0, 100), (50, 100)]) == pytest.approx([150, 200])


def test_enough_cpus_means_no_slowdown():
    assert finish_times(4.57, [(0, 100), (0, 100), (0, 100)]) == pytest.approx([100, 100, 100])


def test_large_simulated_times_terminate():
    # At t = 4e6 ms float spacing is ~1e-9 ms: remainders below it must not loop forever.
    starts = [(4e6 + i * 3e-8, 1234.5678 + i * 1e-9) for i in range(5)]
    out = finish_times(1.14, starts, until=5e6)
    assert len(out) == 5 and max(out) == pytest.approx(4e6 + 5 * 1234.5678 / 1.14, rel=1e-9)
