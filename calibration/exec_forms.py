"""Which form of execution-time model a function gets, chosen by cross-validation on its own samples.

The execution model is a power law ``a * in_bytes^b * (mem/1024)^-c`` (DESIGN.md). Recorded runtimes
often do not follow it: a function's time may not depend on its input at all (then a fitted ``b`` is
noise that extrapolates badly: mDiffFit's ``b = -0.9``), or it runs on a few distinct input sizes whose
times differ for reasons the size does not explain (BLAST queries of 7.7, 7.9 and 9.7 kB took 9 s,
105 s and 25 min). The candidates are

- ``power``: the power law, its free exponents fitted (:func:`calibration.robust.robust_linear`);
- ``constant``: the same with ``b = 0`` (the input explains nothing: the exponent shrunk to 0);
- either of them ``+ classes``: input-size classes (:class:`sim.models.performance.SizeClass`), each
  with its own level and residuals; a size outside every class gets the form without classes.

Each candidate is scored by K-fold cross-validation *within the samples given* (the training data:
nothing held out for evaluation is seen): the quantile (pinball) loss of its predicted log-time
quantiles on the left-out fold (:func:`pinball_loss`), so a form wins by a better level *and* by a
spread closer to the truth (classes give a size with a tight spread its own residuals, instead of the
heavy tail of another size). The simplest candidate within :data:`CV_TOLERANCE` of the best wins; the
choice and the scores are written into the model's notes. The in-sample R² of the chosen form is
reported as it is (near 0 or negative when the input explains nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.exponent_prior import ExponentPrior, exponent_se, shrink
from calibration.robust import robust_linear, slope_t
from sim.models.performance import ExecModel, Extrapolation, Residuals, SizeClass

CV_FOLDS = 5
CV_MIN_SAMPLES = 20  # fewer samples: no cross-validation; the power law only if its exponent is significant
# Below CV_MIN_SAMPLES, a fitted input exponent is kept only if it is at least this many standard errors
# from 0 (calibration.robust.slope_t); otherwise the constant form: a dozen noisy calls over sizes a few
# percent or a factor 2 apart gave b = -0.5 to -3.5 (wordcount's merge, gemm's chunks) that extrapolated
# into 287% execution errors.
MIN_SLOPE_T = 3.0
CV_TOLERANCE = 0.02  # a more complex form must cut the cross-validated loss by more than this (relative)
CLASS_MAX_WIDTH = math.log(1.02)  # a class spans at most 2% of input size
# Granularities of classes: consecutive sizes closer than this (log) chain into one class. Coarse classes
# gather a run's sizes that differ by a few bytes; fine ones separate sizes 0.1% apart (two BLAST
# databases of 5.112 and 5.117 GB, one searched in 9 s, the other in 25 min).
CLASS_GAPS = {"coarse": math.log(1.005), "fine": math.log(1.0002)}
CLASS_MIN_SAMPLES = 10  # a class needs this many samples for its own level and residuals
QUANTILES = np.linspace(0.1, 0.9, 9)  # the SLA levels the cross-validated loss scores


@dataclass(frozen=True, slots=True)
class Samples:
    """One function's execution samples: input bytes, memory (MB), and the logs the regression uses
    (input bytes, memory over the baseline, time)."""

    x: np.ndarray
    m: np.ndarray
    lx: np.ndarray
    lm: np.ndarray
    ly: np.ndarray

    def __getitem__(self, sel: np.ndarray) -> Samples:
        return Samples(self.x[sel], self.m[sel], self.lx[sel], self.lm[sel], self.ly[sel])


def power_log(model: ExecModel, lx: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Log of the power law's prediction (without size classes) at log input sizes and memory ratios."""
    return math.log(model.a) + model.b * lx - model.c * lm


def fit_power(
    lx: np.ndarray, lm: np.ndarray, ly: np.ndarray, b: float | None, c: float | None, few: bool
) -> ExecModel:
    """The power law with the exponents given as None fitted, the others fixed; only the intercept
    (a median) when there are too ``few`` samples."""
    target = ly - (b * lx if b is not None else 0.0) + (c * lm if c is not None else 0.0)
    cols = [np.ones_like(ly)]
    if b is None:
        cols.append(lx)
    if c is None:
        cols.append(-lm)
    beta = robust_linear(np.column_stack(cols), target) if not few else np.array([float(np.median(target))])
    k = 1
    if b is None:
        b = float(beta[k])
        k += 1
    if c is None:
        c = float(beta[k])
    return ExecModel(a=math.exp(float(beta[0])), b=float(b), c=float(c))


def size_classes(x: np.ndarray, logres: np.ndarray, gap: float) -> list[SizeClass]:
    """Classes of nearly equal input sizes: sorted sizes chain while consecutive ones are at most
    ``gap`` apart (log) and the class spans at most :data:`CLASS_MAX_WIDTH`. A class with at least
    :data:`CLASS_MIN_SAMPLES` samples gets the median of its residuals as its offset and its residuals
    about that offset; smaller ones are left to the form without classes."""
    order = np.argsort(x, kind="stable")
    lx = np.log(x[order])
    cuts = [0]
    for i in range(1, lx.size):
        if lx[i] - lx[i - 1] > gap or lx[i] - lx[cuts[-1]] > CLASS_MAX_WIDTH:
            cuts.append(i)
    cuts.append(lx.size)
    out: list[SizeClass] = []
    for i, j in zip(cuts[:-1], cuts[1:], strict=True):
        if j - i >= CLASS_MIN_SAMPLES:
            res = logres[order[i:j]]
            offset = float(np.median(res))
            lo, hi = float(x[order[i]]), float(x[order[j - 1]])
            out.append(SizeClass(lo, hi, offset, Residuals.from_array(res - offset)))
    return out


def _candidate(
    base: str, classes: str | None, s: Samples, b: float | None, c: float | None, few: bool
) -> ExecModel:
    model = fit_power(s.lx, s.lm, s.ly, 0.0 if base == "constant" else b, c, few)
    logres = s.ly - power_log(model, s.lx, s.lm)
    model.residuals = Residuals.from_array(logres)
    if classes is not None:
        model.size_classes = size_classes(s.x, logres, CLASS_GAPS[classes])
    return model


def pinball_loss(model: ExecModel, s: Samples) -> float:
    """Summed quantile (pinball) loss of the model's predicted log-time quantiles :data:`QUANTILES` at
    the samples, averaged over the quantiles: it scores the level *and* the spread an SLA is read from
    (a mean over all quantiles would be the CRPS in log space)."""
    at: dict[tuple[float, float], int] = {}  # recorded sizes repeat: one prediction per (size, memory)
    rows = np.array([at.setdefault((float(xi), float(mi)), len(at)) for xi, mi in zip(s.x, s.m, strict=True)])
    q = np.empty((len(at), QUANTILES.size))
    spreads: dict[int, np.ndarray] = {}  # per residual sample (a size class, or the function's)
    for (xi, mi), i in at.items():
        res = model.residuals_for(mi, xi)
        spread = spreads.get(id(res))
        if spread is None:
            spread = spreads[id(res)] = np.quantile(res.values or [0.0], QUANTILES)
        q[i] = math.log(model.median_ms(xi, mi)) + spread
    d = s.ly[:, None] - q[rows]
    return float(np.sum(np.mean(np.maximum(QUANTILES * d, (QUANTILES - 1) * d), axis=1)))


def few_samples_form(s: Samples, b: float | None, c: float | None) -> tuple[ExecModel, list[str]]:
    """Too few samples to cross-validate: the power law if its fitted input exponent is at least
    :data:`MIN_SLOPE_T` standard errors from 0, else the constant form (b = 0), with a note saying so.

    The exponent's standard error grows as the input's log spread shrinks and as the samples get fewer
    and noisier, so one test covers a narrow input range and too few samples alike; an exponent the
    data cannot tell from 0 is shrunk to 0 rather than extrapolated."""
    power = _candidate("power", None, s, b, c, False)
    if b is not None:
        return power, []
    cols = [np.ones_like(s.ly), s.lx] + ([-s.lm] if c is None else [])
    target = s.ly + (c * s.lm if c is not None else 0.0)
    beta = np.array([math.log(power.a), power.b] + ([power.c] if c is None else []))
    t = float(slope_t(np.column_stack(cols), target, beta)[1])
    if t >= MIN_SLOPE_T:
        return power, []
    note = (
        f"b = 0 (constant form): the fitted b = {power.b:.3g} is {t:.2g} standard errors from 0, not "
        f"identified by {s.ly.size} samples over input sizes x{math.exp(float(np.ptp(s.lx))):.3g} apart "
        f"(fewer than {CV_MIN_SAMPLES}: no cross-validated choice)"
    )
    return _candidate("constant", None, s, b, c, False), [note]


def select_exec(
    s: Samples, b: float | None, c: float | None, few: bool, prior: ExponentPrior | None = None
) -> tuple[ExecModel, list[str]]:
    """The execution model of one function's samples, with ``b``/``c`` fixed where given (None: fitted),
    and notes saying which form was chosen (:func:`choose_form`); with a free ``b`` and a ``prior``, its
    extrapolation beyond the sizes fitted (:func:`extrapolation`)."""
    model, notes = choose_form(s, b, c, few)
    if b is None and not few and prior is not None:
        note = extrapolation(model, s, c, prior)
        if note:
            notes.append(note)
    return model, notes


def extrapolation(model: ExecModel, s: Samples, c: float | None, prior: ExponentPrior) -> str | None:
    """Set the model's exponent beyond the sizes fitted: the chosen form's (0 for the constant form)
    shrunk toward the ``prior`` by the evidence of the span (:mod:`calibration.exponent_prior`: the
    standard error of a plain power-law fit with the size levels' run-to-run error). Inside the sizes
    fitted nothing changes. A note when the exponent moved by more than 0.01."""
    plain = fit_power(s.lx, s.lm, s.ly, None, c, False)
    se = exponent_se(s.lx, s.ly - power_log(plain, s.lx, s.lm))
    b_out, w = shrink(model.b, se, prior)
    if abs(b_out - model.b) <= 0.01:
        return None
    model.extrapolation = Extrapolation(float(s.x.min()), float(s.x.max()), b_out)
    return (
        f"beyond the input sizes fitted ({s.x.min():.4g}-{s.x.max():.4g} B), b = {b_out:.3g}: the form's "
        f"{model.b:.3g} (standard error {se:.2g} with size levels' run-to-run error) shrunk toward "
        f"{prior.b:.3g} ± {prior.sd:.2g}, keeping {w:.0%}"
    )


def choose_form(s: Samples, b: float | None, c: float | None, few: bool) -> tuple[ExecModel, list[str]]:
    """The form of one function's execution model and a note saying which was chosen.

    Two choices by cross-validation, each the simplest candidate within :data:`CV_TOLERANCE` of the
    best: constant or power law (only when ``b`` is free), then no, coarse or fine size classes on top
    of it (only where some exist). With fewer than :data:`CV_MIN_SAMPLES` samples, no cross-validation
    (:func:`few_samples_form`)."""
    if few:
        return _candidate("power", None, s, b, c, few), []
    if s.ly.size < CV_MIN_SAMPLES:
        return few_samples_form(s, b, c)
    folds = np.random.default_rng(0).permutation(s.ly.size) % CV_FOLDS
    scores: dict[str, float] = {}

    def cv(base: str, classes: str | None) -> float:
        loss = 0.0
        for k in range(CV_FOLDS):
            tr, te = folds != k, folds == k
            loss += pinball_loss(_candidate(base, classes, s[tr], b, c, few), s[te])
        scores[base + (f"+{classes} classes" if classes else "")] = loss / s.ly.size
        return loss / s.ly.size

    def simplest(options: dict) -> object:
        best = min(options.values())
        return next(o for o, v in options.items() if v <= best * (1 + CV_TOLERANCE))

    base = simplest({f: cv(f, None) for f in ("constant", "power")}) if b is None else "power"
    grains = [g for g in CLASS_GAPS if size_classes(s.x, s.ly, CLASS_GAPS[g])]
    classes = simplest({None: scores.get(base) or cv(base, None)} | {g: cv(base, g) for g in grains})
    model = _candidate(base, classes, s, b, c, few)
    if len(scores) == 1:
        return model, []
    chosen = base + (f"+{classes} classes" if classes else "")
    listed = ", ".join(f"{f} {v:.3g}" for f, v in scores.items())
    note = f"form {chosen} chosen by {CV_FOLDS}-fold cross-validation (mean quantile loss: {listed})"
    if model.size_classes:
        note += f"; {len(model.size_classes)} input-size classes"
    return model, [note]
