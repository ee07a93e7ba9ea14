"""The Predictor: performance models plus an SLA, asked about tasks of a workflow.

Planners and the simulator ask it the same questions, so a planner's view of a plan is exactly what the
simulator will play out. With a random generator it *samples* each duration from the models' residuals
instead (Monte-Carlo replications). A model that was never fitted has no residuals; it is given an
assumed log-normal spread (:data:`ASSUMED_SPREAD`) so that ``p95`` is more conservative than ``p50`` and
replications vary even before calibration.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable
from statistics import NormalDist

import numpy as np

from sim.models.performance import SLA, PerformanceModels
from sim.workflow.dag import ESTIMATED_OUTPUTS, Workflow, edge_dict


class WorkflowSizes:
    """Expected bytes of a workflow: what each task reads, writes, and reads from each parent.

    ``in_edges`` maps each task to a dict ``{parent: bytes}`` in the graph's order of its parents: the
    worker logic fetches a task's inputs from it in one pass. (A dict of strings and ints, not a tuple
    of pairs: such a dict is never tracked by the garbage collector, while each pair was one more object
    for its first scan after the simulation's construction -- some 44,000 at montage:tasks=10000.) The dict keyed by ``(parent, task)``
    pairs that planners look edges up in (:attr:`edge_bytes`) is built from it at first use: a
    simulation never needs it (at 100,000 tasks building it took a third of a second).
    """

    __slots__ = ("input_bytes", "output_bytes", "in_edges", "_edge_bytes")

    def __init__(
        self,
        input_bytes: dict[str, int],
        output_bytes: dict[str, int],
        in_edges: dict[str, dict[str, int]],
    ) -> None:
        self.input_bytes = input_bytes
        self.output_bytes = output_bytes
        self.in_edges = in_edges
        self._edge_bytes: dict[tuple[str, str], int] | None = None

    @property
    def edge_bytes(self) -> dict[tuple[str, str], int]:
        """Bytes per ``(parent, task)`` edge (built once, from :attr:`in_edges`)."""
        if self._edge_bytes is None:
            self._edge_bytes = edge_dict(self.in_edges)
        return self._edge_bytes


class WorkflowMemo:
    """What a :class:`Predictor` remembers about one workflow: its sizes and (for planners) the
    execution time of each ``(task, memory)``.

    Kept per workflow *object*, weakly: keyed by ``id(wf)`` the memory of a workflow that was freed went
    to the next one that happened to get its address, and a planner reused for another workflow
    planned it with the first one's sizes and times (the reference's exec-time cache key bug,
    ``reference/octoflows.md`` 9.4 #4).
    """

    __slots__ = ("workflow", "sizes", "exec_ms")

    def __init__(self, wf: Workflow) -> None:
        self.workflow = weakref.ref(wf)
        self.sizes: WorkflowSizes | None = None
        self.exec_ms: dict[tuple[str, int], float] = {}


class Predictor:
    """Predicted durations and sizes for tasks, at an SLA (or sampled, given ``rng``)."""

    def __init__(
        self,
        models: PerformanceModels | None = None,
        sla: SLA | str | None = None,
        rng: np.random.Generator | None = None,
        memo_exec: bool = True,
    ) -> None:
        self.models = models or PerformanceModels.default()
        self.sla = SLA.parse(sla)
        self.rng = rng
        self._workflows: weakref.WeakKeyDictionary[Workflow, WorkflowMemo] = weakref.WeakKeyDictionary()
        self._last: WorkflowMemo | None = None  # the workflow asked last: asked again, almost always
        # Deterministic predictions are asked again and again (planners simulate many candidate plans):
        # memoise them. Sampled ones (rng given) must not be.
        self._memo: dict[tuple, float] | None = {} if rng is None else None
        # Execution times are asked once per task and memory size: memoising them only pays when the
        # predictor outlives one simulation (a planner's). A simulation's own predictor turns it off
        # (``memo_exec=False``): a key tuple and an entry per task, never read again.
        self._memo_exec = memo_exec and rng is None
        # The deterministic factor of an execution time with no fitted residuals (one per SLA: the
        # ``_memo`` entry ``("spread", sigma)``), kept at hand: it multiplies every task's time.
        self._exec_spread: float | None = None

    def sizes(self, wf: Workflow) -> WorkflowSizes:
        """Expected sizes: an edge with no recorded size carries the producer's predicted output; a task's
        output is its recorded size, else its declared I/O relation, else the model. Cached per workflow."""
        memo = self.memo(wf)
        if memo.sizes is None:
            if wf.meta.get(ESTIMATED_OUTPUTS) and self.models.output:
                memo.sizes = self._walk_sizes(wf, wf.topological_order(), reestimate=True)
            else:
                memo.sizes = self._walk_sizes(wf, size_order(wf))
        return memo.sizes

    def memo(self, wf: Workflow) -> WorkflowMemo:
        """This predictor's :class:`WorkflowMemo` of ``wf`` (the same object while ``wf`` lives)."""
        last = self._last
        if last is not None and last.workflow() is wf:
            return last
        memo = self._workflows.get(wf)
        if memo is None:
            memo = self._workflows[wf] = WorkflowMemo(wf)
        self._last = memo
        return memo

    def _walk_sizes(self, wf: Workflow, order: Iterable[str], reestimate: bool = False) -> WorkflowSizes:
        """:meth:`sizes`, reading the tasks in ``order`` (each producer before its consumers, unless its
        output is recorded).

        ``reestimate``: the workflow's output sizes are estimates made before any run
        (:data:`~sim.workflow.dag.ESTIMATED_OUTPUTS`, a known type's instance), so a function with a
        fitted output model gets the model's size instead, and the edges it feeds are scaled alike
        (``order`` must then be topological). A recorded size is a fact, an estimate only a start:
        wordcount's long instance estimates 400 kB per count table, the real runs wrote 243-331 kB, and
        merge_counts, fitted on inputs of 339-486 kB, was then asked for 800 kB (with a fitted input
        exponent of 4: 150 ms predicted for calls of 3-45 ms)."""
        g = wf.graph
        node, pred = g._node, g._pred  # networkx's own dicts: this loop runs once per edge of large workflows
        inputs: dict[str, int] = {}
        outputs: dict[str, int] = {}
        in_edges: dict[str, dict[str, int]] = {}
        output_model = self.models.output_bytes
        fitted = self.models.output if reestimate else {}
        scale: dict[str, float] = {}  # a re-estimated producer -> its predicted / estimated output
        for t in order:
            spec = node[t]["spec"]
            total = spec.inline_bytes + spec.stored_input_bytes
            edges: dict[str, int] = {}
            for p, data in pred[t].items():
                b = data.get("bytes") or 0
                if b == 0 and node[p]["spec"].output_bytes is None:
                    b = outputs[p]
                edges[p] = b
                total += b
            if scale:  # (per task, not per edge: the plain walk pays one test)
                for p in edges.keys() & scale.keys():
                    b = round(edges[p] * scale[p])
                    total += b - edges[p]
                    edges[p] = b
            in_edges[t] = edges
            inputs[t] = total
            estimate = spec.output_bytes
            if estimate is not None and (not reestimate or spec.function not in fitted):
                outputs[t] = int(estimate)
            else:
                outputs[t] = int(output_model(spec.function, total, spec.hints.io))
                if estimate:
                    scale[t] = outputs[t] / estimate
        return WorkflowSizes(inputs, outputs, in_edges)

    def _factor(self, residuals, sigma: float) -> float:  # noqa: ANN001 - Residuals
        """Multiplier on a median prediction: from the fit's residuals, or, for a model nobody fitted,
        from an assumed log-normal spread ``sigma`` (so SLA percentiles and replications still mean
        something before calibration)."""
        if residuals is not None and residuals.values:
            return residuals.sample(self.rng) if self.rng is not None else residuals.factor(self.sla)
        if self.rng is not None:
            return math.exp(self.rng.normal(0.0, sigma))
        key = ("spread", sigma)  # deterministic: one value per spread and SLA (memo is on without rng)
        value = self._memo.get(key)
        if value is None:
            q = self.sla.quantile
            if q is None:
                value = math.exp(sigma * sigma / 2)  # mean of a log-normal with median 1
            else:
                value = math.exp(sigma * _normal_ppf(q))
            self._memo[key] = value
        return value

    def exec_ms(self, wf: Workflow, task_id: str, memory_mb: int) -> float:
        if self._memo_exec:
            last = self._last  # (memo()'s first test, inline: this is asked once per task per simulation)
            memo = last.exec_ms if last is not None and last.workflow() is wf else self.memo(wf).exec_ms
            key = (task_id, memory_mb)
            value = memo.get(key)
            if value is None:
                value = memo[key] = self._exec_ms(wf, task_id, memory_mb)
            return value
        return self._exec_ms(wf, task_id, memory_mb)

    def _exec_ms(self, wf: Workflow, task_id: str, memory_mb: int) -> float:
        node = wf.graph._node.get(task_id)  # networkx's own dict: asked once per task and memory size
        spec = node["spec"] if node is not None else wf.task(task_id)
        last = self._last  # (sizes()'s memo, inline: this is asked once per task per simulation)
        sizes = last.sizes if last is not None and last.workflow() is wf else None
        if sizes is None:
            sizes = self.sizes(wf)
        in_bytes = sizes.input_bytes[task_id]
        m = self.models
        model = m.exec.get(spec.function)
        # the residuals of this input size and memory (ExecModel.residuals_for), as PerformanceModels does
        residuals = model.residuals_for(memory_mb, in_bytes) if model is not None else None
        if residuals is not None and residuals.values:
            return model.median_ms(in_bytes, memory_mb) * self._factor(residuals, ASSUMED_SPREAD["exec"])
        median = m.exec_ms(spec.function, in_bytes, memory_mb, recorded_ms=spec.runtime_ms)  # the median
        if self.rng is not None:
            return median * self._factor(None, ASSUMED_SPREAD["exec"])  # a draw per call
        spread = self._exec_spread
        if spread is None:
            spread = self._exec_spread = self._factor(None, ASSUMED_SPREAD["exec"])
        return median * spread

    def transfer_ms(self, nbytes: float, memory_mb: int, upload: bool = False) -> float:
        if nbytes <= 0:
            return 0.0
        memo = self._memo
        if memo is not None:
            key = ("u" if upload else "t", nbytes, memory_mb)
            value = memo.get(key)
            if value is None:
                value = memo[key] = self._transfer_ms(nbytes, memory_mb, upload)
            return value
        return self._transfer_ms(nbytes, memory_mb, upload)

    def _transfer_ms(self, nbytes: float, memory_mb: int, upload: bool) -> float:
        t = self.models.transfer
        return t.median_ms(nbytes, memory_mb, upload) * self._factor(
            t.residuals_for(nbytes), ASSUMED_SPREAD["transfer"]
        )

    def startup_ms(self, memory_mb: int, state: str) -> float:
        memo = self._memo
        if memo is not None:
            key = ("s", memory_mb, state)
            value = memo.get(key)
            if value is None:
                value = memo[key] = self._startup_ms(memory_mb, state)
            return value
        return self._startup_ms(memory_mb, state)

    def _startup_ms(self, memory_mb: int, state: str) -> float:
        s = self.models.startup
        return s.median_ms(memory_mb, state) * self._factor(s.residuals(state), ASSUMED_SPREAD["startup"])


def size_order(wf: Workflow) -> Iterable[str]:
    """The order :meth:`Predictor.sizes` reads tasks in. With every output recorded no size depends on
    another task's, and the tasks are read in the order networkx stores them: the order their dicts
    were allocated in, so memory is read mostly in sequence. A topological walk jumps between them, and
    at 10,000 tasks and more those jumps miss the CPU caches (about 1 us per task at 10,000 tasks, 0.2 us
    at 1,000). Otherwise topological, so that a producer's modelled output is known before its
    consumers read it."""
    g = wf.graph
    if all(d["spec"].output_bytes is not None for d in g._node.values()):
        return g._pred
    return wf.topological_order()


# Log-normal spread (sigma of log time) assumed for models without fitted residuals.
ASSUMED_SPREAD = {"exec": 0.2, "transfer": 0.3, "startup": 0.15}


_STANDARD_NORMAL = NormalDist()


def _normal_ppf(q: float) -> float:
    """The standard normal quantile. The standard library's (Wichura's AS241, to ~1e-16) rather than
    scipy.stats.norm: importing scipy.stats took 0.9 s, paid by the first pNN SLA of every command."""
    return _STANDARD_NORMAL.inv_cdf(min(max(q, 1e-6), 1 - 1e-6))
