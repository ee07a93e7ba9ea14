"""Execution-model forms chosen by cross-validation (calibration.exec_forms), on synthetic samples whose
truth is known: input-independent times, a power law, and input-size classes with unrelated levels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from calibration.fit import fit_models
from sim.models.performance import SLA, PerformanceModels, Residuals
from sim.models.predictor import Predictor
from sim.models.records import TaskRecord
from sim.workflow.dag import TaskSpec, Workflow


def task(function: str, in_bytes: float, ms: float, i: int) -> TaskRecord:
    return TaskRecord(
        run_id="r",
        workflow_type="w",
        planner="p",
        function=function,
        task_id=f"{function}-{i}",
        worker_id="w0",
        memory_mb=1024,
        cpus=1.0,
        input_bytes=int(in_bytes),
        output_bytes=0,
        exec_ms=float(ms),
    )


def records(function: str, sizes: np.ndarray, times: np.ndarray) -> list[TaskRecord]:
    return [task(function, x, t, i) for i, (x, t) in enumerate(zip(sizes, times, strict=True))]


def form_note(models: PerformanceModels, function: str) -> str:
    return next(n for n in models.exec[function].fit.notes if "cross-validation" in n)


def test_input_independent_times_get_the_constant_form() -> None:
    rng = np.random.default_rng(1)
    x = np.exp(rng.uniform(np.log(1e4), np.log(1e8), 300))  # four decades of input, no effect on time
    t = 500.0 * np.exp(rng.normal(0.0, 0.5, x.size))
    models, _ = fit_models(records("flat", x, t))
    model = models.exec["flat"]
    assert model.b == 0.0
    assert "form constant " in form_note(models, "flat")
    assert not model.size_classes
    # the level is the median time, and the same for any input size
    p50 = [models.exec_ms("flat", v, 1024, SLA(0.5)) for v in (1e3, 1e6, 1e10)]
    assert p50[0] == pytest.approx(p50[2])
    assert p50[0] == pytest.approx(500.0, rel=0.1)
    # R² is reported for what it is: the input explains nothing
    assert model.fit.r2 is not None and model.fit.r2 < 0.05


def test_a_power_law_keeps_its_exponent() -> None:
    rng = np.random.default_rng(2)
    x = np.exp(rng.uniform(np.log(1e4), np.log(1e8), 300))
    t = 1e-3 * x**0.8 * np.exp(rng.normal(0.0, 0.1, x.size))
    models, _ = fit_models(records("grows", x, t))
    assert models.exec["grows"].b == pytest.approx(0.8, rel=0.05)
    assert "form power " in form_note(models, "grows")
    assert models.exec["grows"].size_class(1e6) is None  # no classes: every size gets the power law


def blast_like(rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, np.ndarray, dict[float, float]]:
    """Three input sizes (two of them 0.1% apart) whose levels no power law of the size explains."""
    levels = {7694.0: 9_000.0, 5_112_433_329.0: 9_500.0, 5_116_919_701.0: 1_500_000.0}
    x = np.repeat(list(levels), n)
    t = np.array([levels[v] for v in x]) * np.exp(rng.normal(0.0, 0.05, x.size))
    return x, t, levels


def test_sizes_with_unrelated_levels_get_fine_size_classes() -> None:
    x, t, levels = blast_like(np.random.default_rng(3))
    models, _ = fit_models(records("blast", x, t))
    model = models.exec["blast"]
    assert "fine classes" in form_note(models, "blast")
    assert len(model.size_classes) == 3
    for size, level in levels.items():
        assert models.exec_ms("blast", size, 1024, SLA(0.5)) == pytest.approx(level, rel=0.05)
        # a size a few bytes off a class still belongs to it
        assert models.exec_ms("blast", size + 3, 1024, SLA(0.5)) == pytest.approx(level, rel=0.05)
    # outside every class: the form without classes, with the function's residuals
    far = 1e6
    assert model.size_class(far) is None
    assert model.residuals_for(1024, far) is model.residuals
    assert models.exec_ms("blast", far, 1024, SLA(0.5)) == pytest.approx(
        model.a * far**model.b * math.exp(float(np.median(model.residuals.values))), rel=1e-6
    )


def test_sla_levels_within_a_class_are_ordered_and_average_is_its_mean() -> None:
    x, t, _ = blast_like(np.random.default_rng(4))
    models, _ = fit_models(records("blast", x, t))
    size = 5_116_919_701.0
    ps = [models.exec_ms("blast", size, 1024, SLA.parse(p)) for p in ("p10", "p50", "p90", "p99")]
    assert all(a < b for a, b in zip(ps, ps[1:], strict=False)), ps
    observed = t[x == size]
    assert models.exec_ms("blast", size, 1024, SLA()) == pytest.approx(float(np.mean(observed)), rel=0.01)


def test_size_classes_survive_the_models_file(tmp_path) -> None:
    x, t, levels = blast_like(np.random.default_rng(5))
    models, _ = fit_models(records("blast", x, t))
    models.save(tmp_path / "m.json")
    loaded = PerformanceModels.load(tmp_path / "m.json")
    for size in levels:
        for sla in (SLA(), SLA(0.5), SLA(0.95)):
            assert loaded.exec_ms("blast", size, 2048, sla) == pytest.approx(
                models.exec_ms("blast", size, 2048, sla)
            )


def test_the_simulators_predictor_reads_the_class_of_the_tasks_input() -> None:
    x, t, levels = blast_like(np.random.default_rng(6))
    models, _ = fit_models(records("blast", x, t))
    wf = Workflow("w")
    for i, size in enumerate(levels):
        wf.add_task(TaskSpec(f"t{i}", "blast", stored_input_bytes=int(size)))
    for sla in ("p50", "p95", "average"):
        predictor = Predictor(models, sla)
        for i, size in enumerate(levels):
            assert predictor.exec_ms(wf, f"t{i}", 1024) == pytest.approx(
                models.exec_ms("blast", int(size), 1024, SLA.parse(sla))
            )


def test_too_few_samples_keep_the_power_law_without_selection() -> None:
    rng = np.random.default_rng(7)
    x = np.exp(rng.uniform(np.log(1e4), np.log(1e8), 12))
    models, _ = fit_models(records("rare", x, 100.0 * np.exp(rng.normal(0, 0.3, x.size))))
    assert not any("cross-validation" in n for n in models.exec["rare"].fit.notes)
    assert not models.exec["rare"].size_classes


def test_the_kept_residuals_preserve_a_heavy_tailed_mean() -> None:
    """256 kept quantiles stand for equal shares of the sample: the mean factor (SLA average) of a
    heavy tail is that of the whole sample, not inflated by keeping the maximum at 1/256 weight."""
    rng = np.random.default_rng(8)
    logs = np.where(rng.random(5000) < 0.1, rng.normal(5.0, 1.0, 5000), rng.normal(0.0, 0.1, 5000))
    kept = Residuals.from_array(logs)
    assert len(kept.values) == 256
    assert kept.factor(SLA()) == pytest.approx(float(np.mean(np.exp(logs))), rel=0.05)
    assert kept.factor(SLA(0.5)) == pytest.approx(math.exp(float(np.median(logs))), rel=0.02)


def test_calibrate_and_show_name_the_chosen_form(tmp_path) -> None:
    from click.testing import CliRunner

    from sim.cli import main
    from sim.models.records import write_jsonl

    x, t, _ = blast_like(np.random.default_rng(9))
    write_jsonl(records("blast", x, t), tmp_path / "m.jsonl")
    out = tmp_path / "models.json"
    res = CliRunner().invoke(main, ["calibrate", str(tmp_path / "m.jsonl"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    shown = CliRunner().invoke(main, ["models", "show", str(out)], terminal_width=400)
    assert shown.exit_code == 0 and "fine classes" in shown.output.replace("\n", " "), shown.output
    as_json = CliRunner().invoke(main, ["models", "show", str(out), "--json"])
    classes = json.loads(as_json.output)["exec"]["blast"]["size_classes"]
    assert len(classes) == 3 and all("residuals" not in k and "offset" in k for k in classes)


def test_too_few_samples_over_a_narrow_range_shrink_a_wild_exponent_to_0() -> None:
    # wordcount's merge as recorded: 9 calls over sizes 1.3x apart, times that do not depend on the
    # input (0.1-0.5 ms, noisy); the free fit finds a large negative exponent, which is noise
    rng = np.random.default_rng(3)
    x = np.repeat([14195.0, 14333.0, 18656.0], 3)
    t = 0.2 * np.exp(rng.normal(0.0, 0.6, x.size))
    t[x == 18656.0] *= 0.3  # by chance the largest input ran fastest: a slope of about -4
    models, _ = fit_models(records("merge", x, t))
    model = models.exec["merge"]
    assert model.b == 0.0
    assert any(n.startswith("b = 0 (constant form)") and "9 samples" in n for n in model.fit.notes)
    # extrapolated to 100x the input, the time stays at the level seen instead of dropping 10^8-fold
    ratio = models.exec_ms("merge", 1.4e6, 1024, SLA(0.5)) / models.exec_ms("merge", 1.4e4, 1024, SLA(0.5))
    assert ratio == pytest.approx(1.0)


def test_too_few_samples_keep_an_exponent_the_data_clearly_show() -> None:
    # 12 calls over two decades of input, a true b = 0.8 with 10% noise: significant, kept
    rng = np.random.default_rng(4)
    x = np.exp(rng.uniform(np.log(1e4), np.log(1e6), 12))
    t = 2.0 * (x / 1e4) ** 0.8 * np.exp(rng.normal(0.0, 0.1, x.size))
    model = fit_models(records("scan", x, t))[0].exec["scan"]
    assert model.b == pytest.approx(0.8, abs=0.1)
    assert not any(n.startswith("b = 0") for n in model.fit.notes)
