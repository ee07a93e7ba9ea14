"""The plansim dashboard (Streamlit): what-if, calibration, plan vs real, live.

Launched by ``plansim dashboard`` (``streamlit run`` on this file). Settings come from the environment
(see :mod:`sim.dashboard.data`): ``PLANSIM_DASH_METRICS`` (a JSON list of metric files / redis:// stores), ``PLANSIM_DASH_MODELS`` and ``PLANSIM_DASH_REDIS``. The page is picked in the sidebar or
with ``?page=what-if|calibration|plan-vs-real|live`` in the URL.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # run as a script by `streamlit run`: make `sim` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from calibration.report import models_tables  # noqa: E402
from sim.compare.plan_vs_real import RUN_METRICS, TASK_METRICS, compare_runs  # noqa: E402
from sim.compare.report import paired_rows  # noqa: E402
from sim.dashboard import data  # noqa: E402
from sim.dashboard.charts import (  # noqa: E402
    dag_figure,
    gantt_figure,
    gantt_rows_from_plan,
    gantt_rows_from_run,
    observed_vs_predicted,
    planner_bars,
)
from sim.engine.gantt import worker_colour  # noqa: E402

PAGES = {"what-if": "What-if", "calibration": "Calibration", "plan-vs-real": "Plan vs real", "live": "Live"}


@st.cache_data(show_spinner=False)
def _metrics(sources: tuple[str, ...], mtimes: tuple[float, ...]) -> data.Metrics:  # noqa: ARG001 - cache key
    return data.load_metrics(list(sources))


def _mtime(p: str) -> float:
    try:
        return os.path.getmtime(p)
    except OSError:
        return -1.0


@st.cache_resource(show_spinner="finding the workflow of that type", max_entries=64)
def _resolve_cached(workflow_type: str, names: tuple[str, ...], spec: str | None):  # noqa: ANN202
    seen = data.SeenType(workflow_type, list(names), {}, [], 0)
    return data.resolve_seen(seen, spec)


def _resolve(seen: data.SeenType, spec: str | None = None):  # noqa: ANN202
    return _resolve_cached(seen.workflow_type, tuple(seen.names), spec)


def load_all(settings: data.Settings) -> data.Metrics:
    extra = st.session_state.get("extra_metrics", [])
    sources = tuple(settings.metrics + [e for e in extra if e not in settings.metrics])
    return _metrics(sources, tuple(_mtime(s) for s in sources))


def sidebar(settings: data.Settings) -> str:
    st.sidebar.title("plansim")
    wanted = st.query_params.get("page", "what-if")
    keys = list(PAGES)
    page = st.sidebar.radio(
        "page",
        keys,
        index=keys.index(wanted) if wanted in keys else 0,
        format_func=lambda k: PAGES[k],
        key="page",
    )
    st.sidebar.caption("metrics: " + (", ".join(settings.metrics) or "none given (--metrics)"))
    add = st.sidebar.text_input("add a metrics file (JSONL) or redis:// URL", key="add_metrics")
    if add and add not in st.session_state.setdefault("extra_metrics", []):
        st.session_state["extra_metrics"].append(add)
    if settings.models:
        st.sidebar.caption(f"models: {settings.models}")
    return page


def _models(settings: data.Settings):
    if not settings.models:
        return None
    from sim.models.performance import PerformanceModels

    try:
        return PerformanceModels.load(settings.models)
    except Exception as exc:  # noqa: BLE001
        st.warning(f"cannot load the models file {settings.models}: {exc}; using the built-in defaults")
        return None


def show_load_problems(m: data.Metrics) -> None:
    for e in m.errors:
        st.error(f"could not read {e}")
    for lr in m.loads:
        if lr.skipped:
            st.warning(
                f"{lr.source}: skipped {lr.skipped} bad record(s) (loaded {lr.loaded}); first: "
                + " | ".join(lr.problems)
            )


# -- what-if ----------------------------------------------------------------------------------------------
def page_what_if(settings: data.Settings) -> None:
    st.header("What-if: planners side by side")
    m = load_all(settings)
    seen = data.seen_types(m.records)
    known = data.known_types()
    options = ["a known workflow type"] + (["a type seen in the metrics"] if seen else [])
    source = st.radio("simulate", options, horizontal=True, key="wi_source")
    wf, note = None, ""
    if source == "a type seen in the metrics":
        choice = st.selectbox(
            "workflow type seen in the metrics", seen, format_func=lambda s: s.label, key="wi_seen"
        )
        wf, note = _resolve(choice)
        if wf is None:
            st.warning(note)
            spec = st.text_input(
                "its parameters (NAME:k=v,...)", value=(choice.names or [""])[0], key="wi_seen_spec"
            )
            if spec:
                wf, note = _resolve(choice, spec)
                (st.caption if wf is not None else st.warning)(note)
        else:
            st.caption(note)
    else:
        if not known:
            st.warning("no known workflow types: the library (sim.workflow.library) is not available")
        default = known[0] if known else ""
        name = st.selectbox("workflow type", known or [""], key="wi_known") if known else ""
        spec = st.text_input(
            "parameters (NAME:k=v,... or a WfFormat file)", value=name or default, key="wi_spec"
        )
        if spec:
            try:
                from sim.workflow.library import load_workflow

                wf = load_workflow(spec)
            except Exception as exc:  # noqa: BLE001
                st.error(f"cannot build workflow {spec!r}: {exc}")
    from sim.planners import PLANNERS

    c1, c2, c3, c4, c5 = st.columns(5)
    planners = c1.multiselect("planners", list(PLANNERS), default=list(PLANNERS), key="wi_planners")
    own = st.text_input(
        "planners of your own (FILE.py:CLASS or package.module:CLASS, comma-separated)", "", key="wi_own"
    )
    planners = planners + [p.strip() for p in own.split(",") if p.strip()]
    memory_text = c2.text_input("memory sizes (MB)", "2048,4096,8192", key="wi_memory")
    sla = c3.text_input("SLA", "average", key="wi_sla")
    seed = c4.number_input("seed", 0, 10_000, 0, key="wi_seed")
    reps = c5.number_input("Monte-Carlo replications", 0, 200, 0, key="wi_reps")
    if wf is None:
        return
    if not planners:
        st.info("pick at least one planner")
        return
    try:
        from sim.models.performance import SLA
        from sim.models.resources import parse_memory_list

        memory = parse_memory_list(memory_text)
        SLA.parse(sla)
    except ValueError as exc:
        st.error(str(exc))
        return
    models = _models(settings)
    from sim.engine.whatif import models_line

    # what decides the times, as plansim simulate says it: the file's functions, runtimes, defaults
    st.caption(
        f"{wf.name}: {len(wf)} tasks, {wf.graph.number_of_edges()} edges; "
        + models_line(wf, settings.models if models is not None else None, models)
    )
    with st.spinner("planning and simulating"):
        results, errors = data.run_what_if(
            wf, planners, memory, sla, models, seed=int(seed), replications=int(reps)
        )
    for e in errors:
        st.error(e)
    if not results:
        return
    import pandas as pd

    table = data.summary_table(results)
    st.subheader("simulated results")
    st.dataframe(pd.DataFrame(table).T, width="stretch")
    outs = [r.result.output for r in results]
    fig = planner_bars([o.planner for o in outs], [o.makespan_ms for o in outs], [o.cost_gb_s for o in outs])
    st.plotly_chart(fig, width="stretch")
    xmax = max(r.result.output.makespan_ms for r in results)
    for r in results:
        out = r.result.output
        with st.expander(f"{out.planner}: Gantt chart and tasks", expanded=len(results) == 1):
            st.plotly_chart(
                gantt_figure(gantt_rows_from_plan(out.tasks), f"{out.planner}", xmax),
                width="stretch",
                key=f"wi_gantt_{out.planner}",
            )
            nodes = {
                t: {"colour": worker_colour(i.worker_id), "hover": f"{t} on {i.worker_id}"}
                for t, i in out.tasks.items()
            }
            st.plotly_chart(
                dag_figure(list(wf.graph.edges), nodes, out.critical_path, (), "DAG coloured by worker"),
                width="stretch",
                key=f"wi_dag_{out.planner}",
            )
            st.dataframe(pd.DataFrame(r.to_json()["tasks"]), width="stretch")


# -- calibration ------------------------------------------------------------------------------------------
def page_calibration(settings: data.Settings) -> None:
    st.header("Calibration: model fits and their quality")
    m = load_all(settings)
    show_load_problems(m)
    if settings.models:
        model = _models(settings)
        if model is not None:  # the file given (--models), as `plansim models show` prints it
            import pandas as pd

            st.subheader(f"models file {settings.models}")
            for title, rows in models_tables(model).items():
                if rows:
                    st.caption(title)
                    st.dataframe(pd.DataFrame(rows), width="stretch", hide_index=True)
            with st.expander("the file's JSON"):
                st.json(model.to_json(), expanded=False)
    if not m.records:
        st.info(
            "no metric records loaded: start the dashboard with --metrics FILE (JSONL of plansim runs, or "
            "WfFormat traces), or add a file in the sidebar"
        )
        return
    st.caption(f"{len(m.records)} records from {len(m.loads)} source(s)")
    records, origins, left_out = data.to_fit(m)
    for src, n in left_out.items():
        st.caption(
            f"left out the {n} simulated (planned) records of {src}, which holds real ones too: fitted on "
            "its real records, as plansim calibrate does (its --keep-simulated fits both)"
        )
    models, report, msg = data.fit(records, origins)
    if msg:
        st.warning(msg)
        return
    import pandas as pd

    rows = data.fit_rows(report)
    st.subheader("fitted models (on the loaded metric records)")
    st.dataframe(pd.DataFrame(rows), width="stretch")
    try:
        from calibration.report import skipped_lines

        for line in skipped_lines(report):
            st.caption(line)
    except ImportError:
        pass
    fitted = [r for r in report.rows if len(r.observed) and len(r.predicted)]
    if fitted:
        pick = st.selectbox("observed vs predicted", [r.model for r in fitted], key="cal_model")
        st.plotly_chart(observed_vs_predicted(next(r for r in fitted if r.model == pick)), width="stretch")
    st.download_button(
        "download the fitted models (JSON)",
        data=__import__("json").dumps(models.to_json(), indent=1),
        file_name="models.json",
        key="cal_download",
    )


# -- plan vs real -----------------------------------------------------------------------------------------
def page_plan_vs_real(settings: data.Settings) -> None:
    st.header("Plan vs real")
    m = load_all(settings)
    show_load_problems(m)
    if not m.records:
        st.info(
            "no metric records loaded: start the dashboard with --metrics FILE holding a real run and its "
            "plan (`plansim validate` writes both), or add a file in the sidebar"
        )
        return
    pr = data.pairing(m.records)
    for msg in pr.messages:
        st.warning(msg)
    if not pr.real_runs and not pr.planned_runs:
        return
    runs = pr.real_runs or pr.planned_runs
    by_id = {r.run_id: r for r in pr.real_runs + pr.planned_runs}

    def label(rid: str | None) -> str:
        if rid is None:
            return "(none)"
        run = by_id[rid]
        return f"{rid} ({run.workflow_name or run.workflow_type}, {run.planner}, {len(run.tasks)} tasks)"

    real_id = st.selectbox(
        "real run" if pr.real_runs else "run (no real runs: comparing against nothing)",
        [r.run_id for r in runs],
        format_func=label,
        key="pvr_real",
    )
    real = by_id[real_id]
    candidates = [p for p in pr.planned_runs if p is not real]
    default = data.default_plan_for(real, candidates) if pr.real_runs else None
    options = [None] + [p.run_id for p in candidates]
    idx = options.index(default.run_id) if default is not None else 0
    planned_id = st.selectbox(
        "planned run", options, index=idx, key=f"pvr_planned_{real_id}", format_func=label
    )
    planned = by_id[planned_id] if planned_id is not None else None
    real_recs = data.records_of(m.records, real.run_id) if real is not None and pr.real_runs else []
    plan_recs = data.records_of(m.records, planned.run_id) if planned is not None else []
    edges = None
    ref = real or planned
    if ref is not None and ref.workflow_type:
        seen = next((s for s in data.seen_types(m.records) if s.workflow_type == ref.workflow_type), None)
        if seen is not None:
            wf, note = _resolve(seen)
            if wf is None:  # the runs' names are not enough: the user names the parameters, as on what-if
                st.caption(f"DAG not drawn: {note}")
                spec = st.text_input(
                    "its parameters (NAME:k=v,...), to draw the DAG",
                    placeholder=f"{(seen.names or ['NAME'])[0]}:k=v,...",
                    key="pvr_spec",
                )
                if spec:
                    wf, note = _resolve(seen, spec)
                    (st.caption if wf is not None else st.warning)(note)
            if wf is not None:
                edges = list(wf.graph.edges)
    cmp = compare_runs(plan_recs, real_recs, edges=edges)
    for p in cmp.problems:
        st.error(p)
    for n in cmp.notes:
        st.caption(n)
    import pandas as pd

    if cmp.overall:
        st.subheader("overall")
        st.dataframe(
            pd.DataFrame([{"metric": k, **cmp.overall[k]} for k in RUN_METRICS if k in cmp.overall]),
            width="stretch",
        )
    if cmp.comparable:
        st.subheader("general percentage offset of each prediction")
        off = cmp.offsets()
        st.dataframe(pd.DataFrame([{"prediction": k, **v} for k, v in off.items()]), width="stretch")
        st.caption(
            f"start-up state agrees on {int(cmp.startup_agreement()['same'])}/{len(cmp.joined())} tasks; "
            f"worker (the same tasks together) on {int(cmp.worker_agreement()['same'])}/{len(cmp.joined())}"
        )
    cols = st.columns(2)
    sides = [(cmp.planned_data, "planned"), (cmp.real_data, "real")]
    ends = [t.end_ms for d, _ in sides if d is not None for t in d.tasks.values()]
    order, real_order, real_colours = paired_rows(cmp)  # a real worker beside its plan's, not by name
    rows_of = {"planned": (order, None), "real": (real_order, real_colours)}
    for col, (d, name) in zip(cols, sides, strict=True):
        if d is not None and d.tasks:
            col.plotly_chart(
                gantt_figure(gantt_rows_from_run(d), f"{name}: {d.run_id}", max(ends), *rows_of[name]),
                width="stretch",
                key=f"pvr_gantt_{name}",
            )
        else:
            col.info(f"no {name} task records")
    if edges is not None:
        worker_of = {}  # task -> (worker, the name its colour is drawn for): the real side's if any
        for d, name in sides:
            if d is not None:
                colours = rows_of[name][1] or {}
                worker_of.update(
                    {t: (x.worker_id, colours.get(x.worker_id, x.worker_id)) for t, x in d.tasks.items()}
                )
        nodes = {t: {"colour": worker_colour(c), "hover": f"{t} on {w}"} for t, (w, c) in worker_of.items()}
        st.plotly_chart(
            dag_figure(
                edges,
                nodes,
                cmp.planned_critical_path,
                cmp.real_critical_path,
                "DAG coloured by worker (yellow: planned critical path, red: real)",
            ),
            width="stretch",
            key="pvr_dag",
        )
    if cmp.tasks:
        st.subheader("per task")
        df = pd.DataFrame(cmp.task_table())
        err_cols = [f"err_{m}_pct" for m in TASK_METRICS]

        def red(v):  # noqa: ANN001, ANN202
            return "color: #b00; font-weight: bold" if isinstance(v, float) and abs(v) > 70 else ""

        st.dataframe(df.style.map(red, subset=err_cols), width="stretch")
    from sim.compare.report import build_report

    if cmp.planned_data is not None or cmp.real_data is not None:
        st.download_button(
            "download the HTML report",
            build_report([cmp], edges),
            file_name="plan_vs_real.html",
            key="pvr_report",
        )


# -- live -------------------------------------------------------------------------------------------------
def _reader(settings: data.Settings):
    reader = st.session_state.get("live_reader")  # tests and embedders inject a reader here
    if reader is not None:
        return reader, None
    url = settings.redis or os.environ.get("PLANSIM_REDIS_URL", "")
    if url:  # given on the command line: shown without its password
        from runtime.services import masked_url

        st.caption("Redis: " + masked_url(url))
    else:
        url = st.text_input("Redis URL of the runtime", "", key="live_url", type="password")
    if not url:
        return None, "give the runtime's Redis URL (plansim dashboard --redis URL)"
    try:
        from sim.dashboard.live import RedisLiveReader

        return RedisLiveReader(url), None
    except Exception as exc:  # noqa: BLE001
        return None, f"cannot connect to {url}: {exc}"


def page_live(settings: data.Settings) -> None:
    from sim.dashboard.live import STATE_COLOUR

    st.header("Live: a running workflow")
    reader, msg = _reader(settings)
    if reader is None:
        st.info(msg)
        return
    try:
        runs = reader.runs()
    except Exception as exc:  # noqa: BLE001
        st.error(f"cannot list runs: {type(exc).__name__}: {exc}")
        return
    if not runs:
        st.info("no run in progress (a run's keys are removed when it ends)")
        return
    run = st.selectbox("run", runs, key="live_run")
    colour_by = st.radio("colour by", ["state", "worker"], horizontal=True, key="live_colour")
    auto = st.checkbox(
        "refresh every 2 s", value=not st.session_state.get("live_static", False), key="live_auto"
    )

    @st.fragment(run_every=2.0 if auto else None)
    def view() -> None:
        try:
            snap = reader.snapshot(run)
        except Exception as exc:  # noqa: BLE001
            st.error(f"cannot read run {run}: {type(exc).__name__}: {exc}")
            return
        for p in snap.problems:
            st.warning(p)
        counts = snap.counts()
        c = st.columns(5)
        for col, (k, v) in zip(c, counts.items(), strict=False):
            col.metric(k, v)
        c[4].metric("executed (progress)", snap.progress)
        if snap.error:
            st.error(f"the run failed: task {snap.error.get('task')} on worker {snap.error.get('worker')}")
        nodes = {}
        for t, lt in snap.tasks.items():
            colour = (
                STATE_COLOUR[lt.state]
                if colour_by == "state"
                else worker_colour(lt.worker or lt.planned_worker or "?")
            )
            nodes[t] = {
                "colour": colour,
                "hover": f"{t} ({lt.function}): {lt.state}, worker {lt.worker or lt.planned_worker or 'flexible'}",
            }
        event = st.plotly_chart(
            dag_figure(snap.edges, nodes, title=f"{snap.workflow or run} ({snap.planner or '?'})"),
            width="stretch",
            on_select="rerun",
            selection_mode="points",
            key="live_dag",
        )
        clicked = None
        try:
            pts = event.selection.points if event else []
            if pts:
                clicked = pts[0].get("customdata")
        except AttributeError:
            pass
        ids = list(snap.tasks)
        if not ids:
            st.info("no tasks known for this run yet")
            return
        if clicked in ids:
            st.session_state["live_task"] = clicked
        task = st.selectbox("task (or click it in the DAG)", ids, key="live_task")
        lt = snap.tasks[task]
        st.subheader(f"task {task}")
        st.json(lt.details())
        st.caption("log")
        st.code("\n".join(lt.logs) if lt.logs else "(no log lines for this task)", language=None)

    view()


def main() -> None:
    st.set_page_config(page_title="plansim", layout="wide")
    settings = data.Settings.from_env()
    page = sidebar(settings)
    {
        "what-if": page_what_if,
        "calibration": page_calibration,
        "plan-vs-real": page_plan_vs_real,
        "live": page_live,
    }[page](settings)


main()
