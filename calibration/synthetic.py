"""Synthetic metric records from known model parameters (for tests and the calibration benchmark).

Every duration and size is the model's value times lognormal noise ``exp(N(0, noise))``; input sizes are
log-uniform over ``[1e4, 1e9]`` bytes and memory sizes are drawn from :data:`MEMORY_SIZES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.models.records import Record, TaskRecord, Transfer, WorkerRecord

MEMORY_SIZES = (256, 512, 1024, 2048, 3008, 4096, 8192, 10240)


@dataclass(slots=True)
class Truth:
    exec: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: {
            "resize": (3e-3, 0.80, 0.55),  # a, b, c
            "analyse": (2e-4, 1.15, 0.35),
            "merge": (5e-2, 0.60, 0.20),
        }
    )
    output: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "resize": (2.0, 0.75),  # k, e
            "analyse": (0.05, 1.10),
            "merge": (40.0, 0.50),
        }
    )
    transfer: tuple[float, float, float] = (2.0, 50e3, 0.45)  # latency_ms, bytes_per_ms at 1 GB, alpha
    startup: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"cold": (700.0, 0.25), "warm": (12.0, -0.2)}
    )


def synthetic_records(
    n: int,
    truth: Truth | None = None,
    noise: float = 0.1,
    seed: int = 0,
    memory_sizes: tuple[int, ...] = MEMORY_SIZES,
    workers: int | None = None,
) -> list[Record]:
    """``n`` task records per function (each with one download and one upload) and ``workers`` worker
    records per state (default ``n``)."""
    truth = truth or Truth()
    rng = np.random.default_rng(seed)
    out: list[Record] = []
    lat, bw, alpha = truth.transfer

    def noisy(v: float) -> float:
        return float(v * np.exp(rng.normal(0.0, noise)))

    def transfer(nbytes: int, mem: int) -> Transfer:
        return Transfer(nbytes, noisy(lat + nbytes / (bw * (mem / 1024) ** alpha)))

    for f, (a, b, c) in sorted(truth.exec.items()):
        k, e = truth.output[f]
        for i in range(n):
            mem = int(rng.choice(memory_sizes))
            x = int(10 ** rng.uniform(4, 9))
            t = noisy(a * x**b * (mem / 1024) ** (-c))
            y = max(1, int(noisy(k * x**e)))
            out.append(
                TaskRecord(
                    run_id=f"synthetic-{seed}",
                    workflow_type="synthetic",
                    planner="synthetic",
                    function=f,
                    task_id=f"{f}-{i}",
                    worker_id=f"w{i}",
                    memory_mb=mem,
                    cpus=1.0,
                    input_bytes=x,
                    output_bytes=y,
                    exec_ms=t,
                    downloads=[transfer(x, mem)],
                    upload=transfer(y, mem),
                )
            )
    for state, (s, d) in sorted(truth.startup.items()):
        for i in range(workers if workers is not None else n):
            mem = int(rng.choice(memory_sizes))
            out.append(
                WorkerRecord(
                    run_id=f"synthetic-{seed}",
                    worker_id=f"{state}{i}",
                    memory_mb=mem,
                    state=state,
                    startup_ms=noisy(s * (mem / 1024) ** d),
                )
            )
    return out
