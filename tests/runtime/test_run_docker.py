"""The real runtime with Docker containers: known types x planners, a killed container, cleanup, user."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from runlib.workflows import add, leaf, sleepy, total
from test_run_library import SMALL

from runtime.client import make_launcher, run_workflow
from runtime.run_cli import results_equal
from sim.planners import PLANNERS
from sim.workflow.dag import Workflow
from sim.workflow.library import load_workflow
from sim.workflow.local import run_local

RUN_LABEL = "plansim.run"


@pytest.fixture(scope="module")
def docker_launcher(redis_server, docker_client, worker_image):
    lch = make_launcher("docker", redis_server.url, image=worker_image, keep_alive_s=120, max_workers=24)
    lch.prewarm(2048, 4)
    yield lch
    lch.close()
    assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={lch.run_id}"}) == []


def _check(rep, wf):
    out = run_local(wf)
    for s in wf.sinks:
        assert results_equal(rep.results[s], out[s]), s
    assert rep.keys_left == 0


@pytest.mark.parametrize("wtype", sorted(SMALL))
@pytest.mark.parametrize("planner", ["wukong", "non-uniform", "heft"])
def test_known_types_in_containers(redis_server, docker_launcher, wtype, planner):
    wf = load_workflow(SMALL[wtype])
    rep = run_workflow(
        wf, planner=planner, launcher=docker_launcher, redis_url=redis_server.url, timeout_s=300
    )
    _check(rep, wf)
    assert rep.launcher == "docker"


@pytest.mark.parametrize("planner", sorted(set(PLANNERS) - {"wukong", "non-uniform", "heft"}))
def test_other_planners_in_containers(redis_server, docker_launcher, planner):
    wf = load_workflow(SMALL["text_analysis"])
    rep = run_workflow(
        wf, planner=planner, launcher=docker_launcher, redis_url=redis_server.url, timeout_s=300
    )
    _check(rep, wf)


def test_gemm_default_size_non_uniform_per_run_launcher(redis_server, docker_client, worker_image):
    """`plansim run gemm --planner non-uniform` in code, with containers owned by the run (cold starts):
    right answer, metrics, and no container of the run left afterwards."""
    wf = load_workflow("gemm:n=400,blocks=4")
    rep = run_workflow(
        wf,
        planner="non-uniform",
        launcher="docker",
        redis_url=redis_server.url,
        timeout_s=600,
        run_id="dockergemm",
    )
    _check(rep, wf)
    assert rep.cold_starts >= 1 and rep.invocations == rep.cold_starts + rep.warm_starts
    assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}=dockergemm"}) == []
    assert rep.makespan_ms > 0 and len(rep.task_records) == len(wf)


def test_killed_container_is_detected_and_rerun(redis_server, docker_client, worker_image):
    """A container killed mid-run: the run notices, re-runs its invocation, and the sum is right."""
    xs = [leaf(i) for i in range(4)]
    wf = Workflow.from_nodes(total(sleepy(add(xs[0], xs[1]), 6), add(xs[2], xs[3])), name="killed")
    run_id = "dockerkill"
    lch = make_launcher("docker", redis_server.url, run_id=run_id, image=worker_image, keep_alive_s=2)
    killed: list[str] = []
    seen: list[tuple[float, int, int]] = []  # (s since start, tasks done, busy workers), for the message
    run_over = threading.Event()

    def killer() -> None:
        # The 6 s sleepy task is what runs when a worker stays busy for 1.5 s after tasks were done (the
        # others take milliseconds). The progress counter is written behind (it rides on the next store
        # operation), so it cannot say the sleepy task started: "3 tasks done" was never seen in 2 of
        # ~10 runs on a loaded host, where the leaves' progress only landed after the sleep.
        r = redis.Redis.from_url(redis_server.url)
        t0 = time.monotonic()
        busy_since: dict[str, float] = {}
        while not run_over.is_set():  # for as long as the run lasts, however slow the host is
            done = int(r.get(f"plansim:{run_id}:progress") or 0)
            now = time.monotonic()
            busy = [w for w in lch.workers() if w.busy]
            busy_since = {w.worker_id: busy_since.get(w.worker_id, now) for w in busy}
            if not seen or seen[-1][1:] != (done, len(busy)):
                seen.append((round(now - t0, 2), done, len(busy)))
            long_busy = [w for w in busy if now - busy_since[w.worker_id] >= 1.5]
            if done >= 2 and long_busy:
                docker_client.containers.get(long_busy[0].container_id).kill()
                killed.append(long_busy[0].worker_id)
                return
            time.sleep(0.1)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        rep = run_workflow(
            wf, planner="uniform", launcher=lch, redis_url=redis_server.url, timeout_s=300, run_id=run_id
        )
    finally:
        run_over.set()
        lch.close()
    t.join(timeout=5)
    assert killed, f"no container was killed; (s, tasks done, busy workers) seen: {seen}"
    assert rep.result == 6
    assert rep.reruns >= 1
    assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []
    assert rep.keys_left == 0


def test_run_containers_gone_after_keep_alive(redis_server, docker_client, worker_image):
    """A shared launcher's idle containers are reaped after their keep-alive."""
    lch = make_launcher("docker", redis_server.url, image=worker_image, keep_alive_s=1.5)
    try:
        rep = run_workflow(
            load_workflow(SMALL["tree_reduction"]),
            planner="uniform",
            launcher=lch,
            redis_url=redis_server.url,
            timeout_s=300,
        )
        assert rep.result == sum(range(16))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and lch.workers():
            time.sleep(0.5)
        assert lch.workers() == []
        time.sleep(2)
        assert docker_client.containers.list(filters={"label": f"{RUN_LABEL}={lch.run_id}"}) == []
    finally:
        lch.close()


def test_workers_run_as_non_root(docker_launcher):
    from runtime.docker_worker.entry import diagnostic_handler  # noqa: F401 - the image has it

    info = docker_launcher.client.containers.list(filters={"label": f"{RUN_LABEL}={docker_launcher.run_id}"})
    assert info
    for c in info:
        assert c.attrs["Config"]["User"].split(":")[0] not in ("", "0", "root")
