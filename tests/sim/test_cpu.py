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


def reference_finish_times(cpus: float, jobs: list[tuple[float, float]]) -> list[float]:
    """Processor sharing stepped from event to event, every job's remaining work kept explicitly."""
    from sim.models.resources import share_rate

    pending = sorted(range(len(jobs)), key=lambda i: jobs[i][0])
    remaining: dict[int, float] = {}
    done: dict[int, float] = {}
    now = 0.0
    while pending or remaining:
        rate = share_rate(max(cpus, 1.0), len(remaining))
        next_end = now + min(remaining.values()) / rate if remaining else float("inf")
        next_arrival = jobs[pending[0]][0] if pending else float("inf")
        step_to = min(next_end, next_arrival)
        for i in remaining:
            remaining[i] -= (step_to - now) * rate
        now = step_to
        for i in [i for i, w in remaining.items() if w <= 1e-9]:
            done[i] = now
            del remaining[i]
        while pending and jobs[pending[0]][0] <= now:
            i = pending.pop(0)
            remaining[i] = jobs[i][1]
    return [done[i] for i in range(len(jobs))]


@pytest.mark.parametrize("seed", range(20))
def test_random_arrivals_finish_when_exact_processor_sharing_says(seed):
    # The server keeps one virtual time and a heap, not every job's remaining work (O(log k) per
    # arrival or departure); this checks it against the explicit computation.
    import random

    rng = random.Random(seed)
    cpus = rng.choice([0.57, 1.0, 2.29, 4.57])
    jobs = [(round(rng.uniform(0, 500), 3), round(rng.uniform(1, 200), 3)) for _ in range(rng.randint(1, 40))]
    env = simpy.Environment()
    cpu = SharedCpu(env, cpus)
    got: dict[int, float] = {}

    def job(i: int, start: float, work: float):
        yield env.timeout(start)
        yield cpu.run(work)
        got[i] = env.now

    for i, (start, work) in enumerate(jobs):
        env.process(job(i, start, work))
    env.run()
    assert [got[i] for i in range(len(jobs))] == pytest.approx(reference_finish_times(cpus, jobs), rel=1e-9)
