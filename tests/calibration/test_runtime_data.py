"""The committed real-runtime metrics dataset, its builder, gzip loading, and the split by run."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from calibration.loaders import load_inputs, load_jsonl
from calibration.runtime_data import (
    DATASET,
    LARGE_INSTANCE_FOLDERS,
    load_dataset,
    shared_runs,
    split_by_instances,
    split_by_run,
    write_dataset,
)
from sim.models.records import RunRecord, TaskRecord, WorkerRecord, to_dict, write_jsonl


@pytest.fixture(scope="module")
def records() -> list:
    return load_dataset()


def test_committed_dataset_holds_whole_real_runs(records) -> None:
    assert DATASET.stat().st_size < 2_000_000
    by_kind = defaultdict(list)
    for r in records:
        by_kind[type(r)].append(r)
    runs = {r.run_id: r for r in by_kind[RunRecord]}
    tasks, workers = by_kind[TaskRecord], by_kind[WorkerRecord]
    assert len(runs) > 500 and len(tasks) > 10_000 and len(workers) > 1000
    # one run record per run, and every task and worker belongs to a recorded run
    assert len(runs) == len(by_kind[RunRecord])
    assert {r.run_id for r in tasks} <= set(runs) and {r.run_id for r in workers} <= set(runs)
    # only real records (no simulated plans), with what the fitter reads from real runs
    assert all(r.extra.get("source") == "real" for r in records)
    assert all("cpu_ms" in t.extra and t.concurrency is not None for t in tasks)
    assert all("launcher_startup_ms" in w.extra for w in workers)
    # several memory sizes, transfers of both directions, every known workflow type
    assert len({t.memory_mb for t in tasks}) >= 2
    assert any(t.downloads for t in tasks) and any(t.upload is not None for t in tasks)
    assert len({r.extra.get("workflow") for r in runs.values()}) >= 7


def test_split_is_by_whole_runs_and_deterministic(records) -> None:
    train, test = split_by_run(records, seed=0)
    assert not shared_runs(train, test)
    assert len(train) + len(test) == len(records)
    n_train, n_test = len({r.run_id for r in train}), len({r.run_id for r in test})
    assert abs(n_train - n_test) <= 1
    assert any(isinstance(r, TaskRecord) for r in train) and any(isinstance(r, TaskRecord) for r in test)
    again, _ = split_by_run(records, seed=0)
    assert [id(r) for r in again] == [id(r) for r in train]
    other, _ = split_by_run(records, seed=1)
    assert {r.run_id for r in other} != {r.run_id for r in train}


def test_a_split_by_task_is_caught(records) -> None:
    """The check the benchmark makes before comparing: a split by task (the leak) puts runs on both
    sides, a split by run none."""
    mask = np.random.default_rng(0).random(len(records)) < 0.5
    by_task = (
        [r for r, m in zip(records, mask, strict=True) if m],
        [r for r, m in zip(records, mask, strict=True) if not m],
    )
    assert len(shared_runs(*by_task)) > 100
    assert not shared_runs(*split_by_run(records, seed=3))


def test_small_to_large_split_keeps_runs_whole(records) -> None:
    small, large = split_by_instances(records)
    assert not shared_runs(small, large) and len(small) + len(large) == len(records)
    assert {r.run_id.split("/")[0] for r in large} == set(LARGE_INSTANCE_FOLDERS)

    # the large instances' inputs are bigger for the same functions
    def biggest(recs):
        out = defaultdict(int)
        for r in recs:
            if isinstance(r, TaskRecord):
                out[r.function] = max(out[r.function], r.input_bytes)
        return out

    s, g = biggest(small), biggest(large)
    assert sum(g[f] > 2 * s[f] for f in g if f in s) >= 10


def _cell(run: str, source: str) -> list[dict]:
    task = {
        "kind": "task",
        "run_id": run,
        "workflow_type": "t",
        "planner": "uniform",
        "function": "f",
        "task_id": "f-0",
        "worker_id": "w1",
        "memory_mb": 1024,
        "cpus": 0.57,
        "input_bytes": 10,
        "output_bytes": 5,
        "exec_ms": 1.234567891,
        "downloads": [{"bytes": 10, "ms": 0.5}],
        "upload": {"bytes": 5, "ms": 0.25},
        "source": source,
    }
    run_rec = {
        "kind": "run",
        "run_id": run,
        "workflow_type": "t",
        "planner": "uniform",
        "sla": "p50",
        "makespan_ms": 9.0,
        "source": source,
        "plan_run": f"{run}-plan",
    }
    return [task, run_rec]


def test_builder_keeps_real_records_once_with_unique_run_ids(tmp_path) -> None:
    lines = _cell("v1-1-plan", "sim") + _cell("v1-1", "real")
    for folder in ("setA", "setB"):  # setB holds a copy of setA's file: kept once
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "t-uniform.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "setB" / "other.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in _cell("v1-1", "real"))
    )
    out = tmp_path / "m.jsonl.gz"
    assert write_dataset([tmp_path / "setA", tmp_path / "setB"], out) == 4
    recs = load_dataset(out)
    assert sorted({r.run_id for r in recs}) == ["setA/v1-1", "setB/v1-1"]
    assert all(r.extra["source"] == "real" and "plan_run" not in r.extra for r in recs)
    assert next(r for r in recs if isinstance(r, TaskRecord)).exec_ms == 1.2346
    first = out.read_bytes()
    write_dataset([tmp_path / "setA", tmp_path / "setB"], out)
    assert out.read_bytes() == first  # reproducible byte for byte


def test_gzip_metrics_load_with_bad_lines_counted(tmp_path) -> None:
    good = json.dumps(_cell("r", "real")[0])
    path = tmp_path / "m.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(good + "\n{not json\n" + good + "\n")
    data = load_jsonl(path)
    assert len(data.records) == 2
    assert data.reports[0].skipped == 1 and data.reports[0].problems[0].startswith(f"{path}:2:")
    assert len(load_inputs([str(tmp_path)]).records) == 2  # folders find .jsonl.gz files too


def test_not_gzip_is_one_clear_error(tmp_path) -> None:
    path = tmp_path / "m.jsonl.gz"
    path.write_text("{}\n")
    with pytest.raises(ValueError, match="cannot read .*m.jsonl.gz"):
        load_jsonl(path)


def test_builder_cli_bad_folder_is_one_line(tmp_path) -> None:
    # the output already exists (by default it is the committed dataset): a bad folder leaves it whole
    (tmp_path / "o").write_text("kept\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "calibration.runtime_data",
            str(tmp_path / "missing"),
            "-o",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "holds no .jsonl records" in proc.stderr
    assert (tmp_path / "o").read_text() == "kept\n"


def test_corrupt_gzip_data_is_one_clear_error(tmp_path) -> None:
    # a valid gzip header, then a deflate block of a reserved type: zlib's own error, not an OSError
    path = tmp_path / "m.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 20)
    with pytest.raises(ValueError, match="cannot read .*m.jsonl.gz"):
        load_jsonl(path)


def test_records_written_to_a_gz_name_are_gzip_and_load_back(tmp_path) -> None:
    recs = load_dataset(_write(tmp_path))
    out = tmp_path / "again.jsonl.gz"
    assert write_jsonl(recs, out) == len(recs)
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert [to_dict(r) for r in load_jsonl(out).records] == [to_dict(r) for r in recs]


def _write(tmp_path: Path) -> Path:
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "c.jsonl").write_text("".join(json.dumps(x) + "\n" for x in _cell("v1-1", "real")))
    out = tmp_path / "m.jsonl.gz"
    write_dataset([tmp_path / "set"], out)
    return out


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '{"kind": "task", "source": "real"}'])
def test_builder_cli_bad_line_is_one_line_naming_it(tmp_path, bad) -> None:
    (tmp_path / "set").mkdir()
    good = "".join(json.dumps(x) + "\n" for x in _cell("v1-1", "real"))
    (tmp_path / "set" / "c.jsonl").write_text(good + bad + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "calibration.runtime_data", str(tmp_path / "set"), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "c.jsonl:3: not " in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()
