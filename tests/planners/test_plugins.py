"""Plug-in planners: ``--planner FILE.py:CLASS[:key=value...]`` or ``package.module:CLASS``, through the
real command line: the example planner, options, ``planners list``, sweeps and every mistake's one line."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "planners" / "critical_path.py"
SPEC = f"{EXAMPLE}:CriticalPathClustering"
WF = "tree_reduction:leaves=8"

MINE = '''
from sim.models.plan import Plan
from sim.models.resources import ResourceConfig
from sim.planners.base import Planner


class OneWorker(Planner):
    """Every task on one worker."""

    def __init__(self, config=None, memory_mb: int = 2048):
        super().__init__(config)
        self.memory_mb = memory_mb

    def assign(self, wf):
        return {t: ResourceConfig(self.memory_mb, "w1") for t in wf.graph}


class NotAPlanner:
    pass


class BadInit(Planner):
    def __init__(self, config=None):
        raise RuntimeError("boom")


class BadPlan(Planner):
    def assign(self, wf):
        return {}["nothing"]


class MissingTask(Planner):
    def plan(self, wf):
        first = next(iter(wf.graph))
        return Plan(wf, {first: ResourceConfig(2048, None)}, self.name)


class NoPlan(Planner):
    def plan(self, wf):
        return {}
'''


LARGEST = """
import sweep_helpers_beside
from sim.models.resources import ResourceConfig
from sim.planners.base import Planner


class Largest(Planner):
    def assign(self, wf):
        return {t: ResourceConfig(sweep_helpers_beside.memory(self.config.memory_sizes), None) for t in wf.graph}
"""


@pytest.fixture()
def mine(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(MINE)
    return f


def line_of(text: str) -> int:
    return next(i for i, line in enumerate(MINE.splitlines(), 1) if text in line)


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(main, list(args))


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def simulate(*args: str) -> dict:
    r = invoke("simulate", WF, "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_the_example_runs_every_task_once_on_the_plan_it_made():
    from sim.planners import PlannerConfig, get_planner
    from sim.workflow.library import load_workflow

    out = simulate("--planner", SPEC, "--memory", "2048,4096")
    wf = load_workflow(WF)
    plan = get_planner(SPEC, PlannerConfig(memory_sizes=(2048, 4096))).plan(wf)
    ids = [t["id"] for t in out["tasks"]]
    assert sorted(ids) == sorted(wf.graph) and len(ids) == len(set(ids))
    # the simulation ran the plan it reports: each task on its planned worker and memory
    assert {t["id"]: (t["worker"], t["memory_mb"]) for t in out["tasks"]} == {
        t: (c.worker_id, c.memory_mb) for t, c in plan.configs.items()
    }
    assert out["plan"]["planned_workers"] == len(set(c.worker_id for c in plan.configs.values()))
    assert out["planner"] == SPEC
    # linear clustering: each worker runs a path of the DAG, the first one (w1) from a root to the sink
    for w, tasks in plan.workers().items():
        assert all(wf.graph.has_edge(a, b) for a, b in zip(tasks, tasks[1:], strict=False)), (w, tasks)
    first = plan.workers()["w1"]
    assert wf.graph.in_degree(first[0]) == 0 and first[-1] in wf.sinks and len(first) == 3, first
    last = max(t["end_ms"] for t in out["tasks"])  # the run ends with the sink's result stored
    assert last <= out["makespan_ms"] <= last + 5, (last, out["makespan_ms"])
    # a worker is paid at least while its tasks run
    busy = {}
    for t in out["tasks"]:
        lo, hi = busy.get(t["worker"], (t["start_ms"], t["end_ms"]))
        busy[t["worker"]] = (min(lo, t["start_ms"]), max(hi, t["end_ms"]))
    mem = {t["worker"]: t["memory_mb"] for t in out["tasks"]}
    floor = sum((hi - lo) / 1e3 * mem[w] / 1024 for w, (lo, hi) in busy.items())
    assert out["cost_gb_s"] >= floor > 0


def test_the_example_picks_the_size_the_simulator_finds_fastest_with_no_slack():
    alone = {m: simulate("--planner", SPEC, "--memory", str(m))["makespan_ms"] for m in (1024, 4096)}
    both = simulate("--planner", f"{SPEC}:slack=0", "--memory", "1024,4096")
    assert alone[4096] < alone[1024]  # memory buys CPU
    assert both["makespan_ms"] == pytest.approx(min(alone.values()))
    assert both["planner"] == f"{SPEC}:slack=0"
    bad = invoke("simulate", WF, "--planner", f"{SPEC}:slack=-1")
    assert "slack must be a finite number >= 0, got -1" in one_error_line(bad)


def test_a_module_plugin_with_options_in_compare_and_planners_list(mine, monkeypatch):
    monkeypatch.syspath_prepend(str(mine.parent))
    r = invoke("compare", WF, "--planners", "uniform,mine:OneWorker,mine:OneWorker:memory_mb=4096", "--json")
    assert r.exit_code == 0, r.output
    runs = {s["planner"]: s for s in json.loads(r.output)}
    assert list(runs) == ["uniform", "mine:OneWorker", "mine:OneWorker:memory_mb=4096"]
    assert runs["mine:OneWorker"]["plan"]["workers_by_memory"] == {"2048": 1}
    assert runs["mine:OneWorker:memory_mb=4096"]["plan"]["workers_by_memory"] == {"4096": 1}
    listed = invoke("planners", "list", "--json", "mine:OneWorker", f"{mine}:OneWorker")
    assert listed.exit_code == 0, listed.output
    rows = {p["name"]: p for p in json.loads(listed.output)["planners"]}
    assert "heft" in rows  # the built-in ones are still listed
    for name in ("mine:OneWorker", f"{mine}:OneWorker"):
        assert rows[name]["options"] == {"memory_mb": 2048}
        assert rows[name]["description"] == "Every task on one worker."
    table = invoke("planners", "list", f"{mine}:OneWorker")
    assert table.exit_code == 0 and "memory_mb=2048" in table.output and "FILE.py:CLASS" in table.output


def test_compare_shows_plugin_variants_in_full_at_80_columns():
    """Two variants of one plug-in were two columns both cut to 'examples/planners/critical_path.p…'."""
    variants = [SPEC, f"{SPEC}:slack=0.5"]
    r = CliRunner(env={"COLUMNS": "80"}).invoke(main, ["compare", WF, "--planners", ",".join(variants)])
    assert r.exit_code == 0, r.output
    header = r.output[: r.output.index("makespan")]
    assert "…" not in header, header
    rows = [line.split("┃")[2:-1] for line in header.splitlines() if line.startswith("┃")]
    names = ["".join(row[i].strip() for row in rows) for i in range(len(variants))]
    assert names == variants, names


def test_mistakes_are_one_error_line(mine, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "broken_mod.py").write_text("import no_such_dependency_xyz\n")
    cases = {
        f"{tmp_path}/nope.py:X": "no such file: ",
        "no_such_mod_xyz:X": "cannot import module 'no_such_mod_xyz': ModuleNotFoundError: No module named",
        "broken_mod:X": "'broken_mod': ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
        f"{mine}:Nope": "has no class 'Nope' (its Planner subclasses: OneWorker, BadInit",
        f"{mine}:NotAPlanner": "NotAPlanner is not a subclass of sim.planners.base.Planner",
        f"{mine}:BadInit": f"BadInit(...) failed: RuntimeError: boom (line {line_of('boom')})",
        f"{mine}:BadPlan": f"plan() failed: KeyError: 'nothing' (line {line_of('nothing')})",
        f"{mine}:MissingTask": "returned an invalid plan: plan has no resource configuration for task",
        f"{mine}:NoPlan": "plan() returned dict, not a sim.models.plan.Plan",
        f"{mine}:OneWorker:memory=1": "has no option 'memory' (options: memory_mb)",
        str(mine): "name the class, as",
        "heft:foo": "planner option 'foo' in 'heft:foo' must be key=value",  # a built-in's as before
        "nope": "(or a planner of your own: FILE.py:CLASS or package.module:CLASS)",
    }
    for spec, needle in cases.items():
        line = one_error_line(invoke("simulate", WF, "--planner", spec))
        assert needle in line, (spec, line)
        if spec.startswith(str(mine)) and spec != str(mine):
            assert repr(spec) in line, line  # the planner is named as given
    sweep = ["sweep", "--workflows", WF, "--planners", f"{mine}:BadInit", "-o", str(tmp_path / "s.csv")]
    line = one_error_line(invoke(*sweep))
    assert "BadInit(...) failed" in line


def test_sweep_plans_a_file_plugin_in_pool_and_dask_workers_without_the_file(tmp_path):
    from sim.sweep.grid import expand_grid
    from sim.sweep.runner import run_sweep

    copy = tmp_path / "cp.py"
    shutil.copy(EXAMPLE, copy)
    spec = f"{copy}:CriticalPathClustering"
    # a planner that calls a function of a module beside its file (a Dask worker's sys.path lacks it)
    (tmp_path / "sweep_helpers_beside.py").write_text("def memory(sizes):\n    return max(sizes)\n")
    (tmp_path / "largest.py").write_text(LARGEST)
    largest = f"{tmp_path}/largest.py:Largest"
    planners = ["uniform", spec, largest]
    groups = expand_grid([WF], planners, [(2048,), (2048, 4096)], ["average"], seeds=1)
    for f in tmp_path.glob("*.py"):  # the workers get the classes and helpers by value, not by path
        f.unlink()
    local = run_sweep(groups, workers=1, progress=False)
    pooled = run_sweep(groups, workers=2, progress=False)
    assert local["error"].isna().all(), local["error"].tolist()
    assert set(local["planner"]) == set(planners)
    assert pooled["makespan_ms"].tolist() == local["makespan_ms"].tolist()
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = run_sweep(groups, dask=cluster.scheduler_address, progress=False)
    assert remote["error"].isna().all(), remote["error"].tolist()
    assert remote["makespan_ms"].tolist() == local["makespan_ms"].tolist()


def test_sweep_cli_with_the_example(tmp_path):
    out = tmp_path / "s.csv"
    r = invoke(
        "sweep",
        "--workflows",
        WF,
        "--planners",
        f"uniform,{SPEC}",
        "--workers",
        "2",
        "--no-plots",
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    import pandas as pd

    df = pd.read_csv(out)
    assert df["error"].isna().all() and sorted(df["planner"]) == sorted(["uniform", SPEC])


def test_help_names_the_plugin_syntax():
    """The help a user reads first says that a planner of their own can be given, and how."""
    for args in (["--help"], ["planners", "--help"], ["planners", "list", "--help"]):
        assert "FILE.py:CLASS" in invoke(*args).output, args
    for cmd in ("simulate", "compare", "validate", "run", "sweep"):
        text = " ".join(invoke(cmd, "--help").output.split())
        assert "FILE.py:CLASS or package.module:CLASS" in text, cmd


TWO_CLASSES = """
import os

with open(os.environ["PLANSIM_TEST_RUNS"], "a") as f:  # a side effect of running the file
    f.write("ran\\n")

from sim.planners.reference import UniformPlanner, WukongPlanner


class First(UniformPlanner):
    pass


class Second(WukongPlanner):
    pass
"""


def test_a_file_with_two_planners_runs_once(tmp_path, monkeypatch):
    """Two classes of one file (and a variant with options) were two executions of the user's file:
    its side effects twice, and two module objects whose module-level state the classes did not share."""
    monkeypatch.setattr(
        sys, "path", list(sys.path)
    )  # the file's folder, added by the load, goes with the test
    runs = tmp_path / "runs.txt"
    monkeypatch.setenv("PLANSIM_TEST_RUNS", str(runs))
    f = tmp_path / "two.py"
    f.write_text(TWO_CLASSES)
    specs = [f"{f}:First", f"{f}:Second", f"{f}:Second:cluster_max_tasks=4"]
    r = invoke("compare", WF, "--planners", ",".join(specs), "--json")
    assert r.exit_code == 0, r.output
    assert [s["planner"] for s in json.loads(r.output)] == specs
    assert runs.read_text() == "ran\n"  # before: "ran\nran\n"
    from sim.planners import get_planner

    first, second = type(get_planner(specs[0])), type(get_planner(specs[1]))
    assert first.__module__ == second.__module__
    assert vars(sys.modules[first.__module__])["Second"] is second


EDITED = """
from sim.planners.reference import UniformPlanner


class Edited(UniformPlanner):
    description = {text!r}
"""


def test_a_planner_file_edited_since_it_was_loaded_is_loaded_again(tmp_path, monkeypatch):
    """A long-lived process (the dashboard) sees the file as it is now, for the class it loaded before
    too (a cache of classes by name kept the first version)."""
    import os

    from sim.planners import get_planner

    monkeypatch.setattr(sys, "path", list(sys.path))
    f = tmp_path / "edited.py"
    f.write_text(EDITED.format(text="first"))
    assert type(get_planner(f"{f}:Edited")).description == "first"
    assert type(get_planner(f"{f}:Edited")) is type(get_planner(f"{f}:Edited"))  # unchanged: one class
    f.write_text(EDITED.format(text="second version"))
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))  # (a coarse clock: mtime moves)
    assert type(get_planner(f"{f}:Edited")).description == "second version"  # before: 'first'
