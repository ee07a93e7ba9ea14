"""The planning-time cost model shared by the list schedulers (HEFT, CPOP, dask-like).

List schedulers need cheap *estimates* of when a task could start and finish on a worker, thousands of
times per plan, so they cannot simulate every decision. These estimates use the same Predictor and
platform numbers as the simulator, following the worker logic (:mod:`sim.worker.logic`):

- a task on the same worker as its parent reads the parent's output from memory (no transfer);
- otherwise the parent uploads its output (at the parent's memory), updates a dependency counter (one
  store round trip) and the task downloads it (at its own memory); downloads of one task run in parallel;
- a new worker pays the invocation latency and a cold start-up before its first task;
- a worker with ``c`` vCPUs runs ``max(1, floor(c))`` tasks at full speed at once (the simulator shares
  the CPUs; whole slots are the list-scheduling approximation).

The simulator remains the judge: every planner's final plan is what ``plansim simulate`` plays out.
"""

from __future__ import annotations

import math
from functools import lru_cache

from sim.engine.platform import Platform
from sim.models.predictor import Predictor
from sim.models.resources import cpus_for_memory
from sim.workflow.dag import Workflow


class CostModel:
    """Estimated durations of one workflow's tasks and transfers under a predictor and a platform."""

    def __init__(self, wf: Workflow, predictor: Predictor, platform: Platform) -> None:
        self.wf = wf
        self.predictor = predictor
        self.platform = platform
        self.sizes = predictor.sizes(wf)
        g = wf.graph
        self.parents = {t: tuple(g.predecessors(t)) for t in wf.topological_order()}
        self.children = {t: tuple(g.successors(t)) for t in wf.topological_order()}
        self.latency = platform.store_latency_ms
        self.invoke = platform.invoke_latency_ms
        self.exec_ms = lru_cache(maxsize=None)(self._exec_ms)
        self.transfer_ms = lru_cache(maxsize=None)(self._transfer_ms)

    def _exec_ms(self, task: str, memory_mb: int) -> float:
        spec = self.wf.task(task)
        if self.platform.exec_from_recorded and spec.runtime_ms is not None:
            return float(spec.runtime_ms)
        return self.predictor.exec_ms(self.wf, task, memory_mb)

    def _transfer_ms(self, nbytes: int, memory_mb: int, upload: bool = False) -> float:
        if not self.platform.transfers or nbytes <= 0:
            return 0.0
        return self.predictor.transfer_ms(nbytes, memory_mb, upload)

    def startup_ms(self, memory_mb: int, state: str = "cold") -> float:
        return self.predictor.startup_ms(memory_mb, state) if self.platform.startup else 0.0

    def new_worker_ms(self, memory_mb: int) -> float:
        """From the decision to start a worker to the worker running: invocation plus cold start-up."""
        return self.invoke + self.startup_ms(memory_mb, "cold")

    def upload_ms(self, task: str, memory_mb: int) -> float:
        return self.transfer_ms(self.sizes.output_bytes[task], memory_mb, True)

    def download_ms(self, parent: str, task: str, memory_mb: int) -> float:
        return self.transfer_ms(self.sizes.edge_bytes[parent, task], memory_mb)

    def stored_input_ms(self, task: str, memory_mb: int) -> float:
        return self.transfer_ms(self.wf.task(task).stored_input_bytes, memory_mb)

    def remote_edge_ms(self, parent: str, task: str, parent_memory: int, memory_mb: int) -> float:
        """Parent finished -> output readable on another worker: upload, counter round trip, download."""
        return (
            self.upload_ms(parent, parent_memory) + self.latency + self.download_ms(parent, task, memory_mb)
        )

    @staticmethod
    def slots(memory_mb: int) -> int:
        return max(1, math.floor(cpus_for_memory(memory_mb)))

    # -- HEFT averages over the candidate memory sizes ----------------------------------------------
    def mean_exec_ms(self, task: str, sizes: tuple[int, ...]) -> float:
        return sum(self.exec_ms(task, m) + self.stored_input_ms(task, m) for m in sizes) / len(sizes)

    def mean_comm_ms(self, parent: str, task: str, sizes: tuple[int, ...]) -> float:
        return sum(self.remote_edge_ms(parent, task, m, m) for m in sizes) / len(sizes)
