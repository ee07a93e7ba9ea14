"""What the GIL switch interval does to co-located tasks' times (the worker's ``switch_interval_ms``).

    .venv/bin/python benchmarks/bench_gil_switch.py [--intervals 5,1,0.5] [--cpu-ms 3] [--bursts 30]

A worker runs co-located tasks as threads of one interpreter. Here ``k`` threads are released together,
each making one call of ``--cpu-ms`` of CPU (a pure-Python loop, which holds the GIL, or a numpy int64
matmul), in bursts at random gaps; the intervals take turns in a shuffled order per burst, so they see
the same host load. Per interval it prints, over all calls:

* *own*: the call timed from its own start, as the runtime times a task's ``exec_ms`` (median / the
  call's CPU time, and the spread IQR / median: the run-to-run noise a model of ``exec_ms`` faces);
* *release*: the time from the burst's release to the call's end (median / fluid time ``k x CPU``, and
  IQR / median): what processor sharing (the simulator's model) predicts is the fluid time for every call.

Run it inside a worker container to see it under the worker's CPU quota, e.g. for a 1024 MB worker
(0.57 CPU over the launcher's 5 ms period)::

    docker run --rm --cpu-period 5000 --cpu-quota 2850 -v $PWD/benchmarks:/b --entrypoint python3 \\
        plansim-worker:latest /b/bench_gil_switch.py

Results and their reading: ``benchmarks/results/accuracy.md`` (A/B of the switch interval).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

MATRIX = np.random.default_rng(0).integers(0, 9, (96, 96), dtype=np.int64)


def python_work(n: int) -> int:
    """Bytecode all the way: holds the GIL except when the interpreter asks it to switch."""
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


def numpy_work(n: int) -> None:
    """numpy's integer matmul loop (no BLAS): the GIL is taken between calls only."""
    for _ in range(n):
        MATRIX @ MATRIX


def size_for(fn: Callable[[int], object], cpu_ms: float) -> int:
    """The argument that makes ``fn`` use about ``cpu_ms`` of this thread's CPU."""
    n = 100
    while True:
        t = time.thread_time()
        fn(n)
        used = (time.thread_time() - t) * 1000.0
        if used > 2.0:
            return max(1, round(n * cpu_ms / used))
        n *= 2


def burst(fn: Callable[[int], object], n: int, k: int) -> tuple[list[float], list[float]]:
    """``k`` threads released by one barrier; each call's own time and its end after the release, ms."""
    gate = threading.Barrier(k + 1)
    own, ends = [0.0] * k, [0.0] * k

    def call(i: int) -> None:
        gate.wait()
        t = time.perf_counter()
        fn(n)
        ends[i] = time.perf_counter()
        own[i] = (ends[i] - t) * 1000.0

    threads = [threading.Thread(target=call, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    released = time.perf_counter()
    gate.wait()
    for t in threads:
        t.join()
    return own, [(e - released) * 1000.0 for e in ends]


def spread(xs: list[float]) -> float:
    """Interquartile range / median."""
    q1, med, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return (q3 - q1) / med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intervals", default="5,1,0.5", help="GIL switch intervals to compare, ms")
    parser.add_argument("--cpu-ms", type=float, default=3.0, help="CPU time of one call, ms")
    parser.add_argument("--bursts", type=int, default=30, help="bursts per interval and k")
    parser.add_argument("--threads", default="2,4", help="calls released together (k)")
    args = parser.parse_args()
    try:
        intervals = [float(x) for x in args.intervals.split(",") if x.strip()]
        if not intervals or min(intervals) <= 0:
            raise ValueError("intervals must be positive")
    except ValueError as exc:
        raise SystemExit(f"error: --intervals {args.intervals}: {exc}") from None
    default = sys.getswitchinterval()
    for name, fn in (("python", python_work), ("numpy", numpy_work)):
        n = size_for(fn, args.cpu_ms)
        t = time.thread_time()
        fn(n)
        cpu = (time.thread_time() - t) * 1000.0
        for k in (int(x) for x in args.threads.split(",")):
            own: dict[float, list[float]] = {s: [] for s in intervals}
            ends: dict[float, list[float]] = {s: [] for s in intervals}
            for _ in range(args.bursts):
                for s in random.sample(intervals, len(intervals)):
                    sys.setswitchinterval(s / 1000.0)
                    o, e = burst(fn, n, k)
                    own[s] += o
                    ends[s] += e
                    sys.setswitchinterval(default)
                    time.sleep(random.uniform(0.01, 0.05))
            print(f"{name}, {cpu:.1f} ms CPU per call, k={k}:")
            for s in intervals:
                print(
                    f"  {s:g} ms: own {statistics.median(own[s]) / cpu:.2f} x CPU, spread {spread(own[s]):.2f}; "
                    f"release {statistics.median(ends[s]) / (k * cpu):.2f} x fluid, spread {spread(ends[s]):.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
