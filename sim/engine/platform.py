"""The simulated platform: the numbers that are properties of the infrastructure, not of the workflow.

Durations of work (execution, transfers, start-ups) come from the performance models; the platform says
how the infrastructure adds to them: store round trips, invocation latency, the container pool, CPU
sharing inside a worker, an optional cap on the store's total bandwidth.

Built-ins:

- ``default``: a small serverless platform with a Redis-like store (0.5 ms per round trip, 15 ms per
  invocation, 7 s keep-alive, 1000 containers at most, CPU sharing inside a worker; a worker fetches and
  loads the plan, 200 bytes and 3 ms + 0.06 ms per task, once per container).
- ``ideal``: no latency, no start-up, unlimited bandwidth and containers, no CPU sharing, and execution
  time equal to each task's recorded runtime: its makespan is the workflow's critical path.

``calibration.platform_fit`` fits the store round trip, the invocation latency, the spacing of cold
starts requested together, a worker's task hand-off step, the GIL switch interval and the CPU cost per MB
of (un)pickling values from real records
(``plansim validate --calibrate`` plans each run with them).

A platform file is JSON with any of the fields of :class:`Platform` (unknown fields are an error).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Platform:
    name: str = "default"
    store_latency_ms: float = 0.5
    invoke_latency_ms: float = 15.0
    keep_alive_ms: float = 7000.0
    max_containers: int | None = 1000
    bandwidth_cap_bytes_per_ms: float | None = None
    cpu_sharing: bool = True
    transfers: bool = True  # False: every transfer takes no time
    startup: bool = True  # False: workers start instantly
    exec_from_recorded: bool = False  # True: execution time is the task's recorded runtime
    # A worker's plan: fetched (one GET of plan_bytes_per_task x tasks) and loaded (plan_load_base_ms +
    # plan_load_ms_per_task x tasks: unpickling and the logic's view) once per container and run; an
    # inline-plan fragment is only loaded, at every start (it is not the whole plan: not kept). The
    # defaults are measured on the runtime (200 bytes, 3 ms + 0.06 ms per task; benchmarks/bench_inline_plan.py).
    plan_bytes_per_task: float = 0.0
    plan_load_base_ms: float = 0.0
    plan_load_ms_per_task: float = 0.0
    # Cold starts requested together do not end together: the container engine creates and starts them
    # one at a time. Each cold start holds this serial stage for its first ``cold_start_serial_ms`` (part
    # of its start-up time), so the k-th of n simultaneous starts ends (k-1) x this later than the first.
    # Measured on the runtime (calibration.platform_fit); 0 means starts are independent.
    cold_start_serial_ms: float = 0.0
    # A worker's event loop hands its tasks to threads one at a time: siblings that become ready together
    # start this far apart (the first at once). Only with CPU sharing, where the overlap matters.
    task_dispatch_ms: float = 0.0
    # The interpreter's GIL switch interval (CPython: 5 ms): the loop that dispatches a worker's next task
    # waits up to this long for a running Python task to let go (see Simulation._dispatch_wait). 0: off.
    gil_switch_ms: float = 0.0
    # Values cross the store as signed pickles: a worker verifies and unpickles the values it downloads
    # before the task runs (load) and pickles and signs each task's output after the call, whether or not
    # it is uploaded (dump). Both are CPU work of the worker's one event-loop thread, outside the measured
    # download, execution and upload times: CPU milliseconds per MB (10**6 bytes) at one full CPU; a
    # container of fewer CPUs takes 1 / cpus times as long. image_transform's 26 MB image costs 0.57-CPU
    # workers ~60-110 ms each way. Fitted by calibration.platform_fit; 0: free.
    load_ms_per_mb: float = 0.0
    dump_ms_per_mb: float = 0.0

    def __post_init__(self) -> None:
        self._check_types()
        for f in (
            "store_latency_ms",
            "invoke_latency_ms",
            "keep_alive_ms",
            "plan_bytes_per_task",
            "plan_load_base_ms",
            "plan_load_ms_per_task",
            "cold_start_serial_ms",
            "task_dispatch_ms",
            "gil_switch_ms",
            "load_ms_per_mb",
            "dump_ms_per_mb",
        ):
            if getattr(self, f) < 0:
                raise ValueError(f"platform {self.name!r}: {f} must be >= 0, got {getattr(self, f)}")
        if self.max_containers is not None and self.max_containers < 1:
            raise ValueError(f"platform {self.name!r}: max_containers must be >= 1 or null")
        if self.bandwidth_cap_bytes_per_ms is not None and self.bandwidth_cap_bytes_per_ms <= 0:
            raise ValueError(f"platform {self.name!r}: bandwidth_cap_bytes_per_ms must be > 0 or null")

    def _check_types(self) -> None:
        """Each field holds what its annotation says: a platform file is JSON, so ``"fast"``, ``null``,
        ``NaN`` or ``Infinity`` can reach any field, and the simulator would turn them into a traceback
        or a makespan of inf/nan. The annotations are strings here (``from __future__ import
        annotations``): ``bool``, ``str``, ``float``, ``int``, either ``| None``."""
        for f in fields(self):
            value, kind = getattr(self, f.name), str(f.type)
            if value is None and "None" in kind:
                continue
            if kind == "bool" or kind == "str":
                ok = type(value).__name__ == kind
                want = "true or false" if kind == "bool" else "a string"
            else:
                number = int if kind.startswith("int") else int | float
                ok = isinstance(value, number) and not isinstance(value, bool) and math.isfinite(value)
                want = "an integer" if kind.startswith("int") else "a finite number"
                want += " or null" if "None" in kind else ""
            if not ok:
                raise ValueError(f"platform {self.name!r}: {f.name} must be {want}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT = Platform(plan_bytes_per_task=200.0, plan_load_base_ms=3.0, plan_load_ms_per_task=0.06)
IDEAL = Platform(
    name="ideal",
    store_latency_ms=0.0,
    invoke_latency_ms=0.0,
    max_containers=None,
    cpu_sharing=False,
    transfers=False,
    startup=False,
    exec_from_recorded=True,
)
BUILTIN = {"default": DEFAULT, "ideal": IDEAL}


def load_platform(name_or_path: str | Path | Platform | None) -> Platform:
    """A built-in platform by name, or a JSON platform file."""
    if name_or_path is None:
        return DEFAULT
    if isinstance(name_or_path, Platform):
        return name_or_path
    key = str(name_or_path)
    if key in BUILTIN:
        return BUILTIN[key]
    path = Path(key)
    if not path.exists():
        if path.suffix or len(path.parts) > 1:  # meant as a file, not a misspelled built-in
            raise ValueError(f"platform file {key!r} does not exist")
        raise ValueError(f"unknown platform {key!r}: use one of {sorted(BUILTIN)} or a JSON file path")
    if path.is_dir():
        raise ValueError(f"platform file {key!r} is a folder, not a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"platform file {key!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"platform file {key!r} must hold a JSON object")
    known = {f.name for f in fields(Platform)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"platform file {key!r}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    return replace(DEFAULT, **{"name": path.stem, **data})
