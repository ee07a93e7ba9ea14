"""Stored argument objects in real runs (Redis + worker processes): each shared object is uploaded once
per run and downloaded once per worker, and WUKONG clustering of the roots that share a large one makes
the same decisions as the simulator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from runtime.client import _prepare, run_workflow
from sim.engine.simulator import simulate
from sim.planners import PlannerConfig, get_planner
from sim.worker import logic
from sim.workflow.known import gemm
from sim.workflow.language import Ref
from sim.workflow.library import load_workflow

N, BLOCKS = 400, 2  # 4 multiplies; 4 distinct 640 KB blocks (above the inline budget, so stored)
BLOCK = 600_000  # every stored block is larger than this; partial products and the result are not


def small_gemm():
    return load_workflow(f"gemm:n={N},blocks={BLOCKS}")


def _block_downloads(records) -> dict[str, int]:
    """worker -> how many stored blocks its task records downloaded."""
    out: dict[str, int] = {}
    for r in records:
        out[r.worker_id] = out.get(r.worker_id, 0) + sum(1 for d in r.downloads if d.bytes > BLOCK)
    return out


def test_a_stored_object_shared_by_several_tasks_is_uploaded_once():
    wf = load_workflow("gemm")  # 16 multiplies, each reads 2 of 8 distinct 8 MB blocks
    plan = get_planner("wukong").plan(wf)
    prepared, stored = _prepare(plan, "run-x")
    assert sorted(stored) == sorted(f"data:{k}" for k in wf.meta["stored_data"])  # 8 uploads, not 32
    call = prepared.workflow.task("multiply_chunks-5").call
    # (A_1, B_1) were first used by multiply 4 and multiply 1: placeholders for their objects, no data
    assert call.args == (Ref("data:data-5"), Ref("data:data-2"))
    assert wf.task("multiply_chunks-5").call.args[0][0] == 1  # the user's workflow is left untouched


def _sim_and_real(plan, redis_server):
    sim = simulate(plan)
    rep = run_workflow(plan.workflow, plan=plan, redis_url=redis_server.url, timeout_s=180)
    assert np.array_equal(rep.result, gemm.expected(N, BLOCKS))
    assert rep.keys_left == 0
    return sim, rep


def test_plain_wukong_gets_the_right_product_and_fetches_two_blocks_per_multiply(redis_server):
    plan = get_planner("wukong").plan(small_gemm())
    sim, rep = _sim_and_real(plan, redis_server)
    assert sum(_block_downloads(rep.task_records).values()) == 8  # 4 multiplies x 2 blocks, 4 workers
    assert rep.uploaded() == set(sim.uploaded) and len(rep.invoked) == len(sim.invocations) == 4


def test_clustering_runs_block_sharing_roots_on_one_worker_fetching_each_block_once(redis_server):
    plan = get_planner("wukong", PlannerConfig(optimizations=frozenset([logic.CLUSTERING]))).plan(
        small_gemm()
    )
    plan = dataclasses.replace(plan, annotations={**plan.annotations, "large_output_bytes": BLOCK})
    sim, rep = _sim_and_real(plan, redis_server)
    assert len(set(rep.task_workers().values())) == 1 and len(rep.invoked) == len(sim.invocations) == 1
    assert _block_downloads(rep.task_records) == {rep.task_records[0].worker_id: 4}  # each block once
    sink = plan.workflow.sinks[0]
    assert rep.uploaded() == set(sim.uploaded) == {sink}  # partial products never stored
    # each multiply still records the blocks it read as its input, whoever fetched them
    assert all(r.input_bytes > 2 * BLOCK for r in rep.task_records if r.task_id != sink)


@pytest.mark.parametrize("cap", [2])
def test_a_capped_cluster_matches_the_simulator(redis_server, cap):
    plan = get_planner(
        f"wukong:cluster_max_tasks={cap}", PlannerConfig(optimizations=frozenset([logic.CLUSTERING]))
    ).plan(small_gemm())
    plan = dataclasses.replace(plan, annotations={**plan.annotations, "large_output_bytes": BLOCK})
    sim, rep = _sim_and_real(plan, redis_server)
    assert len(rep.invoked) == len(sim.invocations) == 2
    assert sum(_block_downloads(rep.task_records).values()) == 6  # A0, A1 once each; B0, B1 twice
    assert rep.uploaded() == set(sim.uploaded)


def test_a_planned_worker_fetches_a_shared_block_once_like_the_simulator(redis_server):
    wf = small_gemm()
    plan = get_planner("uniform").plan(wf)
    sim, rep = _sim_and_real(plan, redis_server)
    assert rep.task_workers() == {t: tr.worker for t, tr in sim.traces.items()}
    sim_blocks: dict[str, int] = {}
    for tr in sim.traces.values():
        sim_blocks[tr.worker] = sim_blocks.get(tr.worker, 0) + sum(1 for n, _ in tr.downloads if n > BLOCK)
    assert _block_downloads(rep.task_records) == {w: n for w, n in sim_blocks.items()}
    assert sum(sim_blocks.values()) < 8  # some worker ran two multiplies sharing a block
