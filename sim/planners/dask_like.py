"""A centralised scheduler in the style of Dask distributed, replayed at planning time.

What it borrows from Dask (https://distributed.dask.org/en/stable/scheduling-policies.html and
https://distributed.dask.org/en/stable/work-stealing.html):

- a **fixed pool** of ``n_workers`` workers of one memory size (Dask workers are long-lived; here a worker
  starts, cold, when its first task is assigned);
- **decide_worker**: when a task becomes ready it goes to the worker where it would *start* earliest:
  the worker's occupancy (queued work divided by its threads) plus the time to move the dependencies it
  does not hold; a task with dependencies considers only the workers holding some of them (Dask's
  locality rule), a task without dependencies considers every worker;
- **work stealing**: when a worker is idle and another has queued tasks that have not started, the idle
  one takes the queued task that gains the most, if moving its data costs less than the waiting it saves
  (Dask's cost multiplier ``1 + transfer / compute`` compared with the victim's backlog).

The schedule is played out once with the cost model of :mod:`sim.planners.costs` to produce a placement
(task -> worker id); the placement is then judged by the simulator like any other plan. This estimates
what a centralised scheduler would decide, to compare with the decentralised counters of WUKONG.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sim.models.resources import ResourceConfig
from sim.planners.base import Planner, PlannerConfig, whole_number_option
from sim.planners.costs import CostModel
from sim.workflow.dag import Workflow

DEFAULT_POOL = 8


@dataclass
class _PoolWorker:
    wid: str
    memory: int
    threads: int
    running_from: float | None = None  # None: not started yet
    free: list[float] = field(default_factory=list)  # when each thread is free
    queue: list[tuple[int, str]] = field(default_factory=list)  # (priority, task), not started
    held: set[str] = field(default_factory=set)
    tasks: list[str] = field(default_factory=list)
    queued_ms: float = 0.0


class DaskLikePlanner(Planner):
    name = "dask-like"
    description = (
        "Dask-style centralised scheduling replayed at planning time: fixed pool of workers, decide_worker "
        "(earliest start given occupancy and data to move), work stealing to idle workers"
    )

    def __init__(
        self,
        config: PlannerConfig | None = None,
        n_workers: int | None = None,
        memory_mb: int | None = None,
        stealing: bool = True,
    ) -> None:
        super().__init__(config)
        whole_number_option("n_workers", n_workers)
        whole_number_option("memory_mb", memory_mb)
        self.n_workers = n_workers
        self.memory_mb = memory_mb
        self.stealing = stealing
        self.estimate_ms = 0.0
        self.steals = 0

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        cm = CostModel(wf, self.predictor, self.config.platform)
        memory = self.memory_mb or self.config.memory_sizes[0]
        n = self.n_workers or min(DEFAULT_POOL, max(1, wf.max_width()))
        return _DaskReplay(wf, cm, memory, n, self.stealing).run(self)


class _DaskReplay:
    def __init__(self, wf: Workflow, cm: CostModel, memory: int, n: int, stealing: bool) -> None:
        self.wf = wf
        self.cm = cm
        self.memory = memory
        self.stealing = stealing
        self.workers = [_PoolWorker(f"w{i + 1}", memory, cm.slots(memory)) for i in range(n)]
        self.where: dict[str, _PoolWorker] = {}  # task -> worker (decided)
        self.finish: dict[str, float] = {}
        self.uploaded: set[str] = set()
        # Dask orders tasks to run depth-first (dask.order); the topological index, which follows task
        # ids within a level, plus "fewest dependents last" is the simple stand-in used here.
        self.prio = {t: i for i, t in enumerate(wf.topological_order())}
        self.events: list[tuple[float, int, str, str, str]] = []
        self.wakes: dict[str, float] = {}
        self.seq = 0

    # -- estimates ----------------------------------------------------------------------------------
    def _data_ms(self, t: str, w: _PoolWorker) -> float:
        """Time to bring ``t``'s missing inputs to ``w`` (parallel downloads, uploads if not yet done)."""
        cm = self.cm
        longest = cm.stored_input_ms(t, w.memory)
        for p in cm.parents[t]:
            if p in w.held:
                continue
            up = 0.0 if p in self.uploaded else cm.upload_ms(p, self.where[p].memory) + cm.latency
            longest = max(longest, up + cm.download_ms(p, t, w.memory))
        return longest

    def _start_estimate(self, t: str, w: _PoolWorker, now: float) -> float:
        """Dask's worker_objective: when ``t`` could start on ``w`` (occupancy / threads + transfers)."""
        ready = now + self.cm.new_worker_ms(w.memory) if w.running_from is None else max(now, min(w.free))
        return ready + w.queued_ms / w.threads + self._data_ms(t, w)

    # -- the replay ---------------------------------------------------------------------------------
    def _push(self, at: float, kind: str, task: str, wid: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, task, wid))

    def decide_worker(self, t: str, now: float) -> _PoolWorker:
        parents = self.cm.parents[t]
        candidates = [w for w in self.workers if any(p in w.held for p in parents)] if parents else []
        if not candidates:
            candidates = self.workers
        held_bytes = {
            w.wid: sum(self.cm.sizes.edge_bytes[p, t] for p in parents if p in w.held) for w in candidates
        }
        return min(candidates, key=lambda w: (self._start_estimate(t, w, now), -held_bytes[w.wid], w.wid))

    def _assign(self, t: str, w: _PoolWorker, now: float) -> None:
        if w.running_from is None:
            w.running_from = now + self.cm.new_worker_ms(w.memory)
            w.free = [w.running_from] * w.threads
        heapq.heappush(w.queue, (self.prio[t], t))
        w.queued_ms += self.cm.exec_ms(t, w.memory)
        self.where[t] = w

    def _start_ready(self, w: _PoolWorker, now: float) -> None:
        """Start queued tasks on ``w``'s free threads."""
        while w.queue and min(w.free) <= now + 1e-9:
            _, t = heapq.heappop(w.queue)
            w.queued_ms -= self.cm.exec_ms(t, w.memory)
            i = w.free.index(min(w.free))
            fetch = self._data_ms(t, w)
            for p in self.cm.parents[t]:
                if p not in w.held:
                    self.uploaded.add(p)
            end = now + fetch + self.cm.exec_ms(t, w.memory)
            w.free[i] = end
            w.held.update(self.cm.parents[t])
            w.tasks.append(t)
            self._push(end, "done", t, w.wid)
        if w.queue:
            at = min(w.free)
            if self.wakes.get(w.wid) != at:  # one pending wake-up per worker and time, not one per call
                self.wakes[w.wid] = at
                self._push(at, "wake", "", w.wid)

    def _steal(self, thief: _PoolWorker, now: float) -> bool:
        """Move the queued task that gains the most from a busy worker to ``thief``, if any gains.

        A queued task waits on its worker until the threads are free and the tasks ahead of it are done;
        on the thief it waits for its data (and the thief's start-up if it has not started). Dask steals
        when the transfer is cheap relative to the compute saved; here: when it would start sooner.
        """
        startup = self.cm.new_worker_ms(thief.memory) if thief.running_from is None else 0.0
        best = None
        for victim in self.workers:
            if victim is thief or not victim.queue:
                continue
            ahead = max(0.0, min(victim.free) - now)
            for _, t in sorted(victim.queue):
                wait = ahead
                ahead += self.cm.exec_ms(t, victim.memory) / victim.threads
                gain = (
                    wait
                    + self.cm.exec_ms(t, victim.memory)
                    - (startup + self._data_ms(t, thief) + self.cm.exec_ms(t, thief.memory))
                )
                if gain > 1e-9 and (best is None or gain > best[0]):
                    best = (gain, t, victim)
        if best is None:
            return False
        _, t, victim = best
        victim.queue.remove((self.prio[t], t))
        heapq.heapify(victim.queue)
        victim.queued_ms -= self.cm.exec_ms(t, victim.memory)
        self._assign(t, thief, now)
        return True

    def _idle_steal(self, now: float, planner: DaskLikePlanner) -> None:
        if not any(w.queue for w in self.workers):
            return
        for w in self.workers:
            if w.queue:
                continue
            while (w.running_from is None or min(w.free) <= now + 1e-9) and self._steal(w, now):
                planner.steals += 1
                self._start_ready(w, now)

    def run(self, planner: DaskLikePlanner) -> dict[str, ResourceConfig]:
        cm = self.cm
        missing = {t: len(cm.parents[t]) for t in self.wf.topological_order()}
        for t, k in missing.items():
            if k == 0:
                self._push(cm.latency, "ready", t)
        by_id = {w.wid: w for w in self.workers}
        while self.events:
            now, _, kind, t, wid = heapq.heappop(self.events)
            if kind == "ready":
                w = self.decide_worker(t, now)
                self._assign(t, w, now)
                self._start_ready(w, now)
                if self.stealing:
                    self._idle_steal(now, planner)
                continue
            if kind == "done":
                w = by_id[wid]
                w.held.add(t)
                self.finish[t] = now
                for c in cm.children[t]:
                    missing[c] -= 1
                    if missing[c] == 0:
                        self._push(now + cm.latency, "ready", c)
            w = by_id[wid]
            self._start_ready(w, now)
            if self.stealing:
                self._idle_steal(now, planner)
        planner.estimate_ms = max(self.finish.values(), default=0.0)
        return {t: ResourceConfig(w.memory, w.wid) for w in self.workers for t in w.tasks}
