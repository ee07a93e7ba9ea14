"""Dynamic fan-outs in the language and the model: one node in the DAG, expanded by the real length."""

from __future__ import annotations

import pytest

from sim.workflow import Workflow, fan_out, task
from sim.workflow import dynamic as dyn
from sim.workflow.local import run_local
from sim.workflow.wfformat import load_wfformat, to_wfformat


@task
def upto(n):
    return list(range(n))


@task
def square(x, plus=0):
    return x * x + plus


@task
def repeat(x):
    return [x] * x


@task
def total(xs):
    return sum(xs)


@task
def count(xs):
    return len(xs)


def pipeline(n: int, flatten: bool = True, hint: int | None = None) -> Workflow:
    """upto(n) -> repeat per item (a list each) -> square per item of that -> total: a chain of two."""
    nested = fan_out(repeat, upto(n), width_hint=hint, flatten=flatten)
    squares = square.map(nested, plus=1) if flatten else count.map(nested)
    return Workflow.from_nodes(total(squares), name="chain")


def answer(n: int, flatten: bool = True) -> int:
    if flatten:
        return sum((x * x + 1) * x for x in range(n))
    return sum(range(n))


@pytest.mark.parametrize("n", [0, 1, 2, 7])
@pytest.mark.parametrize("flatten", [True, False])
def test_chain_of_two_dynamic_fan_outs_gives_the_answer(n, flatten):
    wf = pipeline(n, flatten)
    assert len(wf) == 4  # the static DAG does not depend on the width
    out = run_local(wf)
    assert out["total-0"] == answer(n, flatten)
    first = dyn.copy_id("repeat-0", 0)
    assert (first in out) == (n > 0)
    assert out["repeat-0"] == (
        [x for i in range(n) for x in [i] * i] if flatten else [[i] * i for i in range(n)]
    )


def test_width_zero_gives_the_fan_in_an_empty_list():
    wf = Workflow.from_nodes(count(square.map(upto(0))))
    out = run_local(wf)
    assert out["square-0"] == []
    assert out["count-0"] == 0
    assert not any(dyn.node_of_copy(t) for t in out)


def test_fan_out_and_map_are_the_same_node():
    a = fan_out(square, upto(3), width_hint=5, plus=2)
    b = square.map(upto(3), width_hint=5, plus=2)
    wa, wb = Workflow.from_nodes(total(a)), Workflow.from_nodes(total(b))
    assert wa.task("square-0").extra["dynamic"] == {"width_hint": 5, "flatten": False}
    assert wa.type_hash() == wb.type_hash()
    assert run_local(wa)["total-0"] == run_local(wb)["total-0"] == 0 + 1 + 4 + 6


def test_type_hash_has_the_dynamic_node_not_its_width():
    assert pipeline(3, hint=2).type_hash() == pipeline(50, hint=9).type_hash()
    static = Workflow.from_nodes(total([square(x) for x in range(3)]))
    mapped = Workflow.from_nodes(total(square.map(upto(3))))
    plain = Workflow.from_nodes(total(square(upto(3))))
    assert len({static.type_hash(), mapped.type_hash(), plain.type_hash()}) == 3


def test_expanded_uses_hints_and_keeps_the_original():
    wf = pipeline(3, hint=4)
    e = dyn.expanded(wf)
    assert e is dyn.expanded(wf)  # cached per workflow
    assert len(wf) == 4 and dyn.dynamic_nodes(wf) == ["repeat-0", "square-0"]
    assert e.meta["dynamic_widths"] == {"repeat-0": 4, "square-0": dyn.DEFAULT_WIDTH}
    assert len(e) == 4 + 4 + dyn.DEFAULT_WIDTH
    assert e.task("repeat-0").function == dyn.GATHER_FUNCTION
    assert sorted(e.parents("repeat-0")) == sorted(dyn.copy_id("repeat-0", i) for i in range(4))
    assert e.parents(dyn.copy_id("square-0", 3)) == ["repeat-0"]
    assert e.children("total-0") == [] and e.parents("total-0") == ["square-0"]
    assert dyn.expanded(wf, {"repeat-0": 0}).parents("repeat-0") == ["upto-0"]
    assert not dyn.dynamic_nodes(e)


def test_wfformat_export_expands_at_the_expected_width():
    wf = pipeline(3, hint=2)
    doc = to_wfformat(wf)
    assert "expanded at widths" in doc["description"]
    back = load_wfformat(doc)
    assert len(back) == 4 + 2 + dyn.DEFAULT_WIDTH
    assert dyn.copy_id("square-0", 7) in back


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: fan_out(square, [1, 2, 3]), "maps over the output of a task"),
        (lambda: fan_out(square, upto(2), upto(3)), "must be plain data"),
        (lambda: square.map(upto(2), width_hint=-1), "width_hint must be an integer >= 0"),
        (lambda: fan_out(len, upto(2)), "maps an @task function"),
    ],
)
def test_bad_fan_outs_say_what_is_wrong(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
