"""Sweeps: grid expansion, the tidy table, the local pool, a Dask LocalCluster, the CLI and the plots."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sim.processes import process_gone
from sim.sweep.grid import SweepGroup, count_points, expand_grid, parse_memory_sets, split_list
from sim.sweep.plots import pareto_front, pareto_mask, read_table
from sim.sweep.runner import COLUMNS, run_group, run_local, run_sweep, to_frame
from sim.workflow.dag import TaskSpec, Workflow
from sim.workflow.wfformat import write_wfformat
from tests.procs import descendants, wait_for


def _wf(name: str, width: int) -> Workflow:
    wf = Workflow(name)
    wf.add_task(
        TaskSpec(id="split", function="split", runtime_ms=50.0, output_bytes=50_000, inline_bytes=100)
    )
    wf.add_task(TaskSpec(id="merge", function="merge", runtime_ms=30.0, output_bytes=1000))
    for i in range(width):
        wf.add_task(TaskSpec(id=f"work-{i}", function="work", runtime_ms=200.0 + 10 * i, output_bytes=20_000))
        wf.add_edge("split", f"work-{i}", 50_000)
        wf.add_edge(f"work-{i}", "merge", 20_000)
    return wf.validate()


@pytest.fixture(scope="module")
def wf_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("wf")
    paths = []
    for name, width in (("fan4", 4), ("fan8", 8)):
        p = d / f"{name}.json"
        write_wfformat(_wf(name, width), p)
        paths.append(str(p))
    return paths


def test_grid_expansion_and_parsing():
    assert parse_memory_sets(["2048;2048,4096", "2048"]) == [(2048,), (2048, 4096)]
    assert split_list(["a,b", "b", "c"], "x") == ["a", "b", "c"]
    groups = expand_grid(
        ["w1", "w2"], ["uniform", "wukong"], [(2048,), (2048, 4096)], ["average", "p90", "avg"], seeds=3
    )
    assert len(groups) == 2 * 2 * 2 * 2  # "avg" is "average"
    assert count_points(groups) == 48
    assert all(g.sampled and g.seeds == (0, 1, 2) for g in groups)
    assert not expand_grid(["w"], ["uniform"], [(2048,)], ["average"], seeds=1)[0].sampled
    with pytest.raises(ValueError, match="unknown planner 'nope'"):
        expand_grid(["w"], ["nope"], [(2048,)], ["average"])
    with pytest.raises(ValueError, match="SLA"):
        expand_grid(["w"], ["uniform"], [(2048,)], ["p200"])
    with pytest.raises(ValueError, match="seeds"):
        expand_grid(["w"], ["uniform"], [(2048,)], ["average"], seeds=0)


def test_pareto_mask():
    cost = [1.0, 2.0, 3.0, 2.0, 1.0, 4.0]
    mk = [10.0, 5.0, 1.0, 6.0, 10.0, 1.0]
    # (1,10) twice: both kept; (2,6) dominated by (2,5); (4,1) dominated by (3,1)
    assert pareto_mask(cost, mk) == [True, True, True, False, True, False]
    assert pareto_mask([], []) == []


def test_pareto_plot_front_is_over_configurations_not_lucky_samples(tmp_path):
    """With --seeds N > 1 each row is one Monte-Carlo sample, and the Pareto plot's front ran through
    single samples: on gemm:n=500 (5 seeds) it went through one lucky draw of a configuration whose
    median it did not reach. A front of one point was also invisible (a step line of one point: none
    drawn for image_transform). The front is now over each configuration's median, with markers."""
    import pandas as pd

    from sim.sweep.plots import pareto_points, plot_summary

    def rows(planner: str, memory: str, costs: list[float], makespans: list[float]) -> list[dict]:
        return [
            {
                "workflow": "w",
                "planner": planner,
                "memory": memory,
                "sla": "average",
                "seed": i,
                "cost_gb_s": c,
                "makespan_ms": m,
                "error": None,
            }
            for i, (c, m) in enumerate(zip(costs, makespans, strict=True))
        ]

    # A: medians (2, 100); one lucky sample (1, 50) dominates B's every sample; B: medians (3, 90)
    df = pd.DataFrame(
        rows("a", "2048", [1.0, 2.0, 3.0], [50.0, 100.0, 150.0]) + rows("b", "2048", [3.0] * 3, [90.0] * 3)
    )
    points, front, per_configuration = pareto_points(df)
    assert per_configuration and len(points) == 2
    assert sorted(zip(front["planner"], front["cost_gb_s"], front["makespan_ms"], strict=True)) == [
        ("a", 2.0, 100.0),
        ("b", 3.0, 90.0),
    ]
    single = df[df["seed"] == 0]  # one row per configuration: the rows themselves
    points, front, per_configuration = pareto_points(single)
    assert not per_configuration and list(front["planner"]) == ["a"]  # (1, 50) dominates (3, 90)
    paths = plot_summary(single, tmp_path / "s.csv")
    assert any(p.name == "s.pareto.png" for p in paths)


def test_run_group_rows_and_errors(wf_files):
    g = SweepGroup(wf_files[0], "uniform", (2048,), "average", (0, 1), sampled=False)
    rows = run_group(g)
    assert [r["seed"] for r in rows] == [0, 1]
    r = rows[0]
    assert r["error"] is None and r["tasks"] == 6 and r["makespan_ms"] > 0 and r["cost_gb_s"] > 0
    assert r["bytes_moved"] == r["bytes_uploaded"] + r["bytes_downloaded"]
    assert r["planning_ms"] >= 0 and r["simulation_ms"] > 0
    assert rows[0]["makespan_ms"] == rows[1]["makespan_ms"]  # deterministic without sampling
    bad = run_group(SweepGroup("no-such-workflow", "uniform", (2048,), "average", (0,), False))
    assert bad[0]["error"] and "no-such-workflow" in bad[0]["error"]
    df = to_frame(rows + bad)
    assert list(df.columns) == COLUMNS and len(df) == 3


def test_local_pool_matches_in_process(wf_files):
    groups = expand_grid(wf_files, ["uniform", "wukong"], [(2048,), (2048, 4096)], ["average"], seeds=2)
    seen = []
    pooled = run_local(groups, workers=2, on_done=seen.append)
    assert sum(seen) == count_points(groups) == 16
    inproc = run_local(groups, workers=1)
    key = lambda r: (r["workflow"], r["planner"], r["memory"], r["seed"])  # noqa: E731
    a = {key(r): r["makespan_ms"] for r in pooled}
    b = {key(r): r["makespan_ms"] for r in inproc}
    assert a == b and len(a) == 16


def test_dask_local_cluster(wf_files):
    distributed = pytest.importorskip("distributed")
    groups = expand_grid(wf_files[:1], ["uniform", "wukong"], [(2048,)], ["average", "p90"], seeds=2)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        df = run_sweep(groups, dask=cluster.scheduler_address, progress=False)
    assert len(df) == 8 and df["error"].isna().all()
    local = run_sweep(groups, workers=1, progress=False)
    assert df["makespan_ms"].tolist() == local["makespan_ms"].tolist()


def test_a_cluster_that_goes_away_mid_sweep_keeps_the_finished_points(wf_files, tmp_path):
    """A Dask scheduler killed mid-sweep ended `plansim sweep --dask` with two tracebacks (the client's
    reconnection log and FutureCancelledError) and no table: the finished points were lost. run_dask now
    raises SweepInterrupted holding every point's row, the finished ones with results and the rest
    'not run: <why>'."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    pytest.importorskip("distributed")
    from sim.sweep.runner import SweepInterrupted, run_dask

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    # Killed, the scheduler and worker cannot remove their scratch directories: keep them in tmp_path,
    # not in the shared /tmp/dask-scratch-space (where they stayed until some later Dask start purged them).
    env = {**os.environ, "DASK_TEMPORARY_DIRECTORY": str(tmp_path)}
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            ":0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            address,
            "--nthreads",
            "1",
            "--no-nanny",
            "--dashboard-address",
            ":0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    groups = expand_grid(wf_files, ["uniform", "wukong", "heft"], [(2048,), (4096,)], ["average"], seeds=3)
    try:
        with pytest.raises(SweepInterrupted) as info:
            run_dask(
                groups,
                address,
                on_done=lambda n: scheduler.send_signal(signal.SIGKILL),
                connect_timeout="60s",
            )
    finally:
        for p in (scheduler, worker):
            p.kill()
            p.wait()
    exc = info.value
    total = count_points(groups)
    assert len(exc.rows) == total and 3 <= exc.finished < total
    done = [r for r in exc.rows if r["error"] is None]
    assert len(done) == exc.finished and all(r["makespan_ms"] > 0 for r in done)
    assert all(
        r["error"].startswith("not run: the Dask cluster at " + address) for r in exc.rows if r["error"]
    )
    assert f"after {exc.finished} of {total} points" in str(exc)
    assert (tmp_path / "dask-scratch-space").is_dir()  # the killed processes' leftovers are pytest's


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_cli_writes_table_and_plots(wf_files, tmp_path, suffix):
    from sim.cli import main

    out = tmp_path / f"results.{suffix}"
    res = CliRunner().invoke(
        main,
        [
            "sweep",
            "--workflows",
            ",".join(wf_files),
            "--planners",
            "uniform,wukong",
            "--memory",
            "2048;8192",
            "--sla",
            "average,p90",
            "--seeds",
            "2",
            "-o",
            str(out),
            "--workers",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    df = read_table(out)
    assert len(df) == 2 * 2 * 2 * 2 * 2
    assert (
        df.groupby(["workflow", "planner", "memory", "sla", "seed"]).size().max() == 1
    )  # tidy: one row per point
    assert df["error"].isna().all()
    for name in ("makespan_cost", "pareto"):
        png = tmp_path / f"results.{name}.png"
        assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    front = pareto_front(df)
    assert len(front) >= 1
    for _, row in df.drop(front.index).iterrows():  # everything off the front is dominated by a front point
        same = front[front["workflow"] == row["workflow"]]
        assert ((same["cost_gb_s"] <= row["cost_gb_s"]) & (same["makespan_ms"] <= row["makespan_ms"])).any()


def test_cli_summary_names_each_workflow_in_full_at_80_columns(tmp_path):
    """tree_reduction:leaves=32 and leaves=64 were both "tree_reducti…" in the summary at 80 columns:
    rows of numbers for workflows one could not tell apart."""
    from sim.cli import main

    names = ["tree_reduction:leaves=32", "tree_reduction:leaves=64"]
    args = ["sweep", "--workflows", ",".join(names), "--planners", "uniform,non-uniform"]
    res = CliRunner(env={"COLUMNS": "80"}).invoke(
        main, [*args, "--workers", "1", "--no-plots", "-o", str(tmp_path / "r.csv")]
    )
    assert res.exit_code == 0, res.output
    assert "…" not in res.output, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("│")]
    assert all(len(line) <= 80 for line in rows), res.output
    for name in names:
        assert sum(f"│ {name} " in line for line in rows) == 2, res.output


def test_cli_bad_input(tmp_path):
    from sim.cli import main

    res = CliRunner().invoke(main, ["sweep", "--workflows", "x", "-o", str(tmp_path / "r.txt")])
    assert res.exit_code == 1 and ".parquet or .csv" in res.output
    res = CliRunner().invoke(main, ["sweep", "--workflows", "no-such-wf", "-o", str(tmp_path / "r.csv")])
    assert res.exit_code == 1 and "no-such-wf" in res.output


def test_sigterm_stops_a_local_sweep_without_running_the_rest(tmp_path):
    # Before: the pool's `with` block ran every queued group to the end before SIGTERM's exit got out.
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "r.csv"
    args = ["--workflows", "montage:tasks=1000", "--planners", "uniform,non-uniform,wukong", "--seeds", "200"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "sweep", *args, "-o", str(out), "--workers", "2"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The pool is running groups once its processes exist, most still queued (600 points, ~0.1-1 s
        # each). (Was a fixed 6 s sleep: on a loaded host the CLI may not have reached its pool by then.)
        wait_for(lambda: len(descendants(proc.pid)) >= 2 or proc.poll() is not None, 120, "the pool")
        time.sleep(1)
        assert proc.poll() is None, proc.communicate()
        workers = descendants(proc.pid)
        assert len(workers) >= 2, workers  # the pool's processes
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        stopped_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert stopped_s < 10, f"took {stopped_s:.1f} s to stop"  # was ~the whole sweep's time
    assert not out.exists()
    wait_for(lambda: all(process_gone(p) for p in workers), 10, f"pool processes {workers} to end")


def test_a_point_that_kills_its_worker_fails_alone(wf_files, tmp_path):
    """One group that kills every Dask worker running it (here a workflow file that exits the process;
    in practice a workflow too large for the worker's memory) ended the whole sweep as 'the Dask cluster
    failed', every other point 'not run', though the cluster was fine. Its points now fail with the
    reason and the others' results are kept (the sweep no longer stops)."""
    import dask

    distributed = pytest.importorskip("distributed")
    from sim.sweep.runner import run_dask

    killer = tmp_path / "killer.py"
    # It dies 2 s in: a worker that exits at once can beat its own report that the group before it
    # finished (the reports are batched), and that group then counts as killed too (2 of 10 at load 11).
    killer.write_text("import os, time\ntime.sleep(2)\nos._exit(1)\n")
    groups = expand_grid(wf_files[:1], ["uniform"], [(2048,)], ["average"], seeds=2)
    bad = SweepGroup(f"{killer}:wf", "uniform", (2048,), "average", (0,), sampled=False)
    # The scheduler gives up on a task after its first killed worker (by default it retries 3 times). The
    # killer goes last: every task the dying worker held is suspected, and one thread runs them in order.
    config = {"distributed.scheduler.allowed-failures": 0, "temporary-directory": str(tmp_path)}
    with (
        dask.config.set(config),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
    ):
        rows = run_dask([*groups, bad], cluster.scheduler_address)
    assert len(rows) == 1 + count_points(groups)
    (failed,) = [r for r in rows if r["workflow"] == bad.workflow]
    assert "died each time it was tried" in failed["error"] and "KilledWorker" in failed["error"]
    good = [r for r in rows if r["workflow"] != bad.workflow]
    assert good and all(r["error"] is None and r["makespan_ms"] > 0 for r in good), [r["error"] for r in good]
