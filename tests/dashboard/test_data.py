"""The dashboard's data layer (sim.dashboard.data), checked without Streamlit."""

from __future__ import annotations

import copy

import pytest


def test_calibration_leaves_out_simulated_records_file_by_file_in_a_folder(tmp_path):
    """`plansim calibrate DIR` leaves out a file's simulated records only when that file holds real ones
    too (48e9791); the dashboard's calibration page, given the same folder as --metrics, grouped the
    whole folder as one source, so the real records of validate.jsonl left out the what-if file beside
    it. Each file of a folder is now its own source, as calibrate reads it."""
    pytest.importorskip("calibration")
    from calibration.loaders import load_inputs
    from sim.dashboard.data import load_metrics, to_fit
    from sim.engine.whatif import what_if
    from sim.models.records import write_jsonl
    from sim.workflow.library import load_workflow

    planned = what_if(load_workflow("fixed_times"), "uniform", [2048]).result.records("plan-1")
    real = []
    for r in copy.deepcopy(planned):
        r.run_id, r.extra["source"] = "real-1", "real"
        real.append(r)
    write_jsonl(planned, tmp_path / "whatif.jsonl")
    write_jsonl(planned + real, tmp_path / "validate.jsonl")
    records, _, left_out = to_fit(load_metrics([str(tmp_path)]))
    assert left_out == {str(tmp_path / "validate.jsonl"): len(planned)}
    assert len(records) == 2 * len(planned)  # the what-if file's plan and validate's real records
    assert len(records) == len(load_inputs([str(tmp_path)], drop_predictions=True).records)
