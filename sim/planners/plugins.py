"""Plug-in planners: a :class:`~sim.planners.base.Planner` subclass from the user's own file or module.

Syntax, wherever a planner is named (``--planner``, ``--planners``, ``plansim planners list SPEC``)::

    FILE.py:CLASS[:key=value...]        e.g.  ./my_planner.py:GreedyPacker:memory_mb=4096
    package.module:CLASS[:key=value...]  e.g.  mypkg.planners:GreedyPacker

A spec is a plug-in when its first ``:``-part is not a built-in planner's name and ends with ``.py``, or
when its second part is a name rather than ``key=value`` (so ``heft:max_workers=4`` stays the built-in
``heft`` with an option). The options go to the class's constructor, as a built-in planner's do.

Planning happens where the command runs: a real run's workers receive the *plan* (placement, memory,
optimizations, the planner's name as a label), never the planner, so a worker container needs neither the
file nor the class. A sweep's worker processes (and Dask workers on other machines) do plan: a class from
a file travels to them by value (cloudpickle), a class from a module by reference (the module must be
importable there, as for any Python code a Dask cluster runs). A file imports the modules beside it
(its folder is on ``sys.path``, last); those travel by value with its class.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pickle
import sys
from pathlib import Path
from typing import Any

from sim.models.plan import Plan
from sim.planners.base import Planner
from sim.usercode import load_file_module, user_error
from sim.workflow.dag import Workflow

# Modules run from files, by resolved path, with the (mtime, size) they were run at: the file's classes
# (``a.py:First,a.py:Second``, or one class asked for by each group of a sweep) come from one run of it,
# as from one import, and its side effects happen once; a file edited since (the dashboard lives long)
# runs again. (A module's classes need no cache of their own: importlib keeps it in sys.modules.)
_FILE_MODULES: dict[str, tuple[tuple[int, int], Any]] = {}


def is_plugin_spec(spec: str, builtin: set[str] | dict[str, Any]) -> bool:
    """Whether ``spec`` names a plug-in (``WHERE:CLASS[:key=value...]``) rather than a built-in planner."""
    parts = [p.strip() for p in spec.strip().split(":")]
    if parts[0] in builtin:
        return False
    return parts[0].endswith(".py") or (len(parts) > 1 and "=" not in parts[1])


def load_plugin(spec: str, cls: type[Planner] | None = None) -> tuple[type[Planner], str]:
    """The class a plug-in spec names and the text of its options (``key=value:...``); ValueError (one
    line) for a missing file, a module that does not import (and why), a missing class or one that is no
    Planner. A ``cls`` already loaded (a sweep's worker gets it by value) is taken as it is."""
    where, _, rest = spec.strip().partition(":")
    cls_name, _, options = rest.partition(":")
    where, cls_name = where.strip(), cls_name.strip()
    if cls is not None:
        return cls, options
    if not cls_name:
        raise ValueError(f"planner {spec.strip()!r}: name the class, as {where}:CLASS")
    file = Path(where) if where.endswith(".py") else None
    module = _import(spec, where, file)
    cls = getattr(module, cls_name, None)
    if cls is None:
        found = [n for n, c in vars(module).items() if _is_planner(c) and c is not Planner]
        hint = f" (its Planner subclasses: {', '.join(found)})" if found else ""
        raise ValueError(f"planner {spec.strip()!r}: {where} has no class {cls_name!r}{hint}")
    if not _is_planner(cls):
        raise ValueError(
            f"planner {spec.strip()!r}: {where}:{cls_name} is not a subclass of sim.planners.base.Planner"
        )
    return cls, options


def _is_planner(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Planner)


def _import(spec: str, where: str, file: Path | None) -> Any:
    if file is not None:
        if not file.is_file():
            raise ValueError(f"planner {spec.strip()!r}: no such file: {where}")
        path, stat = str(file.resolve()), file.stat()
        version = (stat.st_mtime_ns, stat.st_size)
        loaded = _FILE_MODULES.get(path)
        if loaded is not None and loaded[0] == version:
            return loaded[1]
        # One module per file (two files may share a stem); registered for pickling by value, with the
        # modules it imported from beside it, so that a sweep's workers get the class without the files.
        digest = hashlib.sha1(path.encode()).hexdigest()[:8]
        before = set(sys.modules)
        module = load_file_module(file, f"plansim_planner_{file.stem}_{digest}", folder_importable=True)
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
        folder = file.resolve().parent
        for name in sorted(set(sys.modules) - before - {module.__name__}):
            if _beside(sys.modules[name], folder):
                cloudpickle.register_pickle_by_value(sys.modules[name])
        _FILE_MODULES[path] = (version, module)
        return module
    try:
        return importlib.import_module(where)
    except Exception as exc:  # noqa: BLE001 - the user's module: say why, in one line
        origin = getattr(exc, "filename", None) if isinstance(exc, SyntaxError) else None
        why = user_error(exc, Path(origin) if origin else None)
        raise ValueError(
            f"planner {spec.strip()!r}: cannot import module {where!r}: {why} "
            "(a module is found on sys.path: install it, or set PYTHONPATH; or give FILE.py:CLASS)"
        ) from None


# plansim's own top-level packages (pyproject.toml): where a sweep plans, plansim is installed, so a
# planner file in a clone's root (the folder that holds them) imports them as any installed package.
_OWN_PACKAGES = frozenset({"sim", "runtime", "calibration"})


def _beside(module: Any, folder: Path) -> bool:
    """Whether ``module`` is one the planner file's ``folder`` provides as an entry of ``sys.path``: a
    ``NAME.py`` or a package directory ``NAME/`` right in it. Not a package installed below it (a clone's
    ``.venv``, itself found through another ``sys.path`` entry), nor plansim's own."""
    origin = getattr(module, "__file__", None)
    top = module.__name__.partition(".")[0]
    if not origin or top in _OWN_PACKAGES:
        return False
    path = Path(origin).resolve()
    if not path.is_relative_to(folder):
        return False
    return path.relative_to(folder).parts[0] in (top, f"{top}.py")


def construct(cls: type[Planner], spec: str, config: Any, options: dict[str, Any]) -> Planner:
    """``cls(config, **options)``; whatever the user's constructor raises is one line naming the planner."""
    try:
        return cls(config, **options)
    except Exception as exc:  # noqa: BLE001 - their code
        raise ValueError(
            f"planner {spec.strip()!r}: {cls.__name__}(...) failed: {user_error(exc, _source(cls))}"
        ) from None


def checked_plan(planner: Planner, wf: Workflow) -> Plan:
    """``planner.plan(wf)`` of a plug-in, checked: an exception in it, or anything but a valid plan of
    ``wf`` coming back, is one ValueError naming the planner (a built-in planner's plan is valid by its
    own construction, :meth:`Planner.plan`)."""
    name = planner.name
    try:
        plan = planner.plan(wf)
    except Exception as exc:  # noqa: BLE001 - their code (or the simulator on their candidate plan)
        raise ValueError(
            f"planner {name!r}: plan() failed: {user_error(exc, _source(type(planner)))}"
        ) from None
    if not isinstance(plan, Plan):
        raise ValueError(
            f"planner {name!r}: plan() returned {type(plan).__name__}, not a sim.models.plan.Plan"
        )
    extra = sorted(set(plan.configs) - set(wf.graph))
    try:
        if plan.workflow is not wf and set(plan.workflow.graph) != set(wf.graph):
            raise ValueError("its workflow is not the one given to plan()")
        if extra:
            raise ValueError(f"it configures {extra[0]!r}, which is no task of {wf.name!r}")
        plan.validate()
    except ValueError as exc:
        raise ValueError(f"planner {name!r} returned an invalid plan: {exc} (Plan.validate)") from None
    return plan


def _source(cls: type) -> Path | None:
    try:
        return Path(inspect.getfile(cls))
    except (TypeError, OSError):
        return None


def portable(cls: type[Planner]) -> bytes:
    """``cls`` pickled for another process: by value when it came from a file (see the module
    docstring); :func:`restore` undoes it."""
    import cloudpickle

    return cloudpickle.dumps(cls)


def restore(data: bytes) -> type[Planner]:
    return pickle.loads(data)
