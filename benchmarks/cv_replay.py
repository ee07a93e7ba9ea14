"""Extrapolation cross-validation of the replay fitter on the WfInstances *development* files only.

Evaluation files are larger than development ones for some applications (1000genome: 100k development
runs, 250k evaluation runs), so ordinary K-fold CV rewards mechanisms that interpolate. Here each
application's development traces are sorted by the bytes they move; the fitter sees the smaller two
thirds and is scored (makespan MAPE) on the largest third. Variants of the fitter are compared on the same
folds; evaluation files are never read.

    PYTHONPATH=. python benchmarks/cv_replay.py --variants 0,0.02,0.05 [--apps pegasus/1000genome]
"""

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_calibration import DATA, split  # noqa: E402

from calibration.replay import fit_replay, mape  # noqa: E402
from calibration.traces import Trace, load_trace  # noqa: E402


def trace_bytes(t: Trace) -> float:
    return float(sum(x.input_bytes + x.output_bytes for x in t.tasks))


def extrapolation_fold(traces: list[Trace]) -> tuple[list[Trace], list[Trace]]:
    """(smaller two thirds, largest third) by bytes moved; ties broken by task count."""
    ordered = sorted(traces, key=lambda t: (trace_bytes(t), len(t.tasks)))
    cut = len(ordered) - max(1, math.ceil(len(ordered) / 3))
    return ordered[:cut], ordered[cut:]


def kfold(traces: list[Trace], k: int = 4) -> list[tuple[list[Trace], list[Trace]]]:
    """Ordinary k-fold (interleaved by name): the check that a variant does not lose interpolation."""
    ordered = sorted(traces, key=lambda t: str(t.path))
    folds = [ordered[i::k] for i in range(min(k, len(ordered)))]
    return [([t for t in ordered if t not in f], f) for f in folds if len(f) < len(ordered)]


def _job(args: tuple[str, float, bool]) -> tuple[str, float, float]:
    """CV error of one ``prefer_bytes_within`` value: extrapolation fold, or k-fold mean when ``kf``."""
    folder, tol, kf = args
    dev = [load_trace(p) for p in split(DATA / folder)[0]]
    dev = [t for t in dev if t.makespan_s and t.tasks]
    folds = kfold(dev) if kf else [extrapolation_fold(dev)]
    errs = [mape(te, fit_replay(tr, prefer_bytes_within=tol)) for tr, te in folds if tr]
    return folder, tol, float(np.mean(errs)) if errs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="0,0.03", help="comma-separated prefer_bytes_within values")
    ap.add_argument("--apps", help="comma-separated folders under wfinstances (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--kfold", action="store_true", help="ordinary 4-fold CV instead of extrapolation")
    a = ap.parse_args()
    folders = sorted({str(p.parent.relative_to(DATA)) for p in DATA.rglob("*.json.xz")})
    if a.apps:
        folders = [f for f in folders if f in a.apps.split(",")]
    tols = [float(v) for v in a.variants.split(",")]
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs) as pool:
        res = list(pool.map(_job, [(f, tol, a.kfold) for f in folders for tol in tols]))
    table = {(f, tol): m for f, tol, m in res}
    what = "4-fold CV" if a.kfold else "extrapolation CV (fit on smaller 2/3 by bytes, score largest 1/3)"
    print(f"{what} on development files only, makespan MAPE per prefer_bytes_within")
    print(f"  {'folder':22s} " + " ".join(f"{t:>10g}" for t in tols))
    for f in folders:
        print(f"  {f:22s} " + " ".join(f"{table[f, t]:10.1%}" for t in tols))
    print(
        f"  {'mean':22s} "
        + " ".join(f"{np.nanmean([table[f, t] for f in folders]):10.1%}" for t in tols)
        + f"   ({time.time() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
