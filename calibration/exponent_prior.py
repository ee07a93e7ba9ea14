"""How far a fitted input exponent ``b`` (execution time ~ input^b) may be trusted away from the sizes
it was fitted on, and what to believe instead.

A planner user asks "what if my input is 10x bigger?": the exponent decides the answer, and random
cross-validation never extrapolates, so it cannot judge it. Two things make a fitted exponent unsafe:

- **the span.** Recorded input sizes come in a few *size levels* (an instance's chunks), each measured
  in other runs, at another host load. A level is off by its run's conditions: the per-recording-folder
  median of one (function, input size, memory) varies with a log standard deviation of 0.41 (median over
  97 such groups of the small instances' real runs; quartiles 0.19-0.61), about 0.77 times the spread of
  the group's own calls (median ratio; quartiles 0.50-1.10; a sleep's levels barely move, a 1 ms call's
  by 50%). Two levels 1.5x apart with a level error of 0.4 carry an exponent error of
  ``0.4 * sqrt(2) / log(1.5) = 1.4``: word_count_chunk fitted ``b = -1.3`` from chunks of 59 and 87 kB
  and predicted 0.08 ms at 439 kB (31 ms observed). The standard error of :func:`exponent_se` adds that
  level error (:data:`LEVEL_TO_SPREAD` times the residuals' robust spread) to the samples' own;
- **no span at all.** A function with one input size gets the exponent of the others. The exponents of
  functions fitted over a wide span (at least :data:`WIDE_SPAN`) are bimodal, 0 (sleep, fixed-work
  calls) or near 1 (data-proportional work); their median is the point that minimises the summed
  |log error| of extrapolating them (:class:`ExponentPrior`). A pooled regression over all functions
  instead weights by sample count (a constant-time call with 3,100 samples outweighs the rest) and
  took in the narrow-span ones: 0.37 on the small instances' runs, where the 16 wide-span functions'
  median is 0.86. Extrapolating each of those 16 from its smallest size level to its largest (3-25x)
  with the prior: mean |log error| 1.17 with 0.37, 0.93 with 0.86 (0.94 leaving the function out).

A free exponent is then *shrunk* toward that prior in proportion to the evidence (:func:`shrink`):
the normal-normal posterior mean ``b0 + w (b - b0)``, ``w = sd² / (sd² + se²)``, with ``sd`` the spread
of the wide-span functions' exponents. On the small instances' runs (prior 0.86 ± 0.55) ``w`` is
0.6-0.9 over 9x spans of two levels (blur_chunk 1.26 -> 1.14), 0.8-0.9 over 25x, 0.18 over
word_count_chunk's 1.5x (-1.28 -> 0.48); over 200 continuous sizes it is about 1 (the fitted exponent
is kept). The shrunk exponent applies only *beyond* the sizes fitted (:class:`sim.models.performance.
Extrapolation`): inside, the fitted form still matches the levels recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

LEVEL_TO_SPREAD = 0.77  # a size level's run-to-run log sd over its calls' spread (the module docstring)
LEVEL_GAP = math.log(1.05)  # input sizes closer than this (log) are one size level
WIDE_SPAN = 3.0  # a function whose size levels span at least this factor informs the prior
MIN_PRIOR_FUNCTIONS = 3  # fewer wide-span functions: the default prior
MIN_PRIOR_SD = 0.25  # the prior's spread is never taken tighter than this


@dataclass(frozen=True, slots=True)
class ExponentPrior:
    """What an input exponent is believed to be before a function's own samples: ``b`` with spread
    ``sd``, from the median and scaled MAD of ``functions`` wide-span functions' fitted exponents (0:
    the documented default, linear in the input)."""

    b: float = 1.0
    sd: float = 0.5
    functions: int = 0


def size_levels(lx: np.ndarray) -> np.ndarray:
    """Mean log size of each size level: sorted log sizes, a level holding those within
    :data:`LEVEL_GAP` of its smallest. Not chained from neighbour to neighbour: a thousand continuous
    sizes over two decades are ~0.005 apart in log, and chained they made one level, an infinite
    :func:`exponent_se` and a fitted exponent thrown away for the prior (WfInstances' sG1IterDecon:
    4,500 calls over 15x made 5 levels instead of 45)."""
    v = np.sort(np.asarray(lx, float))
    if v.size == 0:
        return v
    cuts, first = [], v[0]
    for i in np.flatnonzero(np.diff(v) > 0) + 1:  # each new size: does it start a level?
        if v[i] - first > LEVEL_GAP:
            cuts.append(i)
            first = v[i]
    return np.array([float(np.mean(part)) for part in np.split(v, cuts)])


def span(lx: np.ndarray) -> float:
    """Factor between the largest and the smallest size level."""
    levels = size_levels(lx)
    return math.exp(float(np.ptp(levels))) if levels.size else 1.0


def exponent_se(lx: np.ndarray, residuals: np.ndarray) -> float:
    """Standard error of an exponent fitted at log sizes ``lx`` with these residuals: the samples' own
    (residual variance over the log sizes' sum of squares) plus the size levels' run-to-run error
    (:data:`LEVEL_TO_SPREAD` times the residuals' scaled median absolute deviation) over the levels'
    sum of squares. Infinite over a single level."""
    levels = size_levels(lx)
    sxx_levels = float(np.sum((levels - levels.mean()) ** 2)) if levels.size else 0.0
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    if sxx_levels <= 0.0 or sxx <= 0.0:
        return math.inf
    dof = max(lx.size - 2, 1)
    own = float(residuals @ residuals) / dof / sxx
    level = LEVEL_TO_SPREAD * 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    return math.sqrt(own + level**2 / sxx_levels)


def shrink(b: float, se: float, prior: ExponentPrior) -> tuple[float, float]:
    """The exponent shrunk toward the prior and the weight its own fit kept (1: unchanged)."""
    if not math.isfinite(se):
        return prior.b, 0.0
    w = prior.sd**2 / (prior.sd**2 + se**2)
    return prior.b + w * (b - prior.b), w


def exponent_prior(fits: Iterable[tuple[float, float]]) -> ExponentPrior:
    """The prior from (fitted exponent, span) of each function: the median and the scaled median
    absolute deviation (floored at :data:`MIN_PRIOR_SD`) of those with a span of at least
    :data:`WIDE_SPAN`; the default when fewer than :data:`MIN_PRIOR_FUNCTIONS` have one."""
    wide = np.array([b for b, sp in fits if sp >= WIDE_SPAN and math.isfinite(b)])
    if wide.size < MIN_PRIOR_FUNCTIONS:
        return ExponentPrior()
    med = float(np.median(wide))
    sd = max(1.4826 * float(np.median(np.abs(wide - med))), MIN_PRIOR_SD)
    return ExponentPrior(b=med, sd=sd, functions=int(wide.size))
