"""``plansim workflows``: list, show, export, and one clear error line for bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.workflow.wfformat import load_wfformat
from tests.workflow.test_wf_wfformat import BAD


def run(*args):
    return CliRunner().invoke(main, ["workflows", *args])


def test_list():
    r = run("list")
    assert r.exit_code == 0, r.output
    assert "tree_reduction" in r.output and "montage" in r.output
    r = run("list", "--json")
    data = json.loads(r.output)
    gemm = next(t for t in data if t["name"] == "gemm")
    assert gemm["params"]["n"]["default"] == 2000


def test_show_json_and_table():
    r = run("show", "tree_reduction", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert (data["tasks"], data["edges"], data["levels"], data["max_width"]) == (63, 62, 6, 32)
    assert len(data["type_hash"]) == 16 and data["critical_path"]
    r = run("show", "gemm:n=100", "--tasks")
    assert r.exit_code == 0, r.output
    assert "type hash" in r.output and "multiply_chunks-15" in r.output


def test_export_and_show_file(tmp_path):
    out = tmp_path / "tr.json"
    r = run("export", "tree_reduction:leaves=8", "-o", str(out))
    assert r.exit_code == 0, r.output
    wf = load_wfformat(out)
    assert len(wf) == 7
    r = run("show", str(out), "--json")
    assert json.loads(r.output)["tasks"] == 7
    r2 = run("show", "tree_reduction:leaves=8", "--json")
    assert json.loads(r.output)["type_hash"] == json.loads(r2.output)["type_hash"]
    xz = tmp_path / "tr.json.xz"
    assert run("export", "tree_reduction:leaves=8", "-o", str(xz)).exit_code == 0
    assert len(load_wfformat(xz)) == 7


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_give_one_error_line(case, tmp_path):
    """The loader's own messages (test_wf_wfformat.BAD) reach the user as one error line."""
    doc, needle = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    _assert_user_error(run("show", str(path)), needle)


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("nosuchflow", "unknown workflow 'nosuchflow'"),
        ("gemm:size=2", "no parameter 'size'"),
        ("gemm:n=big", "parameter 'n' expects int"),
        ("montage:tasks=5", "must be >= 58"),
    ],
)
def test_bad_names_give_one_error_line(spec, needle):
    _assert_user_error(run("show", spec), needle)


def test_malformed_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x", "workflow": ')
    _assert_user_error(run("show", str(path)), "malformed JSON")
    _assert_user_error(run("export", str(path), "-o", str(tmp_path / "o.json")), "malformed JSON")


def _assert_user_error(result, needle):
    assert result.exit_code != 0
    text = result.output  # click >= 8.2 mixes stderr into output
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert needle in lines[0]
    assert "Traceback" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_show_and_export_a_workflow_with_dynamic_fan_outs(tmp_path):
    r = run("show", "dynamic_wordcount:max_chunks=9", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["tasks"] == 4 and data["dynamic_fan_outs"] == {"split_chunk-0": 5, "count_piece-0": 10}
    out = tmp_path / "dyn.json"
    r = run("export", "dynamic_wordcount:max_chunks=9", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert len(load_wfformat(out)) == 4 + 5 + 10  # expanded at the expected widths
