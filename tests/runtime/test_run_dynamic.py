"""Dynamic fan-outs for real: the worker that ran the source learns the width, expands, and the copies
run on workers started on demand; the fan-in gets the list. Local processes and Docker containers."""

from __future__ import annotations

from collections import Counter

import pytest
from runlib.workflows import blobs, die_once, double, double_big, items, length, listed

from runtime.client import make_launcher, run_workflow
from sim.workflow import Workflow
from sim.workflow import dynamic as dyn
from sim.workflow.known.dynamic_wordcount import expected
from sim.workflow.library import load_workflow
from sim.workflow.local import run_local


@pytest.fixture(scope="module")
def process_launcher(redis_server):
    lch = make_launcher("process", redis_server.url, keep_alive_s=60, max_workers=32)
    yield lch
    lch.close()


def widths_of(rep) -> dict[str, int]:
    """The real width of each dynamic node, from the gathers' records."""
    return {
        r.task_id: r.extra["dynamic_width"] for r in rep.task_records if r.function == dyn.GATHER_FUNCTION
    }


def check_wordcount(rep, wf, seed: int) -> None:
    assert Counter(rep.result) == expected(words=3000, vocab=200, seed=seed)
    done = run_local(wf)
    assert rep.tasks_executed == len(done)  # every copy and gather ran once, nothing else
    real = widths_of(rep)
    assert real["split_chunk-0"] == len(done["split_text-0"])
    assert real["count_piece-0"] == len(done["split_chunk-0"])
    copies = [r for r in rep.task_records if "dynamic_index" in r.extra]
    assert sorted((r.extra["dynamic_node"], r.extra["dynamic_index"]) for r in copies) == sorted(
        (n, i) for n, w in real.items() for i in range(w)
    )
    assert rep.keys_left == 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("planner", ["wukong", "heft"])
def test_dynamic_wordcount_with_processes(redis_server, process_launcher, seed, planner):
    wf = load_workflow(f"dynamic_wordcount:words=3000,vocab=200,max_chunks=7,max_pieces=3,seed={seed}")
    rep = run_workflow(
        wf, planner=planner, launcher=process_launcher, redis_url=redis_server.url, timeout_s=120
    )
    check_wordcount(rep, wf, seed)


@pytest.mark.parametrize("optimizations", [("inline-plan", "cleanup"), ("carry-inputs", "async-upload")])
def test_dynamic_wordcount_with_optimizations(redis_server, process_launcher, optimizations):
    wf = load_workflow("dynamic_wordcount:words=3000,vocab=200,max_chunks=7,max_pieces=3,seed=3")
    rep = run_workflow(
        wf,
        planner="wukong",
        launcher=process_launcher,
        redis_url=redis_server.url,
        timeout_s=120,
        optimizations=optimizations,
    )
    check_wordcount(rep, wf, 3)


@pytest.mark.parametrize("n", [0, 1, 5])
def test_width_zero_one_and_many_chained(redis_server, process_launcher, n):
    wf = Workflow.from_nodes(listed(double.map(double.map(items(n)))), name=f"dyn-{n}")
    rep = run_workflow(
        wf, planner="wukong", launcher=process_launcher, redis_url=redis_server.url, timeout_s=60
    )
    assert rep.result == [4 * i for i in range(n)]
    assert rep.tasks_executed == 4 + 2 * n
    assert widths_of(rep) == {"double-0": n, "double-1": n}
    assert rep.keys_left == 0


def test_dynamic_wordcount_in_containers(redis_server, docker_client, worker_image):
    """The chain of two dynamic fan-outs with Docker workers, and a width of zero."""
    lch = make_launcher("docker", redis_server.url, image=worker_image, keep_alive_s=30, max_workers=12)
    try:
        wf = load_workflow("dynamic_wordcount:words=3000,vocab=200,max_chunks=7,max_pieces=3,seed=0")
        rep = run_workflow(wf, planner="wukong", launcher=lch, redis_url=redis_server.url, timeout_s=300)
        check_wordcount(rep, wf, 0)
        assert rep.launcher == "docker"
        empty = Workflow.from_nodes(listed(double.map(items(0))), name="dyn-empty")
        rep = run_workflow(empty, planner="wukong", launcher=lch, redis_url=redis_server.url, timeout_s=300)
        assert rep.result == [] and rep.keys_left == 0
    finally:
        lch.close()
    assert docker_client.containers.list(all=True, filters={"label": f"plansim.run={lch.run_id}"}) == []


@pytest.mark.parametrize("planner", ["wukong", "uniform", "heft"])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_same_decisions_as_the_simulator_at_the_real_width(redis_server, process_launcher, planner, n):
    """The runtime expands at run time, the simulator ahead of it: at the same width the one logic must
    upload the same outputs and make as many invocations."""
    from sim.engine.simulator import Simulation
    from sim.planners import get_planner

    wf = Workflow.from_nodes(listed(double.map(double.map(items(n)))), name=f"dyn-eq-{n}")
    plan = get_planner(planner).plan(wf)
    sim = Simulation(plan, widths={"double-0": n, "double-1": n}).run()
    rep = run_workflow(wf, plan=plan, launcher=process_launcher, redis_url=redis_server.url, timeout_s=60)
    assert rep.result == [4 * i for i in range(n)]
    assert rep.uploaded() == set(sim.uploaded)
    assert len(rep.invoked) == len(sim.invocations)
    assert set(rep.task_workers()) == set(sim.traces)


@pytest.mark.parametrize("planner", ["wukong", "heft"])
def test_copies_of_a_node_that_declares_memory_run_on_workers_that_large(
    redis_server, process_launcher, planner
):
    """Copies are made at run time: the plan could not size them, so the node's pin passes to them (before,
    the first copy continued on the 1024 MB worker of its source). Same decisions as the simulator."""
    from sim.engine.simulator import Simulation
    from sim.planners import PlannerConfig, get_planner

    wf = Workflow.from_nodes(listed(double_big.map(items(4))), name="dyn-big")
    plan = get_planner(planner, PlannerConfig(memory_sizes=(1024, 2048))).plan(wf)
    sim = Simulation(plan, widths={"double_big-0": 4}).run()
    rep = run_workflow(wf, plan=plan, launcher=process_launcher, redis_url=redis_server.url, timeout_s=60)
    assert rep.result == [0, 2, 4, 6]
    copies = [r for r in rep.task_records if "dynamic_index" in r.extra]
    assert len(copies) == 4 and all(r.memory_mb >= 3000 for r in copies), [
        (r.task_id, r.memory_mb) for r in copies
    ]
    assert all(sim.traces[r.task_id].memory_mb >= 3000 for r in copies)
    assert rep.uploaded() == set(sim.uploaded)
    assert len(rep.invoked) == len(sim.invocations)


def test_real_widths_become_the_simulated_ones(redis_server, process_launcher):
    """Records carry the real widths: predicted from them, the simulator expands exactly what ran."""
    from sim.engine.whatif import what_if

    spec = "dynamic_wordcount:words=3000,vocab=200,max_chunks=7,max_pieces=3,seed=1"
    wf = load_workflow(spec)
    rep = run_workflow(
        wf, planner="wukong", launcher=process_launcher, redis_url=redis_server.url, timeout_s=120
    )
    before = wf.type_hash()
    predicted = dyn.widths_from_records(rep.records)
    assert predicted == widths_of(rep)
    dyn.predict_widths(wf, predicted)
    assert wf.type_hash() == before
    sim = what_if(wf, "wukong").result
    assert set(sim.traces) == {r.task_id for r in rep.task_records}
    assert dyn.widths_from_records(sim.records()) == predicted


@pytest.mark.parametrize("planner", ["wukong", "uniform"])
def test_a_killed_worker_inside_a_dynamic_fan_out_is_rerun(redis_server, tmp_path, planner):
    """The first mapped call kills its worker: the re-run learns the same width (the first one recorded
    wins), no copy is counted twice at the gather, and the fan-in gets every item once."""
    marker = str(tmp_path / "died")
    wf = Workflow.from_nodes(listed(die_once.map(items(4), marker)), name="dyn-dying")
    rep = run_workflow(wf, planner=planner, redis_url=redis_server.url, timeout_s=120)
    assert rep.result == [0, 1, 2, 3]
    assert rep.reruns == 1
    assert widths_of(rep) == {"die_once-0": 4}
    assert rep.keys_left == 0


ITEM = 64 * 1024


def items_workflow(n: int, also_whole: bool) -> Workflow:
    """``listed(length.map(blobs))`` over ``n`` items of ``ITEM`` bytes (and the whole list read by a
    second consumer when ``also_whole``)."""
    src = blobs(n, ITEM)
    sink = listed(length.map(src))
    return Workflow.from_nodes(
        *((sink, listed(src)) if also_whole else (sink,)), name=f"dyn-items-{also_whole}"
    )


def check_item_downloads(url: str, launcher, n: int, also_whole: bool) -> None:
    """Run :func:`items_workflow`: a copy elsewhere downloads one item (not the whole list), the copy on the source's worker nothing;
    the source uploads the whole list too only when another consumer reads it."""
    wf = items_workflow(n, also_whole)
    rep = run_workflow(wf, planner="wukong", launcher=launcher, redis_url=url, timeout_s=300)
    copies = [r for r in rep.task_records if r.function == "length"]
    assert len(copies) == n
    (source,) = [r for r in rep.task_records if r.function == "blobs"]
    downloaded = sorted(sum(d.bytes for d in r.downloads) for r in copies)
    if not also_whole:  # else the source's worker may continue with the other consumer instead
        assert downloaded[0] == 0  # the copy that continued on the source's worker
    assert len([b for b in downloaded if b]) >= n - 1
    for b in filter(None, downloaded):
        assert ITEM <= b < ITEM + 256  # one item and its pickle framing
    whole = source.output_bytes
    assert whole > n * ITEM
    assert source.upload.bytes == pytest.approx((2 if also_whole else 1) * whole, rel=0.01)
    assert rep.keys_left == 0


@pytest.mark.parametrize("also_whole", [False, True])
def test_copies_download_only_their_item(redis_server, process_launcher, also_whole):
    """The source stores its items under their own keys: the copies read one each."""
    check_item_downloads(redis_server.url, process_launcher, 4, also_whole)


def test_copies_download_only_their_item_in_containers(redis_server, docker_client, worker_image):
    lch = make_launcher("docker", redis_server.url, image=worker_image, keep_alive_s=30, max_workers=6)
    try:
        check_item_downloads(redis_server.url, lch, 4, False)
    finally:
        lch.close()
    assert docker_client.containers.list(all=True, filters={"label": f"plansim.run={lch.run_id}"}) == []
