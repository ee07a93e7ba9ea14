"""The runtime's client: plan a workflow, run it for real on Redis + workers, get the result and a report.

::

    report = run_workflow(load_workflow("gemm"), planner="non-uniform", launcher="docker")
    print(report.result, report.makespan_ms, report.cold_starts, report.warm_starts)

What a run does:

1. plan with the same planner objects the simulator uses (or take a given :class:`~sim.models.plan.Plan`);
2. store the plan once (signed cloudpickle, task code included; functions of modules a worker cannot
   import are pickled by value) and the stored argument data: each large argument object once
   (``data:{object}``, however many tasks read it; the stored plan refers to it), or a task's whole
   arguments (``in:{task}``) when the workflow has no per-object detail;
3. subscribe to the run's events channel, *then* run the logic's ``submit_workflow`` (claims and
   invocations) and serve the invocation list: every invocation, whoever asked for it, is started here
   through the launcher, so the client knows each job and can re-submit it if its worker dies;
4. wait, with a timeout, until every sink's ``done`` flag exists (checked after subscribing, so a fast run
   is never missed) or the ``error`` flag appears; show progress (tasks done / total);
5. always: set ``stop``, wait for the jobs to end, collect the metric records, delete every key of the run
   (``SCAN`` + pipelined ``DEL``) and close the launcher if this run created it.

Faults: a task that raises gives :class:`~runtime.driver.TaskFailed` naming the task with the remote
traceback; a worker that dies (the launcher's probe, or its heartbeat expiring) has its invocation
re-submitted (idempotent counters and invocation ids make that safe); Redis unreachable gives
:class:`RedisUnavailable`; every wait has a timeout whose message names what was awaited.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import redis

from runtime import signing
from runtime.driver import (
    CLAIM_LUA,
    INVOKE_LUA,
    InvocationMsg,
    RunContext,
    RunError,
    RunKeys,
    TaskFailed,
    WaitTimeout,
    invocation_msgs,
)
from runtime.launchers.base import (
    LauncherError,
    PooledLauncher,
    WorkerDied,
    WorkerStartError,
    check_memory_sizes,
)
from runtime.requirements import RequirementSet, check_installed, collect
from runtime.services import masked_url
from sim.extras import missing_message
from sim.models.plan import Plan
from sim.models.records import RunRecord, TaskRecord, WorkerRecord, from_dict
from sim.worker import effects as fx
from sim.worker.logic import INLINE_PLAN, PlanView, submit_workflow
from sim.workflow.dag import TaskCall, Workflow, WorkflowError
from sim.workflow.language import Ref, TaskNode, _same_tuple

__all__ = [
    "RedisUnavailable",
    "check_redis",
    "RunError",
    "RunReport",
    "TaskFailed",
    "WaitTimeout",
    "make_launcher",
    "resolve_redis_url",
    "run_sink",
    "run_workflow",
]

ProgressFn = Callable[[int, int], None]
_PROJECT_PACKAGES = ("sim", "runtime")


class RedisUnavailable(RunError):
    """Redis could not be reached (or went away during the run)."""


def resolve_redis_url(url: str | None = None) -> str | None:
    """``url``, else ``$PLANSIM_REDIS_URL``, else the server ``plansim runtime up`` started, else None."""
    if url:
        return url
    if os.environ.get("PLANSIM_REDIS_URL"):
        return os.environ["PLANSIM_REDIS_URL"]
    from runtime.services import load_state, ping

    state = load_state()
    if state is not None and ping(state.url):
        return state.url
    return None


def make_launcher(
    kind: str,
    redis_url: str,
    run_id: str | None = None,
    requirements: RequirementSet | None = None,
    **pool: Any,
) -> PooledLauncher:
    """A launcher whose workers run the real worker entrypoint and know the signing key.

    With ``requirements``, Docker workers run the derived image that has them (built once per set).
    Process workers run this interpreter: :func:`run_workflow` checks it has them before starting.
    """
    signing.get_key()  # exported to the environment: process workers inherit it
    pool.setdefault("serve_invocations", False)  # the client serves this runtime's invocations
    if kind == "process":
        from runtime.launchers.process_launcher import ProcessLauncher

        pool.pop("cpu_period_us", None)  # process workers have no CPU quota to shape
        return ProcessLauncher(redis_url, run_id, **pool)
    if kind == "docker":
        return _docker_launcher(redis_url, run_id, requirements, **pool)
    raise ValueError(f"unknown launcher {kind!r}: use docker or process")


def _docker_launcher(
    redis_url: str, run_id: str | None, requirements: RequirementSet | None, **pool: Any
) -> PooledLauncher:
    try:
        import docker
    except ImportError:
        raise ValueError(missing_message("docker", "a Docker run")) from None
    from runtime.image import ImageBuildError, build_image
    from runtime.launchers.docker_launcher import DockerLauncher
    from runtime.req_image import build_derived_image

    class SignedDockerLauncher(DockerLauncher):
        """Passes the deployment's HMAC key to the containers (the base launcher's env has no hook)."""

        def _worker_env(self, worker_id: str, memory_mb: int) -> dict[str, str]:
            env = super()._worker_env(worker_id, memory_mb)
            env[signing.ENV_KEY] = signing.key_hex()
            return env

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        raise ValueError(
            f"Docker engine not reachable ({str(exc).splitlines()[0][:160]}); start it or use "
            "--launcher process"
        ) from None
    try:
        image = pool.pop("image", None) or build_image(client=client, progress=lambda m: None).tag
        if requirements:
            image = build_derived_image(requirements, client=client, worker_image=image).tag
    except ImageBuildError as exc:
        raise RunError(f"the worker image could not be built: {str(exc).splitlines()[0]}") from None
    return SignedDockerLauncher(redis_url, run_id, image=image, client=client, **pool)


# --- the report -------------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What a real run produced."""

    run_id: str
    plan: Plan
    results: dict[str, Any]
    makespan_ms: float
    wall_s: float
    invocations: int
    cold_starts: int
    warm_starts: int
    tasks_executed: int
    reruns: int
    records: list[TaskRecord | WorkerRecord | RunRecord]
    launcher: str
    invoked: list[tuple[str | None, tuple[str, ...]]] = field(default_factory=list)
    keys_left: int = 0

    @property
    def result(self) -> Any:
        """The single sink's output (or ``{sink: output}`` when there are several)."""
        if len(self.results) == 1:
            return next(iter(self.results.values()))
        return self.results

    @property
    def task_records(self) -> list[TaskRecord]:
        return [r for r in self.records if isinstance(r, TaskRecord)]

    def task_workers(self) -> dict[str, str]:
        """Task -> the worker that ran it (last attempt)."""
        return {r.task_id: r.worker_id for r in self.task_records}

    def uploaded(self) -> set[str]:
        return {r.task_id for r in self.task_records if r.upload is not None}

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "planner": self.plan.planner,
            "workflow": self.plan.workflow.name,
            "tasks": len(self.plan.workflow),
            "tasks_executed": self.tasks_executed,
            "reruns": self.reruns,
            "makespan_ms": round(self.makespan_ms, 3),
            "wall_s": round(self.wall_s, 3),
            "ms_per_task": round(self.makespan_ms / max(1, len(self.plan.workflow)), 4),
            "invocations": self.invocations,
            "cold_starts": self.cold_starts,
            "warm_starts": self.warm_starts,
            "optimizations": sorted(self.plan.optimizations),
            "launcher": self.launcher,
            "keys_left": self.keys_left,
        }


# --- preparing the plan -----------------------------------------------------------------------------


def _by_value(fn: Any) -> None:
    """Pickle ``fn``'s module by value when a worker cannot import it (tests, scripts, notebooks)."""
    mod_name = getattr(fn, "__module__", None)
    if not mod_name or mod_name == "__main__" or mod_name.split(".")[0] in _PROJECT_PACKAGES:
        return
    mod = sys.modules.get(mod_name)
    path = getattr(mod, "__file__", None) or ""
    if mod is None or not path or "site-packages" in path or path.startswith(sys.base_prefix):
        return
    with contextlib.suppress(Exception):
        cloudpickle.register_pickle_by_value(mod)


def _prepare(plan: Plan, run_id: str) -> tuple[Plan, dict[str, bytes]]:
    """The plan as workers get it, and the stored inputs ``{rel key: signed blob}``.

    Each stored argument object of the workflow (``TaskSpec.extra["stored_args"]``: path in the call and
    object name) is uploaded once, to ``data:{name}``, and replaced in every call that uses it by a
    :class:`~sim.workflow.language.Ref` to that key, which the worker resolves like an upstream output
    after the logic fetched it (once per worker). A task with ``stored_input_bytes`` but no such detail
    gets its whole call arguments uploaded to ``in:{task}``. Either way the stored plan stays small.
    """
    wf = plan.workflow
    stored: dict[str, bytes] = {}
    replaced: dict[str, Any] = {}
    for t, spec in wf.tasks.items():
        call = spec.call
        if call is None:
            raise WorkflowError(
                f"task {t!r} has no code to run: a workflow without code (e.g. an imported "
                "trace) can only be simulated"
            )
        fn = getattr(call.fn, "fn", call.fn)
        _by_value(fn)
        objects = spec.extra.get("stored_args")
        if objects:
            args, kwargs = call.args, call.kwargs
            for obj in objects:
                key = fx.data_key(obj["key"])
                args, kwargs, value = _swap_out(args, kwargs, obj["path"], Ref(key))
                if key not in stored:  # shared by several tasks: uploaded once
                    stored[key] = signing.dumps(value, f"{key}:{run_id}")
            replaced[t] = dataclasses.replace(spec, call=TaskCall(call.fn, args, kwargs))
        elif spec.stored_input_bytes:
            stored[f"in:{t}"] = signing.dumps((call.args, call.kwargs), f"in:{t}:{run_id}")
            replaced[t] = dataclasses.replace(spec, call=TaskCall(call.fn, (), {}))
    if not replaced:
        return plan, stored
    wf2 = copy.copy(wf)
    wf2.graph = wf.graph.copy()
    for t, spec in replaced.items():
        wf2.graph.nodes[t]["spec"] = spec
    wf2._topo = None
    return dataclasses.replace(plan, workflow=wf2), stored


def _swap_out(args: tuple, kwargs: dict, path: str, placeholder: Any) -> tuple[tuple, dict, Any]:
    """Copies of ``args`` and ``kwargs`` with the value at ``path`` (``"args[0][1]"``, ``"kwargs['x']"``:
    how :meth:`Workflow.from_nodes` names a stored argument) replaced by ``placeholder``, and that value."""
    steps: list[Any] = []
    node = ast.parse(path, mode="eval").body
    while isinstance(node, ast.Subscript):
        steps.append(ast.literal_eval(node.slice))
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in ("args", "kwargs") or not steps:
        raise WorkflowError(f"stored argument path {path!r} is not args[...] or kwargs[...]")
    steps.reverse()
    found: list[Any] = []

    def swap(container: Any, rest: list[Any]) -> Any:
        if not rest:
            found.append(container)
            return placeholder
        head, tail = rest[0], rest[1:]
        if isinstance(container, dict):
            return {**container, head: swap(container[head], tail)}
        items = list(container)
        items[head] = swap(items[head], tail)
        return items if isinstance(container, list) else _same_tuple(container, items)

    if node.id == "args":
        new_args, new_kwargs = swap(args, steps), kwargs
    else:
        new_args, new_kwargs = args, swap(kwargs, steps)
    return tuple(new_args), new_kwargs, found[0]


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class _Job:
    msg: InvocationMsg
    handle: Any = None
    hb_seen: bool = False
    hb_lost_at: float | None = None  # monotonic time the heartbeat was first seen missing
    replaced: bool = False


class _Run:
    def __init__(
        self,
        plan: Plan,
        r: redis.Redis,
        url: str,
        launcher: PooledLauncher,
        run_id: str,
        timeout_s: float,
        progress: ProgressFn | None,
        max_attempts: int,
        heartbeat_timeout_s: float = 60.0,
    ) -> None:
        self.plan = plan
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.r = r
        self.url = url
        self.launcher = launcher
        self.run_id = run_id
        self.keys = RunKeys(run_id)
        self.timeout_s = timeout_s
        self.progress = progress
        self.max_attempts = max_attempts
        self.view = PlanView(plan)
        self.jobs: dict[str, _Job] = {}
        self.handles: list[tuple[Any, InvocationMsg]] = []
        self.lock = threading.Lock()
        self.fatal: BaseException | None = None
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix=f"plansim-launch-{run_id}")
        self.timers: list[threading.Timer] = []
        self.server: threading.Thread | None = None
        self.reruns = 0
        self.t0 = 0.0
        self.claim_sha = ""
        self.invoke_sha = ""
        self.rc: RunContext | None = None  # the plan as workers get it: inline-plan fragments are cut from it

    # -- invocation service ----------------------------------------------------------------------
    def serve(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=10, socket_connect_timeout=5)
        try:
            while not self.stopping.is_set():
                try:
                    item = client.blpop([self.keys.invoke], timeout=0.2)
                except redis.RedisError as exc:
                    if not self.stopping.is_set():
                        self._set_fatal(
                            RedisUnavailable(
                                f"Redis at {masked_url(self.url)} became unreachable while serving invocations: {exc}"
                            )
                        )
                    return
                if item is None:
                    continue
                try:
                    msg = InvocationMsg.decode(item[1])
                except (signing.SignatureError, ValueError, KeyError) as exc:
                    print(
                        f"plansim: dropping an invocation request that failed verification: {exc}",
                        file=sys.stderr,
                    )
                    continue
                if msg.run_id != self.run_id:
                    continue
                if msg.kind == "prewarm":
                    self._prewarm_later(msg)
                else:
                    self.launch(msg, item[1])
        finally:
            client.close()

    def _prewarm_later(self, msg: InvocationMsg) -> None:
        def go() -> None:
            with contextlib.suppress(LauncherError):
                self.launcher.prewarm(msg.memory_mb, 1)

        timer = threading.Timer(msg.delay_ms / 1000.0, lambda: self.pool.submit(go))
        timer.daemon = True
        timer.start()
        self.timers.append(timer)

    def launch(self, msg: InvocationMsg, blob: bytes) -> None:
        job = _Job(msg)
        with self.lock:
            self.jobs[msg.inv_id] = job
        try:
            self.pool.submit(self._submit, job, blob)
        except RuntimeError:  # pool shut down: the run is ending
            pass

    def _submit(self, job: _Job, blob: bytes) -> None:
        if self.stopping.is_set():
            return
        try:
            handle = self.launcher.submit(job.msg.memory_mb, blob, timeout=self.timeout_s)
        except WorkerStartError as exc:
            # A container that dies while starting (killed, OOM at boot, engine hiccup) is the same
            # transient failure as one that dies mid-run: re-run, bounded by max_attempts, whose final
            # error still carries the worker's own output.
            if not self.stopping.is_set():
                self.resubmit(job, f"could not start a {job.msg.memory_mb} MB worker: {exc}")
            return
        except LauncherError as exc:
            if not self.stopping.is_set():
                self._set_fatal(
                    RunError(
                        f"could not start a {job.msg.memory_mb} MB worker for invocation {job.msg.inv_id} "
                        f"(tasks {', '.join(job.msg.tasks)}): {exc}"
                    )
                )
            return
        with self.lock:
            job.handle = handle
            self.handles.append((handle, job.msg))

    def _set_fatal(self, exc: BaseException) -> None:
        with self.lock:
            if self.fatal is None:
                self.fatal = exc

    def resubmit(self, job: _Job, why: str) -> None:
        with self.lock:
            if job.replaced:
                return
            job.replaced = True
        if job.msg.attempt + 1 >= self.max_attempts:
            self._set_fatal(
                RunError(
                    f"invocation {job.msg.inv_id} (tasks {', '.join(job.msg.tasks)}) failed "
                    f"{job.msg.attempt + 1} times; last: {why}"
                )
            )
            return
        self.reruns += 1
        msg = dataclasses.replace(
            job.msg, attempt=job.msg.attempt + 1, requested_at=time.time(), requested_by="client-rerun"
        )
        print(
            f"plansim: re-running invocation {msg.inv_id} (attempt {msg.attempt + 1}): {why}", file=sys.stderr
        )
        self.launch(msg, msg.encode())

    # -- supervision -----------------------------------------------------------------------------
    def check_jobs(self, check_heartbeats: bool) -> None:
        with self.lock:
            jobs = [j for j in self.jobs.values() if j.handle is not None and not j.replaced]
        running = []
        for job in jobs:
            h = job.handle
            if h.done():
                try:
                    rec = h.wait(0)
                except WorkerDied as exc:
                    self.resubmit(job, str(exc).splitlines()[0][:200])
                    continue
                except LauncherError as exc:
                    if not self.stopping.is_set():
                        self._set_fatal(RunError(f"invocation {job.msg.inv_id}: {exc}"))
                    continue
                if not rec.ok:
                    self._set_fatal_later(job, rec.error or "")
            else:
                running.append(job)
        if check_heartbeats and running:
            with self.r.pipeline(transaction=False) as pipe:
                for job in running:
                    pipe.exists(self.keys.hb(job.msg.inv_id))
                alive = pipe.execute()
            now = time.monotonic()
            for job, ok in zip(running, alive, strict=True):
                if ok:
                    job.hb_seen, job.hb_lost_at = True, None
                elif job.hb_seen and not job.handle.done():
                    job.hb_lost_at = job.hb_lost_at or now
                    if now - job.hb_lost_at >= self.heartbeat_timeout_s:
                        self.declare_dead(job)

    def declare_dead(self, job: _Job) -> None:
        """A worker silent for too long (hung, or cut off from Redis): stop it, then re-run its invocation.

        It is stopped first so that a worker id never runs in two containers at once; a worker that died
        (process or container gone) is found sooner by the launcher's probe, which fails its job.
        """
        why = (
            f"no heartbeat from worker {job.handle.worker_id} for {self.heartbeat_timeout_s:.0f}s "
            f"(invocation {job.msg.inv_id})"
        )
        stop = getattr(self.launcher, "_stop_worker", None)
        workers = getattr(self.launcher, "_workers", None)
        w = workers.get(job.handle.worker_id) if isinstance(workers, dict) else None
        if stop is not None and w is not None:
            with contextlib.suppress(Exception):
                stop(w.backend)
        self.resubmit(job, why)

    def _set_fatal_later(self, job: _Job, remote: str) -> None:
        # A failed job reports a task error through the error flag first; this covers anything else.
        err = self.read_error()
        if err is not None:
            self._set_fatal(err)
        else:
            self._set_fatal(
                RunError(
                    f"invocation {job.msg.inv_id} failed on worker {job.handle.worker_id}:\n{remote.rstrip()}"
                )
            )

    def read_error(self) -> RunError | None:
        raw = self.r.get(self.keys.error)
        if raw is None:
            return None
        d = json.loads(raw)
        if d.get("kind") == "task":
            return TaskFailed(d["task"], d["traceback"], d.get("worker", "?"))
        return RunError(f"worker {d.get('worker', '?')} failed:\n{d['traceback'].rstrip()}")

    # -- submission (the logic's client part, driven synchronously) --------------------------------
    def submit(self) -> None:
        base = InvocationMsg(self.run_id, "client", None, 0, (), self.t0, self.t0, "client", self.timeout_s)
        gen = submit_workflow(self.view)
        send: Any = None
        while True:
            try:
                effect = gen.send(send)
            except StopIteration:
                return
            if isinstance(effect, fx.Claim):
                keys = [self.keys.claim(w) for w in effect.worker_ids]
                res = self.r.evalsha(self.claim_sha, len(keys), *keys, "client")
                send = [bool(int(x)) for x in res]
            elif isinstance(effect, fx.Invoke):
                # As few round trips as possible (one call up to ~1 MB of messages): the workers start
                # when their messages land, and with inline-plan the fragments cost ~0.01 ms each to
                # make (cut from records made before the run, see runtime.fragment).
                argv: list[Any] = []
                size = 0
                for msg in invocation_msgs(base, "client", effect.invocations, None, self.rc):
                    blob = msg.encode()
                    argv += [msg.inv_id, blob]
                    size += len(blob)
                    if size > 1 << 20:
                        self.r.evalsha(self.invoke_sha, 2, self.keys.invs, self.keys.invoke, *argv)
                        argv, size = [], 0
                if argv:
                    self.r.evalsha(self.invoke_sha, 2, self.keys.invs, self.keys.invoke, *argv)
                send = None
            elif isinstance(effect, fx.Prewarm):
                self._prewarm_later(
                    InvocationMsg(
                        self.run_id,
                        "prewarm",
                        None,
                        effect.memory_mb,
                        (),
                        self.t0,
                        time.time(),
                        "client",
                        self.timeout_s,
                        kind="prewarm",
                        delay_ms=effect.delay_ms,
                    )
                )
                send = None
            else:
                raise RunError(f"the client cannot perform {type(effect).__name__}")

    # -- cleanup ---------------------------------------------------------------------------------
    def stop_and_drain(self, grace_s: float = 10.0) -> None:
        with contextlib.suppress(redis.RedisError):
            self.r.set(self.keys.stop, b"1")
        self.stopping.set()
        for timer in self.timers:
            timer.cancel()
        if self.server is not None:
            self.server.join(timeout=5)
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace_s
        with self.lock:
            handles = [h for h, _ in self.handles]
        for h in handles:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(Exception):
                h.wait(remaining)

    def delete_keys(self) -> int:
        """Delete every key of the run; returns how many keys are left afterwards (should be 0)."""
        pattern = self.keys.prefix + "*"
        for _ in range(3):
            keys = list(self.r.scan_iter(match=pattern, count=1000))
            if not keys:
                return 0
            with self.r.pipeline(transaction=False) as pipe:
                for i in range(0, len(keys), 500):
                    pipe.delete(*keys[i : i + 500])
                pipe.execute()
        return sum(1 for _ in self.r.scan_iter(match=pattern, count=1000))


def _connect(url: str) -> redis.Redis:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    r = redis.Redis.from_url(
        url,
        socket_timeout=30,
        socket_connect_timeout=5,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
    try:
        r.ping()
    except redis.AuthenticationError as exc:
        raise RedisUnavailable(f"Redis at {masked_url(url)} refused the credentials: {exc}") from None
    except redis.RedisError as exc:
        raise RedisUnavailable(
            f"Redis at {masked_url(url)} is not reachable: {exc} (start one with "
            "`plansim runtime up`, or pass --redis URL)"
        ) from None
    return r


def check_redis(url: str) -> None:
    """Raise :class:`RedisUnavailable` now if Redis at ``url`` does not answer: a command that plans
    before its real runs checks its ``--redis`` first, so a dead URL is one error line, not a plan
    printed and then every run failing."""
    _connect(url).close()


def _plan_for(
    wf: Workflow, planner: Any, sla: Any, models: Any, memory_sizes: Any, optimizations: Any = None
) -> Plan:
    from sim.planners import PlannerConfig, get_planner, make_plan

    if hasattr(planner, "plan") and not isinstance(planner, str):
        return make_plan(planner, wf)
    cfg: dict[str, Any] = {}
    if sla is not None:
        cfg["sla"] = sla
    if models is not None:
        from sim.models.performance import PerformanceModels

        cfg["models"] = models if isinstance(models, PerformanceModels) else PerformanceModels.load(models)
    if memory_sizes:
        cfg["memory_sizes"] = tuple(memory_sizes)
    if optimizations:
        cfg["optimizations"] = frozenset(optimizations)
    return make_plan(get_planner(str(planner), PlannerConfig(**cfg)), wf)


def run_workflow(
    wf: Workflow | str,
    planner: Any = "wukong",
    launcher: str | PooledLauncher = "process",
    redis_url: str | None = None,
    *,
    plan: Plan | None = None,
    models: Any = None,
    sla: Any = None,
    memory_sizes: Any = None,
    optimizations: Any = None,
    timeout_s: float = 300.0,
    progress: ProgressFn | None = None,
    keep_alive_s: float = 7.0,
    max_workers: int = 64,
    max_attempts: int = 3,
    heartbeat_timeout_s: float = 60.0,
    store_metrics: bool = True,
    run_id: str | None = None,
    requirements_file: str | Path | None = None,
    cpu_period_us: int | None = None,
    switch_interval_ms: float | None = None,
    keep_heap: bool = True,
) -> RunReport:
    """Run ``wf`` (a workflow, or a known type like ``"tree_reduction:leaves=64"``) for real.

    ``launcher`` is ``"process"``, ``"docker"`` or a launcher instance (kept open: its warm workers serve
    later runs). ``redis_url`` defaults to ``$PLANSIM_REDIS_URL``, then the server of ``plansim runtime
    up``, then a private server started for this run. Raises :class:`TaskFailed`, :class:`WaitTimeout`,
    :class:`RedisUnavailable` or :class:`RunError`; whatever happens, the run's keys are deleted.

    The workers need the pip requirements of the workflow's functions (``@task(requirements=...)``)
    plus those of ``requirements_file``: a Docker launcher made here runs them in a derived image (see
    :mod:`runtime.req_image`); a process launcher needs them installed in this interpreter. Conflicting
    or missing requirements raise :class:`~runtime.requirements.RequirementsError` before anything starts.

    ``cpu_period_us`` is the CFS period of a Docker launcher made here (default
    :data:`~runtime.launchers.docker_launcher.DEFAULT_CPU_PERIOD_US`; 0 = Docker's ``--cpus``).
    ``switch_interval_ms`` is the GIL switch interval of the workers of a launcher made here (default:
    1 ms, ``DEFAULT_SWITCH_INTERVAL_MS``; see :class:`~runtime.launchers.base.PooledLauncher`), and
    ``keep_heap`` whether they keep freed heap memory (glibc settings, same class).
    """
    if isinstance(wf, str):
        from sim.workflow.library import load_workflow

        wf = load_workflow(wf)
    if not timeout_s > 0:  # nan too
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    started = time.monotonic()
    if plan is None:
        plan = _plan_for(wf, planner, sla, models, memory_sizes, optimizations)
    plan.validate()
    check_memory_sizes(c.memory_mb for c in plan.configs.values())
    requirements = collect(plan.workflow, requirements_file)
    launcher_kind = launcher if isinstance(launcher, str) else getattr(launcher, "kind", "custom")
    if requirements and launcher_kind == "process":
        check_installed(requirements)  # before a Redis server or any key exists
    signing.get_key()

    own_server = None
    url = resolve_redis_url(redis_url)
    if url is None:
        from runtime.services import RedisServer

        own_server = RedisServer().start()
        url = own_server.url
    try:
        return _run(
            plan,
            url,
            launcher,
            timeout_s,
            progress,
            keep_alive_s,
            max_workers,
            max_attempts,
            store_metrics,
            run_id,
            started,
            heartbeat_timeout_s,
            requirements,
            cpu_period_us,
            switch_interval_ms,
            keep_heap,
        )
    finally:
        if own_server is not None:
            own_server.stop()


def _run(
    plan: Plan,
    url: str,
    launcher: str | PooledLauncher,
    timeout_s: float,
    progress: ProgressFn | None,
    keep_alive_s: float,
    max_workers: int,
    max_attempts: int,
    store_metrics: bool,
    run_id: str | None,
    started: float,
    heartbeat_timeout_s: float = 60.0,
    requirements: RequirementSet | None = None,
    cpu_period_us: int | None = None,
    switch_interval_ms: float | None = None,
    keep_heap: bool = True,
) -> RunReport:
    from sim.engine.simulator import workflow_type

    run_id = run_id or f"r{uuid.uuid4().hex[:10]}"
    r = _connect(url)
    owned = isinstance(launcher, str)
    launcher_kind = launcher if isinstance(launcher, str) else getattr(launcher, "kind", "custom")
    wf = plan.workflow
    keys = RunKeys(run_id)
    sinks = sorted(PlanView(plan).sinks)
    meta = {"workflow_type": workflow_type(wf), "timeout_s": timeout_s, "workflow": wf.name}
    run: _Run | None = None
    lch: PooledLauncher | None = None
    records: list[Any] = []
    results: dict[str, Any] = {}
    done_ms: list[float] = []
    invoked: list[tuple[str | None, tuple[str, ...]]] = []
    keys_left = -1
    host_load: dict[str, float] = {}
    pubsub = None
    try:
        try:
            worker_plan, stored = _prepare(plan, run_id)
            with r.pipeline(transaction=False) as pipe:
                pipe.set(keys.plan, RunContext.dump(run_id, worker_plan, meta))
                for rel, blob in stored.items():
                    pipe.set(keys.k(rel), blob)
                pipe.execute()
            if owned:
                lch = make_launcher(
                    str(launcher),
                    url,
                    run_id,
                    requirements,
                    keep_alive_s=keep_alive_s,
                    max_workers=max_workers,
                    acquire_timeout=timeout_s,
                    **({"cpu_period_us": cpu_period_us} if cpu_period_us is not None else {}),
                    switch_interval_ms=switch_interval_ms,
                    keep_heap=keep_heap,
                )
            else:
                lch = launcher  # type: ignore[assignment]
            run = _Run(plan, r, url, lch, run_id, timeout_s, progress, max_attempts, heartbeat_timeout_s)
            if INLINE_PLAN in plan.optimizations:
                run.rc = RunContext(run_id, worker_plan, meta)
                run.rc.fragments().make_all()  # before the run starts, as the stored plan is
            run.claim_sha = r.script_load(CLAIM_LUA)
            run.invoke_sha = r.script_load(INVOKE_LUA)
            pubsub = r.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(keys.events)
            run.server = threading.Thread(target=run.serve, name=f"plansim-invocations-{run_id}", daemon=True)
            run.server.start()
            run.t0 = time.time()
            host_load = _host_load()
            run.submit()
            done_ms = _wait(run, pubsub, sinks)
            raw = r.mget([keys.k(f"out:{s}") for s in sinks])
            for s, v in zip(sinks, raw, strict=True):
                if v is None:
                    raise RunError(f"sink {s!r} is done but its output is missing from the store")
                results[s] = signing.loads(v, f"out:{s}:{run_id}")
        except redis.RedisError as exc:
            raise RedisUnavailable(
                f"Redis at {masked_url(url)} became unreachable during run {run_id}: {exc}"
            ) from None
    finally:
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()
        if run is not None:
            run.stop_and_drain()
        if owned and lch is not None:
            with contextlib.suppress(Exception):
                lch.close()
        with contextlib.suppress(redis.RedisError):
            for raw_rec in r.lrange(keys.records, 0, -1):
                with contextlib.suppress(Exception):
                    records.append(from_dict(json.loads(raw_rec)))
            for blob in r.hvals(keys.invs):
                with contextlib.suppress(Exception):
                    m = InvocationMsg.decode(blob)
                    invoked.append((m.worker_id, m.tasks))
        if run is not None:
            with contextlib.suppress(redis.RedisError):
                keys_left = run.delete_keys()
        else:
            with contextlib.suppress(redis.RedisError):
                keys_left = _Run(plan, r, url, None, run_id, 1, None, 1).delete_keys()  # type: ignore[arg-type]
    assert run is not None
    makespan = max(done_ms) - run.t0 * 1000.0 if done_ms else 0.0
    with run.lock:
        leases = [h.lease for h, _ in run.handles]
    cold = sum(1 for lease in leases if lease.state == "cold")
    task_recs = [x for x in records if isinstance(x, TaskRecord)]
    run_rec = RunRecord(
        run_id=run_id,
        workflow_type=meta["workflow_type"],
        planner=plan.planner,
        sla=str(plan.sla),
        makespan_ms=makespan,
        extra={
            "source": "real",
            "workflow": wf.name,
            "launcher": launcher_kind,
            "invocations": len(leases),
            "cold_starts": cold,
            "warm_starts": len(leases) - cold,
            "tasks_executed": len(task_recs),
            "reruns": run.reruns,
            **host_load,
        },
    )
    records.append(run_rec)
    if store_metrics:
        with contextlib.suppress(Exception):
            from calibration.redis_store import RedisMetricsStore

            store = RedisMetricsStore(url)
            store.append(records)
            store.close()
    r.close()
    return RunReport(
        run_id=run_id,
        plan=plan,
        results=results,
        makespan_ms=makespan,
        wall_s=time.monotonic() - started,
        invocations=len(leases),
        cold_starts=cold,
        warm_starts=len(leases) - cold,
        tasks_executed=len(task_recs),
        reruns=run.reruns,
        records=records,
        launcher=launcher_kind,
        invoked=invoked,
        keys_left=keys_left,
    )


def _host_load() -> dict[str, float]:
    """The machine's 1-minute load average and CPU count as the run starts: on a shared host, start-ups
    and CPU-bound tasks slow down with it, so run records say how loaded the machine was."""
    try:
        return {"host_load_1m": round(os.getloadavg()[0], 2), "host_cpus": float(os.cpu_count() or 1)}
    except (AttributeError, OSError):
        return {}


def _wait(run: _Run, pubsub: Any, sinks: list[str]) -> list[float]:
    """Block until every sink is done (returns their epoch-ms completion times), or raise."""
    r, keys = run.r, run.keys
    total = len(run.plan.workflow)
    deadline = time.monotonic() + run.timeout_s
    last_hb = 0.0
    last_progress = -1
    done_keys = [keys.done(s) for s in sinks]
    while True:
        # Checked after subscribing: a flag set before the subscription is still seen here.
        with r.pipeline(transaction=False) as pipe:
            pipe.mget(done_keys)
            pipe.get(keys.error)
            pipe.get(keys.progress)
            pipe.exists(keys.plan)
            done, err, prog, plan_there = pipe.execute()
        if not plan_there:
            raise RedisUnavailable(
                f"Redis lost the keys of run {run.run_id} (restarted or flushed) while the client "
                f"waited for sink(s) {', '.join(sinks[:5])}"
            )
        if err is not None:
            raise run.read_error() or RunError("the run failed")
        n = int(prog or 0)
        if run.progress is not None and n != last_progress:
            last_progress = n
            run.progress(min(n, total), total)
        if all(v is not None for v in done):
            if run.progress is not None:
                run.progress(total, total)
            return [float(v) for v in done]
        if run.fatal is not None:
            raise run.fatal
        now = time.monotonic()
        if now > deadline:
            missing = [s for s, v in zip(sinks, done, strict=True) if v is None]
            with run.lock:
                active = [
                    j.msg.inv_id
                    for j in run.jobs.values()
                    if not j.replaced and (j.handle is None or not j.handle.done())
                ]
            raise WaitTimeout(
                f"run {run.run_id}: waited {run.timeout_s:.0f}s for sink(s) {', '.join(missing[:5])} to complete; "
                f"{n}/{total} tasks done; {len(active)} invocation(s) still active"
                + (f" ({', '.join(active[:5])})" if active else "")
            )
        run.check_jobs(check_heartbeats=now - last_hb > 0.5)
        if now - last_hb > 0.5:
            last_hb = now
        pubsub.get_message(timeout=0.05)


def run_sink(node: TaskNode, *more: TaskNode, name: str | None = None, **kwargs: Any) -> RunReport:
    """Run the workflow behind a decorated workflow's sink node(s) (see :func:`run_workflow`)."""
    wf = Workflow.from_nodes(node, *more, name=name)
    return run_workflow(wf, **kwargs)


def write_records(report: RunReport, path: str | Path) -> int:
    from sim.models.records import write_jsonl

    return write_jsonl(report.records, path)
