"""Worker start-up and job hand-off latency on the real engine.

Usage::

    .venv/bin/python benchmarks/bench_containers.py [--samples 20] [--memory 1792 ...] [--kind docker|process]
        [--no-diagnostic] [--no-real] [--no-handoff] [--image TAG ...]

``--image main-tag --image new-tag`` compares the real worker's cold start of two images (say, before and
after a change), one sample of each in turn.

Prints, per memory size, p50/p95 in milliseconds of:

* **cold start**: ``acquire`` on an empty pool: container create + start + Python start-up + imports +
  Redis connect, until the worker's serve loop announces itself (``Lease.startup_ms``);
* **cold job**: cold start plus one echo job round trip, as the caller sees it;
* **warm start**: ``acquire`` when an idle worker is within keep-alive (pool bookkeeping only);
* **warm job**: warm acquire plus one echo job round trip;
* the cold and warm start of the **real worker** (``python -m runtime.docker_worker``, whose imports
  of the worker logic and driver are what real runs pay; skip with ``--no-real``);

and, on one running container, the two ways of handing a job to it:

* ``docker exec true`` - the floor of an exec (no Python);
* ``docker exec python3 -c 'import runtime.docker_worker.entry'`` - what a per-job fresh process costs
  (the reference system's design: every job a new ``docker exec``'d interpreter);
* **Redis hand-off** - RPUSH of the job envelope, BLPOP in the worker, handler, RPUSH of the done record,
  BLPOP in the launcher (the design plansim uses).

Start-up latency depends on the CPU share: ``memory/1792`` CPUs (a CFS quota, see runtime.launchers.docker_launcher), so small workers import
Python packages slowly. 1792 MB is one full vCPU.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.launchers import DIAGNOSTIC_COMMAND, PooledLauncher, ProcessLauncher  # noqa: E402
from runtime.services import RedisServer  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def row(name: str, values: list[float]) -> str:
    return (
        f"  {name:<46} p50 {pct(values, 50):9.2f} ms   p95 {pct(values, 95):9.2f} ms"
        f"   mean {statistics.fmean(values):9.2f} ms   n={len(values)}"
    )


def make(kind: str, url: str, **kw: object) -> PooledLauncher:
    if kind == "docker":
        from runtime.launchers import DockerLauncher

        return DockerLauncher(url, command=DIAGNOSTIC_COMMAND, **kw)  # type: ignore[arg-type]
    return ProcessLauncher(url, command=DIAGNOSTIC_COMMAND, **kw)  # type: ignore[arg-type]


def bench_starts(kind: str, url: str, memory_mb: int, samples: int) -> None:
    cold, cold_job, warm, warm_job = [], [], [], []
    with make(kind, url, keep_alive_s=0.0) as launcher:
        for _ in range(samples):
            t0 = time.perf_counter()
            job = launcher.submit(memory_mb, b"echo:x")
            job.result(timeout=120)
            cold_job.append((time.perf_counter() - t0) * 1000)
            assert job.state == "cold"
            cold.append(job.startup_ms)
            deadline = time.monotonic() + 10
            while launcher.workers() and time.monotonic() < deadline:  # wait for the reaper
                time.sleep(0.02)
    with make(kind, url, keep_alive_s=60.0) as launcher:
        launcher.submit(memory_mb, b"echo:x").result(timeout=120)
        for _ in range(samples):
            t0 = time.perf_counter()
            job = launcher.submit(memory_mb, b"echo:x")
            job.result(timeout=60)
            warm_job.append((time.perf_counter() - t0) * 1000)
            assert job.state == "warm"
            warm.append(job.startup_ms)
    cpus = round(min(memory_mb / 1792, 6), 2)
    print(f"{kind} workers, {memory_mb} MB ({cpus} vCPU requested)")
    print(row("cold start (launch -> serve loop ready)", cold))
    print(row("cold job (acquire + echo round trip)", cold_job))
    print(row("warm start (acquire from pool)", warm))
    print(row("warm job (acquire + echo round trip)", warm_job))


def bench_real_starts(
    kind: str, url: str, memory_mb: int, samples: int, images: list[str] | None = None
) -> None:
    """The same cold/warm starts of the real worker (``python -m runtime.docker_worker``): it imports the
    worker logic, the asyncio driver and redis-py before its serve loop is ready, so its cold start is the
    one real runs pay. It only serves signed invocations (no echo job), so only starts are measured.

    With several ``images`` (Docker: e.g. the image of main and of a change), their cold starts are taken
    in turn, one sample of each per round, so that a busy host slows them alike and the ratio is fair."""
    from runtime.client import make_launcher

    tags: list[str | None] = list(images) if images else [None]
    cold: dict[str | None, list[float]] = {tag: [] for tag in tags}
    with contextlib.ExitStack() as stack:
        pools = {
            tag: stack.enter_context(
                make_launcher(
                    kind, url, keep_alive_s=0.0, start_timeout=120, **({"image": tag} if tag else {})
                )
            )
            for tag in tags
        }
        for _ in range(samples):
            for tag, launcher in pools.items():
                cold[tag].append(launcher.prewarm(memory_mb, 1)[0].startup_ms)
                deadline = time.monotonic() + 10
                while launcher.workers() and time.monotonic() < deadline:  # wait for the reaper
                    time.sleep(0.02)
    warm = []
    with make_launcher(kind, url, keep_alive_s=60.0, start_timeout=120) as launcher:
        launcher.prewarm(memory_mb, 1)
        for _ in range(samples):
            lease = launcher.acquire(memory_mb)
            assert lease.state == "warm"
            warm.append(lease.startup_ms)
            launcher.release(lease)
    print(f"{kind} workers running the real worker entrypoint, {memory_mb} MB")
    for tag in tags:
        label = (
            f"cold start, image {tag.split(':')[-1]}" if tag else "cold start (launch -> serve loop ready)"
        )
        print(row(label, cold[tag]))
    if len(tags) > 1:
        base = pct(cold[tags[0]], 50)
        print("  p50 ratio to the first image: " + ", ".join(f"{pct(cold[t], 50) / base:.3f}" for t in tags))
    print(row("warm start (acquire from pool)", warm))


def timed(fn: Callable[[], object], samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_handoff(url: str, memory_mb: int, samples: int) -> None:
    from runtime.launchers import DockerLauncher

    with DockerLauncher(url, command=DIAGNOSTIC_COMMAND, keep_alive_s=600) as launcher:
        first = launcher.submit(memory_mb, b"echo:x")
        first.result(timeout=120)
        container = launcher.client.containers.get(first.container_id)

        def exec_true() -> None:
            assert container.exec_run(["true"]).exit_code == 0

        def exec_python() -> None:
            res = container.exec_run(["python3", "-c", "import runtime.docker_worker.entry"])
            assert res.exit_code == 0, res.output

        def redis_handoff() -> None:
            assert launcher.submit(memory_mb, b"echo:x").result(timeout=30) == b"x"

        for fn in (exec_true, exec_python, redis_handoff):  # warm-up
            fn()
        print(f"job hand-off to a running {memory_mb} MB container")
        print(row("docker exec true", timed(exec_true, samples)))
        print(row("docker exec python3 (import worker entry)", timed(exec_python, samples)))
        print(row("redis hand-off (RPUSH/BLPOP, echo round trip)", timed(redis_handoff, samples)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--memory", type=int, action="append", help="MB (repeatable); default 1792 and 512")
    parser.add_argument("--kind", choices=["docker", "process"], default="docker")
    parser.add_argument("--no-handoff", action="store_true", help="skip the exec vs Redis comparison")
    parser.add_argument("--no-real", action="store_true", help="skip the real worker entrypoint's starts")
    parser.add_argument(
        "--image",
        action="append",
        help="worker image tag for the real worker's cold starts (repeatable: images are interleaved)",
    )
    parser.add_argument("--no-diagnostic", action="store_true", help="skip the diagnostic worker's starts")
    args = parser.parse_args()
    memories = args.memory or [1792, 512]
    with RedisServer() as server:
        for mb in memories:
            if not args.no_diagnostic:
                bench_starts(args.kind, server.url, mb, args.samples)
            if not args.no_real:
                bench_real_starts(args.kind, server.url, mb, args.samples, args.image)
        if args.kind == "docker" and not args.no_handoff:
            bench_handoff(server.url, memories[0], args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
