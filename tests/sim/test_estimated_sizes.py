"""A known type's output sizes are estimates made before any run (sim.workflow.known._sizes): a predictor
with a fitted output model of a function uses the model instead, and scales the edges it feeds; recorded
sizes (any other workflow) stay as recorded."""

from __future__ import annotations

from sim.models.performance import OutputModel, PerformanceModels
from sim.models.predictor import Predictor
from sim.workflow.dag import ESTIMATED_OUTPUTS
from sim.workflow.known._sizes import Sizes, annotate_sizes
from sim.workflow.library import load_workflow
from tests.sim.helpers import workflow


def _chain():
    """a -> b -> c, every output estimated at 1000 bytes, b's input 40 bytes of its own besides."""
    wf = workflow([("a", "b"), ("b", "c")])
    wf.task("b").inline_bytes = 40
    return annotate_sizes(wf, {f: Sizes(output_bytes=1000) for f in "abc"})


def _fitted(**outputs: float) -> PerformanceModels:
    models = PerformanceModels()
    models.output = {f: OutputModel(k=v, e=0.0) for f, v in outputs.items()}
    return models


def test_a_fitted_output_model_replaces_an_estimate_and_its_edges_follow() -> None:
    wf = _chain()
    assert wf.meta[ESTIMATED_OUTPUTS]
    sizes = Predictor(_fitted(a=400.0)).sizes(wf)
    assert sizes.output_bytes == {"a": 400, "b": 1000, "c": 1000}  # b and c: no fitted model, the estimate
    assert sizes.in_edges["b"] == {"a": 400}
    assert sizes.input_bytes["b"] == 440
    assert sizes.in_edges["c"] == {"b": 1000}


def test_the_estimates_stand_without_fitted_output_models() -> None:
    sizes = Predictor(PerformanceModels()).sizes(_chain())
    assert sizes.output_bytes == {"a": 1000, "b": 1000, "c": 1000}
    assert sizes.in_edges["b"] == {"a": 1000}


def test_recorded_sizes_stand_against_a_fitted_model() -> None:
    wf = _chain()
    del wf.meta[ESTIMATED_OUTPUTS]  # as a recorded trace's sizes
    sizes = Predictor(_fitted(a=400.0)).sizes(wf)
    assert sizes.output_bytes["a"] == 1000
    assert sizes.in_edges["b"] == {"a": 1000}


def test_every_known_type_marks_its_sizes_as_estimates() -> None:
    """wordcount's long instance estimates 400 kB per count table; the real runs wrote 243-331 kB."""
    wf = load_workflow("wordcount:chunks=4,words=1500000,vocab=20000")
    assert wf.meta[ESTIMATED_OUTPUTS]
    chunk = next(t for t in wf.graph if t.startswith("word_count_chunk"))
    merge = next(t for t in wf.graph if t.startswith("merge_counts") and chunk in wf.graph.pred[t])
    assert wf.task(chunk).output_bytes == 400_000
    sizes = Predictor(_fitted(word_count_chunk=243_000.0)).sizes(wf)
    assert sizes.in_edges[merge][chunk] == 243_000
