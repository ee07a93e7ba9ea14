"""Real runs with local worker processes: results, records, cleanup, progress, stored inputs."""

from __future__ import annotations

import json

import pytest
import redis
from runlib.workflows import add, diamond_fan, leaf, total, tree

from runtime.client import RunReport, run_sink, run_workflow
from sim.models.records import RunRecord, TaskRecord, WorkerRecord
from sim.workflow.dag import Workflow

PLANNERS = ["wukong", "uniform", "non-uniform"]


def _no_keys(url: str, run_id: str) -> None:
    r = redis.Redis.from_url(url)
    assert list(r.scan_iter(match=f"plansim:{run_id}:*")) == []


@pytest.mark.parametrize("planner", PLANNERS)
def test_tree_sum(redis_server, planner):
    rep = run_workflow(tree(16), planner=planner, redis_url=redis_server.url, timeout_s=120)
    assert rep.result == sum(range(16))
    assert rep.tasks_executed == 31
    assert rep.keys_left == 0
    _no_keys(redis_server.url, rep.run_id)
    assert rep.invocations == rep.cold_starts + rep.warm_starts >= 1
    assert rep.makespan_ms > 0


def test_multiple_sinks_and_fan_in(redis_server):
    rep = run_workflow(diamond_fan(5), planner="uniform", redis_url=redis_server.url, timeout_s=120)
    assert isinstance(rep.results, dict) and len(rep.results) == 2
    assert sorted(rep.results.values()) == [sum(3 + i + 1 for i in range(5)), 103]


def test_records_have_the_shared_schema(redis_server):
    rep = run_workflow(tree(8), planner="uniform", redis_url=redis_server.url, timeout_s=120)
    tasks = [r for r in rep.records if isinstance(r, TaskRecord)]
    workers = [r for r in rep.records if isinstance(r, WorkerRecord)]
    runs = [r for r in rep.records if isinstance(r, RunRecord)]
    assert sorted(r.task_id for r in tasks) == sorted(rep.plan.workflow.graph)
    assert len(runs) == 1 and runs[0].makespan_ms == pytest.approx(rep.makespan_ms)
    assert {w.worker_id for w in workers} == {t.worker_id for t in tasks}
    # each worker record tells the start its container really had (the launcher's leases count them)
    assert sum(w.state == "cold" for w in workers) == rep.cold_starts >= 1
    assert sum(w.state == "warm" for w in workers) == rep.warm_starts
    for t in tasks:
        assert 0 <= t.start_ms <= t.end_ms <= rep.makespan_ms + 1
        assert t.output_bytes > 0 and t.exec_ms >= 0 and t.extra["source"] == "real"
    sink = rep.plan.workflow.sinks[0]
    assert next(t for t in tasks if t.task_id == sink).upload is not None
    # records are kept in the metrics store (not a run key) for calibration
    r = redis.Redis.from_url(redis_server.url)
    stored = [json.loads(x) for x in r.lrange(f"plansim:metrics:{rep.run_id}", 0, -1)]
    assert len(stored) == len(rep.records)


def test_progress_reaches_total(redis_server):
    seen = []
    rep = run_workflow(
        tree(8),
        planner="wukong",
        redis_url=redis_server.url,
        timeout_s=120,
        progress=lambda d, n: seen.append((d, n)),
    )
    assert seen[-1] == (15, 15)
    assert all(n == 15 for _, n in seen)
    assert rep.result == 28


def test_a_download_counts_the_bytes_its_producer_output(redis_server):
    """Stored values carry a 35-byte signature header (runtime.signing.HEADER). Uploads and output sizes
    left it out, downloads counted it: each 5-byte sum of tree(8) was downloaded as 40 bytes, and
    validate tree_reduction:leaves=8 showed bytes_downloaded planned 24, real 120 (-80%)."""
    rep = run_workflow(tree(8), planner="wukong", redis_url=redis_server.url, timeout_s=120)
    outputs = {r.output_bytes for r in rep.task_records}
    downloads = [d.bytes for r in rep.task_records for d in r.downloads]
    assert downloads, "wukong ran every add on one worker: nothing was downloaded"
    assert set(downloads) <= outputs, (sorted(set(downloads)), sorted(outputs))


def test_stored_inputs_are_uploaded_and_fetched(redis_server):
    wf = tree(4)
    leaf0 = wf.roots[0]
    wf.task(leaf0).stored_input_bytes = 1000  # the client uploads its arguments as in:{task}
    rep = run_workflow(wf, planner="wukong", redis_url=redis_server.url, timeout_s=120)
    assert rep.result == 6
    rec = next(r for r in rep.task_records if r.task_id == leaf0)
    assert rec.downloads and rec.input_bytes > 0
    _no_keys(redis_server.url, rep.run_id)


def test_run_sink_of_decorated_workflow(redis_server):
    xs = [leaf(i) for i in range(5)]
    rep = run_sink(total(*xs, add(xs[0], xs[1])), redis_url=redis_server.url, planner="wukong", timeout_s=120)
    assert isinstance(rep, RunReport)
    assert rep.result == 10 + 1


def test_shared_launcher_gives_warm_starts(redis_server):
    from runtime.client import make_launcher

    launcher = make_launcher("process", redis_server.url, keep_alive_s=30)
    try:
        launcher.prewarm(2048, 2)
        first = run_workflow(tree(4), planner="uniform", launcher=launcher, redis_url=redis_server.url)
        second = run_workflow(tree(4), planner="uniform", launcher=launcher, redis_url=redis_server.url)
        assert first.result == second.result == 6
        assert second.cold_starts == 0 and second.warm_starts == second.invocations
        _no_keys(redis_server.url, second.run_id)
    finally:
        launcher.close()


def test_workflow_without_code_is_rejected(redis_server):
    from sim.workflow.dag import from_edges

    wf = from_edges("trace", [("a-0", "b-0", 10)])
    with pytest.raises(ValueError, match="no code"):
        run_workflow(wf, planner="wukong", redis_url=redis_server.url)


def test_empty_or_bad_arguments(redis_server):
    with pytest.raises(ValueError, match="timeout_s"):
        run_workflow(tree(2), redis_url=redis_server.url, timeout_s=0)
    with pytest.raises(ValueError, match="unknown planner"):
        run_workflow(tree(2), planner="nope", redis_url=redis_server.url)
    assert isinstance(Workflow, type)
