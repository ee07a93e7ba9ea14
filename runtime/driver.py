"""The asyncio driver of the worker logic against Redis: the runtime's twin of ``mock_execute_branch``.

The driver decides nothing. It runs the generators of :mod:`sim.worker.logic` and performs each effect
they yield with redis-py (asyncio, hiredis), exactly where the simulator turns it into timed events:

=============  ==========================================================================================
effect         performed as
=============  ==========================================================================================
Fetch          one ``MGET`` of the outputs/inputs; each value's HMAC is checked, then it is unpickled.
               With ``streaming``, an output not stored yet is read while it is written: ``GETRANGE``
               of ``part:{task}`` from the bytes read so far, until ``out:{task}`` exists (the rest is
               read from there); the HMAC of the whole value is checked at the end
Execute        the task's Python function in a thread (``asyncio.to_thread``) with its ``Ref`` s resolved
               from the outputs this worker holds; the output is pickled and signed in the same thread.
               ``SET started:{task} {run ms}`` goes out alongside the call (not before it: no round trip
               on the task's path): the dashboard's live page shows the task running from then
Store          ``SET out:{task}`` (signed cloudpickle), and ``SET item:{task}#i`` per item for the copies
               of a dynamic fan-out over it (only the items when every consumer is a copy). A streamed store (optimization ``streaming``) writes
               ``part:{task}`` chunk by chunk (``SET`` then ``APPEND`` s of ``STREAM_CHUNK_BYTES``) and
               ends with ``RENAME part:{task} out:{task}``: the rename is the end marker, and readers of
               ``out:{task}`` never see a partial value
Incr           one Lua call per effect: ``SADD dc:{child} {parent}`` + ``SCARD`` (idempotent: a re-run
               parent adds nothing) and, when the count is complete, ``SET own:{child} {invocation} NX``.
               A child owned by another invocation is reported as not complete (count ``-1``), so a
               re-run of a dead worker never runs a task that a healthy worker already took over
Claim          one Lua call: ``SET claim:{w} {invocation} NX`` (a re-run of the same invocation wins again)
MarkReady      ``SET ready:{task}`` then ``PUBLISH ready:{worker}`` (one pipeline)
Complete       ``SET done:{sink} {epoch ms}`` then ``PUBLISH events``
Invoke         one Lua call: ``HSETNX invs {id} {signed invocation}`` and, if new, ``RPUSH invoke``; the
               client serves that list with the launcher. Invocation ids are ``w:{worker}`` (a planned
               worker starts once) and ``f:{first task}`` (a flexible task is decided by one incrementer),
               so a re-run never starts a second container for the same invocation
Spawn / Join   asyncio tasks / ``gather``
WaitReady      subscribed (at worker start) to ``ready:{worker}``, then ``GET ready:{task}``: a ready flag
               set before the subscription is still seen (no lost notification); waits have a timeout
Notify         a local future
Prewarm        a request on the invoke list; the client pre-warms after the delay
Expand         the source's output length, ``SET width:{node} NX`` then ``GET`` (the first width wins);
               a worker that did not run the source ``GET`` s it
=============  ==========================================================================================

All keys are ``plansim:{run_id}:`` + the logic's relative keys (:class:`RunKeys`).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import os
import struct
import sys
import time
import traceback
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import redis.asyncio as aioredis

from runtime import cpu_meter, signing, tasklog
from runtime.docker_worker.protocol import keeps_heap
from runtime.fragment import FragmentMaker, read_fragment
from sim.models.plan import Plan
from sim.models.records import TaskRecord, Transfer, WorkerRecord, to_dict
from sim.models.resources import cpus_for_memory
from sim.worker import effects as fx
from sim.worker.logic import STREAMING, PlanView, WorkerState
from sim.workflow import dynamic
from sim.workflow.dag import Workflow
from sim.workflow.language import resolve_refs

# Big values are unpickled/verified off the event loop.
THREAD_THRESHOLD = 1 << 20


class RunError(RuntimeError):
    """Base class of the runtime's run failures."""


class TaskFailed(RunError):
    """A task raised. ``task`` names it and ``remote_traceback`` is the worker-side traceback."""

    def __init__(self, task: str, remote_traceback: str, worker: str = "?") -> None:
        last = remote_traceback.strip().splitlines()[-1] if remote_traceback.strip() else "?"
        if last.startswith("ModuleNotFoundError:"):
            # The usual cause: a third-party package the worker image lacks; say how to provide it.
            last += (
                " (not installed where the worker runs: declare it with @task(requirements=[...]) "
                "or --requirements FILE so that the worker image includes it)"
            )
        super().__init__(
            f"task {task!r} failed on worker {worker}: {last}\n--- remote traceback ---\n"
            f"{remote_traceback.rstrip()}"
        )
        self.hint = last
        self.task = task
        self.worker = worker
        self.remote_traceback = remote_traceback


class WaitTimeout(RunError, TimeoutError):
    """A wait did not end in time; the message names what was awaited."""


class MissingValue(RunError):
    """A value the logic expects in the store is not there."""


class Stopped(Exception):
    """The run was stopped (the client set the stop flag): the worker ends its lifecycle."""


class RunKeys:
    """Every key and channel of one run, under ``plansim:{run_id}:``."""

    __slots__ = ("run_id", "prefix")

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.prefix = f"plansim:{run_id}:"

    def k(self, rel: str) -> str:
        return self.prefix + rel

    @property
    def plan(self) -> str:
        return self.prefix + "plan"

    @property
    def invs(self) -> str:
        return self.prefix + "invs"

    @property
    def invoke(self) -> str:
        return self.prefix + "invoke"

    @property
    def inv_done(self) -> str:
        return self.prefix + "inv-done"

    @property
    def events(self) -> str:
        return self.prefix + "events"

    @property
    def error(self) -> str:
        return self.prefix + "error"

    @property
    def stop(self) -> str:
        return self.prefix + "stop"

    @property
    def progress(self) -> str:
        return self.prefix + "progress"

    @property
    def records(self) -> str:
        return self.prefix + "records"

    @property
    def flexseq(self) -> str:
        return self.prefix + "flexseq"

    def hb(self, inv_id: str) -> str:
        return f"{self.prefix}hb:{inv_id}"

    def ready(self, task: str) -> str:
        return f"{self.prefix}ready:{task}"

    def ready_channel(self, worker: str) -> str:
        return f"{self.prefix}ready-ch:{worker}"

    def done(self, task: str) -> str:
        return f"{self.prefix}done:{task}"

    def own(self, task: str) -> str:
        return f"{self.prefix}own:{task}"

    def claim(self, worker: str) -> str:
        return f"{self.prefix}claim:{worker}"

    def started(self, task: str) -> str:
        """Set when a worker begins executing the task (read by the dashboard's live page only)."""
        return f"{self.prefix}started:{task}"

    def part(self, task: str) -> str:
        """A streamed output while it is being written (renamed to ``out:{task}`` when complete)."""
        return f"{self.prefix}part:{task}"


# --- Lua scripts (each one round trip, atomic) ------------------------------------------------------

# KEYS = dc keys (n) then own keys (n); ARGV = parent, owner, needed counts (n)
INCR_LUA = """
local n = #KEYS / 2
local out = {}
for i = 1, n do
  redis.call('SADD', KEYS[i], ARGV[1])
  local c = redis.call('SCARD', KEYS[i])
  local need = tonumber(ARGV[2 + i])
  if need > 0 and c >= need then
    if not redis.call('SET', KEYS[n + i], ARGV[2], 'NX') then
      if redis.call('GET', KEYS[n + i]) ~= ARGV[2] then c = -1 end
    end
  end
  out[i] = c
end
return out
"""

# KEYS = claim keys; ARGV = owner
CLAIM_LUA = """
local out = {}
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX') then out[i] = 1
  elseif redis.call('GET', KEYS[i]) == ARGV[1] then out[i] = 1
  else out[i] = 0 end
end
return out
"""

# KEYS = invs hash, invoke list; ARGV = id1, blob1, id2, blob2, ...
INVOKE_LUA = """
local pushed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[i + 1])
    pushed = pushed + 1
  end
end
return pushed
"""


# --- invocations ------------------------------------------------------------------------------------


def invocation_id(inv: fx.Invocation) -> str:
    """``w:{worker}`` for a planned worker, ``f:{task}`` for a flexible one (both globally unique)."""
    return f"w:{inv.worker_id}" if inv.worker_id is not None else f"f:{inv.tasks[0]}"


@dataclass(slots=True)
class InvocationMsg:
    """What a worker is started with (signed; JSON and the fragment's bytes, nothing unpickled to read it)."""

    run_id: str
    inv_id: str
    worker_id: str | None
    memory_mb: int
    tasks: tuple[str, ...]
    t0: float  # the run's submission, epoch seconds
    requested_at: float  # epoch seconds
    requested_by: str
    timeout_s: float
    attempt: int = 0
    kind: str = "invoke"  # or "prewarm"
    delay_ms: float = 0.0
    carried: dict[str, bytes] = field(default_factory=dict)  # carry-inputs: parent -> cloudpickle bytes
    plan: bytes = b""  # inline-plan: the worker's plan fragment (a signed RunContext), else fetched

    def encode(self) -> bytes:
        # Binary framing: u32 length | JSON head | the fragment's raw bytes. The fragment (often most of
        # the message) is neither base64-encoded nor JSON-escaped on the way, nor parsed on the way back.
        head = json.dumps(
            {
                "run": self.run_id,
                "id": self.inv_id,
                "worker": self.worker_id,
                "memory": self.memory_mb,
                "tasks": list(self.tasks),
                "t0": self.t0,
                "requested_at": self.requested_at,
                "by": self.requested_by,
                "timeout_s": self.timeout_s,
                "attempt": self.attempt,
                "kind": self.kind,
                "delay_ms": self.delay_ms,
                "carried": {k: base64.b64encode(v).decode() for k, v in self.carried.items()},
            },
            separators=(",", ":"),
        ).encode()
        return signing.sign(struct.pack(">I", len(head)) + head + self.plan, b"invocation")

    @classmethod
    def decode(cls, data: bytes) -> InvocationMsg:
        # The whole message, carried outputs and fragment included, is verified before anything is unpickled.
        body = signing.verify(data, b"invocation")
        if len(body) < 4:
            raise ValueError("invocation message too short")
        (n,) = struct.unpack(">I", body[:4])
        d = json.loads(bytes(body[4 : 4 + n]))
        return cls(
            d["run"],
            d["id"],
            d["worker"],
            int(d["memory"]),
            tuple(d["tasks"]),
            float(d["t0"]),
            float(d["requested_at"]),
            d["by"],
            float(d["timeout_s"]),
            int(d.get("attempt", 0)),
            d.get("kind", "invoke"),
            float(d.get("delay_ms", 0.0)),
            {k: base64.b64decode(v) for k, v in (d.get("carried") or {}).items()},
            bytes(body[4 + n :]),
        )

    def carried_values(self) -> dict[str, Any]:
        return {k: cloudpickle.loads(v) for k, v in self.carried.items()}


# --- per-run context (cached by warm workers) -------------------------------------------------------


class RunContext:
    """What every worker of a run needs: the plan (with the task code), its view, run facts."""

    def __init__(self, run_id: str, plan: Plan, meta: dict[str, Any]) -> None:
        self.run_id = run_id
        self.keys = RunKeys(run_id)
        self.plan = plan
        self.wf = plan.workflow
        self.view = PlanView(plan)
        self.meta = meta
        self.specs = _Specs(self.wf)
        self.workflow_type = meta.get("workflow_type", "")
        self.planner = plan.planner
        self._fragments: FragmentMaker | None = None  # inline-plan: made on first use, or loaded
        self._fragments_order: list[str] | None = None  # the topological order it was made for

    @staticmethod
    def dump(run_id: str, plan: Plan, meta: dict[str, Any]) -> bytes:
        return signing.dumps({"plan": plan, "meta": meta}, f"plan:{run_id}")

    def fragments(self) -> FragmentMaker:
        """inline-plan: what this run's fragments are cut from (see :mod:`runtime.fragment`)."""
        order = self.wf.topological_order()
        if self._fragments is None or self._fragments_order is not order:
            # new, or a dynamic fan-out was expanded since (new tasks, changed records): made again
            self._fragments = FragmentMaker.from_plan(self.run_id, self.plan, self.meta, self.view.n_sinks)
            self._fragments_order = order
        return self._fragments

    def dump_fragment(self, tasks: frozenset[str]) -> bytes:
        """inline-plan: the plan restricted to ``tasks`` (a :func:`~sim.worker.logic.plan_fragment`), signed.
        Read back with :meth:`load_fragment`."""
        return self.fragments().dump(tasks)

    @classmethod
    def load_fragment(cls, run_id: str, data: bytes) -> RunContext:
        """The :class:`RunContext` of a fragment made by :meth:`dump_fragment` (signature checked first)."""
        plan, meta, maker = read_fragment(run_id, data)
        rc = cls(run_id, plan, meta)
        rc._fragments = maker  # the fragments this worker makes are cut from the records it received
        rc._fragments_order = plan.workflow.topological_order()
        return rc

    @classmethod
    def load(cls, run_id: str, data: bytes | None) -> RunContext:
        if data is None:
            raise MissingValue(f"run {run_id}: no plan stored (the run ended or never started)")
        obj = signing.loads(data, f"plan:{run_id}")
        return cls(run_id, obj["plan"], obj["meta"])


class _Specs:
    """Task id -> spec, read live from the workflow's graph (an expansion adds and replaces specs)."""

    __slots__ = ("_node",)

    def __init__(self, wf: Workflow) -> None:
        self._node = wf.graph._node

    def __getitem__(self, task: str) -> Any:
        return self._node[task]["spec"]


# --- the driver -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _TaskTimes:
    start: float = 0.0
    downloads: list[Transfer] = field(default_factory=list)
    input_bytes: int = 0
    exec_ms: float = 0.0
    output_bytes: int = 0
    upload: Transfer | None = None
    end: float = 0.0
    crowding: cpu_meter.Crowding | None = None
    log: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # streaming timestamps, run-relative ms


class WorkerDriver:
    """Runs one worker's lifecycle (one invocation) against Redis."""

    def __init__(
        self, rc: RunContext, r: aioredis.Redis, ws: WorkerState, msg: InvocationMsg, scripts: dict[str, Any]
    ) -> None:
        self.rc = rc
        self.r = r
        self.ws = ws
        self.msg = msg
        self.keys = rc.keys
        self.owner = msg.inv_id
        self.t0 = msg.t0
        self.values: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}
        self.blobs: dict[str, bytes] = {}
        self.inputs: dict[str, Any] = {}
        self.times: dict[str, _TaskTimes] = {}
        self.records: list[dict[str, Any]] = []
        self.ready_futs: dict[str, asyncio.Future] = {}
        self.pending_progress = 0
        self.invoked: list[str] = []
        self.spawned: set[asyncio.Task] = set()
        self.produced = asyncio.Condition()  # re-runs: wakes waiters for outputs produced here
        self.scripts = scripts
        self.timeout_s = msg.timeout_s
        self._handlers = fx.bind_performers(self)

    # -- the loop, twin of Simulation.mock_execute_branch ------------------------------------------
    async def execute_branch(self, branch: Generator[Any, Any, None]) -> None:
        """Run one generator of the worker logic: perform each effect, send back its result."""
        handlers = self._handlers
        send = None
        while True:
            try:
                effect = branch.send(send)
            except StopIteration:
                return
            send = await handlers[type(effect)](effect)

    def _ms(self, epoch: float) -> float:
        return (epoch - self.t0) * 1000.0

    def _tt(self, task: str) -> _TaskTimes:
        tt = self.times.get(task)
        if tt is None:
            tt = self.times[task] = _TaskTimes(start=time.time())
        return tt

    def _progress(self, pipe: Any) -> None:
        if self.pending_progress:
            pipe.incrby(self.keys.progress, self.pending_progress)
            self.pending_progress = 0

    async def flush_progress(self) -> None:
        if self.pending_progress:
            n, self.pending_progress = self.pending_progress, 0
            await self.r.incrby(self.keys.progress, n)

    # -- effects -----------------------------------------------------------------------------------
    async def _fetch(self, e: fx.Fetch) -> None:
        # Labelled fetches (preload, dup) are not the task's own inputs: kept out of its record.
        tt = self._tt(e.task) if e.label is None else _TaskTimes()
        rels = [k for k, _ in e.items]
        full = [self.keys.k(k) for k in rels]
        t, started = time.perf_counter(), time.time()
        raw = await self.r.mget(full)
        missing = [rel for rel, v in zip(rels, raw, strict=True) if v is None]
        if missing and self.msg.attempt > 0:
            # A re-run can reach a task before this attempt has recomputed a parent planned here (its
            # output was kept here, never stored): the ready flag or a counter may predate this attempt.
            local = await self._await_local_outputs(e.task, missing)
            if local:
                kept = [i for i, rel in enumerate(rels) if rel not in local]
                rels, raw = [rels[i] for i in kept], [raw[i] for i in kept]
                missing = [rel for rel in missing if rel not in local]
        if missing and STREAMING in self.rc.view.opts:
            # streaming: the consumer was told before the upload ended; it reads the chunks as they land.
            tt.extra["download_start_ms"] = self._ms(started)
            got = await asyncio.gather(
                *(self._read_streamed(rel, tt) for rel in missing if rel.startswith("out:"))
            )
            streamed = dict(zip([rel for rel in missing if rel.startswith("out:")], got, strict=True))
            raw = [streamed.get(rel, v) if v is None else v for rel, v in zip(rels, raw, strict=True)]
            missing = [rel for rel, v in zip(rels, raw, strict=True) if v is None]
        ms = (time.perf_counter() - t) * 1000.0
        if missing:
            raise MissingValue(
                f"task {e.task!r} on worker {self.ws.name}: input {missing[0]!r} is not in the "
                f"store (run {self.rc.run_id})"
            )
        total = sum(len(v) for v in raw)
        if total > THREAD_THRESHOLD:
            objs = await asyncio.to_thread(_load_all, rels, raw, self.rc.run_id)
        else:
            objs = _load_all(rels, raw, self.rc.run_id)
        for rel, v, obj in zip(rels, raw, objs, strict=True):
            # the value's bytes, as its upload and output size count them (not the signature header)
            tt.downloads.append(Transfer(len(v) - signing.HEADER, ms))
            if rel.startswith("out:"):
                p = rel[4:]
                self.values[p] = obj
                self.sizes[p] = len(v) - signing.HEADER
            elif rel.startswith(("data:", "item:")):  # an argument object, or a copy's item: by its key
                self.values[rel] = obj
                self.sizes[rel] = len(v) - signing.HEADER
            else:
                self.inputs[rel[3:]] = obj
                tt.input_bytes += len(v) - signing.HEADER

    async def _read_streamed(self, rel: str, tt: _TaskTimes) -> bytearray:
        """Read output ``rel`` while its producer writes it (see Fetch above); returns the whole blob.

        Each round trip asks for the next chunks of ``part:{task}`` and whether ``out:{task}`` exists yet;
        when nothing new arrived it pauses (0.5 ms, backing off to 5 ms), so a reader costs little while
        the producer computes. Records the run-relative time of the first chunk and the number of reads
        that returned data before the value was complete (``stream_first_chunk_ms``, ``stream_reads``).
        """
        task = rel[4:]
        out, part = self.keys.k(rel), self.keys.part(task)
        buf = bytearray()
        step = 4 * fx.STREAM_CHUNK_BYTES
        deadline = time.monotonic() + self.timeout_s
        pause = 0.0005
        while True:
            async with self.r.pipeline(transaction=False) as pipe:
                pipe.getrange(part, len(buf), len(buf) + step - 1)
                pipe.strlen(out)
                chunk, complete = await pipe.execute()
            if complete:
                if len(buf) < complete:
                    buf += await self.r.getrange(out, len(buf), -1)
                return buf  # verified and unpickled as it is: no copy of a large value
            if chunk:
                if not buf:
                    tt.extra.setdefault("stream_first_chunk_ms", self._ms(time.time()))
                tt.extra["stream_reads"] = tt.extra.get("stream_reads", 0) + 1
                buf += chunk
                pause = 0.0005
                continue
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"worker {self.ws.name} waited {self.timeout_s:.0f}s for the streamed output of "
                    f"task {task!r} ({len(buf)} bytes read)"
                )
            if await self.r.strlen(part) < len(buf):
                buf.clear()  # a re-run of the producer started the value again
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.005)

    async def _execute(self, e: fx.Execute) -> Any:
        task = e.task
        dup = e.label is not None  # a labelled duplicate (task-dup): its output is only used here
        tt = self._tt(task) if not dup else _TaskTimes(start=time.time())
        spec = self.rc.specs[task]
        call = spec.call
        if call is None:
            raise RunError(
                f"task {task!r} has no code to run (a workflow without TaskCall s, e.g. a trace, "
                "can only be simulated)"
            )
        if task in self.inputs:
            args, kwargs = self.inputs.pop(task)
        else:
            args, kwargs = call.args, call.kwargs
        parents = self.rc.view.parents[task]
        objects = self.rc.view.stored_inputs[task]  # data:* objects count whoever fetched them here
        tt.input_bytes += spec.inline_bytes + sum(self.sizes.get(p, 0) for p in parents)
        tt.input_bytes += sum(self.sizes.get(k, 0) for k in objects if k.startswith("data:"))
        values: Any = self.values
        item = self.rc.view.item_input.get(task)
        if item is not None and item[0] not in values:
            # A copy that downloaded only its item: its Item(source, i) argument resolves to that item.
            source, index, key = item
            tt.input_bytes += self.sizes.get(key, 0)
            values = collections.ChainMap({source: {index: values[key]}}, values)
        context = f"out:{task}:{self.rc.run_id}"

        def work() -> tuple[Any, bytes, float]:
            a = resolve_refs(args, values)
            k = resolve_refs(kwargs, values)
            # exec_ms is the crowding meter's own interval; the CPU time and run-queue wait of this
            # thread and the process's CPU time (a library's own threads, e.g. BLAS) are read around
            # it: they tell a sleeping or I/O-bound task from a CPU-bound one, starved or not
            # (sim.models.records.busy_ms)
            try:
                out, times = cpu_meter.timed_call(call.fn, a, k)
            except BaseException:
                raise _TaskRaised(task, traceback.format_exc()) from None
            tt.crowding = times.crowding
            if not dup:
                # the exact exec interval: the record's end_ms is stamped when the event loop resumes,
                # tens of ms later in a throttled container, so end_ms - exec_ms misplaces the call
                tt.extra["exec_start_ms"] = round(self._ms(times.start_epoch), 3)
                tt.extra["cpu_ms"] = round(times.cpu_ms, 3)
                tt.extra["process_cpu_ms"] = round(times.process_cpu_ms, 3)
                if times.run_wait_ms is not None:
                    tt.extra["run_wait_ms"] = round(times.run_wait_ms, 3)
                if times.sys_cpu_ms is not None:
                    tt.extra["sys_cpu_ms"] = round(times.sys_cpu_ms, 3)
                    tt.extra["minor_faults"] = times.minor_faults
            return out, signing.dumps(out, context), times.exec_ms

        async with tasklog.capture(self.r, self.keys.k(f"log:{task}")) as log:
            if dup:  # a copy of a task that runs elsewhere too: that one says when the task started
                out, blob, ms = await asyncio.to_thread(work)
            else:
                started = self.r.set(self.keys.started(task), round(self._ms(time.time()), 1))
                _, (out, blob, ms) = await asyncio.gather(started, asyncio.to_thread(work))
        tt.log = log.lines
        self.values[task] = out
        if self.msg.attempt > 0:
            async with self.produced:
                self.produced.notify_all()
        if dup:
            self.sizes.setdefault(task, len(blob) - signing.HEADER)
            return out
        self.blobs[task] = blob
        self.sizes[task] = len(blob) - signing.HEADER
        tt.exec_ms = ms
        tt.output_bytes = len(blob) - signing.HEADER
        tt.end = time.time()
        self.pending_progress += 1
        if not self._needs_blob(task):
            self.blobs.pop(task, None)
        self._record(task)
        return out

    def _needs_blob(self, task: str) -> bool:
        return self.rc.view.needs_upload(task, self.ws.worker_id)

    async def _store(self, e: fx.Store) -> None:
        blob = self.blobs.pop(e.task, None)
        if blob is None and e.key:
            blob = signing.dumps(self.values[e.task], f"out:{e.task}:{self.rc.run_id}")
        tt = self.times[e.task]
        t = time.perf_counter()
        chunk = fx.STREAM_CHUNK_BYTES
        value, run_id = self.values[e.task], self.rc.run_id
        item_blobs = [signing.dumps(value[i], f"{k}:{run_id}") for i, k in enumerate(e.items)]
        async with self.r.pipeline(transaction=False) as pipe:
            for k, b in zip(e.items, item_blobs, strict=True):
                pipe.set(self.keys.k(k), b)
            if blob is None:
                pass  # only the items: every consumer is a copy
            elif e.stream and len(blob) > chunk:
                tt.extra["upload_start_ms"] = self._ms(time.time())
                part, view = self.keys.part(e.task), memoryview(blob)
                # One awaited write per chunk, so a reader sees each chunk as soon as it lands. SET first:
                # a leftover of a dead attempt is overwritten, not appended to.
                await self.r.set(part, view[:chunk])
                for off in range(chunk, len(blob), chunk):
                    await self.r.append(part, view[off : off + chunk])
                pipe.rename(part, self.keys.k(e.key))
            else:
                pipe.set(self.keys.k(e.key), blob)
            self._progress(pipe)
            await pipe.execute()
        ms = (time.perf_counter() - t) * 1000.0
        stored = [b for b in (blob, *item_blobs) if b is not None]
        tt.upload = Transfer(sum(len(b) - signing.HEADER for b in stored), ms)
        tt.end = time.time()
        self._amend(e.task)

    async def _incr(self, e: fx.Incr) -> list[int]:
        n = self.rc.view.n_parents
        owns, needs = [], []
        for k in e.keys:
            child = k[3:] if k.startswith("dc:") else None
            owns.append(self.keys.own(child) if child in n else self.keys.own("-"))
            needs.append(n[child] if child in n else 0)  # 0: a plain set counter (e.g. sinks-done)
        keys = [self.keys.k(k) for k in e.keys] + owns
        argv = [e.task, self.owner] + needs
        if self.pending_progress:
            async with self.r.pipeline(transaction=False) as pipe:
                self._progress(pipe)
                pipe.evalsha(self.scripts["incr"], len(keys), *keys, *argv)
                res = (await pipe.execute())[-1]
        else:
            res = await self.r.evalsha(self.scripts["incr"], len(keys), *keys, *argv)
        return [int(x) for x in res]

    async def _claim(self, e: fx.Claim) -> list[bool]:
        keys = [self.keys.claim(w) for w in e.worker_ids]
        res = await self.r.evalsha(self.scripts["claim"], len(keys), *keys, self.owner)
        return [bool(int(x)) for x in res]

    async def _mark_ready(self, e: fx.MarkReady) -> None:
        worker = self.rc.view.worker
        async with self.r.pipeline(transaction=False) as pipe:
            for t in e.tasks:
                pipe.set(self.keys.ready(t), b"1")
            for t in e.tasks:
                pipe.publish(self.keys.ready_channel(worker[t] or ""), t)
            self._progress(pipe)
            await pipe.execute()

    async def _complete(self, e: fx.Complete) -> None:
        now_ms = time.time() * 1000.0
        async with self.r.pipeline(transaction=False) as pipe:
            self._progress(pipe)
            pipe.set(self.keys.done(e.task), repr(now_ms))
            pipe.publish(self.keys.events, f"done:{e.task}")
            await pipe.execute()

    async def _invoke(self, e: fx.Invoke) -> None:
        await invoke(
            self.r,
            self.scripts["invoke"],
            self.keys,
            self.msg,
            self.ws.name,
            e.invocations,
            self.values,
            self.rc,
        )
        self.invoked.extend(invocation_id(i) for i in e.invocations)

    async def _spawn(self, e: fx.Spawn) -> asyncio.Task:
        task = asyncio.ensure_future(self.execute_branch(e.branch))
        self.spawned.add(task)
        task.add_done_callback(self.spawned.discard)
        return task

    async def _join(self, e: fx.Join) -> None:
        if e.handles:
            await asyncio.gather(*e.handles)

    def _future(self, task: str) -> asyncio.Future:
        fut = self.ready_futs.get(task)
        if fut is None:
            fut = self.ready_futs[task] = asyncio.get_running_loop().create_future()
        return fut

    def on_ready_message(self, task: str) -> None:
        fut = self._future(task)
        if not fut.done():
            fut.set_result(None)

    async def _wait_ready(self, e: fx.WaitReady) -> None:
        # The subscription to this worker's ready channel was made when the worker started, before
        # any effect ran: a flag set from now on also arrives as a message, one set earlier is read here.
        await self._wait_flag(e.task)

    async def _wait_flag(self, task: str) -> None:
        fut = self._future(task)
        if fut.done():
            return
        if await self.r.exists(self.keys.ready(task)):
            self.on_ready_message(task)
            return
        try:
            await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
        except TimeoutError:
            raise WaitTimeout(
                f"worker {self.ws.name} waited {self.timeout_s:.0f}s for task {task!r} to become ready "
                f"(parents: {', '.join(self.rc.view.parents[task])})"
            ) from None

    async def _await_local_outputs(self, task: str, missing: list[str]) -> set[str]:
        """Re-run: the keys among ``missing`` that are outputs planned on this worker, once this attempt
        has produced them again (they are then in ``self.values`` and need no download)."""
        me, worker = self.ws.worker_id, self.rc.view.worker
        if me is None:
            return set()
        local = [rel[4:] for rel in missing if rel.startswith("out:") and worker.get(rel[4:]) == me]
        try:
            async with self.produced:
                await asyncio.wait_for(
                    self.produced.wait_for(lambda: all(p in self.values for p in local)), self.timeout_s
                )
        except TimeoutError:
            raise WaitTimeout(
                f"re-run of worker {self.ws.name} waited {self.timeout_s:.0f}s for its own parents "
                f"of task {task!r} ({', '.join(local)})"
            ) from None
        return {f"out:{p}" for p in local}

    async def _notify(self, e: fx.Notify) -> None:
        self.on_ready_message(e.task)

    async def _prewarm(self, e: fx.Prewarm) -> None:
        m = self.msg
        req = InvocationMsg(
            m.run_id,
            f"prewarm:{time.time_ns()}",
            None,
            e.memory_mb,
            (),
            m.t0,
            time.time(),
            self.ws.name,
            m.timeout_s,
            kind="prewarm",
            delay_ms=e.delay_ms,
        )
        await self.r.rpush(self.keys.invoke, req.encode())

    async def _wait_stored(self, e: fx.WaitStored) -> None:
        # Outputs are written with one SET: polling the key (backing off to 20 ms) is cheap and cannot
        # miss a write, unlike a notification.
        key = self.keys.k(f"out:{e.task}")
        deadline = time.monotonic() + self.timeout_s
        pause = 0.002
        while not await self.r.exists(key):
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"worker {self.ws.name} waited {self.timeout_s:.0f}s for the output of "
                    f"task {e.task!r} to be stored"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)

    async def _peek(self, e: fx.Peek) -> list[frozenset[str]]:
        async with self.r.pipeline(transaction=False) as pipe:
            for k in e.keys:
                pipe.smembers(self.keys.k(k))
            res = await pipe.execute()
        return [frozenset(x.decode() if isinstance(x, bytes) else str(x) for x in members) for members in res]

    async def _expand(self, e: fx.Expand) -> int:
        """The width of dynamic node ``e.node``: the length of its source's output when it ran (or was
        fetched) here, recorded with SET NX (a re-run keeps the first width); else the recorded one."""
        key = self.keys.k(fx.width_key(e.node))
        (source,) = self.rc.view.parents[e.node]
        if source in self.values:
            async with self.r.pipeline(transaction=False) as pipe:
                pipe.set(key, len(self.values[source]), nx=True)
                pipe.get(key)
                width = (await pipe.execute())[-1]
        else:
            width = await self.r.get(key)
        if width is None:
            raise MissingValue(
                f"worker {self.ws.name}: the width of dynamic node {e.node!r} is not in the store "
                f"(its source {source!r} has not finished; run {self.rc.run_id})"
            )
        return int(width)

    async def _cleanup(self, e: fx.Cleanup) -> None:
        """Remove the run's intermediate keys (not the sinks' outputs, which the client reads).

        The sinks are the members of ``sinks-done`` (complete when cleanup runs): a worker started with a
        plan fragment does not know every task."""
        sinks = {
            self.keys.k(f"out:{m.decode() if isinstance(m, bytes) else m}")
            for m in await self.r.smembers(self.keys.k(fx.SINKS_DONE_KEY))
        }
        doomed: list[Any] = []
        for pattern in ("out:*", "dc:*", "own:*", "in:*", "data:*", "ready:*", "part:*", "width:*", "item:*"):
            doomed += [k async for k in self.r.scan_iter(match=self.keys.k(pattern), count=1000)]
        doomed = [k for k in doomed if (k.decode() if isinstance(k, bytes) else k) not in sinks]
        for i in range(0, len(doomed), 1000):
            await self.r.unlink(*doomed[i : i + 1000])

    # -- records -----------------------------------------------------------------------------------
    def _record(self, task: str) -> None:
        tt = self.times[task]
        spec = self.rc.specs[task]
        rec = TaskRecord(
            run_id=self.rc.run_id,
            workflow_type=self.rc.workflow_type,
            planner=self.rc.planner,
            function=spec.function,
            task_id=task,
            worker_id=self.ws.name,
            memory_mb=self.ws.memory_mb,
            cpus=cpus_for_memory(self.ws.memory_mb),
            input_bytes=tt.input_bytes,
            output_bytes=tt.output_bytes,
            exec_ms=tt.exec_ms,
            downloads=list(tt.downloads),
            upload=None,
            start_ms=self._ms(tt.start),
            end_ms=self._ms(tt.end),
            concurrency=tt.crowding.concurrency if tt.crowding else None,
            cpu_share=tt.crowding.cpu_share if tt.crowding else None,
            cpu_limit=cpu_meter.cpu_limit(),
            extra={
                "source": "real",
                "invocation": self.owner,
                "attempt": self.msg.attempt,
                **({"log": tt.log} if tt.log else {}),
                **dynamic.record_extra(spec),
                **tt.extra,
            },
        )
        self.records.append(to_dict(rec))

    def _amend(self, task: str) -> None:
        """Add the upload to the task's record (written at Execute)."""
        tt = self.times[task]
        for rec in reversed(self.records):
            if rec.get("kind") == "task" and rec["task_id"] == task:
                rec["upload"] = {"bytes": tt.upload.bytes, "ms": tt.upload.ms} if tt.upload else None
                rec["end_ms"] = self._ms(tt.end)
                rec.update(tt.extra)  # records are flat: extras sit beside the fields
                break

    def worker_record(
        self,
        state: str,
        startup_ms: float,
        launcher_ms: float,
        cold_ms: float,
        plan_source: str = "fetched",
        queued_ms: float = 0.0,
    ) -> None:
        """``plan_source``: how the worker got its plan (``fetched``, ``cached`` by a warm worker, ``inline``);
        ``queued_ms``: how long its request waited for a free container at the launcher's cap."""
        rec = WorkerRecord(
            run_id=self.rc.run_id,
            worker_id=self.ws.name,
            memory_mb=self.ws.memory_mb,
            state=state if state in ("cold", "warm") else "warm",
            startup_ms=max(0.0, startup_ms),
            extra={
                "source": "real",
                "invocation": self.owner,
                "attempt": self.msg.attempt,
                "launcher_startup_ms": launcher_ms,
                "start_ms": cold_ms,
                "plan": plan_source,
                "queued_ms": queued_ms,
                # the GIL switch interval: how long a running task can keep the loop from its next hand-off
                "gil_switch_ms": sys.getswitchinterval() * 1000.0,
                # whether freed heap memory is kept for the next allocation (launcher option keep_heap)
                "keep_heap": keeps_heap(os.environ),
            },
        )
        self.records.append(to_dict(rec))


class _TaskRaised(Exception):
    def __init__(self, task: str, tb: str) -> None:
        super().__init__(task)
        self.task = task
        self.tb = tb


def _load_all(rels: list[str], raw: list[bytes], run_id: str) -> list[Any]:
    out = []
    for rel, v in zip(rels, raw, strict=True):
        ctx = f"{rel}:{run_id}"
        out.append(signing.loads(v, ctx))
    return out


def invocation_msgs(
    parent: InvocationMsg,
    by: str,
    invocations: tuple[fx.Invocation, ...],
    values: dict[str, Any] | None = None,
    rc: RunContext | None = None,
) -> list[InvocationMsg]:
    """The messages of the logic's invocations: carried outputs and (inline-plan) the plan fragment inside."""
    now = time.time()
    out = []
    for inv in invocations:
        carried = {
            p: cloudpickle.dumps(values[p], protocol=5)
            for p in inv.carried
            if values is not None and p in values
        }
        plan = rc.dump_fragment(inv.fragment) if rc is not None and inv.fragment is not None else b""
        out.append(
            InvocationMsg(
                parent.run_id,
                invocation_id(inv),
                inv.worker_id,
                inv.memory_mb,
                tuple(inv.tasks),
                parent.t0,
                now,
                by,
                parent.timeout_s,
                carried=carried,
                plan=plan,
            )
        )
    return out


async def invoke(
    r: aioredis.Redis,
    sha: str,
    keys: RunKeys,
    parent: InvocationMsg,
    by: str,
    invocations: tuple[fx.Invocation, ...],
    values: dict[str, Any] | None = None,
    rc: RunContext | None = None,
) -> int:
    """Register and request invocations (deduplicated by invocation id); returns how many were new."""
    argv: list[Any] = []
    for msg in invocation_msgs(parent, by, invocations, values, rc):
        argv += [msg.inv_id, msg.encode()]
    return int(await r.evalsha(sha, 2, keys.invs, keys.invoke, *argv))


async def load_scripts(r: aioredis.Redis) -> dict[str, str]:
    """Register the Lua scripts (idempotent) and return their SHAs."""
    shas = await asyncio.gather(r.script_load(INCR_LUA), r.script_load(CLAIM_LUA), r.script_load(INVOKE_LUA))
    return dict(zip(("incr", "claim", "invoke"), shas, strict=True))


def report_error_payload(task: str | None, worker: str, tb: str, kind: str = "task") -> bytes:
    return json.dumps({"task": task, "worker": worker, "traceback": tb, "kind": kind}).encode()


async def report_error(
    r: aioredis.Redis, keys: RunKeys, task: str | None, worker: str, tb: str, kind: str
) -> None:
    """First error wins (SET NX); the client is woken on the events channel."""
    with contextlib.suppress(Exception):
        async with r.pipeline(transaction=False) as pipe:
            pipe.set(keys.error, report_error_payload(task, worker, tb, kind), nx=True)
            pipe.publish(keys.events, "error")
            await pipe.execute()
