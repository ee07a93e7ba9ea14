"""``sim-search``: local search over plans with the simulator in the loop.

It starts from the best plan of the other planners (each simulated, the best by the objective), so it is
never worse than any of them, and then improves it by first-improvement hill climbing: propose one move,
simulate the changed plan, keep it if the objective improves. Moves:

- **move** a task to another worker (preferably one of its parents' or children's), to a new worker, or
  make it flexible (or pin a flexible task onto a parent's worker);
- **merge** two workers that exchange data (one start-up and no transfer between them);
- **split** a worker: move part of its tasks to a new worker (less CPU sharing);
- **resize** a worker (or a flexible task) to another configured memory size;
- **toggle** an optimization (when :mod:`sim.planners.optimizations` provides ``OPTIMIZATIONS``).

Objectives:

- ``makespan`` (the default) is lexicographic: first the fastest plan, then the cheapest plan whose
  makespan stays within ``makespan_tolerance`` of the fastest one found *and* never above the starting
  plan's (the best other planner's), so the cost phase cannot make sim-search slower than any other
  planner. The cost phase gets the last ``polish_share`` of the budget, or starts earlier when makespan
  moves stop paying; its moves come from :mod:`sim.planners.search_cost` (dissolve idle workers, merge,
  split at gaps, smaller sizes), all judged by simulating the changed plan.
- ``cost`` (then makespan).
- ``cost-under-sla``: the cheapest plan whose makespan is at most ``deadline_ms`` (by default the
  fastest starting plan's makespan times ``1 + deadline_slack``; plans over it are ranked by how much
  they exceed it).

The budget is a number of simulations (``max_simulations``) and a wall-clock cap (``max_seconds``); for a
given ``seed`` the search is deterministic as long as the simulation budget ends it first.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sim.engine.simulator import SimResult
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.planners.base import Planner, PlannerConfig, number_option, whole_number_option, with_memory_floors
from sim.planners.search_cost import cost_moves
from sim.workflow.dag import Workflow

OBJECTIVES = ("makespan", "cost", "cost-under-sla")
EXPENSIVE_OPTIMIZATIONS = frozenset({"task-dup"})  # their planning step runs many simulations
REL_EPS = 1e-9


@dataclass(slots=True)
class Candidate:
    configs: dict[str, ResourceConfig]
    optimizations: frozenset[str]
    makespan_ms: float
    cost_gb_s: float
    source: str
    plan: Plan | None = None  # the plan as simulated (with the optimizations' planning annotations)


class SimulationTimeout(Exception):
    """A candidate's simulation ran longer than ``simulation_timeout_s`` (wall clock)."""


@contextmanager
def _time_limit(seconds: float | None):
    """Interrupt the block after ``seconds`` (main thread on POSIX only; elsewhere no limit).

    A guard, not a budget: a simulation that does not finish (e.g. a floating-point livelock at very
    large simulated times) must not hang the search; the candidate is then discarded.
    """
    if (
        seconds is None
        or threading.current_thread() is not threading.main_thread()
        or not hasattr(signal, "setitimer")
    ):
        yield
        return

    def expire(signum, frame):  # noqa: ANN001, ARG001
        raise SimulationTimeout(f"simulation took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _available_optimizations() -> tuple[str, ...]:
    try:
        from sim.planners.optimizations import OPTIMIZATIONS
    except ImportError:
        return ()
    return tuple(sorted(OPTIMIZATIONS))


def _with_optimization_steps(plan: Plan, planner: Planner) -> Plan:
    """Run the planning step of the plan's optimizations (pre-warm triggers, ...), when there are any."""
    if not plan.optimizations:
        return plan
    try:
        from sim.planners.optimizations import apply_optimizations
    except ImportError:
        return plan
    return apply_optimizations(plan, planner)


class SimSearchPlanner(Planner):
    name = "sim-search"
    description = (
        "starts from the best other planner's plan, then hill-climbs with the simulator in the loop (move, "
        "merge, split, resize workers, toggle optimizations); objective makespan (the fastest plan, then the "
        "cheapest within makespan_tolerance of it and never slower than the start), cost or cost-under-sla"
    )

    def __init__(
        self,
        config: PlannerConfig | None = None,
        objective: str = "makespan",
        deadline_ms: float | None = None,
        deadline_slack: float = 0.0,
        max_simulations: int = 200,
        max_seconds: float | None = 5.0,
        seed: int = 0,
        start_planners: tuple[str, ...] | None = None,
        tie_tolerance: float = 0.002,
        makespan_tolerance: float = 0.05,
        polish_share: float = 0.5,
        toggle_optimizations: bool = True,
        simulation_timeout_s: float | None = 30.0,
    ) -> None:
        super().__init__(config)
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
        whole_number_option("max_simulations", max_simulations, minimum=0, optional=False)
        number_option("deadline_ms", deadline_ms, positive=True)
        number_option("deadline_slack", deadline_slack, optional=False)
        number_option("max_seconds", max_seconds, positive=True)
        number_option("tie_tolerance", tie_tolerance, optional=False)
        number_option("polish_share", polish_share, maximum=1.0, optional=False)
        number_option("simulation_timeout_s", simulation_timeout_s, positive=True)
        self.objective = objective
        self.deadline_ms = deadline_ms
        self.deadline_slack = deadline_slack
        self.max_simulations = max_simulations
        self.max_seconds = max_seconds
        self.seed = seed
        if isinstance(start_planners, str):  # from a spec: "uniform+heft"
            start_planners = tuple(n.strip() for n in start_planners.split("+") if n.strip())
        self.start_planners = start_planners
        self.tie_tolerance = tie_tolerance
        number_option("makespan_tolerance", makespan_tolerance, optional=False)
        self.makespan_tolerance = makespan_tolerance
        self.fastest_ms: float | None = None  # the fastest plan accepted (the cost phase's reference)
        self.polish_share = polish_share
        self.toggle_optimizations = toggle_optimizations
        self.simulation_timeout_s = simulation_timeout_s
        self._polishing = False
        self._last_gain = 0
        self.timeouts = 0  # candidates discarded because their simulation did not finish in time
        # filled by plan(): what the search started from and how it went
        self.starts: dict[str, Candidate] = {}
        self.start: Candidate | None = None
        self.best: Candidate | None = None
        self.accepted: list[str] = []
        self.tried: dict[str, int] = {}  # candidates simulated, per kind of move
        self.search_simulations = 0
        self._deadline: float | None = deadline_ms

    @property
    def deadline(self) -> float | None:
        """The makespan bound of ``cost-under-sla`` used by the last plan."""
        return self._deadline

    # -- objective ------------------------------------------------------------------------------------
    def better(self, new: Candidate, old: Candidate) -> bool:
        """Strict improvement of ``new`` over ``old`` under the objective.

        For ``makespan``, a gain smaller than ``tie_tolerance`` counts only if the cost does not grow (no
        +37 % cost for -0.002 % makespan); within the tolerance a cheaper plan wins, but never one slower
        than the starting plan.
        """
        if self.objective == "makespan":
            assert self.start is not None
            if self._polishing:  # the cost phase: cheaper within the makespan bound
                if new.makespan_ms > self.makespan_bound() * (1 + REL_EPS):
                    return False
                if new.cost_gb_s < old.cost_gb_s * (1 - REL_EPS):
                    return True
                return new.cost_gb_s <= old.cost_gb_s * (
                    1 + REL_EPS
                ) and new.makespan_ms < old.makespan_ms * (1 - REL_EPS)
            faster = new.makespan_ms < old.makespan_ms * (1 - REL_EPS)
            if faster and new.cost_gb_s <= old.cost_gb_s * (1 + REL_EPS):
                return True
            if new.makespan_ms < old.makespan_ms * (1 - self.tie_tolerance):
                return True
            close = new.makespan_ms <= old.makespan_ms * (1 + self.tie_tolerance)
            not_slower = new.makespan_ms <= self.start.makespan_ms * (1 + REL_EPS)
            return close and not_slower and new.cost_gb_s < old.cost_gb_s * (1 - REL_EPS)
        return self._key(new) < self._key(old)

    def makespan_bound(self) -> float:
        """The makespan the cost phase of ``makespan`` may not exceed: within ``makespan_tolerance`` of the
        fastest plan found, and never slower than the starting plan (the best other planner's)."""
        assert self.start is not None
        fastest = self.fastest_ms if self.fastest_ms is not None else self.start.makespan_ms
        return min(self.start.makespan_ms, fastest * (1 + self.makespan_tolerance))

    def _key(self, c: Candidate) -> tuple[float, ...]:
        ms, cost = _q(c.makespan_ms), _q(c.cost_gb_s)
        if self.objective == "makespan":
            return (ms, cost)
        if self.objective == "cost":
            return (cost, ms)
        over = max(0.0, ms - _q(self._deadline or 0.0))
        return (over, cost, ms)

    # -- planning -------------------------------------------------------------------------------------
    def plan(self, wf: Workflow) -> Plan:
        wf.validate()
        t0 = time.perf_counter()
        self._deadline = self.deadline_ms
        self.starts = self._starting_plans(wf)
        if self._deadline is None:
            fastest = min(c.makespan_ms for c in self.starts.values())
            self._deadline = fastest * (1 + self.deadline_slack)
        ordered = sorted(self.starts.values(), key=lambda c: self._key(c))
        self.start = self.best = ordered[0]
        if self.objective == "makespan":  # among equally fast starts, the cheapest
            fast = [c for c in ordered if c.makespan_ms <= ordered[0].makespan_ms * (1 + REL_EPS)]
            self.start = self.best = min(fast, key=lambda c: c.cost_gb_s)
        self.accepted = []
        self.tried = {}
        self.search_simulations = 0
        self._search(wf, t0)
        best = self.best
        if best.plan is not None:
            return replace(best.plan, planner=self.name)
        plan = Plan(wf, dict(best.configs), self.name, self.config.sla, best.optimizations).validate()
        return _with_optimization_steps(plan, self)

    def assign(self, wf: Workflow) -> dict[str, ResourceConfig]:
        return dict(self.plan(wf).configs)

    def _starting_plans(self, wf: Workflow) -> dict[str, Candidate]:
        from sim.planners import PLANNERS

        names = self.start_planners or tuple(
            n for n, cls in PLANNERS.items() if not issubclass(cls, SimSearchPlanner)
        )
        out: dict[str, Candidate] = {}
        for name in names:
            planner = PLANNERS[name](self.config)
            try:
                with _time_limit(self.simulation_timeout_s and 10 * self.simulation_timeout_s):
                    plan = planner.plan(wf)
                    result = self.simulate(plan)
            except SimulationTimeout:
                self.timeouts += 1
                continue
            finally:
                self.simulations += planner.simulations
            out[name] = self._candidate(plan, result, name)
        if not out:
            raise RuntimeError(
                f"sim-search: no starting planner produced a plan that simulates ({', '.join(names)})"
            )
        return out

    @staticmethod
    def _candidate(plan: Plan, result: SimResult, source: str) -> Candidate:
        o = result.output
        return Candidate(
            dict(plan.configs), frozenset(plan.optimizations), o.makespan_ms, o.cost_gb_s, source, plan
        )

    def _evaluate(
        self,
        wf: Workflow,
        configs: dict[str, ResourceConfig],
        opts: frozenset[str],
        move: str,
        plan: Plan | None = None,
    ):
        before = self.simulations
        try:
            with _time_limit(self.simulation_timeout_s):
                if plan is None:  # a move may have shrunk a worker below its tasks' declared memory
                    configs = with_memory_floors(wf, configs, self.config.memory_sizes)
                    plan = _with_optimization_steps(
                        Plan(wf, configs, self.name, self.config.sla, opts).validate(), self
                    )
                result = self.simulate(plan)
        except SimulationTimeout:
            self.timeouts += 1
            return None, None
        except RuntimeError:
            return None, None  # the plan cannot complete under the worker logic: not a candidate
        finally:
            self.search_simulations += self.simulations - before
        return self._candidate(plan, result, move), result

    def _mode(self, best: Candidate, spent: int) -> str:
        """Which kind of move to favour now: ``makespan`` or ``cost``."""
        if self.objective == "cost":
            return "cost"
        if self.objective == "cost-under-sla":
            return "makespan" if best.makespan_ms > (self._deadline or 0.0) * (1 + REL_EPS) else "cost"
        # makespan: polish cost at (about) the same makespan in the last part of the budget, or as soon
        # as makespan moves stop paying (no gain in the last ``stall`` simulations)
        stall = max(30, int(0.2 * self.max_simulations))
        if (
            self._polishing
            or spent >= (1 - self.polish_share) * self.max_simulations
            or spent - self._last_gain >= stall
        ):
            self._polishing = True
            return "cost"
        return "makespan"

    def _search(self, wf: Workflow, t0: float) -> None:
        rng = random.Random(self.seed)
        toggles = _available_optimizations() if self.toggle_optimizations else ()
        moves = _Moves(wf, tuple(sorted(set(self.config.memory_sizes))), toggles, rng)
        best = self.best
        assert best is not None
        _, result = self._evaluate(wf, best.configs, best.optimizations, "start", best.plan)
        if result is None:
            return
        seen = {_fingerprint(best.configs, best.optimizations)}
        misses = 0
        self._polishing = False
        self.fastest_ms = best.makespan_ms
        self._last_gain = self.search_simulations
        polish_from = self.search_simulations
        cost_stall = max(50, int(0.3 * self.max_simulations))  # the cost phase ends after so many in vain
        front = _Front(best.makespan_ms)  # cheap plans seen on the way, for the cost phase to start from
        front.add(best, result)
        queue: list = []
        queued_for: tuple[int, str] | None = None  # (accepted moves, mode) the queue was built for
        while self.search_simulations < self.max_simulations:
            if self.max_seconds is not None and time.perf_counter() - t0 > self.max_seconds:
                break
            polishing = self._polishing
            mode = self._mode(best, self.search_simulations)
            if self._polishing and not polishing:  # the cost phase starts from the cheapest plan in bound
                polish_from = self.search_simulations
                cheapest = front.cheapest(self.makespan_bound())
                if cheapest is not None and self.better(cheapest[0], best):
                    best, result = cheapest
                    self.accepted.append(f"cheapest-seen:{best.source}")
            if self._polishing and self.search_simulations - max(self._last_gain, polish_from) >= cost_stall:
                break  # the cost moves stopped paying: spare the rest of the budget
            if queued_for != (len(self.accepted), mode):
                queue = moves.structured(best, result, mode, self.predictor)
                queued_for = (len(self.accepted), mode)
            proposal = queue.pop(0) if queue else moves.propose(best, result, mode)
            key = None if proposal is None else _fingerprint(proposal[0], proposal[1])
            if proposal is None or key in seen:
                misses += 1
                if misses > 200:  # nothing new to try: move on to the cost phase, or stop
                    if self.objective != "makespan" or self._polishing:
                        break
                    self._polishing, misses, polish_from = True, 0, self.search_simulations
                continue
            misses = 0
            seen.add(key)
            configs, opts, label = proposal[:3]
            self.tried[label] = self.tried.get(label, 0) + 1
            cand, res = self._evaluate(wf, configs, opts, label)
            if cand is not None:
                front.add(cand, res)
            if cand is None or not self.better(cand, best):
                if len(proposal) > 3:
                    moves.rejected.add(proposal[3])
            else:
                best, result = cand, res
                self.fastest_ms = min(self.fastest_ms, cand.makespan_ms)
                self.accepted.append(label)
                self._last_gain = self.search_simulations
        self.best = best


class _Front:
    """The (makespan, cost) Pareto front of the simulated candidates no slower than ``limit_ms``."""

    def __init__(self, limit_ms: float) -> None:
        self.limit_ms = limit_ms
        self.items: list[tuple[Candidate, SimResult]] = []

    def add(self, cand: Candidate, result: SimResult) -> None:
        if cand.makespan_ms > self.limit_ms * (1 + REL_EPS):
            return
        if any(c.makespan_ms <= cand.makespan_ms and c.cost_gb_s <= cand.cost_gb_s for c, _ in self.items):
            return
        self.items = [
            (c, r)
            for c, r in self.items
            if not (cand.makespan_ms <= c.makespan_ms and cand.cost_gb_s <= c.cost_gb_s)
        ]
        self.items.append((cand, result))

    def cheapest(self, bound_ms: float) -> tuple[Candidate, SimResult] | None:
        fits = [(c, r) for c, r in self.items if c.makespan_ms <= bound_ms * (1 + REL_EPS)]
        return min(fits, key=lambda cr: (cr[0].cost_gb_s, cr[0].makespan_ms)) if fits else None


def _q(x: float) -> float:
    """Round away float noise so that equal simulated outcomes compare equal."""
    return round(x, 6)


def _fingerprint(configs: dict[str, ResourceConfig], opts: frozenset[str]):  # noqa: ANN202
    # Worker ids are names only: canonicalise them by first appearance in sorted task order.
    rename: dict[str, str] = {}
    items = []
    for t in sorted(configs):
        c = configs[t]
        w = c.worker_id
        if w is not None:
            w = rename.setdefault(w, f"#{len(rename)}")
        items.append((t, c.memory_mb, w))
    return tuple(items), opts


class _Moves:
    """Random neighbours of a plan, biased toward what the current simulation says matters."""

    def __init__(
        self, wf: Workflow, sizes: tuple[int, ...], optimizations: tuple[str, ...], rng: random.Random
    ):
        self.wf = wf
        self.g = wf.graph
        self.sizes = sizes
        self.optimizations = optimizations
        self.rng = rng
        self.tasks = wf.topological_order()
        self.n_new = 0
        self.toggled: set[tuple[frozenset[str], str]] = set()
        self.rejected: set = set()  # keys of cost moves that did not pay (not proposed again)

    def _new_id(self, configs: dict[str, ResourceConfig]) -> str:
        used = {c.worker_id for c in configs.values()}
        while True:
            self.n_new += 1
            wid = f"s{self.n_new}"
            if wid not in used:
                return wid

    def _groups(self, configs: dict[str, ResourceConfig]) -> dict[str, list[str]]:
        workers: dict[str, list[str]] = {}
        for t in self.tasks:
            w = configs[t].worker_id
            if w is not None:
                workers.setdefault(w, []).append(t)
        return workers

    def structured(self, cur: Candidate, result: SimResult, mode: str, predictor) -> list:  # noqa: ANN001
        """Deterministic neighbours aimed at what the simulation shows: for makespan, the delays on the
        critical path (transfers, start-ups, shared CPUs, slow memory); for cost, big or idle workers."""
        out = []
        configs = cur.configs
        opts = cur.optimizations
        workers = self._groups(configs)
        info = result.output.tasks
        sizes = self.sizes

        def with_changes(changes: dict[str, ResourceConfig], label: str):
            new = dict(configs)
            new.update(changes)
            out.append((new, opts, label))

        def resize(task: str, memory: int, label: str):
            w = configs[task].worker_id
            group = workers[w] if w is not None else [task]
            with_changes({t: configs[t].with_memory(memory) for t in group}, label)

        # each optimization switched on or off alone: cheap to try, often worth more than any move
        # (the ones whose planning step simulates a lot, task-dup, come last)
        for name in sorted(self.optimizations, key=lambda n: (n in EXPENSIVE_OPTIMIZATIONS, n)):
            if (opts, name) not in self.toggled:  # once per set of switched-on optimizations
                self.toggled.add((opts, name))
                out.append((dict(configs), opts ^ {name}, "toggle"))
        if mode == "makespan":
            path = [t for t in result.output.critical_path if t in configs]  # copies are not planned
            waste = {}
            for t in path:
                ti = info[t]
                alone = predictor.exec_ms(self.wf, t, ti.memory_mb)
                waste[t] = ti.download_ms + ti.upload_ms + ti.worker_startup_ms + max(0.0, ti.exec_ms - alone)
            for t in sorted(path, key=lambda x: (-waste[x], x)):
                i = path.index(t)
                c = configs[t]
                if i > 0:
                    p = path[i - 1]
                    pw = configs[p].worker_id
                    if pw is not None and pw != c.worker_id:
                        with_changes({t: ResourceConfig(configs[p].memory_mb, pw)}, "colocate")
                    elif pw is None and c.worker_id is None:
                        new = self._new_id(configs)
                        with_changes(
                            {p: configs[p].with_worker(new), t: ResourceConfig(configs[p].memory_mb, new)},
                            "pin-pair",
                        )
                ti = info[t]
                if (
                    ti.exec_ms > 1.05 * predictor.exec_ms(self.wf, t, ti.memory_mb)
                    and c.worker_id is not None
                ):
                    with_changes({t: c.with_worker(self._new_id(configs))}, "isolate")
                bigger = [m for m in sizes if m > c.memory_mb]
                if bigger:
                    resize(t, bigger[0], "upsize")
        else:
            for move in cost_moves(configs, result.output, sizes, self.g, self._new_id):
                if (move.key, opts) not in self.rejected:
                    out.append((move.configs, opts, move.label, (move.key, opts)))
            busy = result.output.workers
            order = sorted(
                workers,
                key=lambda w: (
                    -(
                        busy.get(w, {}).get("memory_mb", 0)
                        * (busy.get(w, {}).get("end_ms", 0.0) - busy.get(w, {}).get("start_ms", 0.0))
                    )
                ),
            )
            # group downsizing first (group testing: one simulation for many workers): every worker off
            # the critical path, then each half of them by cost, one size down or to the smallest size
            critical = {configs[t].worker_id for t in result.output.critical_path if t in configs}
            off = [w for w in order if w not in critical and configs[workers[w][0]].memory_mb > sizes[0]]
            halves = [off, off[: len(off) // 2], off[len(off) // 2 :]] if len(off) > 1 else [off]
            for group in halves:
                for to_smallest in (False, True):
                    changes = {}
                    for w in group:
                        m = configs[workers[w][0]].memory_mb
                        smaller = [x for x in sizes if x < m]
                        target = smaller[0] if to_smallest else smaller[-1]
                        changes.update({t: configs[t].with_memory(target) for t in workers[w]})
                    if changes:
                        with_changes(changes, "downsize-group")
            for w in order:
                m = configs[workers[w][0]].memory_mb
                smaller = [x for x in sizes if x < m]
                if smaller:
                    resize(workers[w][0], smaller[-1], "downsize")
            for t in self.tasks:
                c = configs[t]
                if c.worker_id is None:
                    smaller = [x for x in sizes if x < c.memory_mb]
                    if smaller:
                        resize(t, smaller[-1], "downsize")
            pairs = []
            for u, v in sorted(self.g.edges):
                wu, wv = configs[u].worker_id, configs[v].worker_id
                if wu is not None and wv is not None and wu != wv and (wu, wv) not in pairs:
                    pairs.append((wu, wv))
            for wu, wv in pairs[:40]:
                m = configs[workers[wu][0]].memory_mb
                with_changes({t: ResourceConfig(m, wu) for t in workers[wv]}, "merge-adjacent")
        return out

    def propose(self, cur: Candidate, result: SimResult, objective: str):  # noqa: ANN201
        rng = self.rng
        if objective == "cost":  # fewer or smaller workers: no new workers, no splits
            kinds = ["move", "move", "merge", "merge", "resize"]
        else:
            kinds = ["move", "move", "merge", "split", "resize", "resize", "flex"]
        if self.optimizations:
            kinds.append("toggle")
        kind = rng.choice(kinds)
        configs = dict(cur.configs)
        opts = cur.optimizations
        workers: dict[str, list[str]] = {}
        for t in self.tasks:
            w = configs[t].worker_id
            if w is not None:
                workers.setdefault(w, []).append(t)
        critical = [t for t in result.output.critical_path if t in configs] or self.tasks
        focus_critical = objective == "makespan" or rng.random() < 0.3
        task = rng.choice(critical if focus_critical and rng.random() < 0.7 else self.tasks)

        if kind == "move":
            c = configs[task]
            neighbours = sorted(
                {configs[n].worker_id for n in (*self.g.predecessors(task), *self.g.successors(task))}
                - {None, c.worker_id}
            )
            r = rng.random()
            if neighbours and r < 0.6:
                target = rng.choice(neighbours)
            elif workers and (r < 0.8 or objective == "cost"):
                target = rng.choice(sorted(workers))
                if target == c.worker_id:
                    return None
            else:
                target = self._new_id(configs)
            memory = configs[workers[target][0]].memory_mb if target in workers else c.memory_mb
            configs[task] = ResourceConfig(memory, target)
            return configs, opts, "move"
        if kind == "merge":
            edges = [
                (u, v)
                for u, v in self.g.edges
                if configs[u].worker_id is not None
                and configs[v].worker_id is not None
                and configs[u].worker_id != configs[v].worker_id
            ]
            if not edges:
                return None
            u, v = rng.choice(sorted(edges))
            keep, gone = configs[u].worker_id, configs[v].worker_id
            if rng.random() < 0.5:
                keep, gone = gone, keep
            memory = configs[workers[keep][0]].memory_mb
            for t in workers[gone]:
                configs[t] = ResourceConfig(memory, keep)
            return configs, opts, "merge"
        if kind == "split":
            w = configs[task].worker_id
            if w is None or len(workers[w]) < 2:
                big = [x for x in sorted(workers) if len(workers[x]) >= 2]
                if not big:
                    return None
                w = rng.choice(big)
            members = workers[w]
            k = rng.randint(1, len(members) - 1)
            moved = rng.sample(members, k)
            new = self._new_id(configs)
            for t in moved:
                configs[t] = configs[t].with_worker(new)
            return configs, opts, "split"
        if kind == "resize":
            if len(self.sizes) < 2:
                return None
            c = configs[task]
            others = [m for m in self.sizes if m != c.memory_mb]
            if objective == "makespan":
                up = [m for m in others if m > c.memory_mb]
                others = up if up and rng.random() < 0.7 else others
            else:
                down = [m for m in others if m < c.memory_mb]
                others = down if down and rng.random() < 0.7 else others
            memory = rng.choice(others)
            group = workers[c.worker_id] if c.worker_id is not None else [task]
            for t in group:
                configs[t] = configs[t].with_memory(memory)
            return configs, opts, "resize"
        if kind == "flex":
            c = configs[task]
            if c.worker_id is not None:
                configs[task] = c.with_worker(None)  # run wherever the counters send it
                return configs, opts, "flex"
            parents = sorted({configs[p].worker_id for p in self.g.predecessors(task)} - {None})
            target = rng.choice(parents) if parents else self._new_id(configs)
            memory = configs[workers[target][0]].memory_mb if target in workers else c.memory_mb
            configs[task] = ResourceConfig(memory, target)
            return configs, opts, "pin"
        name = rng.choice(self.optimizations)
        return configs, opts ^ {name}, "toggle"
