"""Model fitting: exponent recovery, SLA semantics, declared I/O, fallbacks, models file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calibration.fit import fit_models
from calibration.synthetic import Truth, synthetic_records
from sim.models.performance import SLA, PerformanceModels, ReplayParams
from sim.models.records import TaskRecord, Transfer
from sim.workflow.language import linear, power


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_known_exponents_within_5_percent(seed: int) -> None:
    truth = Truth()
    models, _ = fit_models(synthetic_records(200, truth, noise=0.1, seed=seed))
    for f, (_a, b, c) in truth.exec.items():
        assert rel(models.exec[f].b, b) < 0.05, (f, models.exec[f].b, b)
        assert rel(models.exec[f].c, c) < 0.05, (f, models.exec[f].c, c)
        assert models.exec[f].fit.fallback == "fitted"
    for f, (_k, e) in truth.output.items():
        assert rel(models.output[f].e, e) < 0.05
    assert rel(models.transfer.alpha, truth.transfer[2]) < 0.05
    assert rel(models.transfer.bytes_per_ms, truth.transfer[1]) < 0.10
    assert rel(models.startup.cold_exp, truth.startup["cold"][1]) < 0.05
    assert rel(models.startup.warm_exp, truth.startup["warm"][1]) < 0.05


def test_outliers_are_down_weighted() -> None:
    truth = Truth()
    recs = synthetic_records(200, truth, noise=0.05, seed=4)
    tasks = [r for r in recs if isinstance(r, TaskRecord) and r.function == "resize"]
    for r in tasks[:20]:  # 10% gross outliers, 20x slower
        r.exec_ms *= 20
    models, _ = fit_models(recs)
    assert rel(models.exec["resize"].b, truth.exec["resize"][1]) < 0.05
    assert rel(models.exec["resize"].c, truth.exec["resize"][2]) < 0.10


def test_sla_percentiles_are_monotone_in_time() -> None:
    models, _ = fit_models(synthetic_records(100, seed=5))
    for mem in (512, 2048):
        e = [models.exec_ms("resize", 1e6, mem, SLA.parse(p)) for p in ("p10", "p50", "p90", "p95", "p99")]
        t = [models.transfer_ms(1e6, mem, SLA.parse(p)) for p in ("p10", "p50", "p90", "p95", "p99")]
        s = [models.startup_ms(mem, "cold", SLA.parse(p)) for p in ("p10", "p50", "p95")]
        for seq in (e, t, s):
            assert all(x <= y for x, y in zip(seq, seq[1:], strict=False)), seq
            assert seq[-1] > seq[0]
    # average is between the low and high percentiles
    avg = models.transfer_ms(1e6, 1024, SLA.parse("average"))
    assert (
        models.transfer_ms(1e6, 1024, SLA.parse("p5")) < avg < models.transfer_ms(1e6, 1024, SLA.parse("p99"))
    )


def test_declared_io_takes_precedence_over_fitting() -> None:
    recs = synthetic_records(50, seed=6)
    models, report = fit_models(recs, declared={"resize": linear(0.5)})
    out = models.output["resize"]
    assert (out.k, out.e) == (0.5, 1.0)
    assert out.fit.fallback == "declared"
    assert models.output_bytes("resize", 1000) == pytest.approx(500)
    # a declaration carried by the records themselves works too, and unknown does not override
    for r in recs:
        if isinstance(r, TaskRecord) and r.function == "merge":
            r.extra["io"] = {"kind": "power", "k": 3.0, "exponent": 0.5}
        if isinstance(r, TaskRecord) and r.function == "analyse":
            r.extra["io"] = {"kind": "unknown"}
    models, _ = fit_models(recs)
    assert models.output["merge"].fit.fallback == "declared"
    assert models.output["merge"].bytes(10000) == pytest.approx(300)
    assert models.output["analyse"].fit.fallback == "fitted"
    # a declared function with no samples at all still gets its model
    models, _ = fit_models(recs, declared={"never-ran": power(0.5, 2.0)})
    assert models.output["never-ran"].fit.fallback == "declared"


def _task(f: str, x: int, mem: int, t: float, out: int = 10, dl: list | None = None) -> TaskRecord:
    return TaskRecord("r", "w", "p", f, f"{f}-{x}-{mem}", "w0", mem, 1.0, x, out, t, downloads=dl or [])


def test_single_memory_size_falls_back_to_pooled_then_default() -> None:
    rng = np.random.default_rng(0)
    recs = []
    # "multi" runs on several memory sizes with c = 0.5; "single" only on 1024 MB
    for _ in range(60):
        x = int(10 ** rng.uniform(4, 8))
        mem = int(rng.choice([512, 1024, 2048, 4096]))
        recs.append(_task("multi", x, mem, 1e-3 * x * (mem / 1024) ** -0.5 * math.exp(rng.normal(0, 0.05))))
        recs.append(_task("single", x, 1024, 2e-3 * x**0.9 * math.exp(rng.normal(0, 0.05))))
    models, report = fit_models(recs)
    single = models.exec["single"]
    assert single.fit.fallback == "pooled"
    assert any("c = " in n and "pooled" in n and "single memory size" in n for n in single.fit.notes)
    assert single.c == pytest.approx(0.5, abs=0.05)
    assert models.exec["multi"].fit.fallback == "fitted"
    # only one memory size anywhere: the documented default exponent, said so
    models, _ = fit_models([r for r in recs if r.function == "single"])
    assert models.exec["single"].fit.fallback == "default"
    assert models.exec["single"].c == pytest.approx(0.3)
    assert any("default" in n for n in models.exec["single"].fit.notes)
    # no transfers: transfer model is the default and says so
    assert models.transfer.fit.fallback == "default"
    assert any(row.model == "transfer" and row.fit.fallback == "default" for row in report.rows)


def test_too_few_samples_and_thin_memory_sizes_are_visible() -> None:
    rng = np.random.default_rng(1)
    recs = []
    for _ in range(80):
        x = int(10 ** rng.uniform(4, 8))
        mem = int(rng.choice([512, 1024, 2048]))
        recs.append(_task("main", x, mem, 1e-3 * x * (mem / 1024) ** -0.4 * math.exp(rng.normal(0, 0.05))))
    recs.append(_task("main", 10**6, 3008, 800.0))  # one sample at 3008 MB
    recs.append(_task("rare", 10**6, 1024, 50.0))
    recs.append(_task("rare", 10**7, 2048, 300.0))
    models, _ = fit_models(recs)
    main = models.exec["main"]
    assert main.fit.fallback == "nearest-config"
    assert any("3008 MB" in n and "2048 MB" in n for n in main.fit.notes)
    assert set(main.residuals_by_memory) == {512, 1024, 2048}
    assert main.residuals_for(3008) is main.residuals_by_memory[2048]
    rare = models.exec["rare"]
    assert rare.fit.fallback == "pooled"
    assert any("only 2 samples" in n for n in rare.fit.notes)


def test_unusable_samples_are_skipped_and_counted() -> None:
    recs = [_task("f", 10**5, 1024, 10.0 + i, out=100, dl=[Transfer(1000, 1.0)]) for i in range(10)]
    recs.append(_task("f", 10**5, 1024, 0.0))
    recs.append(_task("f", 10**5, 1024, 5.0, out=0, dl=[Transfer(0, 1.0)]))
    origins = [f"x.jsonl:{i + 1}" for i in range(len(recs))]
    _, report = fit_models(recs, origins)
    assert report.skipped["task: exec_ms is 0 (execution model)"].count == 1
    assert report.skipped["task: exec_ms is 0 (execution model)"].first == ["x.jsonl:11"]
    assert report.skipped["task: output_bytes is 0 (output model)"].first == ["x.jsonl:12"]
    assert report.skipped["transfer: bytes or ms is 0"].count == 1


def test_models_file_round_trip(tmp_path) -> None:
    models, _ = fit_models(synthetic_records(40, seed=7))
    models.replay["pegasus/montage"] = ReplayParams(
        dispatch_s=1.5, overhead_s=3.0, fixed_s=60.0, ref_cores=48.0, unsized_files=("nt",)
    )
    path = tmp_path / "m.json"
    models.save(path)
    loaded = PerformanceModels.load(path)
    for sla in (SLA(), SLA.parse("p95")):
        assert loaded.exec_ms("resize", 1e6, 2048, sla) == pytest.approx(
            models.exec_ms("resize", 1e6, 2048, sla)
        )
        assert loaded.transfer_ms(1e6, 2048, sla) == pytest.approx(models.transfer_ms(1e6, 2048, sla))
        assert loaded.startup_ms(2048, "warm", sla) == pytest.approx(models.startup_ms(2048, "warm", sla))
    assert loaded.replay["pegasus/montage"].overhead_s == 3.0
    assert loaded.replay["pegasus/montage"].ref_cores == 48.0
    assert loaded.replay["pegasus/montage"].unsized_files == ("nt",)
    assert loaded.exec["resize"].fit.samples == 40
    assert loaded.to_json() == models.to_json()
    # default models (nothing calibrated) still load and predict
    PerformanceModels().save(tmp_path / "d.json")
    assert PerformanceModels.load(tmp_path / "d.json").startup_ms(1024, "cold") == pytest.approx(600.0)


def test_a_models_file_without_the_newer_fields_loads_with_their_defaults() -> None:
    # what an older plansim wrote: no transfer size bands, no exec extrapolation, size classes, first
    # call or GIL fields (models files stay version 1: every field added since is optional)
    from tests.calibration.test_transfer_bands import _records

    models, _ = fit_models(synthetic_records(40, seed=7) + _records()[0])
    assert models.transfer.size_bands
    newer = ("extrapolation", "size_classes", "first_call_ms", "holds_gil", "cpu_fraction")
    old = models.to_json()
    old["transfer"].pop("size_bands")
    for d in old["exec"].values():
        for key in newer:
            d.pop(key)
    loaded = PerformanceModels.from_json(old)
    models.transfer.size_bands = []
    for e in models.exec.values():
        e.extrapolation, e.size_classes, e.first_call_ms, e.holds_gil, e.cpu_fraction = (
            None,
            [],
            0.0,
            True,
            1.0,
        )
    assert loaded.to_json() == models.to_json()
    assert loaded.transfer_ms(1e6, 1024, SLA()) == pytest.approx(models.transfer_ms(1e6, 1024, SLA()))
