"""The worker entrypoint's start-up imports: only what serving an invocation needs.

Every cold start pays the entrypoint's imports on the container's CPU share (1 vCPU at 1792 MB, 0.29 at
512 MB), so a module imported "just in case" costs every run. numpy, for one, was ~0.1 s of it and no
worker code uses it (only :meth:`Workflow.type_hash` and the models' fitting do; task code that needs it
brings it in when the plan's functions are unpickled). networkx stays: the plan's workflow is a networkx
graph, so the first job would import it anyway, and importing it before the serve loop is ready lets a
pre-warmed worker pay it before any job waits.

Each check runs a fresh interpreter: this test process has long imported everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runtime import signing
from runtime.driver import RunContext
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.workflow.dag import from_edges

ROOT = Path(__file__).resolve().parents[2]
#: Never needed by a worker; each would be start-up time on every cold start.
HEAVY = ("numpy", "scipy", "pandas", "matplotlib", "plotly", "rich", "click", "streamlit", "simpy", "docker")

PROBE = """
import json, sys
import runtime.docker_worker.__main__
started = sorted(m for m in {heavy!r} if m in sys.modules)
from runtime.driver import RunContext
rc = RunContext.load("r1", sys.stdin.buffer.read())
print(json.dumps({{"start": started, "after_plan": sorted(m for m in {heavy!r} if m in sys.modules),
                  "order": rc.wf.topological_order(), "waits": sorted(rc.view.waits)}}))
"""


def _probe(plan_bytes: bytes) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), signing.ENV_KEY: signing.key_hex()}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        input=plan_bytes,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_worker_entrypoint_imports_no_heavy_module_and_loads_a_plan_without_them():
    wf = from_edges("w", [("a", "b", 10), ("a", "c", 20), ("b", "d", 5), ("c", "d", 5)])
    plan = Plan(wf, {t: ResourceConfig(1024, "w1" if t in "abd" else "w2") for t in wf.graph}).validate()
    seen = _probe(RunContext.dump("r1", plan, {}))
    assert seen["start"] == [], f"the worker entrypoint imports {seen['start']} at start"
    assert seen["after_plan"] == [], f"loading a plan imports {seen['after_plan']}"
    # The plan loaded in the fresh worker is the plan that was sent (order and the logic's view).
    here = RunContext("r1", plan, {})
    assert seen["order"] == wf.topological_order() == ["a", "b", "c", "d"]
    assert seen["waits"] == sorted(here.view.waits)
