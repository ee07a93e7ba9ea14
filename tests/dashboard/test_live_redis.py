"""The live reader against a real Redis holding a run's keys as the runtime names them."""

from __future__ import annotations

import secrets
import shutil

import pytest

from sim.dashboard.live import RedisLiveReader, task_states
from tests.dashboard.live_seed import RUN, seed

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture(scope="module")
def server():
    from runtime.services import RedisServer

    srv = RedisServer().start()
    yield srv
    srv.stop()


def test_task_states_propagate_upstream():
    edges = [("a", "b"), ("b", "c"), ("x", "c")]
    st = task_states(
        "abcx",
        edges,
        done_parents={"c": {"b"}},
        sinks_done=set(),
        started={"x"},
        recorded=set(),
        uploaded=set(),
    )
    assert st == {"a": "done", "b": "done", "c": "waiting", "x": "running"}
    st = task_states("abcx", edges, {}, {"c"}, set(), set(), set(), failed=None)
    assert set(st.values()) == {"done"}
    assert task_states("ab", [("a", "b")], {}, set(), {"b"}, {"a"}, set(), failed="b") == {
        "a": "done",
        "b": "failed",
    }


def test_a_started_tasks_parents_are_done():
    """A chain on one worker uploads and counts nothing (its outputs stay in memory) and records its
    tasks when the worker ends, so each task's start marker was all the store said of it: a 3-task
    chain showed all three 'running' by its last task. A task starts only once its parents finished."""
    chain = [("a", "b"), ("b", "c")]
    st = task_states("abc", chain, {}, set(), {"a", "b", "c"}, set(), set())
    assert st == {"a": "done", "b": "done", "c": "running"}
    st = task_states("abc", chain, {}, set(), {"a", "b"}, set(), set())
    assert st == {"a": "done", "b": "running", "c": "waiting"}


def test_redis_reader_snapshot(server):
    key = secrets.token_bytes(32)
    seed(server.url, key)
    reader = RedisLiveReader(server.url, key=key)
    assert RUN in reader.runs()
    snap = reader.snapshot(RUN)
    assert snap.problems == []
    assert {t: x.state for t, x in snap.tasks.items()} == {
        "sleep_task-0": "done",
        "sleep_task-1": "running",
        "sleep_task-2": "done",
        "join-0": "waiting",
    }
    assert snap.progress == 2 and snap.workflow == "fixed_times" and snap.planner == "uniform"
    t0 = snap.tasks["sleep_task-0"]
    assert t0.worker == "w1" and t0.logs == ["sleeping 0.05 s", "done"]
    assert t0.details()["exec (ms)"] == 50.0 and t0.details()["memory (MB)"] == 2048
    assert snap.workers["w1"].state == "cold"
    assert sorted(snap.edges) == [
        ("sleep_task-0", "sleep_task-1"),
        ("sleep_task-1", "join-0"),
        ("sleep_task-2", "join-0"),
    ]


def test_wrong_key_says_so(server):
    seed(server.url, secrets.token_bytes(32), run_id="rlive2")
    snap = RedisLiveReader(server.url, key=secrets.token_bytes(32)).snapshot("rlive2")
    assert (
        set(snap.tasks) == {"sleep_task-0"} and snap.edges == []
    )  # without the plan: the recorded tasks only
    assert any("signing key" in p for p in snap.problems)
    missing = RedisLiveReader(server.url, key=secrets.token_bytes(32)).snapshot("nope")
    assert any("no plan in the store" in p for p in missing.problems)


@pytest.mark.parametrize("planner", ["wukong", "uniform"])
def test_a_real_runs_first_tasks_show_as_running(server, planner):
    """The live page showed a real run's first tasks as 'waiting' until they were done: it read only
    the own:{task} keys, which an invocation sets for a task whose parents completed, never for a root.
    A flexible invocation starting at a task keeps hb:f:{task} alive, and every task's driver sets
    started:{task} as it begins the call; both make those tasks running. Seen on the dashboard with
    fixed_times:chains=3,sleep_s=30 under wukong: 7 waiting, 0 running, 20 s in."""
    import threading
    import time

    from runtime.client import run_workflow

    reader = RedisLiveReader(server.url)
    seen: list[dict[str, str]] = []
    stop = threading.Event()

    def watch() -> None:  # the first snapshot of this run in which some task is no longer waiting
        while not stop.is_set() and not seen:
            for run in reader.runs():
                snap = reader.snapshot(run)
                if snap.planner == planner and any(x.state != "waiting" for x in snap.tasks.values()):
                    seen.append({t: x.state for t, x in snap.tasks.items()})
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # 3 s: a watcher that reads every run's keys on a loaded host may be slow to look (review10)
        run_workflow("fixed_times:chains=2,sleep_s=3", planner, "process", server.url, timeout_s=120)
    finally:
        stop.set()
        watcher.join()
    assert seen, "no snapshot showed the run"
    first = seen[0]  # the roots start together and sleep 3 s: running before anything is done
    assert "running" in first.values() and "done" not in first.values(), first


NAPS = """
from sim.workflow import Workflow, task


@task
def nap(i, seconds):
    import time

    with open({log!r}, "a") as f:  # when the call began, on this host's clock
        f.write(f"nap-{{i}} {{time.time()}}\\n")
    time.sleep(seconds)
    return i


@task
def join(xs):
    return sum(xs)


wf = Workflow.from_nodes(join([nap(i, {seconds}) for i in range(3)]), name="naps")
"""


def _snapshots_during(server, flow, name: str, planner: str) -> list[tuple[float, dict[str, str]]]:
    """Run workflow ``wf`` of the file ``flow`` (named ``name``) on local processes while a watcher
    reads its snapshots; returns [(wall time after the read, each task's state)]."""
    import threading
    import time

    from runtime.client import run_workflow

    reader = RedisLiveReader(server.url)
    seen: list[tuple[float, dict[str, str]]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for run in reader.runs():
                snap = reader.snapshot(run)
                if snap.workflow == name:
                    seen.append((time.time(), {t: x.state for t, x in snap.tasks.items()}))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_workflow(f"{flow}:wf", planner, "process", server.url, timeout_s=120)
    finally:
        stop.set()
        watcher.join()
    return seen


def _watch_run(server, tmp_path, planner: str, seconds: float):
    """Run three roots that each sleep ``seconds`` (and a join) on local processes while a watcher reads
    snapshots; returns [(wall time after the read, running tasks)] and each root's start (epoch s)."""
    log = tmp_path / "starts.txt"
    flow = tmp_path / "naps.py"
    flow.write_text(NAPS.format(log=str(log), seconds=seconds))
    states = _snapshots_during(server, flow, "naps", planner)
    seen = [(at, {t for t, x in st.items() if x == "running"}) for at, st in states]
    starts = {}
    for line in log.read_text().splitlines():
        task, epoch = line.split()
        starts[task] = float(epoch)
    assert sorted(starts) == ["nap-0", "nap-1", "nap-2"]
    return seen, starts


def test_a_planned_workers_roots_are_running_only_once_started(server, tmp_path):
    """The live page marked every root of a claimed planned worker 'running' as soon as the worker was
    claimed, before its process (or container) had even started, and however many of them its logic
    runs at once. A task is now running from the moment its worker begins executing it (the start
    marker its driver publishes): no snapshot shows a root running before its call began."""
    seen, starts = _watch_run(server, tmp_path, "uniform", 1.0)
    shown = [(at, t) for at, running in seen for t in running if t in starts]
    assert shown, "no snapshot showed a root running"
    early = [(t, round(starts[t] - at, 3)) for at, t in shown if at < starts[t] - 0.05]
    assert not early, f"roots shown running before they started (task, seconds early): {early[:5]}"


def test_a_flexible_task_shorter_than_a_second_shows_as_running(server, tmp_path):
    """Under wukong a root is a flexible invocation. Its heartbeat is renewed every second, but the first
    is set as the invocation starts, and the task's driver sets started:{task} with the call: a task of
    0.2 s is seen running (review10 thought the first heartbeat came after 1 s; it never did)."""
    seen, starts = _watch_run(server, tmp_path, "wukong", 0.2)
    ever = set().union(*(running for _, running in seen)) if seen else set()
    assert set(starts) <= ever, f"roots never seen running: {sorted(set(starts) - ever)}"


CHAIN = """
from sim.workflow import Workflow, task


@task
def step(x, seconds):
    import time

    time.sleep(seconds)
    return x + 1


wf = Workflow.from_nodes(step(step(step(0, 1.0), 1.0), 1.0), name="chain3")
"""


def test_a_chain_on_one_worker_shows_one_task_running_at_a_time(server, tmp_path):
    """Three 1 s tasks in a chain on one planned worker: the live page showed two or three of them
    running at once for half of the run (39 of 83 snapshots; the finished ones kept their start marker
    and nothing else), where only one can run. Parents of a started task are done."""
    flow = tmp_path / "chain.py"
    flow.write_text(CHAIN)
    seen = [st for _, st in _snapshots_during(server, flow, "chain3", "uniform")]
    assert any("running" in s.values() for s in seen), "no snapshot showed a task running"
    crowded = [s for s in seen if list(s.values()).count("running") > 1]
    assert not crowded, f"{len(crowded)} of {len(seen)} snapshots show several tasks running: {crowded[-1]}"
