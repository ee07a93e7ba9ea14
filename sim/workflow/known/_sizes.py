"""Helpers that give a code-built workflow its simulation spec: per-task output sizes, runtimes, stored inputs.

Runtime estimates are for the real code on about one vCPU (numpy single-threaded), from rates measured on
the development machine (2-core x86-64, numpy 2.x); they are starting points that calibration replaces:

- ``INT64_MAC_PER_S``: integer matrix multiply (numpy has no BLAS for int64): about 9.3e7 multiply-adds/s
  (a 500x2000 @ 2000x500 int64 block takes about 5.4 s);
- ``MEM_BYTES_PER_S``: copying / simple element-wise numpy passes: about 1 GB/s;
- ``PIXEL_OPS_PER_S``: a float32 element-wise pass over an image: about 2e8 values/s;
- ``WORDS_PER_S``: ``str.split`` plus counting in pure Python: about 1e7 words/s;
- ``TASK_FLOOR_MS``: calling a trivial Python function with its arguments: 0.05 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.workflow.dag import ESTIMATED_OUTPUTS, TaskSpec, Workflow, WorkflowError

INT64_MAC_PER_S = 9.3e7
MEM_BYTES_PER_S = 1.0e9
PIXEL_OPS_PER_S = 2.0e8
WORDS_PER_S = 1.0e7
TASK_FLOOR_MS = 0.05
INLINE_BUDGET_BYTES = 300_000  # the reference runtime's whole-DAG budget for inline argument data
PICKLE_OVERHEAD = 160  # bytes cloudpickle adds around a numpy array

Value = float | int | Callable[[TaskSpec], float] | None


@dataclass(frozen=True)
class Sizes:
    """Per-function spec values; each may be a number or ``f(spec) -> number`` (None: leave as is)."""

    output_bytes: Value = None
    runtime_ms: Value = None
    stored_input_bytes: Value = None


def ms_copy(nbytes: float) -> float:
    return TASK_FLOOR_MS + 1000.0 * nbytes / MEM_BYTES_PER_S


def ms_pixels(values: float, passes: float = 1.0) -> float:
    return TASK_FLOOR_MS + 1000.0 * values * passes / PIXEL_OPS_PER_S


def ms_words(words: float) -> float:
    return TASK_FLOOR_MS + 1000.0 * words / WORDS_PER_S


def _value(v: Value, spec: TaskSpec) -> Any:
    return v(spec) if callable(v) else v


def annotate_sizes(
    wf: Workflow,
    sizes: dict[str, Sizes],
    edge_bytes: Callable[[str, str], int] | None = None,
) -> Workflow:
    """Set output/runtime/stored sizes per function, then every edge to the producer's output size.

    ``edge_bytes(producer_id, consumer_id)`` overrides the size of particular edges (return None to keep
    the default). Every function of ``wf`` must appear in ``sizes`` so nothing is silently unsized.
    """
    for tid, spec in wf.tasks.items():
        if spec.function not in sizes:
            raise WorkflowError(f"task {tid!r}: no size estimate for function {spec.function!r}")
        s = sizes[spec.function]
        for name in ("output_bytes", "stored_input_bytes"):
            v = _value(getattr(s, name), spec)
            if v is not None:
                setattr(spec, name, int(v))
        v = _value(s.runtime_ms, spec)
        if v is not None:
            spec.runtime_ms = float(v)
        if spec.stored_input_bytes:
            # large arguments are uploaded before the run, not carried inline with the invocation
            spec.inline_bytes = min(spec.inline_bytes, 1024)
    for u, v, data in wf.graph.edges(data=True):
        b = edge_bytes(u, v) if edge_bytes else None
        data["bytes"] = int(b if b is not None else (wf.task(u).output_bytes or 0))
    # The output sizes are estimates, not recordings: a predictor with fitted output models of these
    # functions predicts them instead (sim.models.predictor.Predictor.sizes).
    wf.meta[ESTIMATED_OUTPUTS] = True
    return wf


def array_bytes(*shape: int, itemsize: int = 8) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n * itemsize + PICKLE_OVERHEAD


def index_of(spec: TaskSpec) -> int:
    """The per-function number in a generated id (``multiply_chunks-7`` -> 7)."""
    return int(spec.id.rsplit("-", 1)[1])
