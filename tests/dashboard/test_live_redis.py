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
        owned={"x"},
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
    A flexible invocation starting at a task keeps hb:f:{task} alive, and a planned worker's invocation
    claims claim:{worker} before its first tasks; both now make those tasks running. Seen on the
    dashboard with fixed_times:chains=3,sleep_s=30 under wukong: 7 waiting, 0 running, 20 s in."""
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
        # 3 s: a flexible task's first heartbeat comes after 1 s, so "running" is seen for 2 s (1.5 s
        # left 0.5 s, little for a watcher that reads every run's keys on a loaded host; review10)
        run_workflow("fixed_times:chains=2,sleep_s=3", planner, "process", server.url, timeout_s=120)
    finally:
        stop.set()
        watcher.join()
    assert seen, "no snapshot showed the run"
    first = seen[0]  # the roots start together and sleep 3 s: running before anything is done
    assert "running" in first.values() and "done" not in first.values(), first
