"""The @task language: nodes anywhere in the arguments become edges; everything else is data."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.workflow import IORelation, TaskNode, Workflow, WorkflowError, constant, linear, power, task
from sim.workflow.language import Ref, replace_nodes, resolve_refs
from sim.workflow.local import run_local


@task
def leaf(i):
    return i * 10


@task
def echo(*args, **kwargs):
    return (args, kwargs)


POOL = 6


def structures(max_leaves: int = 12):
    """Nested lists/tuples/dicts of ints, strings, and references to pool nodes (as ('NODE', k))."""
    atoms = st.one_of(
        st.integers(-5, 5),
        st.text(max_size=3),
        st.none(),
        st.integers(0, POOL - 1).map(lambda k: ("NODE", k)),
    )
    return st.recursive(
        atoms,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.dictionaries(st.text(max_size=2), children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


def materialise(value, nodes):
    """Replace ('NODE', k) markers by nodes[k] (a tuple of exactly that shape is the marker)."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "NODE" and isinstance(value[1], int):
        return nodes[value[1]]
    if isinstance(value, list):
        return [materialise(v, nodes) for v in value]
    if isinstance(value, tuple):
        return tuple(materialise(v, nodes) for v in value)
    if isinstance(value, dict):
        return {k: materialise(v, nodes) for k, v in value.items()}
    return value


def markers(value, out):
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "NODE" and isinstance(value[1], int):
        out.append(value[1])
    elif isinstance(value, (list, tuple)):
        for v in value:
            markers(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            markers(v, out)
    return out


def expected_result(value):
    """What the echo task receives: each node replaced by its result (leaf(k) = 10 k)."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "NODE" and isinstance(value[1], int):
        return value[1] * 10
    if isinstance(value, list):
        return [expected_result(v) for v in value]
    if isinstance(value, tuple):
        return tuple(expected_result(v) for v in value)
    if isinstance(value, dict):
        return {k: expected_result(v) for k, v in value.items()}
    return value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    args=st.lists(structures(), max_size=4),
    kwargs=st.dictionaries(st.sampled_from("abcd"), structures(), max_size=3),
)
def test_random_nested_arguments_give_exactly_the_expected_edges(args, kwargs):
    nodes = [leaf(k) for k in range(POOL)]
    call = echo(*materialise(args, nodes), **materialise(kwargs, nodes))
    used = markers(args, []) + markers(list(kwargs.values()), [])
    want = list(dict.fromkeys(used))  # each node once, in order of first appearance
    assert [nodes.index(n) for n in call.upstream] == want

    wf = Workflow.from_nodes(call, *nodes)  # leaves not used are extra sinks
    sink = next(t for t, s in wf.tasks.items() if s.function == "echo")
    assert sorted(wf.parents(sink)) == sorted(f"leaf-{k}" for k in want)
    assert wf.graph.number_of_edges() == len(want)
    assert set(wf.sinks) == {sink} | {f"leaf-{k}" for k in range(POOL) if k not in want}

    results = run_local(wf)
    got_args, got_kwargs = results[sink]
    assert list(got_args) == [expected_result(a) for a in args]
    assert got_kwargs == {k: expected_result(v) for k, v in kwargs.items()}


def test_same_node_twice_is_one_edge_and_fan_out_fan_in():
    a = leaf(1)
    b = echo(a, a, [a, {"x": a}])
    c = echo(a)
    d = echo([b, c], {"b": b})
    wf = Workflow.from_nodes(d)
    assert wf.graph.number_of_edges() == 4  # a->b, a->c, b->d, c->d
    assert wf.parents("echo-0") == ["leaf-0"]
    assert sorted(wf.children("leaf-0")) == ["echo-0", "echo-1"]
    assert sorted(wf.parents("echo-2")) == ["echo-0", "echo-1"]
    res = run_local(wf)
    assert res["echo-0"] == ((10, 10, [10, {"x": 10}]), {})


def test_list_of_lists_and_dict_of_nodes():
    grid = [[leaf(i * 3 + j) for j in range(3)] for i in range(2)]
    named = {f"k{i}": leaf(100 + i) for i in range(2)}
    top = echo(grid, named)
    wf = Workflow.from_nodes(top)
    assert len(wf) == 9 and wf.graph.number_of_edges() == 8
    ((args, _),) = [run_local(wf)["echo-0"]]
    assert args[0] == [[0, 10, 20], [30, 40, 50]]
    assert args[1] == {"k0": 1000, "k1": 1010}


def test_several_sinks_and_deterministic_ids():
    def make():
        x = leaf(1)
        return Workflow.from_nodes(echo(x), echo(x, 2), name="two-sinks")

    w1, w2 = make(), make()
    assert sorted(w1.sinks) == ["echo-0", "echo-1"]
    assert list(w1.tasks) == list(w2.tasks)
    assert w1.type_hash() == w2.type_hash()


def test_refs_round_trip():
    n = leaf(3)
    ids = {n: "leaf-0"}
    value = {"a": [n, (n, 1)], "b": {n} if False else 2}
    replaced = replace_nodes(value, ids)
    assert replaced == {"a": [Ref("leaf-0"), (Ref("leaf-0"), 1)], "b": 2}
    assert resolve_refs(replaced, {"leaf-0": 30}) == {"a": [30, (30, 1)], "b": 2}


def test_hints():
    @task(io=power(0.5, k=2.0), memory_mb=2048, requirements=["numpy>=1.26"])
    def f(x):
        return x

    @task(io="constant")
    def g(x):
        return x

    assert f.hints.io.kind == "power" and f.hints.io.exponent == 0.5
    assert f.hints.io.output_bytes(100.0) == pytest.approx(20.0)
    assert f.hints.memory_mb == 2048 and f.hints.requirements == ("numpy>=1.26",)
    assert linear(2).output_bytes(10) == 20 and constant(7).output_bytes(1e9) == 7
    assert IORelation().output_bytes(5) is None
    assert g.hints.io.kind == "constant"
    node = f(1)
    assert isinstance(node, TaskNode) and f.run(4) == 4
    wf = Workflow.from_nodes(node)
    assert wf.task("f-0").hints.memory_mb == 2048
    with pytest.raises(ValueError):
        task(io="quadratic")(lambda x: x)
    with pytest.raises(ValueError):
        task(memory_mb=0)(lambda x: x)


def test_large_arguments_are_stored_once():
    import numpy as np

    big = np.zeros(100_000)  # 800 KB, above the 300 KB inline budget
    a, b = echo(big, 1), echo(big, 2)
    wf = Workflow.from_nodes(a, b)
    for t in ("echo-0", "echo-1"):
        spec = wf.task(t)
        assert spec.stored_input_bytes >= big.nbytes
        assert spec.inline_bytes < 1000
    assert len(wf.meta["stored_data"]) == 1  # one object, uploaded once


def test_the_inline_budget_is_shared_by_the_whole_workflow():
    # 300 KB for all tasks together, as the reference's DAG-wide budget: two distinct 120 KB arguments
    # fit, the third (in another task) is stored. Keyword arguments count like positional ones.
    wf = Workflow.from_nodes(echo(bytes(120_000)), echo(x=bytes(120_000)), echo(bytes(120_000)))
    stored = [wf.task(f"echo-{i}").stored_input_bytes for i in range(3)]
    assert stored == [0, 0, 120_008]
    assert wf.task("echo-1").inline_bytes == 120_008
    assert list(wf.meta["stored_data"].values()) == [120_008]


def test_from_nodes_rejects_non_nodes():
    with pytest.raises(WorkflowError):
        Workflow.from_nodes()
    with pytest.raises(WorkflowError):
        Workflow.from_nodes(42)  # type: ignore[arg-type]


def test_sets_and_named_tuples_of_nodes():
    from collections import namedtuple

    Pair = namedtuple("Pair", "left right")
    a, b = leaf(1), leaf(2)
    top = echo(frozenset({a, b}), Pair(a, 5))
    wf = Workflow.from_nodes(top)
    assert sorted(wf.parents("echo-0")) == ["leaf-0", "leaf-1"]
    (args, _) = run_local(wf)["echo-0"]
    assert args[0] == frozenset({10, 20})
    assert args[1] == Pair(10, 5) and type(args[1]) is Pair
