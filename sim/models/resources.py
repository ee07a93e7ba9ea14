"""Resource configurations: a worker's memory size, which also buys CPU (the AWS Lambda rule)."""

from __future__ import annotations

from dataclasses import dataclass

MB_PER_VCPU = 1792
MAX_CPUS = 6.0


def cpus_for_memory(memory_mb: int) -> float:
    """vCPUs a container of ``memory_mb`` gets: ``min(memory / 1792 MB, 6)``, rounded to 2 places."""
    return round(min(memory_mb / MB_PER_VCPU, MAX_CPUS), 2)


def share_rate(cpus: float, tasks: float) -> float:
    """How fast each of ``tasks`` tasks executing at once on a worker of ``cpus`` vCPUs progresses,
    relative to running alone: ``min(1, max(cpus, 1) / tasks)``. A single-threaded task cannot use more
    than one CPU, and a task's modelled time alone already covers a fractional-CPU container, so fewer
    than one CPU counts as one. The simulator's processor sharing (:class:`sim.engine.cpu.SharedCpu`)
    and calibration's undoing of it (:func:`sim.models.records.uncontended_exec_ms`) both use this."""
    return min(1.0, max(cpus, 1.0) / tasks) if tasks > 0 else 1.0


@dataclass(frozen=True, slots=True)
class ResourceConfig:
    """Memory (and so CPU) of a worker, and optionally the planned worker id.

    ``worker_id=None`` marks a *flexible* task: it runs wherever the dependency counters send it, the
    way WUKONG schedules (decentralised, no planned placement).
    """

    memory_mb: int
    worker_id: str | None = None

    def __post_init__(self) -> None:
        if self.memory_mb <= 0:
            raise ValueError(f"memory_mb must be positive, got {self.memory_mb}")

    @property
    def cpus(self) -> float:
        return cpus_for_memory(self.memory_mb)

    @property
    def flexible(self) -> bool:
        return self.worker_id is None

    def with_memory(self, memory_mb: int) -> ResourceConfig:
        return ResourceConfig(memory_mb, self.worker_id)

    def with_worker(self, worker_id: str | None) -> ResourceConfig:
        return ResourceConfig(self.memory_mb, worker_id)


PINNED_PREFIX = "pin-"  # the worker of a flexible task that needs more memory than a parent may have


def pinned_config(memory_mb: int, task: str) -> ResourceConfig:
    """A worker of its own for ``task`` (``pin-<task>``): a flexible task that must not continue on a
    parent's worker, whose memory may be too small for it."""
    return ResourceConfig(memory_mb, f"{PINNED_PREFIX}{task}")


def expansion_config(node: ResourceConfig, task: str) -> ResourceConfig:
    """The configuration of ``task``, a copy or the gather of a dynamic fan-out node planned with
    ``node``: flexible with the node's memory, or, when the node was pinned for the memory it declares
    (:func:`sim.planners.base.with_memory_floors`), on a worker of its own like the node."""
    if node.worker_id is not None and node.worker_id.startswith(PINNED_PREFIX):
        return pinned_config(node.memory_mb, task)
    return ResourceConfig(node.memory_mb)


def parse_memory_list(text: str) -> list[int]:
    """``"2048,4096"`` -> ``[2048, 4096]``, with a clear error for anything else."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().removesuffix("mb")
        if not part.isdigit() or int(part) <= 0:
            raise ValueError(
                f"memory sizes must be positive integers in MB separated by commas, got {text!r}"
            )
        sizes.append(int(part))
    return sizes
