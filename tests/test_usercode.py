"""A planner's own file (FILE.py:CLASS) imports the modules beside it, as ``python FILE.py`` would,
without shadowing an installed module of the same name; a workflow's file does not (its tasks run in
workers, which would not find them): it fails at once, in one line."""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

from sim.cli import main

HELPER = "MEMORY_MB = 4096\n\ndef double(x):\n    return 2 * x\n"

PLANNER = """
from my_helpers_beside import MEMORY_MB
from sim.models.resources import ResourceConfig
from sim.planners.base import Planner


class Beside(Planner):
    def assign(self, wf):
        return {t: ResourceConfig(MEMORY_MB, None) for t in wf.graph}
"""

WORKFLOW = """
from sim.workflow.language import task


@task
def inc(x):
    return x + 1


workflow = inc(inc(1))
"""


def test_a_planner_imports_a_module_beside_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # what the loads add goes with the test
    monkeypatch.delitem(sys.modules, "my_helpers_beside", raising=False)
    (tmp_path / "my_helpers_beside.py").write_text(HELPER)
    (tmp_path / "beside.py").write_text(PLANNER)
    (tmp_path / "flow.py").write_text(WORKFLOW)
    monkeypatch.delitem(sys.modules, "tabnanny", raising=False)  # a standard module, imported below
    (tmp_path / "tabnanny.py").write_text("raise RuntimeError('a file beside must not shadow tabnanny')\n")
    r = CliRunner().invoke(
        main,
        ["simulate", f"{tmp_path}/flow.py:workflow", "--planner", f"{tmp_path}/beside.py:Beside", "--json"],
    )
    assert r.exit_code == 0, r.output  # before: 'No module named my_helpers_beside'
    out = json.loads(r.output)
    assert len(out["tasks"]) == 2 and {t["memory_mb"] for t in out["tasks"]} == {4096}
    import importlib

    assert callable(importlib.import_module("tabnanny").check)
    (tmp_path / "flow2.py").write_text("import my_helpers_beside\n" + WORKFLOW)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    monkeypatch.delitem(sys.modules, "my_helpers_beside", raising=False)
    r = CliRunner().invoke(main, ["simulate", f"{tmp_path}/flow2.py:workflow"])
    assert r.exit_code == 1 and "No module named 'my_helpers_beside' (line 1)" in r.output, r.output


INSTALLED = "def marker():\n    return 'installed'\n"

USES_INSTALLED = """
import fake_installed_review
import my_helpers_beside
from sim.planners.reference import WukongPlanner


class UsesInstalled(WukongPlanner):
    marker = staticmethod(fake_installed_review.marker)
    double = staticmethod(my_helpers_beside.double)
"""


def test_a_package_installed_under_the_planners_folder_travels_by_reference(tmp_path, monkeypatch):
    """A planner file at the root of a clone has the clone's .venv below its folder: the third-party
    modules it imported were taken for modules beside it and pickled by value with its class (a
    sweep's workers got copies; jinja2's broke there: 'TypeError: can't create custom node types').
    Only the modules the folder itself provides (a FILE.py or a package directory in it) go by value."""
    from cloudpickle import cloudpickle as cp

    from sim.planners import get_planner
    from sim.planners.plugins import portable, restore

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(cp, "_PICKLE_BY_VALUE_MODULES", set(cp._PICKLE_BY_VALUE_MODULES))  # the process's
    for name in ("fake_installed_review", "my_helpers_beside"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    site = tmp_path / ".venv" / "lib" / "site-packages"  # where scripts/setup.sh's .venv puts packages
    site.mkdir(parents=True)
    (site / "fake_installed_review.py").write_text(INSTALLED)
    monkeypatch.syspath_prepend(str(site))
    (tmp_path / "my_helpers_beside.py").write_text(HELPER)
    (tmp_path / "uses.py").write_text(USES_INSTALLED)
    cls = type(get_planner(f"{tmp_path}/uses.py:UsesInstalled"))
    registered = set(cp._PICKLE_BY_VALUE_MODULES)
    assert "my_helpers_beside" in registered  # beside the file: by value
    assert "fake_installed_review" not in registered  # before: registered too
    copy = restore(portable(cls))
    assert copy.marker is sys.modules["fake_installed_review"].marker  # by reference: the module's own
    assert copy.double(21) == 42 and copy.double is not sys.modules["my_helpers_beside"].double


def test_a_planner_file_that_fails_to_load_leaves_sys_path_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "broken.py").write_text("raise RuntimeError('half written')\n")
    before = list(sys.path)
    r = CliRunner().invoke(main, ["simulate", "gemm", "--planner", f"{tmp_path}/broken.py:Nothing"])
    assert r.exit_code == 1 and "RuntimeError: half written (line 1)" in r.output, r.output
    assert sys.path == before  # before: the folder stayed on sys.path for the rest of the process
