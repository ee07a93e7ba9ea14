"""Input exponents that must extrapolate (calibration.exponent_prior): a narrow span of input sizes or a
single one, on synthetic samples whose true exponent is known and whose size levels were each measured
at another host load (the level offset a real recording session carries)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from calibration.exponent_prior import ExponentPrior, exponent_prior, exponent_se, shrink, span
from calibration.fit import fit_models
from sim.models.performance import PerformanceModels
from tests.calibration.test_exec_forms import records

BASE = 5e4  # bytes


def levels(
    function: str,
    sizes: list[float],
    b: float,
    offsets: list[float],
    rng: np.random.Generator,
    n: int = 150,
    noise: float = 0.1,
) -> list:
    """``n`` calls at each size level, time 2 ms * (size / BASE)^b, the level's load ``offset`` (a
    factor) and lognormal ``noise`` per call."""
    x = np.repeat(sizes, n)
    off = np.repeat(offsets, n)
    t = 2.0 * (x / BASE) ** b * off * np.exp(rng.normal(0.0, noise, x.size))
    return records(function, x, t)


def wide_functions(rng: np.random.Generator) -> list:
    """Four data-proportional functions fitted over sizes 9x apart (exponents 0.9-1.2): the prior."""
    recs = []
    for name, b in (("blur", 1.2), ("sepia", 1.0), ("resize", 1.1), ("combine", 0.9)):
        recs += levels(name, [BASE, 9 * BASE], b, [1.0, 1.1], rng)
    return recs


def test_a_narrow_span_with_a_slow_level_does_not_extrapolate_a_negative_exponent() -> None:
    # word_count_chunk's case: 1-2 ms calls (log spread 0.5) on chunks 1.5x apart, the smaller ones
    # recorded in slower sessions (1.8x), true b = 1. The plain fit gives b = 1 - log 1.8 / log 1.5 = -0.45: 10x the input would predict
    # *less* time. Shrunk toward the wide-span functions' exponents, it predicts within 2x of the truth.
    rng = np.random.default_rng(3)
    recs = wide_functions(rng) + levels("wc", [BASE, 1.5 * BASE], 1.0, [1.8, 1.0], rng, noise=0.5)
    models = fit_models(recs)[0]
    wc = models.exec["wc"]
    big = 15 * BASE
    truth = 2.0 * (big / BASE) ** 1.0
    assert truth / 2 < wc.median_ms(big, 1024) < truth * 2
    assert wc.extrapolation is not None and wc.extrapolation.b > 0.5
    assert any("shrunk toward" in n for n in wc.fit.notes)
    # inside the sizes fitted, the fit is untouched: each level keeps its recorded time
    assert wc.median_ms(BASE, 1024) == pytest.approx(3.6, rel=0.15)
    assert wc.median_ms(1.5 * BASE, 1024) == pytest.approx(3.0, rel=0.15)
    # and the models file keeps the extrapolation
    again = PerformanceModels.from_json(json.loads(json.dumps(models.to_json()))).exec["wc"]
    assert again.median_ms(big, 1024) == pytest.approx(wc.median_ms(big, 1024))


def test_a_single_size_function_gets_the_wide_span_functions_exponent() -> None:
    # A pooled regression over all functions weights by samples: one busy constant-time function (the
    # real runs' `add`, 3,100 calls over 6x) pulls the common exponent toward 0, far from the four
    # data-proportional ones (0.9-1.2). Each function counts once in the median.
    rng = np.random.default_rng(5)
    recs = wide_functions(rng)
    recs += levels("add", [BASE, 6 * BASE], 0.0, [1.0, 0.9], rng, n=3000)
    recs += levels("single", [BASE], 1.0, [1.0], rng)
    models = fit_models(recs)[0]
    single = models.exec["single"]
    assert single.b == pytest.approx(1.0, abs=0.1)
    assert any("median exponent of 5 functions" in n for n in single.fit.notes)


def test_the_standard_error_counts_size_levels_not_samples() -> None:
    rng = np.random.default_rng(0)
    narrow = np.log(np.repeat([BASE, 1.5 * BASE], 1000))
    wide = np.log(np.repeat([BASE, 9 * BASE], 1000))
    res = rng.normal(0.0, 0.5, narrow.size)
    # thousands of noisy samples at two levels 1.5x apart: still an exponent error above 1
    assert exponent_se(narrow, res) > 1.0
    assert exponent_se(wide, res) < 0.3
    # a level error scales with the calls' spread: precise calls (a sleep) identify an exponent
    assert exponent_se(narrow, res / 50) < 0.05
    assert exponent_se(np.log(np.full(50, BASE)), res[:50]) == math.inf
    assert span(narrow) == pytest.approx(1.5)
    # continuous sizes over two decades: the fitted exponent is kept almost whole
    cont = np.log(np.exp(rng.uniform(np.log(1e4), np.log(1e6), 200)))
    assert shrink(0.8, exponent_se(cont, res[:200] / 5), ExponentPrior())[1] > 0.98


def test_the_prior_is_the_median_of_wide_span_functions() -> None:
    fits = [(0.0, 9.0), (1.0, 9.0), (1.2, 25.0), (0.9, 3.5), (-1.3, 1.5), (0.4, 1.0)]
    prior = exponent_prior(fits)
    assert prior.functions == 4
    assert prior.b == pytest.approx(0.95)
    assert exponent_prior(fits[:2] + fits[4:]) == ExponentPrior()  # too few wide ones: the default


def test_many_continuous_sizes_keep_their_exponent() -> None:
    # 1,000 sizes spread over two decades, none repeated: consecutive ones are closer than a size
    # level's width, yet they span 100x. Chained into one level they told nothing (se infinite) and a
    # quadratic function extrapolated with the prior's b = 1.05, 10x low at 10x beyond its sizes.
    rng = np.random.default_rng(2)
    x = np.exp(rng.uniform(np.log(1e4), np.log(1e6), 1000))
    res = rng.normal(0.0, 0.1, x.size)
    assert exponent_se(np.log(x), res) < 0.05
    assert span(np.log(x)) == pytest.approx(100.0, rel=0.1)
    recs = wide_functions(rng) + records("quad", x, 1e-9 * x**2 * np.exp(res))
    quad = fit_models(recs)[0].exec["quad"]
    assert quad.median_ms(1e7, 1024) == pytest.approx(1e-9 * 1e14, rel=0.3)
