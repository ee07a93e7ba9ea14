"""A real run in Docker containers records each task's CPU crowding and the container's CPU allowance."""

from __future__ import annotations

import pytest
from runlib.workflows import burn, chatty, fan

from runtime.client import run_workflow
from sim.models.records import TaskRecord, timeline_share_rates
from sim.models.resources import cpus_for_memory


def test_container_records_crowding_allowance_and_logs(redis_server, docker_client, worker_image) -> None:
    wf = fan(burn, 3, seconds=1.0)
    rep = run_workflow(
        wf,
        planner="uniform",
        launcher="docker",
        redis_url=redis_server.url,
        memory_sizes=[1024],
        timeout_s=300,
    )
    tasks = [r for r in rep.records if isinstance(r, TaskRecord)]
    assert rep.launcher == "docker" and rep.keys_left == 0
    for t in tasks:
        assert t.memory_mb == 1024
        assert t.cpu_limit == cpus_for_memory(
            1024
        )  # the container's CFS quota / period, read from its cgroup
    burns = [t for t in tasks if t.function == "burn"]
    assert len(burns) == 3 and all(1.8 < t.concurrency <= 3.0 + 1e-9 and t.cpu_share < 0.56 for t in burns)
    # exec_ms is the meter's interval, placed by exec_start_ms: the three calls' intervals give each
    # exactly its recorded crowding, so calibration's timeline rebuild leaves them alone (end_ms less
    # exec_ms would misplace them: a throttled container's event loop resumes late)
    spans = [(t.extra["exec_start_ms"], t.extra["exec_start_ms"] + t.exec_ms) for t in burns]
    for t, (start, end) in zip(burns, spans, strict=True):
        timeline = sum(max(0.0, min(end, e) - max(start, s)) for s, e in spans) / (end - start)
        assert timeline == pytest.approx(t.concurrency, abs=0.02)
    assert timeline_share_rates(burns) == {}
    rep = run_workflow(
        fan(chatty, 1, lines=2),
        planner="uniform",
        launcher="docker",
        redis_url=redis_server.url,
        memory_sizes=[1024],
        timeout_s=300,
    )
    logs = [r.extra["log"] for r in rep.records if isinstance(r, TaskRecord) and r.function == "chatty"]
    assert logs == [
        ["chatty 1 line 0", "chatty 1 line 1", "WARNING chatty: chatty 1 warned", "chatty 1 on stderr"]
    ]
