"""Uploads' own bandwidth (TransferModel.upload_bw_factor): fitted where both directions moved payloads
large enough to be bandwidth-bound, kept by models files, and used for uploads only: the simulator's
stores and the planners' upload costs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibration.fit import fit_models
from sim.engine.simulator import Simulation
from sim.models.performance import SLA, PerformanceModels, TransferModel
from sim.models.predictor import Predictor
from sim.models.records import TaskRecord, Transfer
from sim.planners.costs import CostModel
from tests.sim.helpers import SIMPLE, plan, simple_models, workflow


def _records(up_factor: float, sizes: tuple[float, float] = (1e5, 1e7), seed: int = 0) -> list[TaskRecord]:
    """Tasks that each download one value and upload one, 1 ms latency, 100 kB/ms at 1 GB and alpha 0.3;
    the uploads ``up_factor`` times faster; 10% lognormal noise."""
    rng = np.random.default_rng(seed)

    def ms(nbytes: float, mem: int, factor: float) -> float:
        bw = 1e5 * (mem / 1024) ** 0.3 * factor
        return float((1.0 + nbytes / bw) * np.exp(rng.normal(0.0, 0.1)))

    recs = []
    for i in range(200):
        mem = (1024, 2048)[i % 2]
        down, up = (float(np.exp(rng.uniform(*np.log(sizes)))) for _ in range(2))
        recs.append(
            TaskRecord(
                run_id="r",
                workflow_type="t",
                planner="p",
                function="f",
                task_id=f"f-{i}",
                worker_id=f"w{i}",
                memory_mb=mem,
                cpus=1.0,
                input_bytes=int(down),
                output_bytes=int(up),
                exec_ms=10.0,
                downloads=[Transfer(int(down), ms(down, mem, 1.0))],
                upload=Transfer(int(up), ms(up, mem, up_factor)),
            )
        )
    return recs


def test_fit_recovers_the_uploads_bandwidth() -> None:
    models, report = fit_models(_records(4.0))
    t = models.transfer
    assert t.upload_bw_factor == pytest.approx(4.0, rel=0.1)
    assert t.bytes_per_ms == pytest.approx(1e5, rel=0.1)  # the downloads' bandwidth is not pulled up
    assert f"uploads' bandwidth {t.upload_bw_factor:.3g}x the downloads' (200 uploads)" in t.fit.notes
    row = next(r for r in report.rows if r.model == "transfer")
    assert row.exponents["upload_bw_factor"] == t.upload_bw_factor
    # one megabyte: the upload's bandwidth term a quarter of the download's, the latency alike
    down, up = t.median_ms(1e6, 1024), t.median_ms(1e6, 1024, upload=True)
    assert up - t.latency_ms == pytest.approx((down - t.latency_ms) / t.upload_bw_factor)
    p50 = SLA.parse("p50")
    assert models.transfer_ms(1e6, 1024, p50, upload=True) / models.transfer_ms(1e6, 1024, p50) == (
        pytest.approx(up / down)
    )


def test_equal_directions_fit_a_factor_near_one() -> None:
    assert fit_models(_records(1.0))[0].transfer.upload_bw_factor == pytest.approx(1.0, abs=0.1)


def test_round_trip_bound_transfers_fit_no_factor() -> None:
    """5 to 20-byte values: their time is the latency, which says nothing of a bandwidth."""
    t = fit_models(_records(4.0, sizes=(5, 20)))[0].transfer
    assert t.upload_bw_factor == 1.0
    assert any("uploads' bandwidth = the downloads'" in n for n in t.fit.notes)


def test_models_file_keeps_the_factor_and_older_files_load_without_it() -> None:
    models = fit_models(_records(4.0))[0]
    data = json.loads(json.dumps(models.to_json()))
    loaded = PerformanceModels.from_json(data)
    assert loaded.transfer.upload_bw_factor == models.transfer.upload_bw_factor
    data["transfer"].pop("upload_bw_factor")
    assert PerformanceModels.from_json(data).transfer.upload_bw_factor == 1.0
    data["transfer"]["upload_bw_factor"] = 0
    with pytest.raises(ValueError, match="upload_bw_factor"):
        PerformanceModels.from_json(data)


def test_the_simulator_times_stores_with_the_uploads_bandwidth() -> None:
    """a on w1 -> b on w2, 1000-byte output, 1000 B/ms: the store takes 1 ms / 4, the fetch 1 ms."""
    models = simple_models()
    models.transfer = TransferModel(latency_ms=0.0, bytes_per_ms=1000.0, alpha=0.0, upload_bw_factor=4.0)
    p = plan(workflow([("a", "b")]), {"a": "w1", "b": "w2"})
    out = Simulation(p, SIMPLE, models).run().output
    assert out.tasks["a"].upload_ms == pytest.approx(0.25)
    assert out.tasks["b"].download_ms == pytest.approx(1.0)
    assert out.tasks["b"].upload_ms == pytest.approx(0.25)  # the sink's output is stored too


def test_the_planners_cost_uploads_with_the_uploads_bandwidth() -> None:
    """The same 1000 bytes: a download 1 ms, the upload a quarter (the predictor's memo keeps the two
    apart, whichever is asked first)."""
    models = simple_models()
    models.transfer = TransferModel(latency_ms=0.0, bytes_per_ms=1000.0, alpha=0.0, upload_bw_factor=4.0)
    costs = CostModel(workflow([("a", "b")]), Predictor(models), SIMPLE)
    down = costs.download_ms("a", "b", 1024)
    assert down > 0 and costs.upload_ms("a", 1024) == pytest.approx(down / 4)
    assert costs.download_ms("a", "b", 1024) == down
