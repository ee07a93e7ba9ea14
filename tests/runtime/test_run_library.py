"""Every known runnable workflow type runs for real with every planner and gives the right answer.

Local worker processes here (fast, one warm pool for the module); ``test_run_docker.py`` repeats a broad
subset with containers.
"""

from __future__ import annotations

import pytest

from runtime.client import make_launcher, run_workflow
from runtime.run_cli import results_equal
from sim.planners import PLANNERS
from sim.workflow.library import load_workflow
from sim.workflow.local import run_local

# Small instances of each known type (the defaults are sized for experiments, not for tests).
SMALL = {
    "tree_reduction": "tree_reduction:leaves=16",
    "gemm": "gemm:n=64,blocks=2",
    "image_transform": "image_transform:chunks=4,height=40,width=60,sleep_s=0",
    "text_analysis": "text_analysis:chunks=4,segments=4,window=20,words=3000",
    "wordcount": "wordcount:chunks=4,words=3000,vocab=200",
    "montage_like": "montage_like:files=3,tile=24,mosaic=48",
    "fixed_times": "fixed_times:chains=3,sleep_s=0.01",
    "dynamic_wordcount": "dynamic_wordcount:words=3000,vocab=200",
}


def known_types() -> list[str]:
    from sim.workflow.library import workflow_types

    return [name for name, t in workflow_types().items() if t.runnable]


def test_every_runnable_type_has_a_small_instance():
    assert set(known_types()) <= set(SMALL), set(known_types()) - set(SMALL)


@pytest.fixture(scope="module")
def launcher(redis_server):
    lch = make_launcher("process", redis_server.url, keep_alive_s=120, max_workers=64)
    lch.prewarm(2048, 6)
    yield lch
    lch.close()


_expected: dict[str, tuple[dict, int]] = {}


def expected(spec: str) -> tuple[dict, int]:
    """The sinks' results and how many tasks run (dynamic fan-outs add their copies to the DAG's)."""
    if spec not in _expected:
        wf = load_workflow(spec)
        out = run_local(wf)
        _expected[spec] = ({s: out[s] for s in wf.sinks}, len(out))
    return _expected[spec]


@pytest.mark.parametrize("planner", sorted(PLANNERS))
@pytest.mark.parametrize("wtype", sorted(SMALL))
def test_known_type_with_planner(redis_server, launcher, wtype, planner):
    spec = SMALL[wtype]
    wf = load_workflow(spec)
    rep = run_workflow(wf, planner=planner, launcher=launcher, redis_url=redis_server.url, timeout_s=240)
    want, executed = expected(spec)
    assert set(rep.results) == set(want)
    for sink, value in want.items():
        assert results_equal(rep.results[sink], value), (wtype, planner, sink)
    assert rep.keys_left == 0
    assert rep.tasks_executed == executed
