"""The pure parts of per-task recording: the CPU crowding meter, the CPU allowance, the log capture."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from runtime import tasklog
from runtime.cpu_meter import CallTimes, CpuMeter, cpu_limit, timed_call


def test_alone_is_one() -> None:
    m = CpuMeter()
    snap = m.start()
    time.sleep(0.02)
    c = m.stop(snap)
    assert (c.concurrency, c.cpu_share) == (1.0, 1.0)


def test_overlapping_tasks() -> None:
    m = CpuMeter()
    a = m.start()
    b = m.start()
    time.sleep(0.1)
    cb = m.stop(b)  # b always ran beside a
    assert cb.concurrency == pytest.approx(2.0, abs=1e-6)
    assert cb.cpu_share == pytest.approx(0.5, abs=1e-6)
    time.sleep(0.1)
    ca = m.stop(a)  # a: half with b, half alone
    assert ca.concurrency == pytest.approx(1.5, abs=0.1)
    assert ca.cpu_share == pytest.approx(0.75, abs=0.05)


def _spin(cpu_ms: float) -> int:
    """Pure-Python work holding the GIL until this thread has used ``cpu_ms`` of CPU (so a loaded host
    stretches its wall time but not its work)."""
    end = time.thread_time() + cpu_ms / 1000.0
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def _timeline_concurrency(times: list[CallTimes]) -> list[float]:
    """Per call, the time average over its exec interval of how many calls' exec intervals cover it."""
    spans = [(t.crowding.start, t.crowding.end) for t in times]
    return [
        sum(max(0.0, min(end, e) - max(start, s)) for s, e in spans) / (end - start) for start, end in spans
    ]


def test_overlapping_cpu_bound_calls_are_timed_over_the_meters_interval() -> None:
    """Three CPU-bound calls in threads at once, as the runtime runs a worker's tasks: each is timed over
    the meter's own interval, so each sees the others (``concurrency`` > 1) and its exec interval agrees
    with that figure. Timed from before the thread's schedstat read (which lets go of the GIL), a call's
    exec clock ran while it waited for a sibling's compute to take the GIL back, and the meter had not
    started: 6 ms calls took 8.9/15.0/16.0 ms with overlapping intervals, each at ``concurrency`` 1.00."""
    meter = CpuMeter()
    ready = threading.Barrier(3)

    def task() -> tuple[object, CallTimes]:
        ready.wait()  # the three threads exist (a loaded host can start them late): they start together
        return timed_call(_spin, (100.0,), None, meter)

    async def main() -> list[tuple[object, CallTimes]]:
        return await asyncio.gather(*[asyncio.to_thread(task) for _ in range(3)])

    times = [t for _, t in asyncio.run(main())]
    # The calls overlapped (else the test proves nothing). Not asserted per call: on a busy host the OS may
    # run one thread's whole call before another gets a core (seen once with 30 ms calls: 1.00, alone).
    assert max(t.crowding.concurrency for t in times) > 1.05, times
    for t, timeline in zip(times, _timeline_concurrency(times), strict=True):
        assert t.exec_ms == pytest.approx((t.crowding.end - t.crowding.start) * 1000.0)
        assert t.crowding.concurrency == pytest.approx(timeline, abs=0.01), (t, timeline)
        assert t.exec_ms >= t.cpu_ms - 1.0  # the GIL holder's CPU falls within its exec interval


def test_timed_call_stops_the_meter_when_the_call_raises() -> None:
    meter = CpuMeter()
    with pytest.raises(ZeroDivisionError):
        timed_call(lambda: 1 / 0, meter=meter)
    _, t = timed_call(_spin, (1.0,), None, meter)
    assert t.crowding.concurrency == 1.0  # the failed call no longer counts as executing
    assert t.exec_ms >= 1.0 - 0.05


def _touch_fresh(mb: int) -> int:
    """Write one byte per 4 kB page of ``mb`` MB of fresh memory (a large calloc is a fresh mapping)."""
    block = bytearray(mb << 20)
    block[::4096] = b"\x01" * len(range(0, mb << 20, 4096))
    return len(block)


def _huge_pages_always() -> bool:
    try:
        return "[always]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RUSAGE_THREAD is Linux's")
def test_timed_call_counts_the_page_faults_of_fresh_memory() -> None:
    """Touching 64 MB of fresh memory faults in some 16,000 pages, charged to the calling thread; a call
    that allocates nothing faults in almost none. The kernel's work is system CPU time, part of cpu_ms."""
    _, idle = timed_call(_spin, (1.0,), None, CpuMeter())
    _, fresh = timed_call(_touch_fresh, (64,), None, CpuMeter())
    assert idle.minor_faults is not None and idle.minor_faults < 100
    # a kernel that backs anonymous memory with 2 MB pages ("always") faults 512 times less
    pages = 64 * (1 if _huge_pages_always() else 256)
    assert fresh.minor_faults is not None and fresh.minor_faults > pages * 0.6
    assert fresh.sys_cpu_ms is not None and 0.0 <= fresh.sys_cpu_ms <= fresh.cpu_ms + 4.0  # 4 ms ticks


def test_cpu_limit_reads_the_cgroup_quota(tmp_path: Path) -> None:
    import os

    host = float(len(os.sched_getaffinity(0)))
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cpu.max").write_text("50000 100000\n")
    assert cpu_limit(str(tmp_path / "v2")) == 0.5
    (tmp_path / "nolimit").mkdir()
    (tmp_path / "nolimit" / "cpu.max").write_text("max 100000\n")
    assert cpu_limit(str(tmp_path / "nolimit")) == host
    (tmp_path / "v1" / "cpu").mkdir(parents=True)
    (tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us").write_text("25000\n")
    (tmp_path / "v1" / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_limit(str(tmp_path / "v1")) == 0.25
    assert cpu_limit(str(tmp_path / "missing")) == host


def test_log_lines_are_split_and_capped() -> None:
    log = tasklog.TaskLog()
    log.write("stdout", "a\nb")
    log.write("stdout", "c\n")
    log.write("stderr", "e")
    assert log.lines == ["a", "bc"]
    assert log.close() == ["a", "bc", "e"]  # the partial stderr line, flushed at the end
    full = tasklog.TaskLog()
    for i in range(tasklog.MAX_LINES + 5):
        full.add(f"line {i}")
    lines = full.close()
    assert len(lines) == tasklog.MAX_LINES + 1
    assert lines[-2] == f"line {tasklog.MAX_LINES - 1}"
    assert lines[-1].startswith("[plansim: 5 more log lines dropped")
    big = tasklog.TaskLog()
    for _ in range(100):
        big.add("y" * 1000)
    assert 60 <= len(big.lines) <= tasklog.MAX_BYTES // 1000  # the byte cap
    long = tasklog.TaskLog()
    long.add("x" * (tasklog.MAX_LINE_CHARS + 10))
    assert len(long.lines[0]) == tasklog.MAX_LINE_CHARS


class _FakeRedis:
    """Stands in for the Redis list (the real one is used by the run tests)."""

    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}

    async def rpush(self, key: str, *values: str) -> int:
        self.lists.setdefault(key, []).extend(values)
        return len(self.lists[key])


def test_capture_routes_each_threads_output_to_its_own_task() -> None:
    r = _FakeRedis()

    def noisy(name: str) -> None:
        for i in range(3):
            print(f"{name} {i}")
            time.sleep(0.01)
        logging.getLogger("t").error("%s failed softly", name)

    async def one(name: str) -> list[str]:
        async with tasklog.capture(r, f"log:{name}") as log:
            await asyncio.to_thread(noisy, name)
        return log.lines

    async def main() -> tuple[list[str], list[str]]:
        return await asyncio.gather(one("A"), one("B"))

    a, b = asyncio.run(main())
    assert a == ["A 0", "A 1", "A 2", "ERROR t: A failed softly"]
    assert b == ["B 0", "B 1", "B 2", "ERROR t: B failed softly"]
    assert r.lists == {"log:A": a, "log:B": b}
    print("outside any task")  # not captured, and stdout still works
    assert isinstance(sys.stdout, tasklog._Router) or sys.stdout is not None
