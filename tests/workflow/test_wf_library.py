"""Known workflow types: shapes and sizes as in the reference, real code with checked answers, recipes."""

from __future__ import annotations

import functools
import time
from collections import Counter

import numpy as np
import pytest

from sim.workflow import WorkflowError
from sim.workflow.known import gemm, image_transform, montage_like, text_analysis, tree_reduction, wordcount
from sim.workflow.library import get_type, load_workflow, parse_spec, workflow_types
from sim.workflow.local import run_local
from sim.workflow.wfformat import load_wfformat, to_wfformat

MB = 1_000_000


@functools.cache
def _default(name):
    """Reference-size builds are shared by the tests that only read them."""
    return load_workflow(name)


def _depth(wf):
    return 1 + max(wf.levels().values())


def _only_sink(wf, results):
    (sink,) = wf.sinks
    return results[sink]


# -- shapes and simulation sizes at the reference defaults -------------------------------------------------
@pytest.mark.parametrize(
    "name, tasks, depth",
    [
        ("tree_reduction", 63, 6),
        ("gemm", 17, 2),
        ("image_transform", 130, 8),
        ("text_analysis", 59, 7),
        ("wordcount", 32, 6),
        ("montage_like", 21, 3),
        ("fixed_times", 16, 6),
    ],
)
def test_reference_shapes(name, tasks, depth):
    wf = _default(name)
    assert len(wf) == tasks and _depth(wf) == depth
    for tid, spec in wf.tasks.items():
        assert spec.output_bytes is not None and spec.runtime_ms is not None, tid
        assert spec.call is not None
        for p in wf.parents(tid):
            assert wf.edge_bytes(p, tid) == wf.task(p).output_bytes
    # exports as valid WfFormat and comes back with the same sizes
    back = load_wfformat(to_wfformat(wf))
    assert back.type_hash() == wf.type_hash()
    assert back.total_edge_bytes() == wf.total_edge_bytes()


def test_gemm_reference_sizes():
    wf = _default("gemm")
    mult = [s for s in wf.tasks.values() if s.function == "multiply_chunks"]
    assert len(mult) == 16
    for s in mult:
        assert s.output_bytes == pytest.approx(2 * MB, rel=0.01)  # a 500x500 int64 block
        assert s.stored_input_bytes == pytest.approx(16 * MB, rel=0.01)  # two 8 MB blocks
        assert 3000 < s.runtime_ms < 9000
    assert wf.meta["stored_data"] and len(wf.meta["stored_data"]) == 8  # 8 distinct blocks, uploaded once
    (agg,) = [s for s in wf.tasks.values() if s.function == "aggregate_results"]
    assert agg.output_bytes == pytest.approx(32 * MB, rel=0.01)


def test_image_transform_reference_sizes():
    wf = _default("image_transform")
    split = wf.task("split_image-0")
    assert split.runtime_ms >= 9000
    assert split.stored_input_bytes == pytest.approx(18 * MB, rel=0.01)
    assert wf.edge_bytes("split_image-0", "get_chunk-0") == pytest.approx(18 * MB, rel=0.01)
    assert wf.task("get_chunk-0").output_bytes == pytest.approx(1.125 * MB, rel=0.01)
    assert wf.task("edge_detect_chunk-0").output_bytes == pytest.approx(0.375 * MB, rel=0.01)
    assert wf.max_width() == 32


def test_text_analysis_shape():
    wf = _default("text_analysis")
    funcs = Counter(s.function for s in wf.tasks.values())
    assert funcs["word_count_chunk"] == 32 and funcs["analyze_segment"] == 16
    assert len(wf.parents("merge_segment_analyses-0")) == 20
    assert len(wf.parents("final_comprehensive_report-0")) == 3
    # the text is one object: stored once, read by the 32 roots and the merge
    assert len(wf.meta["stored_data"]) == 1


# -- real code, run in-process, answers checked ---------------------------------------------------------
def test_tree_reduction_runs():
    for leaves in (2, 7, 64):
        wf = load_workflow(f"tree_reduction:leaves={leaves}")
        assert _only_sink(wf, run_local(wf)) == tree_reduction.expected(leaves)


def test_gemm_runs():
    wf = load_workflow("gemm:n=90,blocks=4,seed=3")
    assert len(wf) == 17
    got = _only_sink(wf, run_local(wf))
    np.testing.assert_array_equal(got, gemm.expected(90, 4, 3).astype(np.float64))
    a, b = gemm.matrices(90, 3)
    np.testing.assert_array_equal(got, (a @ b).astype(np.float64))


def test_wordcount_runs():
    wf = load_workflow("wordcount:chunks=16,words=5000,seed=2")
    report = _only_sink(wf, run_local(wf))
    want = wordcount.expected(words=5000, seed=2)
    assert report["total"] == sum(want.values()) == 5000
    assert report["unique"] == len(want)
    assert report["top"] == sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    counts = run_local(wf)["merge_counts-14"]
    assert counts == dict(want)


def test_image_transform_runs():
    wf = load_workflow("image_transform:chunks=4,height=60,width=80,sleep_s=0")
    assert len(wf) == 1 + 8 * 4 + 1
    got = _only_sink(wf, run_local(wf))
    assert got.shape == (60, 80, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, image_transform.expected(chunks=4, height=60, width=80))


def test_text_analysis_runs():
    wf = load_workflow("text_analysis:words=3000,chunks=8,window=100,segments=4")
    results = run_local(wf)
    report = _only_sink(wf, results)
    want = text_analysis.expected(chunks=8, window=100, segments=4, words=3000)
    assert report["metrics"]["total_words"] == want["total_words"]
    assert report["metrics"]["segments"] == 4
    assert results["merge_word_counts-0"][0] == want["counted_words"] == 800
    assert results["compute_text_statistics-0"]["total_words"] == want["total_words"]


def test_montage_like_runs():
    wf = load_workflow("montage_like:files=3,tile=20,mosaic=40")
    got = _only_sink(wf, run_local(wf))
    np.testing.assert_allclose(got, montage_like.expected(files=3, tile=20, mosaic=40), equal_nan=True)


def test_fixed_times_runs():
    wf = load_workflow("fixed_times:sleep_s=0")
    assert _only_sink(wf, run_local(wf, keep="sinks")) == 15
    assert wf.critical_path()[0][-1] == "join-0"


# -- naming and parameters ------------------------------------------------------------------------------
def test_parse_and_errors():
    assert parse_spec("gemm:n=200, blocks=2") == ("gemm", {"n": "200", "blocks": "2"})
    assert set(workflow_types()) >= {
        "tree_reduction",
        "gemm",
        "image_transform",
        "text_analysis",
        "wordcount",
        "montage_like",
        "montage",
        "epigenomics",
        "cycles",
        "seismology",
        "blast",
        "bwa",
        "genome",
        "soykb",
        "srasearch",
    }
    for bad, message in [
        ("gemn", "unknown workflow 'gemn'; did you mean 'gemm'"),
        ("gemm:size=3", "no parameter 'size'"),
        ("gemm:n=abc", "parameter 'n' expects int"),
        ("gemm:n=0", "parameter 'n' must be >= 1"),
        # one to three of 29 syllables make 25,259 words: a larger vocabulary used to loop forever
        ("wordcount:vocab=50000", "parameter 'vocab' must be <= 25259, got 50000"),
        ("dynamic_wordcount:vocab=25260", "parameter 'vocab' must be <= 25259"),
        ("gemm:n", "is not key=value"),
        ("gemm:n=1,n=2", "given twice"),
        ("/no/such/file.json", "no such workflow file"),
    ]:
        with pytest.raises(WorkflowError, match=message.replace("(", r"\(")):
            load_workflow(bad)
    assert get_type("1000genome").name == "genome"


# -- WfCommons recipes ----------------------------------------------------------------------------------
RECIPES = ["montage", "epigenomics", "cycles", "seismology", "blast", "bwa", "genome", "soykb", "srasearch"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_wfcommons_recipe(recipe):
    from sim.workflow.wfcommons import min_tasks

    low = min_tasks(recipe)
    wf = load_workflow(f"{recipe}:tasks={low + 20},seed=1")
    assert low <= len(wf) <= low + 20
    assert wf.graph.number_of_edges() > 0
    assert all(s.runtime_ms is not None and s.output_bytes is not None for s in wf.tasks.values())
    assert wf.total_edge_bytes() > 0
    with pytest.raises(WorkflowError, match=f"must be >= {low}"):
        load_workflow(f"{recipe}:tasks={low - 1}")


def test_wfcommons_generation_is_deterministic_for_a_seed():
    from sim.workflow.wfcommons import _generate

    def shape(doc):
        wf = load_wfformat(doc)
        return (
            wf.type_hash(),
            sorted(wf.graph.edges(data="bytes")),
            sorted((t, s.runtime_ms, s.output_bytes) for t, s in wf.tasks.items()),
        )

    a, b = _generate("epigenomics", 60, 5), _generate("epigenomics", 60, 5)
    assert shape(a) == shape(b)


def test_montage_1000_shows_fast_from_cache():
    from sim.workflow.cli import show_data

    load_workflow("montage:tasks=1000")  # generate (or find) the cached instance
    start = time.process_time()  # CPU time: the test machine is shared, wall time is not ours
    wf = load_workflow("montage:tasks=1000")
    data = show_data(wf)
    elapsed = time.process_time() - start
    assert 900 <= data["tasks"] <= 1000
    assert elapsed < 2.0


def test_task_calls_survive_cloudpickle():
    """Workers receive TaskCall objects through cloudpickle; every known type's calls must survive it."""
    import pickle

    import cloudpickle

    from sim.workflow.language import resolve_refs

    for spec in [
        "tree_reduction:leaves=4",
        "gemm:n=12,blocks=2",
        "wordcount:words=300",
        "image_transform:chunks=2,height=8,width=8,sleep_s=0",
        "text_analysis:words=400",
        "montage_like:files=2,tile=4,mosaic=8",
        "fixed_times:sleep_s=0",
    ]:
        wf = load_workflow(spec)
        results = {}
        for t in wf.topological_order():
            call = pickle.loads(cloudpickle.dumps(wf.task(t).call))
            results[t] = call.fn(*resolve_refs(call.args, results), **resolve_refs(call.kwargs, results))
        direct = run_local(wf)
        for sink in wf.sinks:
            assert repr(results[sink]) == repr(direct[sink]), spec
