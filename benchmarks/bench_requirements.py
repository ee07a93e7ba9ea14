"""Derived worker images for pip requirements: build time first vs reuse, and what they cost a cold start.

Usage (Docker; serialise with other Docker work on a shared host)::

    flock /tmp/plansim-docker.lock .venv/bin/python benchmarks/bench_requirements.py [--rounds 3] [--starts 6]

Per requirement set and round (the derived image and the wheel cache removed first, so every round's
first build is a real one):

* **wheels**: ``pip download`` on the host into an empty cache;
* **first**: the whole :func:`~runtime.req_image.build_derived_image` (wheels included);
* **second**: the same call again: the tag exists, nothing is built (goal: well under a second).

Then worker cold starts (``Lease.startup_ms``, diagnostic handler) alternating between the plain worker
image and a derived one, so the two are measured under the same load: the goal is a ratio near 1 (the
extra layer is a few kB of wheels; the worker does not import them at start).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker  # noqa: E402

from runtime.image import build_image  # noqa: E402
from runtime.launchers import DIAGNOSTIC_COMMAND  # noqa: E402
from runtime.launchers.docker_launcher import DockerLauncher  # noqa: E402
from runtime.req_image import build_derived_image, derived_tag  # noqa: E402
from runtime.requirements import RequirementSet, parse  # noqa: E402
from runtime.services import RedisServer  # noqa: E402

SETS = {
    "six": ["six==1.16.0"],
    "three": ["six==1.16.0", "toolz==0.12.1", "more-itertools==10.1.0"],
}


def requirement_set(lines: list[str]) -> RequirementSet:
    return RequirementSet(tuple(parse(line, "bench") for line in lines))


def remove(client: docker.DockerClient, tag: str) -> None:
    try:
        client.images.remove(tag)
    except docker.errors.ImageNotFound:
        pass


def builds(client: docker.DockerClient, worker: str, rounds: int) -> None:
    print(f"derived image builds on {worker} ({rounds} rounds, cold wheel cache and no image each round)")
    for name, lines in SETS.items():
        reqs = requirement_set(lines)
        firsts, seconds, wheels = [], [], []
        for _ in range(rounds):
            remove(client, derived_tag(worker, reqs))
            with tempfile.TemporaryDirectory(prefix="plansim-bench-wheels-") as cache:
                first = build_derived_image(reqs, client=client, worker_image=worker, cache_dir=Path(cache))
                second = build_derived_image(reqs, client=client, worker_image=worker, cache_dir=Path(cache))
            assert first.built and not second.built
            firsts.append(first.seconds)
            seconds.append(second.seconds)
            wheels.append(first.download_seconds)
        f, s = statistics.median(firsts), statistics.median(seconds)
        print(
            f"  {name:<6} ({' '.join(lines)}): wheels {statistics.median(wheels):5.2f} s   first build "
            f"{f:5.2f} s   second {s * 1000:6.1f} ms   second/first {s / f:.4f}   (medians)"
        )


def cold_starts(client: docker.DockerClient, worker: str, starts: int) -> None:
    reqs = requirement_set(SETS["three"])
    derived = build_derived_image(reqs, client=client, worker_image=worker).tag
    samples: dict[str, list[float]] = {worker: [], derived: []}
    with RedisServer() as redis_server:
        for _ in range(starts):
            for image in (worker, derived):  # alternated: both see the same host load
                lch = DockerLauncher(redis_server.url, client=client, image=image, command=DIAGNOSTIC_COMMAND)
                try:
                    samples[image].append(lch.acquire(1792).startup_ms)
                finally:
                    lch.close()
    base, other = statistics.median(samples[worker]), statistics.median(samples[derived])
    print(f"worker cold start at 1792 MB, p50 of {starts} alternated starts each")
    print(f"  plain worker image   {base:7.1f} ms")
    print(f"  derived (3 packages) {other:7.1f} ms   ratio {other / base:.2f} (goal: about 1)")
    remove(client, derived)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--starts", type=int, default=6)
    args = parser.parse_args()
    client = docker.from_env(timeout=600)
    worker = build_image(client=client, progress=lambda m: None).tag
    builds(client, worker, args.rounds)
    cold_starts(client, worker, args.starts)


if __name__ == "__main__":
    main()
