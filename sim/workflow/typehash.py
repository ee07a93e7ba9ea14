"""The numpy half of :meth:`sim.workflow.dag.Workflow.type_hash`: Weisfeiler-Lehman colour refinement.

Kept out of :mod:`sim.workflow.dag` so that importing a workflow does not import numpy: the worker
entrypoint unpickles plans (and their workflows) but never hashes one, and numpy is about 0.1 s of a
1-vCPU container's cold start. :meth:`~sim.workflow.dag.Workflow.type_hash` imports this module when a
hash is asked for; its docstring describes the algorithm.
"""

from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any

import numpy as np


def refine(
    digest: Any, first: list[tuple], pred: list[list[int]], succ: list[list[int]], iterations: int | None
) -> None:
    """Refine the first colours ``first`` (one per task 0..n-1) over the adjacency lists ``pred`` and
    ``succ``, feeding every round's colour histogram into ``digest`` (a hashlib object); stops when the
    partition stops growing or after ``iterations`` rounds (None: no cap)."""
    n = len(first)
    parents, children = _Neighbours(pred), _Neighbours(succ)
    histogram = Counter(first)
    ranked = sorted(histogram)
    rank = {s: i for i, s in enumerate(ranked)}
    colour = np.fromiter((rank[s] for s in first), np.int64, count=n)
    counts = [histogram[s] for s in ranked]
    classes = -1
    rounds = 0
    limit = n + 1 if iterations is None else iterations
    while True:
        digest.update(repr(list(zip(ranked, counts, strict=True))).encode())
        if len(ranked) == classes or rounds >= limit:
            break
        classes = len(ranked)
        rounds += 1
        parents.sort(colour)
        children.sort(colour)
        group_of, groups = _group_tasks(colour, parents, children)
        first_member = np.zeros(groups, np.int64)
        first_member[group_of] = np.arange(n)  # some task of each group: all have its signature
        signatures = [
            (int(colour[i]), parents.sorted_colours(i), children.sorted_colours(i))
            for i in first_member.tolist()
        ]
        by_signature = sorted(range(groups), key=signatures.__getitem__)
        ranked = [signatures[k] for k in by_signature]
        sizes = np.bincount(group_of, minlength=groups)
        counts = sizes[by_signature].tolist()
        rank_of_group = np.empty(groups, np.int64)
        rank_of_group[by_signature] = np.arange(groups)
        colour = rank_of_group[group_of]


class _Neighbours:
    """One direction of a DAG's adjacency as flat arrays (tasks numbered 0..n-1), for :meth:`type_hash`."""

    __slots__ = ("index", "owner", "starts", "ends", "lengths", "offset", "sorted", "_flat", "_bounds")

    def __init__(self, lists: list[list[int]]) -> None:
        self.lengths = np.fromiter(map(len, lists), np.int64, count=len(lists))
        self.ends = np.cumsum(self.lengths)
        self.starts = self.ends - self.lengths
        self.index = np.fromiter(chain.from_iterable(lists), np.int64, count=int(self.lengths.sum()))
        self.owner = np.repeat(np.arange(len(lists)), self.lengths)
        self.offset = np.arange(len(self.index)) - self.starts[self.owner]  # position in the owner's list
        self.sorted = self.index
        self._bounds = list(zip(self.starts.tolist(), self.ends.tolist(), strict=True))
        self._flat: list[int] = []

    def sort(self, colour: np.ndarray) -> None:
        """Take the neighbours' colours, each task's in ascending order (read by the methods below)."""
        # Colours are below len(colour): offsetting each task's by owner * len(colour) sorts every
        # task's list in one flat sort.
        shift = self.owner * len(colour)
        self.sorted = np.sort(colour[self.index] + shift) - shift
        self._flat = self.sorted.tolist()

    def fingerprints(self, weights: np.ndarray) -> np.ndarray:
        """Per task, the sum of ``weights[colour]`` over its neighbours (mod 2**64): equal multisets of
        colours give equal sums, different ones almost surely not."""
        sums = np.zeros(len(self.sorted) + 1, np.uint64)
        np.cumsum(weights[self.sorted], out=sums[1:])
        return (sums[self.ends] - sums[self.starts]).view(np.int64)

    def same_as(self, other: np.ndarray) -> bool:
        """Whether every task has exactly the sorted neighbour colours of task ``other[task]``."""
        return bool(np.array_equal(self.sorted, self.sorted[self.starts[other[self.owner]] + self.offset]))

    def keys(self) -> list[bytes]:
        """Per task, its sorted neighbour colours as bytes: equal bytes, equal multisets."""
        raw = self.sorted.tobytes()
        return [raw[a * 8 : b * 8] for a, b in self._bounds]

    def sorted_colours(self, task: int) -> tuple[int, ...]:
        a, b = self._bounds[task]
        return tuple(self._flat[a:b])


def _fingerprint_weights(colours: int) -> np.ndarray:
    """Two fixed pseudo-random 64-bit weights per colour (two independent fingerprints)."""
    return np.random.PCG64(20240601).random_raw((2, colours))


def _group_tasks(colour: np.ndarray, parents: _Neighbours, children: _Neighbours) -> tuple[np.ndarray, int]:
    """Number the distinct signatures (colour, parent colours, child colours): ``(group per task, groups)``.

    Tasks are grouped by vectorised fingerprints of their neighbours' colour multisets, then every group
    is checked element by element against one of its members, so the grouping is exact; should two
    multisets ever share fingerprints, the tasks are grouped by their full colour lists instead.
    """
    if not len(colour):
        return colour, 0
    weights = _fingerprint_weights(int(colour.max()) + 1)
    keys = np.stack(
        [
            colour,
            parents.lengths,
            children.lengths,
            *(side.fingerprints(w) for side in (parents, children) for w in weights),
        ],
        axis=1,
    )
    order = np.lexsort(keys.T)
    ordered = keys[order]
    starts_group = np.empty(len(order), bool)
    starts_group[0] = True
    np.any(ordered[1:] != ordered[:-1], axis=1, out=starts_group[1:])
    group_of = np.empty(len(order), np.int64)
    group_of[order] = np.cumsum(starts_group) - 1
    member = order[starts_group][group_of]  # a task of the same group, for each task
    if parents.same_as(member) and children.same_as(member):
        return group_of, int(starts_group.sum())
    groups: dict[tuple, int] = {}
    exact = [
        groups.setdefault(k, len(groups))
        for k in zip(colour.tolist(), parents.keys(), children.keys(), strict=True)
    ]
    return np.array(exact, np.int64), len(groups)
