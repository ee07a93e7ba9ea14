"""The committed dataset of metric records from plansim's own real runtime, and its split by run.

``benchmarks/data/runtime_metrics.jsonl.gz`` holds the ``source: real`` task, worker and run records that
``benchmarks/bench_accuracy.py --records DIR`` wrote for real Docker runs (Redis + one container per
worker, with CPU and memory limits) of every known workflow type under every planner; see the README
beside it for when and how it was recorded. Build it again from such folders with::

    python -m calibration.runtime_data DIR... -o benchmarks/data/runtime_metrics.jsonl.gz

Each folder holds one JSONL file per workflow type x planner cell, each with four real runs and the
simulated plans behind them; only the real records are kept (a plan is a prediction, not a metric). Run
ids are made unique across folders by prefixing the folder's name (``full1/v3db989-1``): a cell's id is
random, and a file copied into a second folder (same bytes) is kept once.

:func:`split_by_run` splits records into train and held-out halves by *whole runs*: the tasks of one run
share its host load, its containers and its cold starts, so a split by task would score a model on runs
it has already seen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.models.records import Record, open_jsonl

DATASET = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "runtime_metrics.jsonl.gz"
KINDS = ("task", "worker", "run")
# the simulated plan a real run followed is not kept, so the link to it would dangle
DROPPED = ("plan_run",)


def _rounded(value: Any) -> Any:
    """Floats to 4 decimals (0.1 µs for times in ms: below any timer's resolution), recursively."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def real_records(folders: Sequence[str | Path]) -> Iterable[dict[str, Any]]:
    """The real task, worker and run records of every ``*.jsonl`` file in ``folders`` (as dicts, run ids
    prefixed with the folder's name), each file's bytes kept once."""
    seen: set[str] = set()
    for folder in folders:
        folder = Path(folder)
        files = sorted(folder.glob("*.jsonl"))
        if not files:
            raise ValueError(f"{str(folder)!r} holds no .jsonl records")
        for path in files:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            with open(path, encoding="utf-8") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    data = _record(line, f"{path}:{lineno}")
                    if data.get("source") != "real" or data.get("kind") not in KINDS:
                        continue
                    data["run_id"] = f"{folder.name}/{data['run_id']}"
                    for key in DROPPED:
                        data.pop(key, None)
                    yield _rounded(data)


def _record(line: str, where: str) -> dict[str, Any]:
    """One line as a record dict with a run id; anything else is an error naming ``where`` (the dataset
    is built from whole recordings: a bad line means a damaged file, not one to skip silently)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        raise ValueError(f"{where}: not a metric record with a run_id")
    return data


def write_dataset(folders: Sequence[str | Path], out: str | Path) -> int:
    """Write the real records of ``folders`` to ``out`` (gzip when it ends in ``.gz``; the same records
    give the same bytes); their count. The file is written beside ``out`` and moved over it once
    complete: a folder that cannot be read leaves an existing ``out`` (by default the committed
    dataset) as it was."""
    n = 0
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with open_jsonl(partial, name=out) as fh:
            for data in real_records(folders):
                fh.write(json.dumps(data, separators=(",", ":")) + "\n")
                n += 1
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return n


def load_dataset(path: str | Path = DATASET) -> list[Record]:
    """The records of a runtime metrics file (``.jsonl`` or ``.jsonl.gz``), in file order."""
    from calibration.loaders import load_jsonl

    data = load_jsonl(path)
    if not data.records:
        raise ValueError(f"{str(path)!r} holds no usable records")
    return data.records


def split_by_run(records: Sequence[Record], seed: int = 0) -> tuple[list[Record], list[Record]]:
    """Train and held-out halves of ``records``, whole runs on one side: the sorted run ids are
    shuffled with ``seed`` and the first half of them trains (deterministic for a given set of runs)."""
    runs = sorted({r.run_id for r in records})
    order = np.random.default_rng(seed).permutation(len(runs))
    train_runs = {runs[i] for i in order[: len(runs) // 2]}
    train = [r for r in records if r.run_id in train_runs]
    test = [r for r in records if r.run_id not in train_runs]
    return train, test


# Folders recorded with bench_accuracy's larger instances (``--sizes large``, then called ``default``):
# computing tasks of about 10-40 ms and inputs up to 10x those of the others, under the same names.
LARGE_INSTANCE_FOLDERS = ("ab-default-0947", "full-default", "full-default-2")


def split_by_instances(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """The runs of the small instances and those of the large ones (:data:`LARGE_INSTANCE_FOLDERS`):
    a model calibrated on small runs predicting a larger instance of the same workflows, where input
    sizes are mostly outside what it was fitted on (whole runs on each side, as in
    :func:`split_by_run`)."""
    large = tuple(f"{name}/" for name in LARGE_INSTANCE_FOLDERS)
    small = [r for r in records if not r.run_id.startswith(large)]
    return small, [r for r in records if r.run_id.startswith(large)]


def shared_runs(train: Sequence[Record], test: Sequence[Record]) -> set[str]:
    """Run ids with records on both sides: empty for a split by run, the leak a comparison must not have
    (a model scored on a run it was fitted on has seen that run's host load and containers)."""
    return {r.run_id for r in train} & {r.run_id for r in test}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Collect real runtime records into one metrics file.")
    ap.add_argument("folders", nargs="+", help="folders written by bench_accuracy.py --records")
    ap.add_argument("-o", "--out", default=str(DATASET), help="output .jsonl or .jsonl.gz")
    args = ap.parse_args(argv)
    try:
        n = write_dataset(args.folders, args.out)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # every record must load back through the schema
    report = len(load_dataset(args.out))
    print(f"wrote {n} records ({report} loadable) to {args.out}")


if __name__ == "__main__":
    main()
