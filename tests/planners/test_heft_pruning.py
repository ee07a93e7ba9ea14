"""HEFT's pruned worker search must pick exactly what trying every worker picks.

``ListScheduler._best_existing`` skips workers by a lower bound; these tests hold it to the plain rule
(``_finish_on`` on every worker, smallest key ``(finish, 0, index)``) and the bound (``WorkerBounds``) to ``earliest``.
"""

from __future__ import annotations

import random

import pytest

from sim.planners import PlannerConfig, get_planner
from sim.planners.heft import ListScheduler, _Worker
from sim.planners.worker_bounds import WorkerBounds
from tests.planners.helpers import random_dag


class TryEveryWorker(ListScheduler):
    """The unpruned rule: every existing worker through ``_finish_on``."""

    def _best_existing(self, t, best):  # noqa: ANN001, ANN202 - same signature as the parent
        for i, w in enumerate(self.workers):
            running, start, finish, slot = self._finish_on(t, w, w.memory)
            if best is None or (finish, 0, i) < best[0]:
                best = ((finish, 0, i), w, w.memory, running, start, finish, slot)
        return best


@pytest.mark.parametrize("name", ["heft", "cpop"])
@pytest.mark.parametrize("seed", range(8))
def test_pruned_search_places_like_trying_every_worker(name, seed, monkeypatch):
    wf = random_dag(seed, n=60, p=0.08)
    config = PlannerConfig(memory_sizes=(512, 1024, 3008))
    pruned = get_planner(name, config).assign(wf)
    monkeypatch.setattr("sim.planners.heft.ListScheduler", TryEveryWorker)
    assert get_planner(name, config).assign(wf) == pruned


@pytest.mark.parametrize("seed", range(20))
def test_finish_bound_never_exceeds_the_exact_finish(seed):
    rng = random.Random(seed)
    bounds = WorkerBounds()
    w = _Worker("w1", 2048, rng.uniform(0, 5), [[] for _ in range(rng.randint(1, 3))])
    bounds.add(w)
    scale = rng.choice([1.0, 1e3, 1e7])
    for _ in range(40):
        remote_ready, fetch = rng.uniform(0, 50) * scale, rng.uniform(0, 1) * scale
        duration = rng.choice([0.0, rng.uniform(0, 5) * scale])
        start, slot = w.earliest(max(remote_ready, w.start) + fetch, duration)
        assert bounds.finish_bounds(remote_ready, [fetch], [duration])[0] <= start + duration
        w.occupy(slot, start, start + duration)
        bounds.update(w, slot, start, start + duration)
