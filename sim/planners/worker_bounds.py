"""Lower bounds of a task's finish on every opened worker at once, so HEFT looks closely at few of them.

HEFT tries each ready task on every worker it has opened, and the workers grow with the workflow's
width: asking each worker in Python is quadratic in the workflow size. Most workers cannot win, and a
bound tells them apart without scanning their busy slots. For a task whose parents all sit elsewhere,
a worker's exact start (``_Worker.earliest``) is at least ``ready`` (its data is there and the worker
runs), and it is exactly ``ready`` only if the task fits before a slot's first interval or in a gap
between two intervals; otherwise every slot makes it wait until its last interval ends. Keeping four
numbers per worker (start, widest gap, latest first start, earliest last end) in arrays gives that
bound for all workers in a few vector operations. The fit tests are loosened by a margin far above
floating-point rounding, so the bound never exceeds the exact finish: pruning with it changes no plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.planners.heft import _Worker

EPS = 1e-9  # the insertion policy's tolerance (also sim.planners.heft's gap test)
INF = float("inf")


class WorkerBounds:
    """Columns of per-worker numbers, indexed like the scheduler's list of workers."""

    def __init__(self) -> None:
        self.n = 0
        self.memories: list[int] = []  # distinct worker memory sizes; a worker's column holds its code
        self._cols = np.empty((6, 16))
        self._slot_summary: list[list[tuple[float, float, float]]] = []  # per slot: gap, first, last end

    def add(self, w: _Worker) -> None:
        """A newly opened worker (no busy interval yet), at column ``w.index``."""
        if self.n == self._cols.shape[1]:
            self._cols = np.concatenate([self._cols, np.empty_like(self._cols)], axis=1)
        if w.memory not in self.memories:
            self.memories.append(w.memory)
        code = self.memories.index(w.memory)
        self._cols[:, self.n] = (w.start, -INF, INF, -INF, 0.0, code)
        self._slot_summary.append([(-INF, INF, -INF)] * len(w.slots))
        self.n += 1

    def update(self, w: _Worker, slot: int, start: float, end: float) -> None:
        """After ``w.occupy(slot, start, end)``: refresh that slot's summary and the worker's column."""
        busy = w.slots[slot]
        gap = self._slot_summary[w.index][slot][0]
        if len(busy) >= 2 and busy[-1] == (start, end):  # appended at the end (the usual case): one new gap
            gap = max(gap, busy[-1][0] - busy[-2][1])
        else:  # inserted in a gap, which it splits: recompute the slot
            gap = max((busy[j][0] - busy[j - 1][1] for j in range(1, len(busy))), default=-INF)
        summary = self._slot_summary[w.index]
        summary[slot] = (gap, busy[0][0], busy[-1][1])
        col = self._cols[:, w.index]
        col[1] = max(s[0] for s in summary)
        col[2] = max(s[1] for s in summary)
        col[3] = min(s[2] for s in summary)
        col[4] = max(col[4], end)

    def finish_bounds(self, remote_ready: float, fetch: list[float], duration: list[float]) -> np.ndarray:
        """Lower bound of the finish on every worker of a task all of whose parents are elsewhere.

        ``fetch`` and ``duration`` are per memory code (``self.memories``); ``remote_ready`` is when the
        last parent's output is readable from the store.
        """
        start, gap, first, free, horizon, code = self._cols[:, : self.n]
        code = code.astype(np.intp)
        d = np.asarray(duration)[code]
        ready = np.maximum(start, remote_ready) + np.asarray(fetch)[code]
        slack = EPS + 1e-9 * (1.0 + np.abs(ready) + d + np.abs(horizon))
        fits = (d <= gap + slack) | (ready + d <= first + slack)
        return np.where(fits, ready, np.maximum(ready, free)) + d
