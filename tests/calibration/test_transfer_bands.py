"""Transfer residuals per band of transfer size (calibration.fit.transfer_bands)."""

from __future__ import annotations

import json

import numpy as np

from calibration.fit import fit_models
from sim.models.performance import SLA, PerformanceModels
from sim.models.predictor import Predictor
from sim.models.records import TaskRecord, Transfer


def _records(seed: int = 0) -> tuple[list[TaskRecord], np.ndarray, np.ndarray]:
    """Tiny values (20 B) whose round trips have a heavy tail, and 1 MB copies with a tight spread."""
    rng = np.random.default_rng(seed)
    tiny = 0.5 * np.exp(rng.normal(0.0, 1.5, 400))
    big = (0.5 + 1e6 / 2e5) * np.exp(rng.normal(0.0, 0.1, 400))
    recs = [
        TaskRecord(
            run_id=f"r{i}",
            workflow_type="t",
            planner="p",
            function="f",
            task_id=f"f-{i}",
            worker_id="w",
            memory_mb=1024,
            cpus=1.0,
            input_bytes=1000,
            output_bytes=1000,
            exec_ms=1.0,
            downloads=[Transfer(20, float(a))],
            upload=Transfer(1_000_000, float(b)),
        )
        for i, (a, b) in enumerate(zip(tiny, big, strict=True))
    ]
    return recs, tiny, big


def test_big_transfers_get_their_own_spread() -> None:
    recs, tiny, big = _records()
    models, _ = fit_models(recs)
    t = models.transfer
    assert len(t.size_bands) == 2
    assert any("bands" in n for n in t.fit.notes)
    # the average of a megabyte is its own mean, not inflated by the tiny values' tail (pooled: ~2x)
    avg_big = models.transfer_ms(1_000_000, 1024, SLA())
    assert abs(avg_big / big.mean() - 1) < 0.1
    pooled = t.median_ms(1_000_000, 1024) * t.residuals.factor(SLA())
    assert pooled / big.mean() > 1.5
    # and the p90 of a tiny value keeps its heavy tail
    p90_tiny = models.transfer_ms(20, 1024, SLA.parse("p90"))
    assert p90_tiny / t.median_ms(20, 1024) > 3 * models.transfer_ms(1_000_000, 1024, SLA.parse("p90")) / (
        t.median_ms(1_000_000, 1024)
    )


def test_sizes_between_bands_use_the_nearest() -> None:
    models, _ = fit_models(_records()[0])
    t = models.transfer
    lo, hi = t.size_bands
    assert t.residuals_for(25) is lo.residuals and t.residuals_for(1) is lo.residuals
    assert t.residuals_for(500_000) is hi.residuals and t.residuals_for(1e9) is hi.residuals


def test_bands_survive_the_models_file_and_reach_the_predictor(tmp_path) -> None:
    models, _ = fit_models(_records()[0])
    path = tmp_path / "models.json"
    models.save(path)
    loaded = PerformanceModels.from_json(json.loads(path.read_text()))
    assert len(loaded.transfer.size_bands) == 2
    for nbytes in (20, 1_000_000):
        want = models.transfer_ms(nbytes, 1024, SLA.parse("p90"))
        assert loaded.transfer_ms(nbytes, 1024, SLA.parse("p90")) == want
        assert Predictor(loaded, sla="p90").transfer_ms(nbytes, 1024) == want


def test_one_size_keeps_pooled_residuals() -> None:
    recs, _, _ = _records()
    for r in recs:
        r.upload = None
    models, _ = fit_models(recs)
    assert models.transfer.size_bands == []
