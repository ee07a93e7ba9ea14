"""Loaders: JSONL metric files, WfFormat traces; bad input is skipped and counted, never a crash."""

from __future__ import annotations

import json
import lzma
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration.loaders import expand, load_inputs, load_jsonl
from calibration.synthetic import synthetic_records
from calibration.traces import TraceError, load_trace
from sim.models.records import RecordError, from_dict, to_dict, write_jsonl

GOOD_TASK = {
    "kind": "task",
    "run_id": "r1",
    "workflow_type": "w",
    "planner": "p",
    "function": "f",
    "task_id": "t1",
    "worker_id": "w1",
    "memory_mb": 1024,
    "cpus": 1.0,
    "input_bytes": 1000,
    "output_bytes": 10,
    "exec_ms": 5.0,
    "downloads": [{"bytes": 1000, "ms": 1.0}],
    "upload": None,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def mutated_records():
    """Valid records with one field replaced, removed, or added."""
    keys = st.sampled_from(sorted(GOOD_TASK) + ["extra_field", "v"])
    return st.tuples(keys, st.sampled_from(["drop", "set"]), json_values).map(_mutate)


def _mutate(args):
    key, op, value = args
    d = dict(GOOD_TASK)
    if op == "drop":
        d.pop(key, None)
    else:
        d[key] = value
    return d


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(mutated_records(), json_values))
def test_from_dict_only_raises_record_error(data) -> None:
    try:
        rec = from_dict(data)
    except RecordError:
        return
    # whatever parsed is finite and non-negative where the schema says so, and round-trips
    d = to_dict(rec)
    for name in ("memory_mb", "cpus", "input_bytes", "output_bytes", "exec_ms"):
        if name in d:
            assert math.isfinite(d[name]) and d[name] >= 0
    # compared as JSON text: an unknown extra field may hold NaN, which is kept but never == itself
    again = to_dict(from_dict(json.loads(json.dumps(d))))
    assert json.dumps(again, sort_keys=True) == json.dumps(d, sort_keys=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(mutated_records().map(json.dumps), st.text(max_size=30), json_values.map(json.dumps)),
        max_size=12,
    ),
    st.binary(max_size=20),
)
def test_jsonl_loader_never_crashes(tmp_path_factory, lines, junk) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "m.jsonl"
    body = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines).encode() + b"\n" + junk
    path.write_bytes(body)
    data = load_jsonl(path)
    report = data.reports[0]
    assert report.loaded == len(data.records) == len(data.origins)
    assert report.loaded + report.skipped <= len(body.splitlines()) + 1
    assert len(report.problems) <= 5


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values)
def test_trace_loader_only_raises_trace_error(tmp_path_factory, doc) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "t.json"
    path.write_text(json.dumps({"workflow": doc} if isinstance(doc, dict) else doc))
    try:
        load_trace(path)
    except TraceError:
        pass


def test_bad_lines_are_counted_with_line_numbers(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    lines = [
        json.dumps(GOOD_TASK),
        json.dumps({**GOOD_TASK, "exec_ms": None}),  # 2: not a number
        '{"kind": "task", "exec_ms": NaN}',  # 3: NaN
        json.dumps({**GOOD_TASK, "input_bytes": -5}),  # 4: negative
        json.dumps({**GOOD_TASK, "kind": "gpu"}),  # 5: unknown kind
        "not json",  # 6
        json.dumps({k: v for k, v in GOOD_TASK.items() if k != "memory_mb"}),  # 7: missing field
        json.dumps({**GOOD_TASK, "custom": {"x": 1}}),  # 8: unknown extra field is kept
    ]
    path.write_text("\n".join(lines) + "\n")
    data = load_jsonl(path)
    rep = data.reports[0]
    assert (rep.loaded, rep.skipped) == (2, 6)
    assert [p.split(":")[1] for p in rep.problems] == ["2", "3", "4", "5", "6"]
    assert data.origins == [f"{path}:1", f"{path}:8"]
    assert data.records[1].extra == {"custom": {"x": 1}}
    assert "missing required field 'memory_mb'" not in " ".join(rep.problems)  # only the first five


def test_huge_integers_are_rejected_not_crashing() -> None:
    with pytest.raises(RecordError):
        from_dict({**GOOD_TASK, "input_bytes": 10**400})
    with pytest.raises(RecordError):
        from_dict({**GOOD_TASK, "kind": ["task"]})


def test_load_inputs_mixes_jsonl_traces_and_folders(tmp_path, hello_trace) -> None:
    write_jsonl(synthetic_records(5, seed=1), tmp_path / "a.jsonl")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "t.json.xz").write_bytes(hello_trace.read_bytes())
    (tmp_path / "sub" / "ignored.txt").write_text("x")
    assert len(expand([str(tmp_path)])) == 2
    data = load_inputs([str(tmp_path)])
    assert len(data.traces) == 1
    assert data.traces[0].application == "pegasus/t"
    assert len(data.records) == 3 * 5 + 2 * 5 + 5  # synthetic tasks + workers + trace tasks
    with pytest.raises(ValueError, match="does not exist"):
        load_inputs([str(tmp_path / "missing.jsonl")])


def test_trace_reader_on_real_file(hello_trace) -> None:
    trace = load_trace(hello_trace)
    assert trace.application == "pegasus/helloworld"
    assert len(trace.tasks) == 5 and trace.makespan_s == pytest.approx(661.0)
    assert trace.cores == 64
    assert all(t.runtime_s > 0 for t in trace.tasks)
    # a chain: every task but the first has one parent
    assert sorted(len(t.parents) for t in trace.tasks) == [0, 1, 1, 1, 1]


def test_trace_errors_are_clear(tmp_path) -> None:
    bad = tmp_path / "bad.json.xz"
    bad.write_bytes(b"not xz")
    with pytest.raises(TraceError, match="bad.json.xz"):
        load_trace(bad)
    cyc = tmp_path / "cyc.json"
    cyc.write_text(
        json.dumps(
            {
                "workflow": {
                    "specification": {
                        "tasks": [
                            {"id": "a", "parents": ["b"], "children": []},
                            {"id": "b", "parents": ["a"], "children": []},
                        ]
                    },
                    "execution": {"tasks": [], "makespanInSeconds": 1},
                }
            }
        )
    )
    with pytest.raises(TraceError, match="cycle"):
        load_trace(cyc)
    xz = tmp_path / "empty.json.xz"
    with lzma.open(xz, "wt") as fh:
        fh.write(json.dumps({"workflow": {"specification": {"tasks": []}}}))
    with pytest.raises(TraceError, match="no tasks"):
        load_trace(xz)


def test_trace_is_read_by_the_wfformat_importer(wfinstances, tmp_path) -> None:
    """One importer: a trace's functions, sizes and DAG are the ones the simulator imports, and a
    gzip copy reads the same."""
    import gzip

    from sim.workflow.wfformat import load_wfformat

    path = sorted((wfinstances / "pegasus" / "montage").glob("*.json.xz"))[0]
    wf = load_wfformat(path)
    trace = load_trace(path)
    assert [t.id for t in trace.tasks] == list(wf.tasks)
    assert [t.function for t in trace.tasks] == [s.function for s in wf.tasks.values()]
    assert [t.input_bytes for t in trace.tasks] == [wf.input_bytes(t) for t in wf.tasks]
    assert sum(len(t.parents) for t in trace.tasks) == wf.graph.number_of_edges()
    assert trace.makespan_s == pytest.approx(wf.recorded_makespan_ms / 1000)
    copy = tmp_path / "montage-copy.json.gz"
    with lzma.open(path, "rb") as src, gzip.open(copy, "wb") as dst:
        dst.write(src.read())
    again = load_trace(copy)
    assert [t.input_bytes for t in again.tasks] == [t.input_bytes for t in trace.tasks]


def test_a_traces_files_add_up_to_its_tasks_bytes(wfinstances, tmp_path) -> None:
    """Each task's file names and the trace's sizes per file give exactly the bytes the importer counts
    (what replay subtracts when it leaves a file out), in both WfFormat layouts."""
    path = sorted((wfinstances / "makeflow" / "blast").glob("*.json.xz"))[0]
    trace = load_trace(path)
    assert trace.file_sizes["nt"] > 0  # blast's database, sized in this run
    for t in trace.tasks:
        assert sum(trace.file_sizes[f] for f in t.files) == t.input_bytes + t.output_bytes, t.id
    assert sum("nt" in t.files for t in trace.tasks) > 1
    flat = {
        "name": "flat",
        "workflow": {
            "makespan": 10,
            "jobs": [
                {"name": "a", "runtime": 1, "files": [{"name": "x", "link": "output", "size": 2}]},
                {
                    "name": "b",
                    "runtime": 1,
                    "parents": ["a"],
                    "files": [
                        {"name": "x", "link": "input", "size": 2},
                        {"name": "db", "link": "input", "sizeInBytes": 0},
                        {"name": "y", "link": "output", "sizeInBytes": 7},
                    ],
                },
            ],
        },
    }
    doc = tmp_path / "flat.json"
    doc.write_text(json.dumps(flat))
    old = load_trace(doc)
    assert [t.files for t in old.tasks] == [("x",), ("x", "db", "y")]
    assert old.file_sizes == {"x": 2048, "db": 0, "y": 7}
    assert [t.input_bytes + t.output_bytes for t in old.tasks] == [2048, 2048 + 7]


def test_trace_with_nan_runtime_is_a_clear_error(hello_trace, tmp_path) -> None:
    with lzma.open(hello_trace, "rt") as fh:
        doc = json.load(fh)
    doc["workflow"]["execution"]["tasks"][0]["runtimeInSeconds"] = math.nan
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(TraceError, match=r"nan.json.*runtimeInSeconds.*finite"):
        load_trace(path)


def test_an_unknown_field_holding_nan_survives_the_round_trip() -> None:
    """The example hypothesis found: unknown fields are kept as they are, NaN included (JSON text
    ``NaN``), and the record reads back the same."""
    rec = from_dict({**GOOD_TASK, "extra_field": float("nan")})
    d = to_dict(rec)
    assert math.isnan(d["extra_field"])
    again = to_dict(from_dict(json.loads(json.dumps(d))))
    assert json.dumps(again, sort_keys=True) == json.dumps(d, sort_keys=True)
