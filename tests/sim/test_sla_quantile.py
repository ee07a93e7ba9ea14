"""The standard normal quantile behind a pNN SLA on an assumed log-normal spread: the known values, and
no scipy.stats import for it (importing it cost every command's first pNN plan 0.6-0.9 s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.models.predictor import _normal_ppf

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("q", "z"),
    [
        (0.5, 0.0),
        (0.9, 1.2815515655446004),
        (0.95, 1.6448536269514722),
        (0.99, 2.3263478740408408),
        (0.05, -1.6448536269514729),
        (1.0, 4.753424308822899),  # clamped to 1 - 1e-6: a p100 SLA stays finite
    ],
)
def test_known_quantiles(q, z):
    assert _normal_ppf(q) == pytest.approx(
        z, abs=1e-9
    )  # the tail is ill-conditioned: 1e-17 in q is 2e-12 in z


def test_a_pnn_plan_does_not_import_scipy_stats():
    code = (
        "import sys\n"
        "from sim.engine.whatif import what_if\n"
        "from sim.workflow.library import load_workflow\n"
        "r = what_if(load_workflow('gemm'), 'non-uniform', sla='p95')\n"
        "assert r.summary()['makespan_ms'] > 0\n"
        "print('scipy.stats' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
