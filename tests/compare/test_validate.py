"""validate(): the wiring of plan, real run, comparison and calibration; with a stand-in runtime (fast,
pure) and once with the real runtime (local worker processes + a private Redis) through the CLI."""

from __future__ import annotations

import copy
import re
import shutil

import pytest
from click.testing import CliRunner

from sim.compare.validate import validate
from sim.engine.simulator import Simulation
from sim.models.records import TaskRecord

WF = "fixed_times:chains=2,sleep_s=0.05"


class FakeRuntime:
    """Runs the plan in the simulator and scales execution times by ``slow`` (the 'reality')."""

    def __init__(self, slow: float = 2.0, fail_on: int | None = None) -> None:
        self.slow = slow
        self.fail_on = fail_on
        self.calls = 0
        self.plans = []

    def __call__(self, wf, *, planner, plan, launcher, redis_url, timeout_s, run_id, **options):
        self.calls += 1
        self.options = options
        self.plans.append(plan)
        if self.calls == self.fail_on:
            raise RuntimeError("worker died")
        recs = []
        for r in Simulation(plan, "default").run().records(run_id):
            r = copy.deepcopy(r)
            r.extra["source"] = "real"
            if isinstance(r, TaskRecord):
                r.exec_ms *= self.slow
            recs.append(r)

        class Report:
            records = recs

        return Report()


def test_runs_compare_the_same_plan():
    fake = FakeRuntime(slow=2.0)
    v = validate(WF, "uniform", runs=2, run=fake)
    assert fake.calls == 2 and len(v.runs) == 2
    for run in v.runs:
        assert run.comparison.complete, run.comparison.problems
        assert run.comparison.offsets()["exec_ms"]["mean_pct"] == pytest.approx(-50.0)
        real_run = next(r for r in run.real_records if r.kind == "run")
        assert real_run.extra["plan_run"] == run.planned_run
    assert v.edges and not v.calibrated


def test_calibration_shrinks_the_error():
    fake = FakeRuntime(slow=3.0)
    v = validate(WF, "wukong", runs=3, calibrate=True, run=fake)  # flexible workers: no CPU sharing
    prog = v.progression()
    first, later = prog[0]["exec_ms_offset_pct"], prog[-1]["exec_ms_offset_pct"]
    assert first == pytest.approx(100 * 2 / 3)  # planned 1x vs real 3x
    assert later < first / 4, prog  # fitted on the real runs: the prediction moved to reality
    assert v.runs[1].models_samples > 0 and v.models is not None


def test_calibration_fits_the_platform_and_plans_with_it():
    """The stand-in's store round trips take 3 ms: the next plan is simulated with that, not 0.5 ms."""

    class SlowStore(FakeRuntime):
        def __call__(self, wf, **kw):
            rep = super().__call__(wf, **kw)
            for r in rep.records:
                if isinstance(r, TaskRecord):
                    r.downloads = [type(d)(40, 3.0) for d in r.downloads] or [Transfer(40, 3.0)]
            return rep

    from sim.models.records import Transfer

    v = validate(WF, "uniform", runs=2, calibrate=True, run=SlowStore(slow=1.0))
    assert v.platform is not None and v.platform.store_latency_ms == pytest.approx(3.0)
    assert v.runs[1].planned_records  # run 2 was planned with the fitted platform
    off = validate(WF, "uniform", runs=2, calibrate=True, run=SlowStore(slow=1.0), calibrate_platform=False)
    assert off.platform is None


def test_run_options_reach_the_runtime():
    fake = FakeRuntime()
    validate(WF, "uniform", runs=1, run=fake, run_options={"max_workers": 3})
    assert fake.options == {"max_workers": 3}


def test_failed_run_is_a_plan_without_a_run():
    v = validate(WF, "uniform", runs=2, run=FakeRuntime(fail_on=1))
    bad, good = v.runs
    assert bad.error == "RuntimeError: worker died" and not bad.comparison.comparable
    assert bad.comparison.problems[0].startswith("the real run failed")
    assert any("plan without a run" in p for p in bad.comparison.problems)
    assert good.comparison.comparable


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_cli_validate_real_runtime(tmp_path):
    from sim.cli import main
    from sim.models.records import LoadReport, iter_jsonl

    report, metrics = tmp_path / "report.html", tmp_path / "m.jsonl"
    res = CliRunner(env={"COLUMNS": "80"}).invoke(
        main,
        [
            "validate",
            WF,
            "--planner",
            "uniform",
            "--runs",
            "1",
            "--report",
            str(report),
            "--metrics-out",
            str(metrics),
            "--timeout",
            "240",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "run 1: real" in res.output and "general percentage offset" in res.output
    # Every metric's name and offset in full on an 80-column terminal (before: "makes…", "+222.…").
    assert "…" not in res.output, res.output
    assert all(m in res.output for m in ("makespan", "download_ms", "output_bytes")), res.output
    assert re.search(r"│ tasks +│ +4 │ +4 │", res.output), "counts without decimals (before: 4.000)"
    # The makespan row is a signed error; the task metrics' offsets are medians of |error|: no sign
    # (before: "+70.9%" beside a bias of -68.2%, all under "median |error|" with the makespan).
    assert re.search(r"│ makespan \(signed\) +│ +[+-]\d", res.output), res.output
    assert re.search(r"│ exec_ms +│ +\d+\.\d%", res.output), res.output
    lr = LoadReport("m")
    recs = list(iter_jsonl(metrics, lr))
    assert lr.skipped == 0
    sources = {r.extra.get("source") for r in recs}
    assert sources == {"sim", "real"}
    html = report.read_text()
    assert "Gantt charts: planned | real" in html and "real critical path" in html
    assert "All 4 tasks joined" in html  # chains of 2 and 1 sleeps plus the fan-in sink
    offsets = re.search(r"<td[^>]*>exec_ms</td><td>(.*?)</td>", html).group(1)  # the general offset column
    assert re.fullmatch(r"<span[^>]*>\d+\.\d%</span>", offsets), offsets


def test_optimizations_reach_the_plan_that_runs():
    """simulate, compare and sweep take --opt, but validate could not: a what-if with --opt prewarm had
    no real run to check it against. validate(optimizations=...) plans with them, and that plan runs."""
    fake = FakeRuntime()
    v = validate(WF, "wukong", runs=1, run=fake, optimizations=frozenset({"inline-plan", "prewarm"}))
    assert fake.plans[0].optimizations == frozenset({"inline-plan", "prewarm"})
    assert v.optimizations == ("inline-plan", "prewarm")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_cli_run_and_validate_take_opt(tmp_path):
    """`plansim run --opt` and `plansim validate --opt`: real runs (local processes) of the plan with the
    optimization, said in the output; an unknown name is one error line."""
    import json

    from sim.cli import main

    res = CliRunner().invoke(
        main,
        [
            "run",
            "tree_reduction:leaves=4",
            "--launcher",
            "process",
            "--opt",
            "inline-plan",
            "--json",
            "--no-check",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["optimizations"] == ["inline-plan"]
    report = tmp_path / "r.html"
    res = CliRunner().invoke(
        main, ["validate", "tree_reduction:leaves=4", "--opt", "inline-plan", "--report", str(report)]
    )
    assert res.exit_code == 0, res.output
    assert "tree_reduction with wukong, optimizations inline-plan: last run, overall" in res.output
    assert "optimizations inline-plan" in report.read_text()
    for cmd in ("run", "validate"):
        bad = CliRunner().invoke(main, [cmd, "tree_reduction:leaves=4", "--opt", "prewarn"])
        assert bad.exit_code == 1 and "unknown optimization 'prewarn'" in bad.output, bad.output
