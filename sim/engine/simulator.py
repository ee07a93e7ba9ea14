"""The SimPy driver of the worker logic: ``mock_execute_branch`` and the simulated platform.

The driver does not decide anything. It runs the generators of :mod:`sim.worker.logic` and turns each
effect they yield into timed SimPy events:

=============  ==================================================================================
effect         simulated as
=============  ==================================================================================
Fetch          parallel transfers from the store (transfer model at the worker's memory); done at
               the slowest one
               (an output being streamed: one chunk's transfer after its writer's end, at the least),
               then the values' unpickling (``Platform.load_ms_per_mb``)
Execute        processor-shared work on the worker's CPUs (execution model), then the output's
               pickling (``Platform.dump_ms_per_mb``)
Store          one transfer to the store
Incr, Claim    one store round trip; the store applies them atomically when asked
MarkReady,     one store round trip, then the ready flag is set and waiters wake
Complete
Invoke         one store round trip for the caller (the runtime's one Lua call); each target starts
               the invocation latency later: it gets a container from the pool (cold or warm start),
               gets its plan (a GET of the whole plan, once per container, and its load; an
               inline-plan fragment is only loaded) and runs its worker lifecycle
Spawn / Join   concurrent branches on the same worker (driven by event callbacks) / waiting for them
WaitReady      the task's ready event (already set: no wait)
=============  ==================================================================================

Everything is deterministic for a given seed; with ``sample=True`` durations are drawn from the models'
residuals (Monte-Carlo replications).

A plan with dynamic fan-outs is simulated at their expected widths (:func:`expand_plan`): the workflow is
expanded ahead of the run by the same function the worker logic expands with at run time, so the logic
meets the very graph a real run of that width builds; ``Expand`` never reaches this driver.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from functools import partial
from heapq import heappush
from operator import itemgetter
from typing import Any

import numpy as np
import simpy
from simpy.events import NORMAL

from sim.engine import clock
from sim.engine.cpu import SharedCpu
from sim.engine.gcpause import paused_gc
from sim.engine.platform import Platform, load_platform
from sim.engine.pool import Container, ContainerPool
from sim.engine.traces import TaskTrace, TraceTable
from sim.models.performance import PerformanceModels
from sim.models.plan import Deferred, Plan, PlanningTaskInfo, PlanOutput
from sim.models.predictor import Predictor, WorkflowSizes
from sim.models.records import RunRecord, TaskRecord, Transfer, WorkerRecord
from sim.models.resources import cpus_for_memory, expansion_config
from sim.worker import effects as fx
from sim.worker.logic import (
    ASYNC_UPLOAD,
    CLUSTERING,
    PRELOAD,
    TASK_DUP,
    PlanView,
    WorkerState,
    start_worker_lifecycle,
    submit_workflow,
    workflow_shape,
)
from sim.workflow import dynamic


class ContainerCapDeadlock(RuntimeError, ValueError):
    """The run cannot finish on this platform: every container at its ``max_containers`` cap is held by
    a planned worker waiting for outputs that workers still queued for a container would produce. A
    RuntimeError (planners' searches drop such a candidate plan) and a ValueError (the CLI's one error
    line: it is the user's platform and plan, not a fault of the simulator)."""


@dataclass(slots=True)
class SimWorker:
    """A simulated worker: the logic's state while it runs, plus its CPUs and container.

    ``state`` is dropped (None) when the worker ends: the logic no longer needs it, and a run keeps
    thousands of ended workers whose sets would otherwise stay in memory for the garbage collector to
    scan. ``name`` and ``memory_mb`` stay.
    """

    name: str
    memory_mb: int
    state: WorkerState | None
    cpu: SharedCpu | None
    started_ms: float
    # Released when the worker ends. (Before the fields with defaults: made with positional arguments
    # only, as a keyword would cost a dict per worker.)
    container: Container | None
    startup_state: str | None = None
    startup_ms: float = 0.0  # from the request (``started_ms``) to its first task, queueing included
    queued_ms: float = 0.0  # of which waiting for a container at the platform's cap: not billed
    tasks_run: int = 0  # tasks it started (which ones: the run's trace table, by worker)
    dispatch_free: float = 0.0  # when its event loop can hand the next task to a thread
    # Functions it has executed (their first call is done); only kept when some function's first call
    # costs extra (most models have none: then thousands of workers need no set each).
    called: set[str] | None = None
    branches: int = 0  # generators of the logic running on it now
    ended_ms: float | None = None  # when its last branch ended (None: still running at the run's end)


@dataclass(slots=True)
class SimResult:
    """Everything one simulated run produced."""

    plan: Plan
    output: PlanOutput
    table: TraceTable  # what each task did, as columns (read it as traces and labelled)
    workers: dict[str, SimWorker]
    invocations: list[fx.Invocation]
    uploaded: list[str]
    run_id: str = "sim"
    _views: tuple[dict[str, TaskTrace], dict[str, TaskTrace]] | None = field(default=None, repr=False)

    @property
    def traces(self) -> dict[str, TaskTrace]:
        """Each task's own run, in the order the tasks started (built from :attr:`table` when first read)."""
        if self._views is None:
            self._views = self.table.traces()
        return self._views[0]

    @property
    def labelled(self) -> dict[str, TaskTrace]:
        """Preloads' and duplicates' runs, by ``"{task}@{label}:{worker}"``."""
        if self._views is None:
            self._views = self.table.traces()
        return self._views[1]

    def records(self, run_id: str | None = None) -> list[TaskRecord | WorkerRecord | RunRecord]:
        """The shared metric records of this run (the same schema the runtime writes)."""
        run_id = run_id or self.run_id
        out = self.output
        wf = self.plan.workflow
        recs: list[Any] = []
        for t, tr in self.traces.items():
            info = out.tasks[t]
            recs.append(
                TaskRecord(
                    run_id=run_id,
                    workflow_type=out.workflow_type,
                    planner=out.planner,
                    function=(spec := wf.task(t)).function,
                    task_id=t,
                    worker_id=tr.worker,
                    memory_mb=tr.memory_mb,
                    cpus=cpus_for_memory(tr.memory_mb),
                    input_bytes=info.input_bytes,
                    output_bytes=info.output_bytes,
                    exec_ms=tr.exec_ms,
                    downloads=[Transfer(b, ms) for b, ms in tr.downloads],
                    upload=Transfer(*tr.upload) if tr.upload else None,
                    start_ms=tr.start_ms,
                    end_ms=tr.end_ms,
                    extra={"source": "sim", "platform": out.platform, **dynamic.record_extra(spec)},
                )
            )
        for name, w in self.workers.items():
            recs.append(
                WorkerRecord(
                    run_id=run_id,
                    worker_id=name,
                    memory_mb=w.memory_mb,
                    state=w.startup_state or "warm",
                    startup_ms=w.startup_ms,
                    # as the runtime's records say it: the part of startup_ms spent waiting at the cap
                    extra={"source": "sim", "queued_ms": w.queued_ms} if w.queued_ms else {"source": "sim"},
                )
            )
        recs.append(
            RunRecord(
                run_id=run_id,
                workflow_type=out.workflow_type,
                planner=out.planner,
                sla=out.sla,
                makespan_ms=out.makespan_ms,
                extra={"source": "sim", "workflow": out.workflow},
            )
        )
        return recs


def _call_after(event: clock.Timer, call, arg) -> None:  # noqa: ANN001 - a one-argument callable
    """Call ``call(arg)`` when ``event`` fires. A function of its own: a hot method that built this
    closure itself would pay for its captured variables' cells on every call, closure or not."""
    event.callbacks.append(lambda _e: call(arg))


_NO_SIZES: dict[int, float] = {}  # (never written: see Simulation._fetch)


class _FetchThenExecute:
    """What ``Simulation._fetch`` answers when a task's fetch and execution are timed as one step (see
    :meth:`Simulation._fetch`): the branch goes on to the ``Execute`` at once, with the fetch's end."""


class _ExecuteThenStore:
    """What ``Simulation._execute`` answers when the upload that may follow an execution can be timed
    with it (see :meth:`_Branch.then_store`): the execution's end and the output's size come with it."""


class _Pending:
    """A branch's value while it waits with the logic's next effect already taken (:attr:`_Branch.pending`)."""


_PENDING: Any = _Pending()


class _Branch:
    """One generator of the worker logic, driven by the SimPy events it waits for.

    A leaner stand-in for a SimPy process: the wait event's callback resumes the generator directly,
    with no process object, start-up event or end event of its own (only a :class:`Spawn`'s handle,
    which a :class:`Join` may wait for, is triggered at the end). Events fire in the same order.

    An effect that is only a wait until a known time (a performer answers a time, not an event:
    transfers, executions, store round trips, invocation latency -- about three per task) makes the
    branch its own timer: it is queued as the event, with the key a :class:`~sim.engine.clock.Timer`
    made at that moment would have had, so nothing is allocated for the wait but its callback list.
    A store round trip (:data:`ROUND_TRIP`, one or two per task) is that wait on the environment's delay
    line, whose fixed delay is the store's latency (see :mod:`sim.engine.clock`).
    """

    __slots__ = (
        "perform",
        "gen",
        "worker",
        "value",
        "handle",
        "then",
        "callbacks",
        "queue",
        "eid",
        "clock",
        "pending",
    )
    _ok = True  # what the event loop reads of a fired event (see sim.engine.clock)

    def __init__(
        self,
        perform: dict,
        gen,  # noqa: ANN001
        worker: SimWorker | None,
        handle: simpy.Event | None,
        then,  # noqa: ANN001
        clock_: clock.Clock,
    ) -> None:
        self.perform = perform
        self.gen = gen
        self.worker = worker
        self.value: Any = None
        self.handle = handle
        self.then = then
        self.callbacks: list | tuple | None = None
        self.queue, self.eid, self.clock = clock_.queue, clock_.eid, clock_
        self.pending: Any = None  # the logic's next effect, taken ahead of its time (see then_store)
        if worker is not None:
            worker.branches += 1

    def resume(self, _event: simpy.Event | None = None) -> None:
        perform, gen, worker, send = self.perform, self.gen, self.worker, self.value
        while True:
            if send is _PENDING:  # the effect taken ahead (see then_store), now that its time has come
                effect = self.pending
                self.pending = None
                if effect is None:  # (the branch had ended)
                    break
            else:
                try:
                    effect = gen.send(send)
                except StopIteration:
                    break
            wait, send = perform[type(effect)](effect, worker)
            if wait is _FetchThenExecute:  # send is when the fetch ends; the logic's Execute is next
                wait, send = perform[_FetchThenExecute](gen.send(None), worker, send)
            if wait is _ExecuteThenStore:  # send: when the execution ends, and the output's size
                self.then_store(*send)
                return
            if wait is None:
                continue
            if wait is ROUND_TRIP:  # on the delay line (Clock.after_line, inline: once per task)
                self.value = send
                self.callbacks = _RESUME
                env = self.clock.env
                self.clock.line.append((env._now + env.line_delay, NORMAL, next(self.eid), self))
                return
            kind = type(wait)
            if kind is float or kind is int:  # a time: wait until then, queued as a timer made now
                self.value = send
                self.callbacks = _RESUME  # (one tuple for every branch: no list, no bound method per wait)
                heappush(self.queue, (wait, NORMAL, next(self.eid), self))
                return
            if wait.callbacks is not None:  # (else a processed event: go on at once)
                self.value = send
                wait.callbacks.append(self.resume)
                return
        if worker is not None:
            worker.branches -= 1
        if self.handle is not None:
            self.handle.succeed()
        if self.then is not None:
            self.then(worker)

    def then_store(self, end: float, out: int) -> None:
        """The branch's task executes until ``end`` and outputs ``out`` bytes; take the logic's next
        effect now. An upload is timed from ``end`` at once, so the branch wakes when it has ended: one
        queue entry instead of one for the execution and one for the upload (about 9,000 machine
        instructions each, a twentieth of a simulated task). Anything else is performed at ``end``.

        The driver asks this only of a branch running alone on its worker, whose steps between the two
        effects touch only its own worker's state (see ``Simulation._execute``); the upload is recorded
        under the key the execution's own timer would have had (its place in ``uploaded``). As with a
        fetch and execution timed as one, only an event of another task at the very same end time
        could now come after the branch rather than before."""
        try:
            effect = self.gen.send(out)
        except StopIteration:
            effect = None
        eid = next(self.eid)
        if type(effect) is fx.Store and not effect.stream:
            self.value = None
            # (Simulation._upload, timed from the execution's end, under its timer's key)
            wait = self.perform[_ExecuteThenStore](effect, self.worker, end, (end, NORMAL, eid))[0]
        else:
            self.value = _PENDING
            self.pending = effect
            wait = end
        self.callbacks = _RESUME
        heappush(self.queue, (wait, NORMAL, eid, self))


# A queued branch's callbacks: the event loop calls ``callback(event)``, and the event is the branch.
_RESUME = (_Branch.resume,)


class _RoundTrip:
    """What a performer answers for a wait of one store round trip: the branch queues itself on the
    environment's delay line, whose delay is the store's latency (see :mod:`sim.engine.clock`)."""


ROUND_TRIP: Any = _RoundTrip()


class Simulation:
    """One simulated run of a plan on a platform."""

    def __init__(
        self,
        plan: Plan,
        platform: Platform | str | None = None,
        models: PerformanceModels | None = None,
        seed: int = 0,
        sample: bool = False,
        predictor: Predictor | None = None,
        widths: dict[str, int] | None = None,
    ) -> None:
        with paused_gc():  # the per-task facts below are many small objects (see sim.engine.gcpause)
            plan = expand_plan(plan, widths)
            self.plan = plan
            self.wf = plan.workflow
            self.platform = load_platform(platform)
            rng = np.random.default_rng(seed) if sample else None
            # A predictor of its own lives for this run only: no memo of per-task execution times.
            self.predictor = predictor or Predictor(models, plan.sla, rng=rng, memo_exec=False)
            sizes = self.predictor.sizes(self.wf)
            self.sizes = sizes
            self.view = PlanView(plan, sizes.in_edges, sizes.output_bytes)
        self.specs = self.wf.tasks
        # (the store's round trips wait on the environment's delay line: see _Branch)
        self.env = clock.Environment(line_delay=self.platform.store_latency_ms)
        self.clock = clock.Clock(self.env)
        p = self.platform
        self.pool = ContainerPool(self.env, p.keep_alive_ms, p.max_containers)
        # The store's dependency counters: key -> the parents counted (as dict keys, in the order they
        # came: a dict of strings and None is never tracked by the garbage collector, a set always is,
        # and some 9,000 survive a montage:tasks=10000 run to its end-of-run scan).
        self.counters: dict[str, dict[str, None]] = {}
        self.stored: dict[str, simpy.Event] = {}  # outputs waited for, not yet stored
        self.stored_done: set[str] = set()
        self.streaming: dict[str, float] = {}
        self.cleaned_at: float | None = None
        self.claims: set[str] = set()
        self.ready: dict[str, simpy.Event] = {}  # tasks waited for, not yet ready
        self.ready_flags: set[str] = set()
        self.table = TraceTable(len(self.wf))
        self.workers: dict[str, SimWorker] = {}
        self.invocations: list[fx.Invocation] = []
        # (place of the event that started the upload, task): sorted by place, the order uploads started in
        self.uploaded: list[tuple[tuple, str]] = []
        self.sink_done: dict[str, float] = {}
        self.store_ops = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.active_transfers = 0
        self._flex = 0
        self._plan_loaded: set[int] = set()  # containers that fetched the whole plan (cached for the run)
        self._serial_free = 0.0  # when the engine's serial stage of cold starts is free again
        # These optimizations let a flexible worker run several tasks at once.
        self._flexible_forks = bool(self.view.opts & {CLUSTERING, ASYNC_UPLOAD})
        # Whether a planned / a flexible worker shares its CPUs among its tasks (asked once per worker).
        self._planned_share = bool(p.cpu_sharing)
        self._flexible_share = bool(p.cpu_sharing and self._flexible_forks)
        self._handlers = fx.bind_performers(self)
        self._handlers[_FetchThenExecute] = self._execute_after_fetch
        self._handlers[_ExecuteThenStore] = self._upload
        # Whether any function's first call on a worker costs extra (else workers track no calls).
        self._first_calls = any(m.first_call_ms for m in self.predictor.models.exec.values())
        # Only a bandwidth cap makes a transfer's time depend on the others in flight; without one, and
        # with deterministic durations, a transfer's time depends on its size and memory alone.
        self._counts_transfers = p.bandwidth_cap_bytes_per_ms is not None
        deterministic = self.predictor.rng is None
        # memory size -> bytes -> ms: one small dict per memory size, looked up by an int (no key tuple)
        self._transfer_cache: dict[int, dict[int, float]] | None = (
            {} if deterministic and not self._counts_transfers else None
        )
        self._upload_cache = None if self._transfer_cache is None else {}  # the same, of uploads
        # A task's fetch and execution may be timed as one step (see _fetch) when both durations are
        # known up front: no sampling (its draws would come in another order), no shared bandwidth.
        self._merge_fetch_execute = self._transfer_cache is not None
        self._starts: deque = deque()
        # Worker starts requested one after the other wait out the invocation latency in one queue entry
        # (see _start_worker); [fire time, id of the last one, its (id, invocation) list].
        self._batch_starts = True
        self._start_batch: list | None = None
        self._store_latency = p.store_latency_ms
        # A store round trip's wait (see _Branch), or None with no latency (no wait)
        self._round_trip_wait = ROUND_TRIP if p.store_latency_ms > 0 else None
        # CPU ms per byte of unpickling fetched values / pickling an output at one CPU (0: free)
        self._load_per_byte = p.load_ms_per_mb / 1e6
        self._dump_per_byte = p.dump_ms_per_mb / 1e6
        # Only preloads and task-dup wait for an output to be stored: without them, stores are not tracked.
        self._waits_stored = bool(self.view.opts & {PRELOAD, TASK_DUP})
        # An execution and the upload after it may be timed as one step (see _Branch.then_store) on the
        # terms of a fetch and execution, when no branch waits for a stored output.
        self._merge_execute_store = self._merge_fetch_execute and not self._waits_stored

    # -- the driver -------------------------------------------------------------------------------------
    def mock_execute_branch(
        self,
        branch,
        worker: SimWorker | None,
        handle: simpy.Event | None = None,
        then=None,  # noqa: ANN001
    ) -> None:
        """Run one generator of the worker logic under SimPy: perform each effect, send back results.

        The branch starts with the next batch of starts (see :meth:`_soon`), like a SimPy process. At its
        end ``handle`` (a :class:`Spawn`'s handle) succeeds and ``then(worker)`` is called.
        """
        self._soon(_Branch(self._handlers, branch, worker, handle, then, self.clock).resume)

    def _soon(self, start) -> None:  # noqa: ANN001 - callable or Invocation
        """Call ``start()`` at the current time, before any other event of this time, in FIFO order (an
        :class:`~sim.worker.effects.Invocation` is queued as itself and started with
        :meth:`_start_worker`: no callable built per invocation).

        This is exactly when SimPy would run a new process (its ``Initialize`` event is urgent), but
        one urgent event serves every start queued at the same moment instead of one event each.
        """
        self._starts.append(start)
        if len(self._starts) == 1:
            self.clock.urgent().callbacks.append(self._run_starts)

    def _run_starts(self, _event: simpy.Event) -> None:
        starts = self._starts
        invocation = fx.Invocation
        while starts:
            # A start may queue more starts: they run in this same batch, in order.
            start = starts[0]
            if type(start) is invocation:
                self._start_worker(start)
            else:
                start()
            starts.popleft()

    def run(self, until: float | None = None) -> SimResult:
        with paused_gc():  # see sim.engine.gcpause
            self.mock_execute_branch(submit_workflow(self.view), None)
            if until is None:
                try:
                    clock.run(self.env)
                finally:
                    # Nothing is left to perform (or the run failed). The effect table's bound
                    # methods are the simulation's main reference cycle: without them, a result the
                    # caller drops is freed at once by reference counting.
                    self._handlers.clear()
            else:
                self.env.run(until=until)
                self.env.current = None
            # The uploads in the order they started, while the collector is still paused: their
            # (place, task) pairs, 20,000 tuples at 10,000 tasks, are freed before its first scan after
            # the pause, which otherwise walked them with the run's survivors. That scan's time grows
            # faster than the task count (it chases pointers all over the heap); without the pairs it
            # took 13 instead of 25 ms of a 390 ms montage:tasks=10000 run (49 instead of 81 at 30,000).
            self.uploaded.sort(key=itemgetter(0))  # (stable: uploads started by one event stay in order)
            uploaded = [task for _, task in self.uploaded]
            self.uploaded = []
        missing = sorted(
            t for t in self.view.sinks if t not in self.sink_done
        )  # (sorted: named alike every run)
        if missing:
            ran = f"{len(self.table.rows)}/{len(self.wf)} tasks ran"
            stuck = len(self.pool.waiting)
            if stuck:
                # Planned workers keep their containers while they wait for other workers' outputs: at
                # the cap, the workers that would produce them can never start.
                raise ContainerCapDeadlock(
                    f"simulation ended before sink {missing[0]!r} completed: {stuck} worker(s) still waited "
                    f"for a container at the platform's cap of {self.pool.max_containers}, all held by "
                    f"workers waiting for their inputs ({ran}); raise max_containers or plan fewer workers"
                )
            raise RuntimeError(
                f"simulation ended before sink {missing[0]!r} completed: the plan leaves it unreachable ({ran})"
            )
        return SimResult(self.plan, self._output(), self.table, self.workers, self.invocations, uploaded)

    # -- effects ----------------------------------------------------------------------------------------
    def _trace(self, task: str, worker: SimWorker, label: str | None = None) -> int:
        """The row of ``task``'s run on ``worker`` in :attr:`table`, added when it starts."""
        table = self.table
        if label is not None:  # preloads and duplicates are kept apart from the task's own run
            key = f"{task}@{label}:{worker.name}"
            row = table.labelled_rows.get(key)
            if row is None:
                row = table.labelled_rows[key] = table.add(worker.name, worker.memory_mb, self.env._now)
            return row
        row = table.rows.get(task)
        if row is None:
            row = table.rows[task] = table.add(worker.name, worker.memory_mb, self.env._now)
            if not worker.tasks_run:
                table.startup_state[row], table.startup_ms[row] = worker.startup_state, worker.startup_ms
            worker.tasks_run += 1
        return row

    def _transfer_ms(self, nbytes: int, memory_mb: int, upload: bool = False) -> float:
        cache = self._upload_cache if upload else self._transfer_cache
        if cache is not None:
            by_size = cache.get(memory_mb)
            if by_size is None:
                by_size = cache[memory_mb] = {}
            ms = by_size.get(nbytes)
            if ms is None:
                ms = by_size[nbytes] = self._new_transfer_ms(nbytes, memory_mb, upload)
            return ms
        return self._new_transfer_ms(nbytes, memory_mb, upload)

    def _new_transfer_ms(self, nbytes: int, memory_mb: int, upload: bool = False) -> float:
        if not self.platform.transfers or nbytes <= 0:
            return 0.0
        ms = self.predictor.transfer_ms(nbytes, memory_mb, upload)
        cap = self.platform.bandwidth_cap_bytes_per_ms
        if cap is not None:
            # Approximation: the share of the cap at the start of the transfer holds throughout.
            ms = max(ms, nbytes * (self.active_transfers + 1) / cap)
        return ms

    def _fetch(self, e: fx.Fetch, w: SimWorker):
        table = self.table
        row = table.rows.get(e.task) if e.label is None else None
        if row is None:
            row = self._trace(e.task, w, e.label)
        mem = w.memory_mb
        longest = 0.0
        now = self.env._now
        streaming = self.streaming
        log = table.download_log.extend
        total = 0
        cache = self._transfer_cache
        # (no sizes cached yet, or no cache: an empty dict, so that the loop asks without a test)
        by_size = (cache.get(mem) if cache is not None else None) or _NO_SIZES
        for key, nbytes in e.items:
            ms = by_size.get(nbytes)
            if ms is None:
                ms = self._transfer_ms(nbytes, mem)
            if streaming:
                stream_end = streaming.get(key)
                if stream_end is not None and stream_end > now:
                    # Reading the chunks as the producer writes them (the runtime's streamed Fetch): done when
                    # the writing is done plus the read of the last chunk, or at its own pace if that is slower.
                    ms = max(
                        ms, stream_end - now + self._transfer_ms(min(nbytes, fx.STREAM_CHUNK_BYTES), mem)
                    )
            log((row, nbytes, ms))  # (one call, not three appends)
            total += nbytes
            if ms > longest:
                longest = ms
        table.download_bytes[row] += total
        self.bytes_down += total
        self.store_ops += 1
        table.download_ms[row] = longest
        if self._load_per_byte:  # the values' unpickling follows the transfers (not part of their time)
            load = self._pickling_ms(self._load_per_byte * total, mem)
            if self._counts_transfers and longest > 0 and load > 0:
                # CPU work, not a transfer: the transfers leave the bandwidth cap's count when they end
                self._transfer_wait(longest, len(e.items))
                return self.env._now + longest + load, None
            longest += load
        if e.then_execute and longest > 0 and w.cpu is None and w.branches == 1 and self._merge_fetch_execute:
            # One timer for the fetch and the execution that follows it, instead of one each: the
            # logic's steps between them touch only this worker's state, which no other branch reads
            # (it runs alone here), and the execution's time depends on neither the clock nor the other
            # tasks (no shared CPU, no sampling). The task runs exactly as it would after a separate
            # fetch timer; only an event of another task at the very same end time could now come after
            # it rather than before.
            return _FetchThenExecute, self.env._now + longest
        return self._transfer_wait(longest, len(e.items))

    @staticmethod
    def _pickling_ms(cpu_ms: float, memory_mb: int) -> float:
        """Wall time of ``cpu_ms`` of (un)pickling on a worker of ``memory_mb``: one thread, so at most
        one CPU's worth, and a container's fraction of a CPU stretches it."""
        return cpu_ms / min(cpus_for_memory(memory_mb), 1.0)

    def _dump_ms(self, task: str, w: SimWorker) -> float:
        """The output's pickling after the call (the real worker signs every output, uploaded or not)."""
        return self._pickling_ms(self._dump_per_byte * self.view.output_bytes[task], w.memory_mb)

    def _transfer_wait(self, ms: float, n: int, event: bool = False):
        """Wait for ``n`` transfers that take ``ms``: an event (with ``event``, or to count the transfers
        in flight) or the time they end."""
        if ms <= 0:
            return None, None
        if not (event or self._counts_transfers):
            return self.env._now + ms, None
        ev = self.clock.after(ms, n)
        if self._counts_transfers:
            self.active_transfers += n
            ev.callbacks.append(self._end_transfers)
        return ev, None

    def _expand(self, e: fx.Expand, w: SimWorker):
        raise RuntimeError(
            f"dynamic node {e.node!r} reached the simulator unexpanded (Simulation expands the plan first)"
        )

    def _end_transfers(self, event: clock.Timer) -> None:
        self.active_transfers -= event._value  # the number of transfers that ended

    def _exec_ms(self, task: str, w: SimWorker) -> float:
        recorded = self.specs[task].runtime_ms if self.platform.exec_from_recorded else None
        if recorded is not None:
            return float(recorded)
        ms = self.predictor.exec_ms(self.wf, task, w.memory_mb)
        return ms + self._first_call_ms(w, task) if self._first_calls else ms

    def _execute_after_fetch(self, e: fx.Execute, w: SimWorker, start: float):
        """``_execute`` on a worker without shared CPUs, as if at ``start`` (the end of the task's fetch,
        still to come): the branch waits until the execution ends."""
        if type(e) is not fx.Execute or e.label is not None:
            raise RuntimeError(f"the logic promised Execute after a Fetch, and yielded {e!r}")
        task = e.task
        table = self.table
        row = table.rows[task]
        ms = self._exec_ms(task, w)
        table.exec_ms[row] = ms
        table.end_ms[row] = table.exec_end_ms[row] = start + ms
        out = self.view.output_bytes[task]
        if self._dump_per_byte:
            end = table.end_ms[row] = start + ms + self._dump_ms(task, w)
        else:
            end = start + ms if ms > 0 else start
        if self._merge_execute_store:  # (on the terms of this step: see _fetch)
            return _ExecuteThenStore, (end, out)
        return end, out

    def _execute(self, e: fx.Execute, w: SimWorker):
        task = e.task
        table = self.table
        row = table.rows.get(task) if e.label is None else None
        if row is None:
            row = self._trace(task, w, e.label)
        ms = self._exec_ms(task, w)
        table.exec_ms[row] = ms
        table.end_ms[row] = table.exec_end_ms[row] = self.env._now + ms
        out = self.view.output_bytes[task]
        if self._dump_per_byte:
            return self._execute_and_dump(task, w, row, ms), out
        if ms <= 0:
            return None, out
        if w.cpu is None:
            if self._merge_execute_store and w.branches == 1 and e.label is None:
                # (the terms of a fetch and execution timed as one: see _fetch and _Branch.then_store)
                return _ExecuteThenStore, (self.env._now + ms, out)
            return self.env._now + ms, out
        return self._call_on_cpu(task, w, row, ms), out

    def _call_on_cpu(self, task: str, w: SimWorker, row: int, ms: float) -> clock.Timer:
        """The call on the worker's shared CPUs, once its dispatcher gets to it (:meth:`_dispatch_wait`)."""
        wait = self._dispatch_wait(w, task, ms)
        if wait <= 0:
            return self._run_on_cpu(task, w, row, ms)
        table = self.table
        table.end_ms[row] = table.exec_end_ms[row] = self.env._now + wait + ms
        return self._run_on_cpu_after(wait, task, w, row, ms)

    def _execute_and_dump(self, task: str, w: SimWorker, row: int, ms: float):
        """``_execute``'s wait when outputs cost their pickling: the call as ``_execute`` runs it, then
        the dump (on a shared CPU, as more work there); the record's exec stays the call's."""
        dump = self._dump_ms(task, w)
        now = self.env._now
        if w.cpu is None:
            end = self.table.end_ms[row] = now + ms + dump
            return end if end > now else None
        ev = clock.Timer()

        def dumped(_e: object) -> None:
            self.table.end_ms[row] = self.env._now
            self.clock.fire(ev)

        def dump_after(_e: object) -> None:
            if dump > 0:
                w.cpu.run(dump).callbacks.append(dumped)
            else:
                dumped(None)

        if ms <= 0:
            dump_after(None)
            return ev
        self._call_on_cpu(task, w, row, ms).callbacks.append(dump_after)
        return ev

    def _run_on_cpu_after(self, wait: float, task: str, w: SimWorker, row: int, ms: float) -> clock.Timer:
        """:meth:`_run_on_cpu` once the worker's dispatcher gets to the task, ``wait`` from now (its own
        method: see :func:`_call_after`)."""
        ev = clock.Timer()
        self.clock.after(wait).callbacks.append(
            lambda _e: self._run_on_cpu(task, w, row, ms).callbacks.append(lambda _e2: self.clock.fire(ev))
        )
        return ev

    def _first_call_ms(self, w: SimWorker, task: str) -> float:
        """The one-time cost of the task's function on this worker (``ExecModel.first_call_ms``): paid
        by its first call there, as the real worker pays imports and page faults once."""
        function = self.specs[task].function
        called = w.called
        if called is None:
            called = w.called = set()
        elif function in called:
            return 0.0
        called.add(function)
        return self.predictor.models.first_call_ms(function)

    def _dispatch_wait(self, w: SimWorker, task: str, ms: float) -> float:
        """How long a task waits behind the tasks its worker dispatched just before it (a task dispatched
        alone does not wait).

        The real worker's event loop hands tasks to its threads one at a time (``task_dispatch_ms``
        apart), and it needs Python's GIL to do so: while the previous task runs Python code in its
        thread, the loop gets the GIL only when that task ends or after the interpreter's switch interval
        (``gil_switch_ms``, 5 ms in CPython). So each task holds the hand-off for ``max(dispatch,
        min(its CPU work, switch))``: siblings shorter than the switch interval run one after the other,
        unshared, as measured (``concurrency`` 1.0); longer ones start 5 ms apart and share the CPUs.
        A function whose C code keeps the GIL for longer stretches holds the hand-off for its measured
        part of the call instead (``ExecModel.gil_hold``: text_analysis's siblings started their
        execution 20-220 ms apart, not 1 ms). Functions whose work releases the GIL (numpy;
        ``ExecModel.holds_gil`` False) only hold it for the dispatch step.
        """
        p = self.platform
        if p.task_dispatch_ms <= 0 and p.gil_switch_ms <= 0:
            return 0.0
        models, function = self.predictor.models, self.specs[task].function
        cpu_ms = ms * models.cpu_fraction(function) if models.holds_gil(function) else 0.0
        hold = max(p.task_dispatch_ms, min(cpu_ms, max(p.gil_switch_ms, models.gil_hold(function) * ms)))
        now = self.env._now
        wait = max(0.0, w.dispatch_free - now)
        w.dispatch_free = now + wait + hold
        return wait

    def _run_on_cpu(self, task: str, w: SimWorker, row: int, ms: float) -> clock.Timer:
        frac = self.predictor.models.cpu_fraction(self.specs[task].function)
        ev = w.cpu.run(ms) if frac >= 1.0 else self._run_part_on_cpu(w, ms, frac)
        _call_after(ev, self._exec_done, (row, self.env._now))
        return ev

    def _run_part_on_cpu(self, w: SimWorker, ms: float, frac: float) -> clock.Timer:
        """Only the CPU part (``frac``) of ``ms`` is shared; the rest (sleep, I/O) takes its own time
        after it."""
        ev = clock.Timer()
        rest = ms * (1.0 - frac)
        w.cpu.run(ms * frac).callbacks.append(
            lambda _e: self.clock.after(rest).callbacks.append(lambda _e2: self.clock.fire(ev))
        )
        return ev

    def _exec_done(self, row_and_start: tuple[int, float]) -> None:
        row, started = row_and_start
        table = self.table
        table.exec_ms[row] = self.env._now - started  # longer than the model's when tasks share the CPUs
        table.end_ms[row] = table.exec_end_ms[row] = self.env._now

    def _upload(self, e: fx.Store, w: SimWorker, start: float, key: tuple) -> tuple[float, float]:
        """Record the upload of ``e`` starting at ``start``, by the event of ``key`` (its place in
        :attr:`uploaded`); returns its end and duration."""
        table = self.table
        row = table.rows[e.task]
        nbytes = e.nbytes
        cache = self._upload_cache
        ms = ((cache.get(w.memory_mb) if cache is not None else None) or _NO_SIZES).get(nbytes)
        if ms is None:
            ms = self._transfer_ms(nbytes, w.memory_mb, upload=True)
        table.upload_bytes[row], table.upload_ms[row] = nbytes, ms
        end = table.end_ms[row] = start + ms
        self.uploaded.append((key, e.task))
        self.bytes_up += nbytes
        self.store_ops += 1
        return end, ms

    def _store(self, e: fx.Store, w: SimWorker):
        end, ms = self._upload(e, w, self.env._now, self.env.place())
        if e.stream:
            self.streaming[e.key] = end
        if not (self._waits_stored or self._counts_transfers):
            # (_transfer_wait's answer, inline: no branch ever waits for a stored output, see __init__)
            return (end if ms > 0 else None), None
        wait, _ = self._transfer_wait(ms, 1, event=self._waits_stored)
        if self._waits_stored:  # (else only the transfers in flight are counted)
            if wait is None:
                self._stored(e.task)
            else:
                _call_after(wait, self._stored, e.task)
        return wait, None

    def _stored(self, task: str) -> None:
        # An event only for outputs someone waits for (preloads): most outputs have no waiter.
        self.stored_done.add(task)
        ev = self.stored.pop(task, None)
        if ev is not None:
            ev.succeed()

    def _wait_stored(self, e: fx.WaitStored, w: SimWorker):
        if not self._waits_stored:
            raise RuntimeError(
                f"WaitStored({e.task!r}) in a plan whose stores are not tracked (see __init__)"
            )
        self.store_ops += 1  # subscribe, then check the key
        if e.task in self.stored_done:
            return None, None
        ev = self.stored.get(e.task)
        if ev is None:
            ev = self.stored[e.task] = self.env.event()
        return ev, None

    def _peek(self, e: fx.Peek, w: SimWorker):
        return self._round_trip([frozenset(self.counters.get(k, ())) for k in e.keys])

    def _cleanup(self, e: fx.Cleanup, w: SimWorker):
        self.cleaned_at = self.env._now
        return self._round_trip()

    def _round_trip(self, value: Any = None):
        """One store operation: answered with ``value`` a round trip from now."""
        self.store_ops += 1
        return self._round_trip_wait, value

    def _incr(self, e: fx.Incr, w: SimWorker):
        counters = self.counters
        task = e.task
        counts = []
        for k in e.keys:
            members = counters.get(k)
            if members is None:
                members = counters[k] = {}
            members[task] = None  # a set of parents: counting the same parent twice changes nothing
            counts.append(len(members))
        self.store_ops += 1  # (_round_trip, inline: once per task)
        return self._round_trip_wait, counts

    def _claim(self, e: fx.Claim, w: SimWorker | None):
        won = []
        for wid in e.worker_ids:
            won.append(wid not in self.claims)
            self.claims.add(wid)
        return self._round_trip(won)

    def _set_ready(self, tasks: tuple[str, ...]) -> None:
        for t in tasks:
            self._wake(t)

    def _wake(self, task: str) -> None:
        """Set ``task``'s ready flag; wake its waiter if there is one (an event only then)."""
        self.ready_flags.add(task)
        ev = self.ready.pop(task, None)
        if ev is not None:
            ev.succeed()

    def _mark_ready(self, e: fx.MarkReady, w: SimWorker):
        self.store_ops += 1
        ms = self._store_latency
        if ms <= 0:
            self._set_ready(e.tasks)
            return None, None
        wait = self.clock.after(ms)  # an event: the flags are set when the round trip ends
        _call_after(wait, self._set_ready, e.tasks)
        return wait, None

    def _complete(self, e: fx.Complete, w: SimWorker):
        wait, _ = self._round_trip()
        self.sink_done[e.task] = self.env._now + self.platform.store_latency_ms
        return wait, None

    def _invoke(self, e: fx.Invoke, w: SimWorker | None):
        """Request the workers: the invoker goes on after its request's round trip (the runtime's one Lua
        call), while each invoked worker starts ``invoke_latency_ms`` later (:meth:`_start_worker`).
        The invoker used to wait the invocation latency too: with the latency fitted on a loaded host
        (228 ms), a task delegating its siblings started its own child 240 ms after its end where the
        real worker took 3 ms."""
        invocations = e.invocations
        self.invocations.extend(invocations)
        # (_soon of each, inline: one urgent event for the batch of starts, made by the first)
        starts = self._starts
        if not starts and invocations:
            self.clock.urgent().callbacks.append(self._run_starts)
        starts.extend(invocations)
        return self._round_trip()

    def _spawn(self, e: fx.Spawn, w: SimWorker):
        handle = self.env.event()
        self.mock_execute_branch(e.branch, w, handle)
        return None, handle

    def _join(self, e: fx.Join, w: SimWorker):
        pending = [h for h in e.handles if not h.processed]
        if not pending:
            return None, None
        return self.env.all_of(pending), None

    def _wait_ready(self, e: fx.WaitReady, w: SimWorker):
        self.store_ops += 1  # subscribe, then check the persistent flag
        if e.task in self.ready_flags:
            return None, None
        ev = self.ready.get(e.task)
        if ev is None:
            ev = self.ready[e.task] = self.env.event()
        return ev, None

    def _notify(self, e: fx.Notify, w: SimWorker):
        self._wake(e.task)
        return None, None

    def _prewarm(self, e: fx.Prewarm, w: SimWorker):
        def fire(_event: simpy.Event) -> None:
            startup = self.predictor.startup_ms(e.memory_mb, "cold") if self.platform.startup else 0.0
            container = self.pool.prewarm(e.memory_mb)
            if container is not None:
                self.clock.after(startup).callbacks.append(lambda _e: self.pool.release(container))

        self._soon(lambda: self.clock.after(e.delay_ms).callbacks.append(fire))
        return None, None

    # -- workers ----------------------------------------------------------------------------------------
    # Each step below runs from the event it waited for (callbacks, not a process: fewer events). The
    # callbacks are bound methods that find their arguments in the event's value: no closure (a function
    # and its cells) per worker and step.
    def _start_worker(self, inv: fx.Invocation) -> None:
        """Start ``inv``'s worker after the invocation latency.

        An :class:`~sim.worker.effects.Invoke` of many workers (a fan-out) starts them one after the
        other, so their latency timers would be consecutive events of one time. They share one queue
        entry instead, each keeping the event id its own timer would have had: :meth:`_invoked` starts
        them in that order and hands the rest back to the queue, under the next one's id, as soon as
        another event would have come between (exactly the order separate timers fire in).
        """
        latency = self.platform.invoke_latency_ms
        if latency <= 0:
            self._get_container(inv, self.env._now)
            return
        if not self._batch_starts:
            self.clock.after(latency, [(0, inv)]).callbacks.append(self._invoked)
            return
        at = self.env._now + latency
        eid = next(self.clock.eid)  # (clock.next_id, inline)
        batch = self._start_batch
        # The same time and the very next id: no event was scheduled since the batch's last start. (A
        # batch that already fired is in the past: its time cannot match.)
        if batch is not None and batch[0] == at and batch[1] == eid - 1:
            batch[1] = eid
            batch[2].append((eid, inv))
            return
        starts = [(eid, inv)]
        self._start_batch = [at, eid, starts]
        self._queue_starts(at, eid, starts)

    def _queue_starts(self, at: float, eid: int, starts: list[tuple[int, fx.Invocation]]) -> None:
        timer = clock.Timer(starts)
        timer.callbacks.append(self._invoked)
        self.clock.push(at, eid, timer)

    def _invoked(self, event: clock.Timer) -> None:
        now = self.env._now
        starts = event._value
        queue = self.clock.queue
        for i, (eid, inv) in enumerate(starts):
            # Another event fires before this start's own timer would have: only an urgent one of this
            # time can. (The batch's ids are consecutive, so an ordinary event of this time either came
            # before the batch or was queued after it, under a larger id; urgent events go on the heap.)
            if i and queue and queue[0][0] == now and queue[0][1] < NORMAL:
                self._queue_starts(now, eid, starts[i:])
                return
            self._get_container(inv, now)

    def _get_container(self, inv: fx.Invocation, requested: float) -> None:
        got = self.pool.try_acquire(inv.memory_mb)
        if got is None:  # at the cap: try again when a container is released
            self.pool.turn((inv, requested)).callbacks.append(self._retry_container)
            return
        container, state = got
        queued = self.env._now - requested
        startup = self.predictor.startup_ms(inv.memory_mb, state) if self.platform.startup else 0.0
        # the plan's fetch and the serial stage's wait, without their calls when they are 0
        extra = self._plan_ms(inv, container.id) if container.id not in self._plan_loaded else 0.0
        if self.platform.cold_start_serial_ms > 0:
            extra += self._serial_wait(state)
        startup += extra
        if startup > 0:
            self.clock.after(startup, (inv, requested, container, state, queued)).callbacks.append(
                self._run_worker
            )
        else:
            self._run_worker(clock.new_timer((inv, requested, container, state, queued)))

    def _retry_container(self, event: clock.Timer) -> None:
        self._get_container(*event._value)

    def _run_worker(self, started: clock.Timer) -> None:
        """Start the worker of a request whose container has started (``started``'s value: the invocation,
        when it was requested, the container, its start-up state and the time spent queued)."""
        inv, requested, container, state, queued = started._value
        if inv.worker_id is None:
            self._flex += 1
            name = f"flex-{self._flex}"
        else:
            name = inv.worker_id
        ws = WorkerState(self.view, inv.worker_id, name, inv.memory_mb)
        # A flexible worker continues with at most one child at a time, so it never shares its CPUs.
        shares = self._planned_share if inv.worker_id is not None else self._flexible_share
        cpu = SharedCpu(self.env, cpus_for_memory(inv.memory_mb)) if shares else None
        now = self.env._now
        worker = SimWorker(name, inv.memory_mb, ws, cpu, requested, container, state, now - requested, queued)
        self.workers[name] = worker
        # At once, not with the next batch of starts: the worker is already running.
        _Branch(
            self._handlers,
            start_worker_lifecycle(ws, inv.tasks, inv.carried),
            worker,
            None,
            self._ended,
            self.clock,
        ).resume()

    def _ended(self, worker: SimWorker) -> None:
        """The worker's last branch ended: its container goes back to the pool."""
        worker.ended_ms = self.env._now
        worker.state = None
        self.pool.release(worker.container)

    def _serial_wait(self, state: str) -> float:
        """How long a cold start waits for the engine's serial stage (``cold_start_serial_ms``) behind the
        cold starts requested before it; the stage itself is part of the start-up model's time."""
        serial = self.platform.cold_start_serial_ms
        if state != "cold" or serial <= 0 or not self.platform.startup:
            return 0.0
        now = self.env.now
        begin = max(now, self._serial_free)
        self._serial_free = begin + serial
        return begin - now

    def _plan_ms(self, inv: fx.Invocation, container: int) -> float:
        """Getting the plan at worker start (the runtime's ``run_invocation``): nothing if this container
        has the whole plan already; else a fragment that came inline is loaded, or the whole plan is
        fetched and loaded (and kept by the container for the run)."""
        p = self.platform
        if container in self._plan_loaded:
            return 0.0
        if inv.fragment is not None:
            return p.plan_load_base_ms + len(inv.fragment) * p.plan_load_ms_per_task
        if not (p.plan_bytes_per_task or p.plan_load_base_ms or p.plan_load_ms_per_task):
            return 0.0
        self._plan_loaded.add(container)
        self.store_ops += 1
        n = len(self.wf)
        fetch = self._transfer_ms(int(n * p.plan_bytes_per_task), inv.memory_mb)
        return fetch + p.plan_load_base_ms + n * p.plan_load_ms_per_task

    # -- results ----------------------------------------------------------------------------------------
    def _output(self) -> PlanOutput:
        """The run's totals now; per-task and per-worker details when first read (see ``Deferred``)."""
        makespan = max(self.sink_done.values()) if self.sink_done else 0.0
        busy_mb_ms = 0.0
        cold = 0
        for w in self.workers.values():
            # billed from when it got a container: a request waiting at the cap holds no memory
            end = w.ended_ms
            busy_mb_ms += w.memory_mb * ((makespan if end is None else end) - w.started_ms - w.queued_ms)
            if w.startup_state == "cold":
                cold += 1
        wf = self.wf
        return PlanOutput(
            planner=self.plan.planner,
            workflow=wf.name,
            sla=str(self.plan.sla),
            platform=self.platform.name,
            makespan_ms=makespan,
            cost_gb_s=busy_mb_ms / 1024 / 1000,
            alloc_gb_s=self.pool.allocated_mb_ms(self.env._now) / 1024 / 1000,
            invocations=len(self.invocations),
            cold_starts=cold,
            warm_starts=len(self.workers) - cold,
            bytes_uploaded=self.bytes_up,
            bytes_downloaded=self.bytes_down,
            store_ops=self.store_ops,
            details=Deferred(
                workflow_type=partial(workflow_type, wf),
                critical_path=partial(critical_path, self.table, self.view),
                tasks=partial(task_infos, self.table, self.specs, self.sizes),
                workers=partial(worker_timelines, self.workers, makespan, self.table),
            ),
        )


def task_infos(table: TraceTable, specs: dict[str, Any], sizes: WorkflowSizes) -> dict[str, PlanningTaskInfo]:
    """One ``PlanningTaskInfo`` per task that ran, from its row of ``table``."""
    tasks: dict[str, PlanningTaskInfo] = {}
    inputs, outputs = sizes.input_bytes, sizes.output_bytes
    upload_bytes, upload_ms = table.upload_bytes, table.upload_ms
    for t, row in table.rows.items():
        uploaded = upload_bytes[row] is not None
        tasks[t] = PlanningTaskInfo(
            t,
            specs[t].function,
            table.worker[row],
            table.memory_mb[row],
            inputs[t],
            outputs[t],
            table.download_bytes[row],
            upload_bytes[row] if uploaded else 0,
            table.startup_state[row],
            table.startup_ms[row],
            table.download_ms[row],
            table.exec_ms[row],
            upload_ms[row] if uploaded else 0.0,
            table.start_ms[row],
            table.end_ms[row],
        )
    return tasks


def worker_timelines(
    workers: dict[str, SimWorker], makespan: float, table: TraceTable
) -> dict[str, dict[str, Any]]:
    """Per worker: memory, start and end (the makespan if it never ended), start-up, tasks (in the order
    they started: the table's rows are)."""
    tasks: dict[str, list[str]] = {name: [] for name in workers}
    worker = table.worker
    for t, row in table.rows.items():
        tasks[worker[row]].append(t)
    return {
        name: {
            "memory_mb": w.memory_mb,
            "start_ms": w.started_ms,
            "end_ms": makespan if w.ended_ms is None else w.ended_ms,
            "startup_state": w.startup_state,
            "startup_ms": w.startup_ms,
            "queued_ms": w.queued_ms,
            "tasks": tasks[name],
        }
        for name, w in workers.items()
    }


def critical_path(table: TraceTable, view: PlanView) -> list[str]:
    """Walk back from the last sink through the parent that finished last."""
    rows, end_ms = table.rows, table.end_ms
    if not rows:
        return []
    end = max(view.sinks, key=lambda t: (end_ms[rows[t]], t))
    path = [end]
    while view.parents[path[-1]]:
        path.append(max(view.parents[path[-1]], key=lambda p: (end_ms[rows[p]], p)))
    return path[::-1]


def workflow_type(wf) -> str:  # noqa: ANN001 - Workflow
    """The workflow's type hash, cached on the workflow while its shape is unchanged."""
    g = wf.graph
    key = (len(g), sum(map(len, g._succ.values())))  # graph.number_of_edges(), without its overhead
    cached = wf.meta.get("_type_hash")
    if cached is None or cached[0] != key:
        cached = wf.meta["_type_hash"] = (key, wf.type_hash())
    return cached[1]


def expand_plan(plan: Plan, widths: dict[str, int] | None = None) -> Plan:
    """``plan`` over its workflow with every dynamic fan-out expanded at its expected width
    (:func:`sim.workflow.dynamic.expanded`; ``widths`` overrides per node). Copies and gathers are
    flexible, with the memory the plan gives the node (each on a worker of its own when the node was pinned:
    :func:`~sim.models.resources.expansion_config`). A plan without dynamic nodes is returned as is."""
    if not workflow_shape(plan.workflow).dynamic:
        # The common case, answered by the workflow's shape, which the plan's view is built from next:
        # asking dynamic.expanded would walk every task's spec once more (about 10 ms at 10,000 tasks).
        return plan
    wf = dynamic.expanded(plan.workflow, widths)
    if wf is plan.workflow:
        return plan
    configs = dict(plan.configs)
    for node, width in wf.meta["dynamic_widths"].items():
        planned = configs[node]
        for t in (node, *(dynamic.copy_id(node, i) for i in range(width))):
            configs[t] = expansion_config(planned, t)
    return replace(plan, workflow=wf, configs=configs)


def simulate(
    plan: Plan,
    platform: Platform | str | None = None,
    models: PerformanceModels | None = None,
    seed: int = 0,
    sample: bool = False,
) -> SimResult:
    """Simulate one run of ``plan``."""
    return Simulation(plan, platform, models, seed=seed, sample=sample).run()
