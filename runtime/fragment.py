"""inline-plan fragments: the part of a plan that travels inside an invocation, made and read cheaply.

A fragment (:func:`~sim.worker.logic.plan_fragment` says which tasks) is made by the client for the
invocations it sends, and by workers for the invocations they send, while the run is under way: every
millisecond spent making, moving or reading one delays a worker's start. Measured on the 255-task sum
tree of ``benchmarks/bench_inline_plan.py`` (128 fragments of 15 tasks), the first design (one
cloudpickle ``Pickler`` and one custom ``Unpickler`` per task spec, base64 inside a JSON invocation)
cost the client 0.44 ms to make a fragment and 0.15 ms to encode its invocation (11 KB), and each worker
1.3 ms to read one: the client's last invocation left 200 ms after submission on a loaded host, and
real runs got slower while the simulator predicted a gain. Now a fragment is made in 0.01 ms and read
in 0.2 ms (4 KB).

What does not depend on the fragment is done once per run:

* each task becomes one **record** (its spec without the function, its function's key, its resource
  configuration, its children with the edge data and its parents), cloudpickled once: by the client
  for every task before the run starts (as it stores the whole plan), by a worker that holds the whole
  plan only for the tasks of the fragments it makes;
* each function is cloudpickled once per run and travels once per fragment that needs it (code is
  stored once per function, not per task); the task hints (a few distinct values) go in one table;
* the plan-wide facts (name, planner, SLA, optimizations, annotations, run meta) are pickled once.

A fragment is then a C ``pickle`` of those byte strings in topological order, plus the task-dup pairs
it contains, signed: making one is a sort and a memory copy. Reading one is one C ``pickle.loads`` per
record; functions are unpickled once per worker process and run (:data:`_FN_CACHE`), not once per
invocation. A worker that was started with a fragment keeps its records, so the fragments it makes for
the workers it invokes (always within its own, see ``plan_fragment``) cost it no more than the client.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections import OrderedDict
from typing import Any

import cloudpickle

from runtime import signing
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.workflow.dag import TaskCall, TaskSpec, Workflow

# The spec's fields except ``call`` (rebuilt from the function key and the arguments) and ``hints`` (one
# table per run: a few distinct values, and frozen dataclasses are slow to unpickle), in order.
_SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(TaskSpec) if f.name not in ("call", "hints"))
_FN_CACHE_SIZE = 256

# (run id, function blob) -> the function: a warm worker unpickles each function once per run.
_FN_CACHE: OrderedDict[tuple[str, bytes], Any] = OrderedDict()


class FragmentMaker:
    """Makes the signed fragments of one run's plan (client side, or a worker from its own fragment).

    Made from a plan, it makes each task's record when a fragment first needs it (a worker that holds
    the whole plan and invokes a few small fragments pays for those only); the client makes them all
    before the run starts (:meth:`make_all`). Made from a fragment, it has the records it received.
    """

    def __init__(
        self,
        run_id: str,
        head: bytes,
        records: dict[str, bytes],
        fn_of: dict[str, str],
        fn_blobs: dict[str, bytes],
        task_dup: tuple[tuple[str, str], ...],
        order: list[str],
    ) -> None:
        self.run_id = run_id
        self.head = head  # pickled plan-wide facts
        self.records = records  # task -> cloudpickled record
        self.fn_of = fn_of  # task -> key of its function ("" for none)
        self.fn_blobs = fn_blobs  # key -> cloudpickled function
        self.task_dup = task_dup
        self.topo_index = {t: i for i, t in enumerate(order)}  # a fragment's tasks keep this order
        self.plan: Plan | None = None  # records not made yet are made from it
        self._hints: dict[Any, int] = {}
        self._fn_keys: dict[int, str] = {}

    @classmethod
    def from_plan(cls, run_id: str, plan: Plan, meta: dict[str, Any], sinks_total: int) -> FragmentMaker:
        """A maker for ``plan``: the plan-wide facts now, the task records on demand."""
        wf = plan.workflow
        # prewarm is the client's business; task_dup pairs are cut per fragment
        ann = {k: v for k, v in plan.annotations.items() if k not in ("prewarm", "task_dup")}
        ann["sinks_total"] = sinks_total  # the logic's cleanup rule needs every sink, not the fragment's
        hints: dict[Any, int] = {}
        for spec in wf.tasks.values():
            hints.setdefault(spec.hints, len(hints))
        head = pickle.dumps(
            (wf.name, wf.params, plan.planner, plan.sla, plan.optimizations, ann, meta, tuple(hints)),
            protocol=5,
        )
        task_dup = tuple(plan.annotations.get("task_dup", ()))
        maker = cls(run_id, head, {}, {}, {}, task_dup, wf.topological_order())
        maker.plan, maker._hints = plan, hints
        return maker

    def make_all(self) -> FragmentMaker:
        """Make every task's record now (about 0.05 ms per task; the client, before the run starts)."""
        for t in self.topo_index:
            self._record(t)
        return self

    def _record(self, t: str) -> bytes:
        rec = self.records.get(t)
        if rec is not None:
            return rec
        if self.plan is None:
            raise KeyError(f"task {t!r} is not in this plan fragment")
        g = self.plan.workflow.graph
        spec: TaskSpec = g._node[t]["spec"]
        call = spec.call
        key = ""
        if call is not None:
            key = self._fn_keys.get(id(call.fn), "")
            if not key:
                key = self._fn_keys[id(call.fn)] = f"{spec.function}#{len(self._fn_keys)}"
                self.fn_blobs[key] = cloudpickle.dumps(call.fn, protocol=5)
        self.fn_of[t] = key
        cfg = self.plan.configs[t]
        rec = self.records[t] = cloudpickle.dumps(
            (
                tuple(getattr(spec, f) for f in _SPEC_FIELDS),
                self._hints[spec.hints],
                (key, call.args, call.kwargs) if call is not None else None,
                (cfg.memory_mb, cfg.worker_id),
                list(g._succ[t].items()),
                list(g._pred[t]),
            ),
            protocol=5,
        )
        return rec

    def dump(self, tasks: frozenset[str]) -> bytes:
        """The signed fragment of ``tasks``."""
        order = sorted(tasks, key=self.topo_index.__getitem__)
        recs = [self._record(t) for t in order]
        fns = {k: self.fn_blobs[k] for k in dict.fromkeys(self.fn_of[t] for t in order) if k}
        dup = tuple((t, p) for t, p in self.task_dup if t in tasks and p in tasks)
        body = (self.head, order, recs, fns, dup)
        return signing.sign(pickle.dumps(body, protocol=5), f"fragment:{self.run_id}")


def read_fragment(run_id: str, data: bytes) -> tuple[Plan, dict[str, Any], FragmentMaker]:
    """The plan restricted to a fragment's tasks, the run meta, and a maker for the fragments it invokes.

    The signature is checked before anything is unpickled. Parents and children keep their order (the
    logic breaks ties by it, e.g. which flexible child continues here); edges to tasks outside the
    fragment are left out, and each edge's data dict is shared by both ends, as networkx keeps it."""
    head, order, recs, fn_blobs, dup = pickle.loads(signing.verify(data, f"fragment:{run_id}"))
    name, params, planner, sla, optimizations, ann, meta, hints = pickle.loads(head)
    fns = {k: _function(run_id, blob) for k, blob in fn_blobs.items()}
    wf = Workflow(name, params)
    g = wf.graph
    inside = set(order)
    configs: dict[str, ResourceConfig] = {}
    fn_of: dict[str, str] = {}
    parents: dict[str, list[str]] = {}
    for t, blob in zip(order, recs, strict=True):
        values, hint, call, (memory_mb, worker_id), succ, pred = pickle.loads(blob)
        spec = TaskSpec(**dict(zip(_SPEC_FIELDS, values, strict=True)), hints=hints[hint])
        fn_of[t] = ""
        if call is not None:
            fn_of[t], args, kwargs = call
            spec.call = TaskCall(fns[fn_of[t]], args, kwargs)
        g._node[t] = {"spec": spec}
        g._succ[t] = {v: d for v, d in succ if v in inside}
        parents[t] = [u for u in pred if u in inside]
        configs[t] = ResourceConfig(memory_mb, worker_id)
    for t in order:
        g._pred[t] = {u: g._succ[u][t] for u in parents[t]}
    wf._topo = list(order)
    plan = Plan(wf, configs, planner, sla, optimizations, {**ann, "task_dup": dup})
    maker = FragmentMaker(
        run_id, head, dict(zip(order, recs, strict=True)), fn_of, dict(fn_blobs), dup, order
    )
    return plan, meta, maker


def _function(run_id: str, blob: bytes) -> Any:
    """A function of the run, unpickled once per worker process and run (functions are the costly part)."""
    key = (run_id, blob)
    fn = _FN_CACHE.get(key)
    if fn is None:
        fn = _FN_CACHE[key] = cloudpickle.loads(blob)
        while len(_FN_CACHE) > _FN_CACHE_SIZE:
            _FN_CACHE.popitem(last=False)
    return fn
