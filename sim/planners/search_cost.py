"""Where a simulated plan spends its cost, and the moves of ``sim-search`` that aim to cut it.

Cost (``cost_gb_s``) is each worker's memory times its life, from its request to the end of its last
task. A worker pays for the whole life whether its CPUs are busy or not, so the money goes into:

- **idle workers**: a worker whose few tasks keep it alive long after (or long before) they need it,
  typically cold start-ups and waits for remote inputs;
- **gaps**: a worker that sits between two groups of tasks;
- **large sizes off the critical path**: memory (and CPU) that only buys speed nobody waits for.

This module reads those from the simulation of the current plan (the same engine that judges every
candidate: the estimates below only *order* the moves, they decide nothing) and proposes, per worker,
the matching move: dissolve it into workers that are alive anyway, merge it into the worker that covers
its tasks best, split it at its largest gap, or give it a smaller memory size.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.models.plan import PlanOutput
from sim.models.resources import ResourceConfig, cpus_for_memory

Configs = dict[str, ResourceConfig]


@dataclass(frozen=True, slots=True)
class Lifetime:
    """One planned worker as simulated: memory, life span, its tasks' windows, and how busy it was."""

    memory_mb: int
    start_ms: float
    end_ms: float
    windows: tuple[tuple[float, float, str], ...]  # (start, end, task) sorted by start
    busy_ms: float  # sum of its tasks' execution times

    @property
    def cost(self) -> float:
        return self.memory_mb * (self.end_ms - self.start_ms)

    @property
    def utilisation(self) -> float:
        """Share of the worker's CPU time its tasks used (above 1 when they had to share CPUs)."""
        life = max(self.end_ms - self.start_ms, 1e-9)
        return self.busy_ms / (life * cpus_for_memory(self.memory_mb))

    @property
    def concurrency(self) -> int:
        """The most tasks of the worker that run at the same time."""
        edges = sorted([(s, 1) for s, _, _ in self.windows] + [(e, -1) for _, e, _ in self.windows])
        most = cur = 0
        for _, step in edges:
            cur += step
            most = max(most, cur)
        return most

    def stretch_at(self, memory_mb: int) -> float:
        """Roughly how much longer the worker's timeline gets at another size: execution scales with
        memory**-0.3 and with how much more its tasks share the CPUs (it only ranks moves: the
        simulation judges them)."""
        k = self.concurrency
        share = max(1.0, k / cpus_for_memory(memory_mb)) / max(1.0, k / cpus_for_memory(self.memory_mb))
        return (self.memory_mb / memory_mb) ** 0.3 * share

    def largest_gap(self) -> tuple[float, int]:
        """The longest time no task of the worker runs, between two of its tasks, and the index of the
        first window after it (0 when there is no gap)."""
        best, at, reach = 0.0, 0, None
        for i, (s, e, _) in enumerate(self.windows):
            if reach is not None and s - reach > best:
                best, at = s - reach, i
            reach = e if reach is None else max(reach, e)
        return best, at


def lifetimes(configs: Configs, out: PlanOutput) -> dict[str, Lifetime]:
    """The planned workers of ``configs`` as ``out`` (a simulation of them) saw them."""
    members: dict[str, list[str]] = {}
    for t in sorted(configs):
        w = configs[t].worker_id
        if w is not None:
            members.setdefault(w, []).append(t)
    lives = {}
    for w, tasks in members.items():
        info = out.workers.get(w)
        if info is None:
            continue
        windows = tuple(
            sorted((out.tasks[t].earliest_start_ms, out.tasks[t].completion_ms, t) for t in tasks)
        )
        busy = sum(out.tasks[t].exec_ms for t in tasks)
        # alive (and billed, as the simulator bills it) from when it got a container, not while it queued
        start = info["start_ms"] + info.get("queued_ms", 0.0)
        lives[w] = Lifetime(info["memory_mb"], start, info["end_ms"], windows, busy)
    return lives


def _cover(window: tuple[float, float], life: Lifetime) -> float:
    """Share of ``window`` during which ``life``'s worker is alive anyway."""
    s, e = window
    return max(0.0, min(e, life.end_ms) - max(s, life.start_ms)) / max(e - s, 1e-9)


def host_for(
    task: str,
    window: tuple[float, float],
    lives: dict[str, Lifetime],
    exclude: set[str],
    neighbours: set[str],
) -> str | None:
    """The worker best placed to take ``task``: alive for most of its window, then one that exchanges
    data with it, then the least busy one (ties by name, so the choice is deterministic)."""
    best, best_key = None, None
    for w in sorted(lives):
        if w in exclude:
            continue
        life = lives[w]
        key = (round(_cover(window, life), 3), w in neighbours, -life.utilisation)
        if best_key is None or key > best_key:
            best, best_key = w, key
    return best


@dataclass(frozen=True, slots=True)
class CostMove:
    """A candidate plan, the rough saving that ranks it, and a key naming the move independently of the
    rest of the plan (the same move on the same worker's tasks), so a rejected move is not retried."""

    saving: float
    configs: Configs
    label: str
    key: tuple

    @property
    def rank(self) -> tuple[int, float]:
        # fewer containers first, smaller sizes after: a downsized worker has less room to take tasks
        return (0 if self.label in CONSOLIDATING else 1, -self.saving)


CONSOLIDATING = frozenset({"dissolve", "merge-into", "trim", "split-gap"})


def max_stretch(configs: Configs, out: PlanOutput, graph, lives: dict[str, Lifetime]) -> dict[str, float]:
    """How much each worker's timeline (from its request) may stretch without delaying anything else:
    each task with a child on another worker must still end before that child's simulated start, and
    the worker before the makespan."""
    limits = {}
    for w, life in lives.items():
        limit = (out.makespan_ms - life.start_ms) / max(life.end_ms - life.start_ms, 1e-9)
        for _, end, t in life.windows:
            for c in graph.successors(t):
                if configs[c].worker_id != w:
                    room = (out.tasks[c].earliest_start_ms - life.start_ms) / max(end - life.start_ms, 1e-9)
                    limit = min(limit, room)
        limits[w] = limit
    return limits


def cost_moves(
    configs: Configs, out: PlanOutput, sizes: tuple[int, ...], graph, new_id, max_workers: int = 12
) -> list[CostMove]:
    """Cost-cutting neighbours of ``configs``: consolidating moves first, then downsizing, each group by
    its rough saving, largest first.

    ``graph`` is the workflow's DAG; ``new_id(configs)`` gives a fresh worker id.
    Only the ``max_workers`` workers with the most idle cost are considered (each move is a simulation).
    """
    lives = lifetimes(configs, out)
    critical = {configs[t].worker_id for t in out.critical_path if t in configs}
    limits = max_stretch(configs, out, graph, lives)

    def neighbours(t: str) -> list[str]:
        return [*graph.predecessors(t), *graph.successors(t)]

    moves: list[CostMove] = []

    def changed(changes: Configs) -> Configs:
        new = dict(configs)
        new.update(changes)
        return new

    def idle_cost(w: str) -> float:
        return lives[w].cost * max(0.05, 1.0 - min(1.0, lives[w].utilisation))

    for w in sorted(lives, key=lambda x: (-idle_cost(x), x))[:max_workers]:
        life = lives[w]
        tasks = [t for _, _, t in life.windows]
        near = {configs[n].worker_id for t in tasks for n in neighbours(t)} - {None, w}
        members = frozenset(tasks)

        def add(saving: float, new: Configs, label: str, *detail) -> None:
            moves.append(CostMove(saving, new, label, (label, members, *detail)))  # noqa: B023

        # dissolve: each task to the worker best placed to take it
        if len(lives) > 1:
            dissolve = {}
            for s, e, t in life.windows:
                host = host_for(t, (s, e), lives, {w}, near)
                if host is not None:
                    dissolve[t] = ResourceConfig(lives[host].memory_mb, host)
            if dissolve:
                add(life.cost, changed(dissolve), "dissolve")
            # merge: every task to the one worker that covers them best
            others = [v for v in sorted(lives) if v != w]
            cover = {v: sum(_cover((s, e), lives[v]) * (e - s) for s, e, _ in life.windows) for v in others}
            into = max(others, key=lambda v: (round(cover[v], 3), v in near, v))
            add(
                0.9 * life.cost,
                changed({t: ResourceConfig(lives[into].memory_mb, into) for t in tasks}),
                "merge-into",
                frozenset(lives[into].windows),
            )
        # split at the largest gap: the container is released (and may be reused warm) meanwhile
        gap, at = life.largest_gap()
        if at:
            fresh = new_id(configs)
            later = {t: configs[t].with_worker(fresh) for _, _, t in life.windows[at:]}
            add(life.memory_mb * gap, changed(later), "split-gap")
        # trim: the task that ends last (when it ends much later than the others) to a host
        if len(life.windows) > 1:
            last = max(life.windows, key=lambda x: (x[1], x[2]))
            rest_end = max(e for s, e, t in life.windows if t != last[2])
            if last[1] > rest_end:
                host = host_for(last[2], last[:2], lives, {w}, near)
                if host is not None:
                    trim = changed({last[2]: ResourceConfig(lives[host].memory_mb, host)})
                    add(life.memory_mb * (last[1] - rest_end), trim, "trim")
        # a smaller size: cheaper per ms, slower; off the critical path the slack may absorb it
        smaller = [m for m in sizes if m < life.memory_mb]
        if smaller:
            for m in sorted({smaller[-1], smaller[0]}, reverse=True):
                fits = w not in critical and life.stretch_at(m) <= limits[w]
                est = (1.0 if fits else 0.2) * life.cost * (1 - (m / life.memory_mb) ** 0.7)
                add(est, changed({t: configs[t].with_memory(m) for t in tasks}), "downsize", m)
    moves += _slack_downsizing(configs, lives, limits, sizes, critical)
    moves.sort(key=lambda m: m.rank)
    return moves


def _slack_downsizing(
    configs: Configs,
    lives: dict[str, Lifetime],
    limits: dict[str, float],
    sizes: tuple[int, ...],
    critical: set[str | None],
) -> list[CostMove]:
    """Many workers downsized in one candidate (one simulation instead of one each): those off the
    critical path whose rough stretch at the smaller size stays within what they may stretch (see
    :func:`max_stretch`); then the half and the quarter of them with the most slack, in case the rough
    end was too optimistic."""
    moves = []
    for step in ("one", "smallest"):
        slack = {}
        for w, life in lives.items():
            smaller = [m for m in sizes if m < life.memory_mb]
            if w in critical or not smaller:
                continue
            m = smaller[-1] if step == "one" else smaller[0]
            stretch = life.stretch_at(m)
            if stretch <= limits[w]:
                slack[w] = (limits[w] / stretch, m)
        ranked = sorted(slack, key=lambda w: (-slack[w][0], w))
        for share in (1, 2, 4):
            group = ranked[: max(1, len(ranked) // share)] if ranked else []
            if len(group) < 2 or (share > 1 and len(group) == len(ranked)):
                continue
            changes = {t: configs[t].with_memory(slack[w][1]) for w in group for _, _, t in lives[w].windows}
            est = sum(lives[w].cost * (1 - (slack[w][1] / lives[w].memory_mb) ** 0.7) for w in group)
            new = dict(configs)
            new.update(changes)
            key = (
                "downsize-slack",
                frozenset((frozenset(t for _, _, t in lives[w].windows), slack[w][1]) for w in group),
            )
            moves.append(CostMove(est, new, "downsize-slack", key))
    return moves
