"""The workers' GIL switch interval: checked on both sides, applied at worker start, recorded per worker.

Co-located tasks run as threads of one worker interpreter, so the interval decides how long a thread
waits for a sibling that runs Python code; the accuracy benchmark's ``--switch-interval-ms`` A/B needs it
to reach the worker unchanged. The Docker leg is in ``test_launchers.py`` (both launcher kinds).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from runlib.workflows import fan, sleepy

from runtime.client import run_workflow
from runtime.docker_worker import protocol as p
from runtime.docker_worker.entry import apply_switch_interval
from runtime.launchers import ProcessLauncher
from sim.models.records import WorkerRecord

ROOT = Path(__file__).resolve().parents[2]


def test_interval_check_accepts_the_range_and_rejects_the_rest() -> None:
    assert p.check_switch_interval_ms("5") == 5.0  # as the worker reads it from its environment
    assert p.check_switch_interval_ms(0.5) == 0.5
    assert p.check_switch_interval_ms(p.MIN_SWITCH_INTERVAL_MS) == p.MIN_SWITCH_INTERVAL_MS
    assert p.check_switch_interval_ms(p.MAX_SWITCH_INTERVAL_MS) == p.MAX_SWITCH_INTERVAL_MS
    for bad in (0, -1, 0.0001, 1000.5, math.nan, math.inf, "fast", "", None, True):
        with pytest.raises(ValueError, match="GIL switch interval must be 0.001-1000 ms"):
            p.check_switch_interval_ms(bad)


def test_worker_applies_the_interval_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = sys.getswitchinterval()
    try:
        monkeypatch.delenv(p.ENV_SWITCH_INTERVAL_MS, raising=False)
        assert apply_switch_interval() == pytest.approx(before * 1000)  # unset: left as it is
        monkeypatch.setenv(p.ENV_SWITCH_INTERVAL_MS, "0.5")
        assert apply_switch_interval() == pytest.approx(0.5)
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        monkeypatch.setenv(p.ENV_SWITCH_INTERVAL_MS, "0")
        with pytest.raises(SystemExit, match="PLANSIM_SWITCH_INTERVAL_MS: GIL switch interval must be"):
            apply_switch_interval()
        assert sys.getswitchinterval() == pytest.approx(0.0005)  # a bad value changes nothing
    finally:
        sys.setswitchinterval(before)


def test_launcher_rejects_a_bad_interval_before_reaching_redis() -> None:
    """Nothing listens on port 1: the interval's error comes first, not Redis's."""
    with pytest.raises(ValueError, match="GIL switch interval"):
        ProcessLauncher("redis://127.0.0.1:1", switch_interval_ms=0.0)


def test_real_run_workers_record_the_interval_they_ran_with(redis_server) -> None:
    """run_workflow -> launcher -> worker environment -> sys.setswitchinterval -> the worker's record,
    which the platform fit reads (``gil_switch_ms``) so the simulator follows what the worker used."""
    rep = run_workflow(
        fan(sleepy, 2, seconds=0.01),
        planner="uniform",
        redis_url=redis_server.url,
        timeout_s=120,
        switch_interval_ms=0.5,
    )
    workers = [r for r in rep.records if isinstance(r, WorkerRecord)]
    assert workers and all(w.extra["gil_switch_ms"] == pytest.approx(0.5) for w in workers)


def test_benchmark_refuses_a_bad_interval_with_one_line() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "benchmarks/bench_accuracy.py",
            "--switch-interval-ms",
            "5,0",
            "--launcher",
            "process",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert (
        out.stderr.strip()
        == "error: --switch-interval-ms 5,0: GIL switch interval must be 0.001-1000 ms, got '0'"
    )


def test_ab_record_names_lead_back_to_their_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench_accuracy writes one records file per cell and arm; rescore_accuracy finds the cell again."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from bench_accuracy import ARM_SUFFIX, records_name

    for period, switch, heap in (
        (None, None, None),
        (5000, None, True),
        (None, 1.0, False),
        (5000, 0.5, None),
    ):
        name = records_name("gemm", "non-uniform", period, switch, heap)
        assert name.endswith(".jsonl")
        assert ARM_SUFFIX.sub("", name.removesuffix(".jsonl")) == "gemm-non-uniform"
    assert records_name("gemm", "wukong", 5000, 0.5) == "gemm-wukong-cfs5000-gil0.5.jsonl"
    assert records_name("gemm", "wukong", None, None, False) == "gemm-wukong-heap0.jsonl"
