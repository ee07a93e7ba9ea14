"""HEFT and CPOP, adapted to serverless workers (classic list-scheduling baselines).

Topcuoglu, Hariri and Wu, "Performance-effective and low-complexity task scheduling for heterogeneous
computing", IEEE TPDS 13(3), 2002.

The adaptation:

- **Processors** are worker ids. There is no fixed set: the planner may open a new worker (at any of the
  configured memory sizes) for a task, paying the invocation latency and a cold start-up, or put the task
  on a worker it has already opened (which keeps its memory size). The number of workers is bounded by
  the DAG's maximum width unless ``max_workers`` says otherwise.
- **Computation cost** of a task on a worker is the predicted execution time at the worker's memory plus
  the download of its stored input; its average over the memory sizes enters the ranks.
- **Communication cost** of an edge is zero on the same worker; otherwise it goes through the store:
  upload at the producer, a counter round trip, download at the consumer (its average over memory sizes
  enters the ranks).
- **Insertion**: a worker runs ``max(1, floor(vCPUs))`` tasks at once; a task goes in the earliest gap
  of any of them after its data is ready (the insertion-based policy of the paper).

HEFT orders tasks by upward rank and puts each on the worker (existing or new) giving the earliest
finish time. CPOP orders by upward + downward rank, puts every task of the critical path on one
"critical-path processor" (one worker at the largest memory size) and the others at their earliest
finish time. Either may leave tasks alone on their own worker flexible (``flexible_singletons``): they
then run wherever the dependency counters send them, like WUKONG.

The placement then executes under the real worker logic; the order a worker runs its tasks in is decided
at run time by readiness, not by the insertion slots.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field

import numpy as np

from sim.models.resources import ResourceConfig
from sim.planners.base import Planner, PlannerConfig, whole_number_option
from sim.planners.costs import CostModel
from sim.planners.worker_bounds import EPS, WorkerBounds
from sim.workflow.dag import Workflow


@dataclass
class _Worker:
    wid: str
    memory: int
    start: float  # when the worker is running (after invocation and start-up)
    slots: list[list[tuple[float, float]]] = field(default_factory=list)  # busy intervals per slot, sorted
    tasks: list[str] = field(default_factory=list)
    index: int = 0  # position in the scheduler's list of workers (ties go to the lower one)

    def earliest(self, ready: float, duration: float) -> tuple[float, int]:
        """Earliest start >= ready with ``duration`` free on one slot (insertion policy)."""
        best = (float("inf"), 0)
        for i, busy in enumerate(self.slots):
            t = ready
            for s, e in busy:
                if t + duration <= s + EPS:
                    break
                t = max(t, e)
            if t < best[0]:
                best = (t, i)
        return best

    def occupy(self, slot: int, start: float, end: float) -> None:
        bisect.insort(self.slots[slot], (start, end))


class ListScheduler:
    """Shared machinery of HEFT and CPOP: ranks, the timeline of opened workers, EFT placement."""

    def __init__(self, wf: Workflow, cm: CostModel, sizes: tuple[int, ...], max_workers: int) -> None:
        self.wf = wf
        self.cm = cm
        self.sizes = sizes
        self.max_workers = max_workers
        self.workers: list[_Worker] = []
        self.proc: dict[str, _Worker] = {}
        self.aft: dict[str, float] = {}
        self.bounds = WorkerBounds()

    # -- ranks ----------------------------------------------------------------------------------------
    def upward_rank(self) -> dict[str, float]:
        cm, sizes = self.cm, self.sizes
        rank: dict[str, float] = {}
        for t in reversed(self.wf.topological_order()):
            tail = max((cm.mean_comm_ms(t, c, sizes) + rank[c] for c in cm.children[t]), default=0.0)
            rank[t] = cm.mean_exec_ms(t, sizes) + tail
        return rank

    def downward_rank(self) -> dict[str, float]:
        cm, sizes = self.cm, self.sizes
        rank: dict[str, float] = {}
        for t in self.wf.topological_order():
            rank[t] = max(
                (rank[p] + cm.mean_exec_ms(p, sizes) + cm.mean_comm_ms(p, t, sizes) for p in cm.parents[t]),
                default=0.0,
            )
        return rank

    # -- placement ------------------------------------------------------------------------------------
    def _finish_on(self, t: str, w: _Worker | None, memory: int) -> tuple[float, float, float, int]:
        """(worker running, exec start, exec finish, slot) of ``t`` on ``w`` (None: a new worker)."""
        cm = self.cm
        local_ready = 0.0
        remote_ready = 0.0
        fetch = cm.stored_input_ms(t, memory)
        for p in cm.parents[t]:
            pw = self.proc[p]
            if w is not None and pw is w:
                local_ready = max(local_ready, self.aft[p])
            else:
                remote_ready = max(remote_ready, self.aft[p] + cm.upload_ms(p, pw.memory) + cm.latency)
                fetch = max(fetch, cm.download_ms(p, t, memory))
        duration = cm.exec_ms(t, memory)
        if w is None:
            begin = max(remote_ready, 0.0 if cm.parents[t] else cm.latency) + cm.new_worker_ms(memory)
            return begin, begin + fetch, begin + fetch + duration, 0
        begin = max(local_ready, remote_ready, w.start)
        start, slot = w.earliest(begin + fetch, duration)
        return w.start, start, start + duration, slot

    def _best_existing(self, t: str, best: tuple | None) -> tuple | None:
        """``best`` or an existing worker with a smaller key ``(finish, 0, index)``, as ``place`` keys it.

        Same answer as calling ``_finish_on`` on every worker: the smallest of distinct keys does not
        depend on the order they are looked at, so the likely winners go first to give a tight bound.
        Workers holding a parent of ``t`` (no transfer from it) are tried first. Every other worker sees
        all parents as remote: its data-ready and fetch times depend only on its memory, so they are
        computed once per memory size, and a worker whose lower bound (its finish cannot come before
        data-ready + duration) keys no smaller than the best so far is skipped without scanning its slots.
        """
        cm, proc, aft = self.cm, self.proc, self.aft
        parents = cm.parents[t]
        if not self.workers:
            return best
        mems = self.bounds.memories
        # per worker holding parents (by identity: _Worker compares by value): the worker, its parents'
        # latest finish, their latest store-readable time and largest download per memory size
        holders: dict[int, list] = {}
        for p in parents:
            pw = proc[p]
            readable = aft[p] + cm.upload_ms(p, pw.memory) + cm.latency
            downloads = [cm.download_ms(p, t, m) for m in mems]
            g = holders.get(id(pw))
            if g is None:
                holders[id(pw)] = [pw, max(0.0, aft[p]), readable, downloads]
            else:
                g[1], g[2] = max(g[1], aft[p]), max(g[2], readable)
                g[3] = [max(a, b) for a, b in zip(g[3], downloads, strict=True)]
        # a worker sees the parents of the other workers as remote: the max over all but its own group
        readable = _max_but_one({k: g[2] for k, g in holders.items()})
        download = [_max_but_one({k: g[3][c] for k, g in holders.items()}) for c in range(len(mems))]
        stored = [cm.stored_input_ms(t, m) for m in mems]
        durations = [cm.exec_ms(t, m) for m in mems]
        for k, (w, local_ready, _, _) in holders.items():
            c = mems.index(w.memory)
            fetch = max(stored[c], _without(download[c], k))
            begin = max(local_ready, max(0.0, _without(readable, k)), w.start)
            start, slot = w.earliest(begin + fetch, durations[c])
            key = (start + durations[c], 0, w.index)
            if best is None or key < best[0]:
                best = (key, w, w.memory, w.start, start, key[0], slot)
        remote_ready = max(0.0, readable[1])
        fetches = [max(stored[c], download[c][1]) for c in range(len(mems))]  # all parents remote
        bound = self.bounds.finish_bounds(remote_ready, fetches, durations)
        near = np.flatnonzero(bound <= best[0][0]) if best is not None else range(len(self.workers))
        for i in near:
            i = int(i)
            w = self.workers[i]
            if id(w) in holders or (best is not None and (float(bound[i]), 0, i) >= best[0]):
                continue  # a holder was tried above; the other cannot win (its key is at least this)
            code = self.bounds.memories.index(w.memory)
            start, slot = w.earliest(max(remote_ready, w.start) + fetches[code], durations[code])
            key = (start + durations[code], 0, i)
            if best is None or key < best[0]:
                best = (key, w, w.memory, w.start, start, key[0], slot)
        return best

    def place(
        self,
        t: str,
        only: _Worker | None = None,
        new_memory: tuple[int, ...] | None = None,
        force_new: bool = False,
    ) -> _Worker:
        """Put ``t`` where it finishes earliest (existing workers first on ties, then smaller memory).

        ``only``: that worker and no other; ``new_memory``: sizes a new worker may have;
        ``force_new``: a new worker even beyond the bound.
        """
        best = None
        if force_new or (only is None and (not self.workers or len(self.workers) < self.max_workers)):
            for m in sorted(new_memory or self.sizes):
                running, start, finish, slot = self._finish_on(t, None, m)
                key = (finish, 1, m)
                if best is None or key < best[0]:
                    best = (key, None, m, running, start, finish, slot)
        if only is not None and not force_new:
            running, start, finish, slot = self._finish_on(t, only, only.memory)
            best = ((finish, 0, 0), only, only.memory, running, start, finish, slot)
        elif not force_new:
            best = self._best_existing(t, best)
        assert best is not None
        _, w, memory, running, start, finish, slot = best
        if w is None:
            w = self.open_worker(memory, running)
        w.occupy(slot, start, finish)
        self.bounds.update(w, slot, start, finish)
        w.tasks.append(t)
        self.proc[t] = w
        self.aft[t] = finish
        return w

    def open_worker(self, memory: int, start: float) -> _Worker:
        slots = [[] for _ in range(self.cm.slots(memory))]
        w = _Worker(f"w{len(self.workers) + 1}", memory, start, slots, index=len(self.workers))
        self.workers.append(w)
        self.bounds.add(w)
        return w

    def ready_order(self, priority: dict[str, float]):
        """Yield tasks as they become ready, highest priority first (ties: topological order)."""
        order = {t: i for i, t in enumerate(self.wf.topological_order())}
        missing = {t: len(self.cm.parents[t]) for t in order}
        heap = [(-priority[t], order[t], t) for t in order if missing[t] == 0]
        heapq.heapify(heap)
        while heap:
            _, _, t = heapq.heappop(heap)
            yield t
            for c in self.cm.children[t]:
                missing[c] -= 1
                if missing[c] == 0:
                    heapq.heappush(heap, (-priority[c], order[c], c))

    def configs(self, flexible_singletons: bool = False) -> dict[str, ResourceConfig]:
        out = {}
        for w in self.workers:
            wid = None if flexible_singletons and len(w.tasks) == 1 else w.wid
            for t in w.tasks:
                out[t] = ResourceConfig(w.memory, wid)
        return out

    def makespan_estimate(self) -> float:
        return max(self.aft.values(), default=0.0)


class HeftPlanner(Planner):
    name = "heft"
    description = (
        "HEFT (Topcuoglu et al. 2002): upward-rank order, each task on the existing or new worker with the "
        "earliest finish (insertion-based; start-up and store transfers counted); at most max-width workers"
    )

    def __init__(
        self,
        config: PlannerConfig | None = None,
        max_workers: int | None = None,
        flexible_singletons: bool = False,
    ) -> None:
        super().__init__(config)
        whole_number_option("max_workers", max_workers)
        self.max_workers = max_workers
        self.flexible_singletons = flexible_singletons
        self.estimate_ms = 0.0

    def scheduler(self, wf: Workflow) -> ListScheduler:
        cm = CostModel(wf, self.predictor, self.config.platform)
        cap = self.max_workers if self.max_workers is not None else max(1, wf.max_width())
        return ListScheduler(wf, cm, tuple(sorted(set(self.config.memory_sizes))), cap)

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        ls = self.scheduler(wf)
        rank = ls.upward_rank()
        for t in ls.ready_order(rank):
            ls.place(t)
        self.estimate_ms = ls.makespan_estimate()
        return ls.configs(self.flexible_singletons)


class CpopPlanner(HeftPlanner):
    name = "cpop"
    description = (
        "CPOP (Topcuoglu et al. 2002): the critical path (max upward+downward rank) on one worker at the "
        "largest memory size, other tasks at their earliest finish like HEFT"
    )

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        ls = self.scheduler(wf)
        up, down = ls.upward_rank(), ls.downward_rank()
        prio = {t: up[t] + down[t] for t in up}
        cp = critical_path(wf, prio)
        largest = max(ls.sizes)
        cp_worker: _Worker | None = None
        for t in ls.ready_order(prio):
            if t in cp:
                if cp_worker is None:
                    cp_worker = ls.place(t, new_memory=(largest,), force_new=True)
                else:
                    ls.place(t, only=cp_worker)
            else:
                ls.place(t)
        self.estimate_ms = ls.makespan_estimate()
        return ls.configs(self.flexible_singletons)


def _max_but_one(values: dict[int, float]) -> tuple[int | None, float, float]:
    """(key of the largest value, the largest, the largest among the other keys); -inf when none."""
    top_key, top, second = None, float("-inf"), float("-inf")
    for k, v in values.items():
        if top_key is None or v > top:
            top_key, top, second = k, v, top
        elif v > second:
            second = v
    return top_key, top, second


def _without(top: tuple[int | None, float, float], key: int) -> float:
    """The largest value of keys other than ``key``, from ``_max_but_one``."""
    return top[2] if key == top[0] else top[1]


def critical_path(wf: Workflow, prio: dict[str, float]) -> set[str]:
    """CPOP's critical path: from the entry task of highest priority, follow children of equal priority."""
    g = wf.graph
    roots = [t for t in wf.topological_order() if g.in_degree(t) == 0]
    cp_value = max(prio[t] for t in roots)
    tol = 1e-6 * max(1.0, abs(cp_value))
    t = next(r for r in roots if abs(prio[r] - cp_value) <= tol)
    path = {t}
    while True:
        nxt = [c for c in sorted(g.successors(t)) if abs(prio[c] - cp_value) <= tol]
        if not nxt:
            break
        t = nxt[0]
        path.add(t)
    return path
