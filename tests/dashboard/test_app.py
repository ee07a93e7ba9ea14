"""The dashboard pages under Streamlit's own testing API (AppTest): each page renders without an
exception, shows what it should, and says what is missing instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from sim.dashboard.data import ENV_METRICS, ENV_MODELS, ENV_REDIS  # noqa: E402
from sim.dashboard.live import FakeLiveReader  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "sim" / "dashboard" / "app.py")
TIMEOUT = 120


@pytest.fixture
def env(monkeypatch, metrics_file):
    monkeypatch.setenv(ENV_METRICS, str(metrics_file))
    monkeypatch.delenv(ENV_MODELS, raising=False)
    monkeypatch.delenv(ENV_REDIS, raising=False)
    return metrics_file


def app(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = page
    return at


def texts(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "header", "subheader", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def test_what_if_known_type_side_by_side(env):
    at = app("what-if").run()
    assert not at.exception, at.exception
    at.text_input(key="wi_spec").set_value("fixed_times:chains=3,sleep_s=0.1").run()
    assert not at.exception, at.exception
    at.multiselect(key="wi_planners").set_value(["uniform", "wukong"]).run()
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    assert list(df.columns) == ["uniform", "wukong"]
    assert "makespan (ms)" in df.index and (df.loc["makespan (ms)"] > 0).all()


def test_what_if_takes_planners_of_your_own(env, tmp_path):
    """The page offered the built-in planners only; a plug-in (FILE.py:CLASS) is typed beside them."""
    example = Path(__file__).resolve().parents[2] / "examples" / "planners" / "critical_path.py"
    mine = f"{example}:CriticalPathClustering"
    at = app("what-if").run()
    at.text_input(key="wi_spec").set_value("fixed_times:chains=3,sleep_s=0.1").run()
    at.multiselect(key="wi_planners").set_value(["uniform"]).run()
    at.text_input(key="wi_own").set_value(f"{mine}, {tmp_path}/nope.py:X").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value.columns) == ["uniform", mine]
    assert f"no such file: {tmp_path}/nope.py" in texts(at)


def test_what_if_says_what_decides_the_execution_times(env, monkeypatch, tmp_path):
    """The what-if page named the models file only in the sidebar, whatever it held: a file fitted on
    other functions changed nothing and a known type's tasks ran their expected runtimes, unsaid. It now
    prints the line plansim simulate prints (sim.engine.whatif.models_line)."""
    from sim.models.performance import ExecModel, PerformanceModels

    at = app("what-if").run()
    at.text_input(key="wi_spec").set_value("gemm:n=200").run()
    assert not at.exception, at.exception
    assert "models: built-in defaults; execution: expected runtimes of 17 of 17 tasks" in texts(at)
    models = PerformanceModels()
    models.exec["multiply_chunks"] = ExecModel(a=0.001, b=1.0, c=0.3)
    models.save(tmp_path / "m.json")
    monkeypatch.setenv(ENV_MODELS, str(tmp_path / "m.json"))
    at = app("what-if").run()
    at.text_input(key="wi_spec").set_value("gemm:n=200").run()
    assert not at.exception, at.exception
    assert "m.json: calibrated 1 of 2 functions (expected runtimes for aggregate_results)" in texts(at)


def test_what_if_seen_type(env):
    at = app("what-if").run()
    at.radio(key="wi_source").set_value("a type seen in the metrics").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="wi_seen")
    assert len(box.options) == 2 and any("fixed_times" in x for x in box.options)
    box.set_value(next(s for s in box.options if "fixed_times" in s))
    at.multiselect(key="wi_planners").set_value(["uniform"]).run()
    assert not at.exception, at.exception
    assert "has the type" in texts(at)
    assert at.dataframe[0].value.loc["makespan (ms)", "uniform"] > 0
    # a type whose parameters differ from the defaults: said, then resolved by naming its parameters
    box = at.selectbox(key="wi_seen")
    box.set_value(next(s for s in box.options if "tree_reduction" in s)).run()
    assert not at.exception, at.exception
    assert "adjust its parameters" in texts(at) and not at.dataframe
    at.text_input(key="wi_seen_spec").set_value("tree_reduction:leaves=8").run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.loc["makespan (ms)", "uniform"] > 0


def test_calibration_page(env):
    at = app("calibration").run()
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    assert {"model", "samples", "R²", "MAPE %", "fallback"} <= set(df.columns)
    assert len(df) >= 1 and df["samples"].sum() > 0


def test_calibration_page_fits_the_real_records_beside_a_plan(env):
    """The page fitted every loaded record: on a validate run's --metrics-out (each run's plan beside
    it) exec[add] of tree_reduction:leaves=8 got 28 samples, 14 of them the simulator's own predictions,
    where `plansim calibrate` on the same file fits the 14 real ones. The page now leaves out the same
    records, per source, and says so; its observed-vs-predicted axes name their unit."""
    at = app("calibration").run()
    assert not at.exception, at.exception
    df = at.dataframe[0].value.set_index("model")
    # the metrics file: plan-1 (simulated) and real-1 of fixed_times, real-2 of tree_reduction
    from sim.models.records import TaskRecord, iter_jsonl

    records = list(iter_jsonl(str(env)))
    real_sleeps = [
        r
        for r in records
        if isinstance(r, TaskRecord) and r.function == "sleep_task" and r.extra["source"] == "real"
    ]
    planned = [r for r in records if r.extra.get("source") == "sim"]
    assert df.loc["exec[sleep_task]", "samples"] == len(real_sleeps) > 0
    assert f"left out the {len(planned)} simulated (planned) records of {env}" in texts(at)
    chart = at.get("plotly_chart")[0].proto.spec
    assert '"observed (ms)"' in chart and '"predicted, median (ms)"' in chart


def test_plan_vs_real_gantt_pairs_real_workers_by_their_tasks(monkeypatch, tmp_path):
    """The page's real Gantt chart listed and coloured workers by their own names, which a flexible
    worker's are not (wukong's flex-N counts each run's starts): the real flex-4 sat in the colour of the
    planned flex-4 though it ran other tasks. Its rows now follow the plan's through the workers that
    ran the same tasks (report.paired_rows, as validate's HTML report), in their colours."""
    import copy
    import json

    from sim.engine.whatif import what_if
    from sim.models.records import write_jsonl
    from sim.workflow.library import load_workflow

    planned = what_if(load_workflow("fixed_times"), "uniform", [2048]).result.records("plan-1")
    names = sorted({r.worker_id for r in planned if hasattr(r, "worker_id")})
    assert len(names) >= 2
    renamed = dict(zip(names, names[1:] + names[:1], strict=True))  # every real worker under another name
    real = []
    for r in copy.deepcopy(planned):
        r.run_id, r.extra["source"] = "real-1", "real"
        if hasattr(r, "worker_id"):
            r.worker_id = renamed[r.worker_id]
        real.append(r)
    path = tmp_path / "m.jsonl"
    write_jsonl(planned + real, path)
    monkeypatch.setenv(ENV_METRICS, str(path))
    monkeypatch.delenv(ENV_MODELS, raising=False)
    at = app("plan-vs-real").run()
    assert not at.exception, at.exception
    charts = {}
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        title = spec["layout"].get("title", {}).get("text", "")
        if title.startswith(("planned:", "real:")):
            charts[title.split(":")[0]] = [
                (t["name"], t["marker"]["color"]) for t in spec["data"] if t["name"] != "start-up"
            ]
    assert [renamed[w] for w, _ in charts["planned"]] == [w for w, _ in charts["real"]]
    assert [c for _, c in charts["planned"]] == [c for _, c in charts["real"]]


def test_plan_vs_real_asks_for_the_parameters_its_dag_needs(monkeypatch, tmp_path):
    """A validate run of tree_reduction:leaves=8 showed 'DAG not drawn: ... Give its parameters
    (NAME:k=v,...) to simulate it.' on the plan-vs-real page, which had nowhere to give them. The page
    now has the input the what-if page has, and draws the DAG once the parameters match the runs."""
    import copy

    from sim.engine.whatif import what_if
    from sim.models.records import write_jsonl
    from sim.workflow.library import load_workflow

    planned = what_if(load_workflow("tree_reduction:leaves=8"), "wukong", [2048]).result.records("plan-1")
    real = []
    for r in copy.deepcopy(planned):
        r.run_id, r.extra["source"] = "real-1", "real"
        real.append(r)
    write_jsonl(planned + real, tmp_path / "m.jsonl")
    monkeypatch.setenv(ENV_METRICS, str(tmp_path / "m.jsonl"))
    monkeypatch.delenv(ENV_MODELS, raising=False)
    at = app("plan-vs-real").run()
    assert not at.exception, at.exception
    assert "DAG not drawn" in texts(at)
    at.text_input(key="pvr_spec").set_value("tree_reduction:leaves=8").run()
    assert not at.exception, at.exception
    assert "'tree_reduction:leaves=8' has the type" in texts(at)
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("DAG coloured by worker" in t for t in titles)


def test_calibration_page_shows_the_models_file_it_was_given(monkeypatch, tmp_path):
    """`plansim dashboard --models models.json` showed the file only as collapsed raw JSON: on the
    calibration page without metric records, 'no metric records loaded' and nothing of the 33 execution
    models fitted on runtime_metrics.jsonl.gz. The page now tables the file's models (as `plansim
    models show`: parameters, samples, R², MAPE, fallback, notes), with or without records."""
    from calibration.synthetic import synthetic_records
    from sim.models.records import write_jsonl

    write_jsonl(synthetic_records(40, seed=5), tmp_path / "m.jsonl")
    from click.testing import CliRunner

    from sim.cli import main

    res = CliRunner().invoke(
        main, ["calibrate", str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "models.json")]
    )
    assert res.exit_code == 0, res.output
    monkeypatch.delenv(ENV_METRICS, raising=False)
    monkeypatch.setenv(ENV_MODELS, str(tmp_path / "models.json"))
    at = app("calibration").run()
    assert not at.exception, at.exception
    assert "models.json" in texts(at)
    frames = [d.value for d in at.dataframe]
    execution = next(f for f in frames if "function" in f.columns and "c" in f.columns)
    assert set(execution["function"]) == {"resize", "analyse", "merge"}
    assert (execution["samples"] > 0).all() and {"R²", "MAPE %", "fallback", "notes"} <= set(
        execution.columns
    )


def test_plan_vs_real_page(env):
    at = app("plan-vs-real").run()
    assert not at.exception, at.exception
    body = texts(at)
    # the lonely real run of another workflow type is named, not silently joined
    assert "real-2" in body and "no planned run of the same workflow type" in body
    assert at.selectbox(key="pvr_real").value == "real-1"
    assert at.selectbox(key="pvr_planned_real-1").value == "plan-1"
    overall = at.dataframe[0].value
    mk = overall.set_index("metric").loc["makespan_ms"]
    assert mk["real"] > mk["planned"] > 0
    offsets = at.dataframe[1].value.set_index("prediction")
    assert offsets.loc["exec_ms", "median_abs_pct"] == pytest.approx(100 / 3, rel=1e-6)  # 1 vs 1.5: -33.3 %
    # choosing the other real run: no plan -> said, no exception
    at.selectbox(key="pvr_real").set_value("real-2").run()
    assert at.selectbox(key="pvr_planned_real-2").value is None  # no plan of that workflow type
    assert not at.exception, at.exception
    assert "run without a plan" in texts(at)
    # forcing the plan of another workflow type: said, and no task is joined
    at.selectbox(key="pvr_planned_real-2").set_value("plan-1").run()
    assert not at.exception, at.exception
    assert "different workflow types" in texts(at)


def test_pages_without_metrics_say_what_is_missing(monkeypatch):
    monkeypatch.delenv(ENV_METRICS, raising=False)
    monkeypatch.delenv(ENV_REDIS, raising=False)
    monkeypatch.delenv("PLANSIM_REDIS_URL", raising=False)
    for page, phrase in (
        ("calibration", "no metric records loaded"),
        ("plan-vs-real", "no metric records loaded"),
        ("live", "Redis URL"),
    ):
        at = app(page).run()
        assert not at.exception, (page, at.exception)
        assert phrase in texts(at), page


def test_bad_metrics_file_is_reported(monkeypatch, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "task"}\nnot json\n')
    monkeypatch.setenv(ENV_METRICS, str(bad))
    at = app("plan-vs-real").run()
    assert not at.exception, at.exception
    assert "skipped 2 bad record(s)" in texts(at)


def _fake_reader() -> FakeLiveReader:
    rec = (
        '{"kind":"task","run_id":"r1","workflow_type":"T","planner":"uniform","function":"a","task_id":"a",'
        '"worker_id":"w0","memory_mb":2048,"cpus":1.0,"input_bytes":10,"output_bytes":20,"exec_ms":5.0,'
        '"downloads":[],"upload":null,"start_ms":1.0,"end_ms":6.0}'
    )
    return FakeLiveReader(
        {
            "r1": {
                "specs": {
                    "a": ("a", "w0", 2048),
                    "b": ("b", "w0", 2048),
                    "c": ("c", None, 2048),
                    "d": ("d", None, 4096),
                },
                "edges": [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
                "records": [rec],
                "started": {"b"},
                "progress": 1,
                "workflow": "diamond",
                "planner": "uniform",
                "logs": {"a": ["hello from a"]},
            }
        }
    )


def test_live_page_with_fake_reader(monkeypatch):
    monkeypatch.delenv(ENV_METRICS, raising=False)
    at = app("live")
    at.session_state["live_reader"] = _fake_reader()
    at.session_state["live_static"] = True
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["done"] == "1" and metrics["running"] == "1" and metrics["waiting"] == "2"
    assert at.selectbox(key="live_task").value == "a"
    body = texts(at)
    assert "hello from a" in body
    details = at.json[0].value
    assert '"worker": "w0"' in details and '"exec (ms)": 5.0' in details
    at.selectbox(key="live_task").set_value("d").run()
    assert not at.exception, at.exception
    assert '"planned worker": "flexible"' in at.json[0].value and '"memory (MB)": 4096' in at.json[0].value
    assert "(no log lines for this task)" in texts(at)


def test_dashboard_command_line(tmp_path, metrics_file, monkeypatch):
    from click.testing import CliRunner

    from sim.cli import main
    from sim.dashboard.cli import command, environment

    cmd = command(8600, "127.0.0.1", True)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("app.py") and "8600" in cmd
    env = environment((str(metrics_file), "redis://:pw@host:1/0"), None, "redis://:pw@h:2/0")
    monkeypatch.setenv(ENV_METRICS, env[ENV_METRICS])
    monkeypatch.setenv(ENV_REDIS, env[ENV_REDIS])
    from sim.dashboard.data import Settings

    assert Settings.from_env().metrics == [str(metrics_file), "redis://:pw@host:1/0"]
    assert Settings.from_env().redis == "redis://:pw@h:2/0"
    res = CliRunner().invoke(main, ["dashboard", "--metrics", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_real_runs_without_a_plan_point_at_commands_that_exist(monkeypatch, tmp_path):
    # What `plansim run --metrics-out` writes: real records only. Before, the page said to "pick
    # 'simulate the plan' below", an option it does not have.
    from sim.engine.whatif import what_if
    from sim.models.records import write_jsonl
    from sim.workflow.library import load_workflow

    records = what_if(load_workflow("tree_reduction:leaves=4"), "uniform", [2048]).result.records("r-1")
    for r in records:
        r.extra["source"] = "real"
    path = tmp_path / "run.jsonl"
    write_jsonl(records, path)
    monkeypatch.setenv(ENV_METRICS, str(path))
    monkeypatch.delenv(ENV_MODELS, raising=False)
    at = app("plan-vs-real").run()
    assert not at.exception, at.exception
    warning = next(str(w.value) for w in at.warning if "no planned runs" in str(w.value))
    assert "plansim validate --metrics-out FILE" in warning and "pick" not in warning, warning
    assert at.selectbox(key="pvr_planned_r-1").options == ["(none)"]  # nothing else to pick
