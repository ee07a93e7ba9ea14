"""WfFormat import (every shared WfInstances trace), export, round trip, schema validation, bad input."""

from __future__ import annotations

import copy
import json
import lzma

import pytest

from sim.workflow import WorkflowError
from sim.workflow.dag import from_edges
from sim.workflow.shared_data import shared_data_dir
from sim.workflow.wfformat import load_wfformat, schema_path, to_wfformat, validate_wfformat

from .conftest import instance_files

FILES = instance_files()


def test_instances_are_there():
    assert len(FILES) == 167


def _raw(path):
    with lzma.open(path, "rt") as fh:
        return json.load(fh)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(p.parents[1])) for p in FILES])
def test_import_wfinstance(path):
    raw = _raw(path)
    spec = raw["workflow"]["specification"]
    wf = load_wfformat(path)
    assert len(wf) == len(spec["tasks"])
    edges = {(p, t["id"]) for t in spec["tasks"] for p in t["parents"]}
    edges |= {(t["id"], c) for t in spec["tasks"] for c in t["children"]}
    assert wf.graph.number_of_edges() == len(edges)
    # every task has its recorded runtime; the makespan covers at least the critical path of runtimes
    assert all(s.runtime_ms is not None for s in wf.tasks.values())
    _, cp = wf.critical_path()
    assert wf.recorded_makespan_ms is not None
    assert wf.recorded_makespan_ms >= cp - 1e-6
    # files produced by a parent and read by a child are that edge's bytes
    sizes = {f["id"]: f["sizeInBytes"] for f in spec.get("files", [])}
    tasks = {t["id"]: t for t in spec["tasks"]}
    for u, v, b in list(wf.graph.edges(data="bytes"))[:50]:
        shared = set(tasks[u].get("outputFiles", [])) & set(tasks[v].get("inputFiles", []))
        assert b == sum(sizes[f] for f in shared)


@pytest.mark.parametrize("path", FILES[::20], ids=lambda p: p.name)
def test_round_trip_wfinstance(path):
    wf = load_wfformat(path)
    doc = to_wfformat(wf, validate=len(wf) < 300)  # jsonschema takes seconds on the big ones
    back = load_wfformat(doc)
    _assert_same(wf, back)
    assert back.machines.keys() == wf.machines.keys()


def _assert_same(a, b):
    assert set(a.tasks) == set(b.tasks)
    assert dict(a.graph.edges.items()) == dict(b.graph.edges.items())
    for tid, s in a.tasks.items():
        t = b.task(tid)
        assert (s.function, s.stored_input_bytes) == (t.function, t.stored_input_bytes), tid
        assert (s.output_bytes or 0) == (t.output_bytes or 0), tid
        assert s.runtime_ms == pytest.approx(t.runtime_ms), tid
    assert a.type_hash() == b.type_hash()
    if a.recorded_makespan_ms is not None:
        assert b.recorded_makespan_ms == pytest.approx(a.recorded_makespan_ms)


def test_round_trip_partial_reads_and_stored_inputs():
    wf = from_edges(
        "parts",
        [("a-0", "b-0", 10), ("a-0", "c-0", 30), ("a-0", "d-0", 0), ("b-0", "c-0", 5)],
        runtimes_ms={"a-0": 1.0, "b-0": 2.0, "c-0": 3.0, "d-0": 4.0},
    )
    wf.task("a-0").output_bytes = 50
    wf.task("a-0").stored_input_bytes = 1234
    wf.task("b-0").output_bytes = 5
    back = load_wfformat(to_wfformat(wf))
    _assert_same(wf, back)
    assert back.task("a-0").output_bytes == 50


def test_export_is_valid_and_schema_is_found():
    assert schema_path().is_file()
    doc = to_wfformat(from_edges("x", [("a", "b", 1)], runtimes_ms={"a": 1.0, "b": 2.0}))
    validate_wfformat(doc)
    assert doc["schemaVersion"] == "1.5"
    assert doc["workflow"]["execution"]["makespanInSeconds"] == pytest.approx(0.003)
    bad = copy.deepcopy(doc)
    del bad["workflow"]["specification"]["tasks"][0]["parents"]
    with pytest.raises(WorkflowError, match="parents"):
        validate_wfformat(bad)


def test_bundled_schema_copy_matches_shared():
    from pathlib import Path

    import sim.workflow.wfformat as m

    bundled = Path(m.__file__).parent / "schemas" / m.SCHEMA_NAME
    shared = shared_data_dir() / m.SCHEMA_NAME
    assert json.loads(bundled.read_text()) == json.loads(shared.read_text())


def test_flat_legacy_layout():
    doc = {
        "name": "old",
        "schemaVersion": "1.3",
        "workflow": {
            "makespan": 10,
            "jobs": [
                {
                    "name": "a_1",
                    "type": "compute",
                    "runtime": 2,
                    "parents": [],
                    "children": ["b_2"],
                    "files": [
                        {"link": "input", "name": "in", "size": 1},
                        {"link": "output", "name": "x", "size": 2},
                    ],
                },
                {
                    "name": "b_2",
                    "type": "compute",
                    "runtime": 3,
                    "parents": ["a_1"],
                    "children": [],
                    "files": [{"link": "input", "name": "x", "size": 2}],
                },
            ],
        },
    }
    wf = load_wfformat(doc)
    assert wf.edge_bytes("a_1", "b_2") == 2048
    assert wf.task("a_1").stored_input_bytes == 1024
    assert wf.task("b_2").function == "b"
    assert wf.recorded_makespan_ms == 10_000


def _doc(tasks, files=(), runtimes=None):
    doc = {
        "name": "t",
        "schemaVersion": "1.5",
        "workflow": {"specification": {"tasks": tasks, "files": list(files)}},
    }
    if runtimes:
        doc["workflow"]["execution"] = {
            "makespanInSeconds": 1,
            "executedAt": "now",
            "tasks": [{"id": k, "runtimeInSeconds": v} for k, v in runtimes.items()],
        }
    return doc


def _t(tid, parents=(), children=(), inputs=(), outputs=()):
    return {
        "name": tid,
        "id": tid,
        "parents": list(parents),
        "children": list(children),
        "inputFiles": list(inputs),
        "outputFiles": list(outputs),
    }


BAD = {
    "cycle": (_doc([_t("a", ["b"], ["b"]), _t("b", ["a"], ["a"])]), "cycle"),
    "dangling parent": (_doc([_t("a", ["ghost"])]), "task 'a': parents lists unknown task 'ghost'"),
    "dangling child": (_doc([_t("a", [], ["ghost"])]), "task 'a': children lists unknown task 'ghost'"),
    "undeclared file": (
        _doc([_t("a", inputs=["f.txt"])]),
        "task 'a': inputFiles references undeclared file 'f.txt'",
    ),
    "negative size": (
        _doc([_t("a", outputs=["f"])], [{"id": "f", "sizeInBytes": -3}]),
        "file 'f': sizeInBytes",
    ),
    "negative runtime": (_doc([_t("a")], runtimes={"a": -1.0}), "task 'a': runtimeInSeconds"),
    "unknown execution task": (_doc([_t("a")], runtimes={"zz": 1.0}), "unknown task 'zz'"),
    "no workflow": ({"name": "x"}, "missing object field 'workflow'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_documents(case):
    doc, message = BAD[case]
    with pytest.raises(WorkflowError) as err:
        load_wfformat(doc)
    assert message in str(err.value)
