"""The library of known workflow types and the ``NAME[:key=value,...]`` syntax that names them.

Each :class:`WorkflowType` is a parameterised generator. The hand-written types (``sim/workflow/known/``)
are built from real ``@task`` functions, so the same workflow can be simulated (per-task sizes and runtime
estimates) and executed (``TaskSpec.call``). The WfCommons recipes (``sim/workflow/wfcommons.py``) are
trace-like: sizes and runtimes only.
"""

from __future__ import annotations

import difflib
import importlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.workflow.dag import Workflow, WorkflowError


@dataclass(frozen=True)
class Param:
    default: Any
    type: type
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class WorkflowType:
    """A named, parameterised workflow generator. ``build(**params) -> Workflow``."""

    name: str
    description: str
    params: dict[str, Param]
    build: Callable[..., Workflow]
    runnable: bool = True  # real Python code behind each task
    aliases: tuple[str, ...] = field(default=())

    def make(self, **overrides: Any) -> Workflow:
        params = self.resolve(overrides)
        wf = self.build(**params)
        wf.params = {**params, **wf.params}
        if not wf.name or wf.name == "workflow":
            wf.name = self.name
        return wf.validate()

    def resolve(self, overrides: dict[str, Any]) -> dict[str, Any]:
        params = {k: p.default for k, p in self.params.items()}
        for key, value in overrides.items():
            if key not in self.params:
                raise WorkflowError(
                    f"workflow {self.name!r} has no parameter {key!r}{_suggest(key, self.params)}"
                    f" (parameters: {', '.join(self.params) or 'none'})"
                )
            params[key] = _convert(self.name, key, value, self.params[key])
        return params

    def signature(self) -> str:
        return ", ".join(f"{k}={p.default}" for k, p in self.params.items())


def _convert(wf_name: str, key: str, value: Any, param: Param) -> Any:
    if isinstance(value, str):
        try:
            if param.type is bool:
                low = value.lower()
                if low not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                value = low in ("1", "true", "yes")
            elif param.type is int:
                value = int(value.replace("_", ""))
            else:
                value = param.type(value)
        except ValueError:
            raise WorkflowError(
                f"workflow {wf_name!r}: parameter {key!r} expects {param.type.__name__}, got {value!r}"
            ) from None
    if isinstance(value, float) and not math.isfinite(value):  # float("nan") and float("inf") parse
        raise WorkflowError(f"workflow {wf_name!r}: parameter {key!r} must be a finite number, got {value}")
    if param.minimum is not None and isinstance(value, (int, float)) and value < param.minimum:
        raise WorkflowError(
            f"workflow {wf_name!r}: parameter {key!r} must be >= {param.minimum}, got {value}"
        )
    if param.maximum is not None and isinstance(value, (int, float)) and value > param.maximum:
        raise WorkflowError(
            f"workflow {wf_name!r}: parameter {key!r} must be <= {param.maximum}, got {value}"
        )
    return value


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


_REGISTRY: dict[str, WorkflowType] = {}
_ALIASES: dict[str, str] = {"1000genome": "genome"}
_RECIPE_NAMES = (
    "montage",
    "epigenomics",
    "cycles",
    "seismology",
    "blast",
    "bwa",
    "genome",
    "soykb",
    "srasearch",
)
# name -> module that registers it; modules are imported only when a type is asked for (fast CLI start)
_KNOWN_MODULES: dict[str, str] = {
    "tree_reduction": "sim.workflow.known.tree_reduction",
    "gemm": "sim.workflow.known.gemm",
    "image_transform": "sim.workflow.known.image_transform",
    "text_analysis": "sim.workflow.known.text_analysis",
    "wordcount": "sim.workflow.known.wordcount",
    "montage_like": "sim.workflow.known.montage_like",
    "fixed_times": "sim.workflow.known.fixed_times",
    "dynamic_wordcount": "sim.workflow.known.dynamic_wordcount",
    **{name: "sim.workflow.wfcommons" for name in _RECIPE_NAMES},
}


def register(wtype: WorkflowType) -> WorkflowType:
    """Add a type to the library (modules call this at import time)."""
    _REGISTRY[wtype.name] = wtype
    for alias in wtype.aliases:
        _ALIASES[alias] = wtype.name
    return wtype


def workflow_types() -> dict[str, WorkflowType]:
    """All known types by name (built-in types first, in a fixed order, then any registered later)."""
    for module in dict.fromkeys(_KNOWN_MODULES.values()):
        importlib.import_module(module)
    ordered = {name: _REGISTRY[name] for name in _KNOWN_MODULES if name in _REGISTRY}
    return {**ordered, **_REGISTRY}


def get_type(name: str) -> WorkflowType:
    name = _ALIASES.get(name, name)
    if name not in _REGISTRY and name in _KNOWN_MODULES:
        importlib.import_module(_KNOWN_MODULES[name])
    if name not in _REGISTRY:
        names = list(dict.fromkeys([*_KNOWN_MODULES, *_REGISTRY, *_ALIASES]))
        raise WorkflowError(
            f"unknown workflow {name!r}{_suggest(name, names)} (see `plansim workflows list`)"
        )
    return _REGISTRY[name]


def parse_spec(text: str) -> tuple[str, dict[str, str]]:
    """``"gemm:n=200,blocks=2"`` -> ``("gemm", {"n": "200", "blocks": "2"})``."""
    name, _, rest = text.strip().partition(":")
    params: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise WorkflowError(f"workflow {name!r}: parameter {item!r} is not key=value")
        if key.strip() in params:
            raise WorkflowError(f"workflow {name!r}: parameter {key.strip()!r} given twice")
        params[key.strip()] = value.strip()
    if not name:
        raise WorkflowError(f"no workflow name in {text!r}")
    return name, params


def _looks_like_path(text: str) -> bool:
    if text.endswith((".json", ".json.xz", ".xz")) or os.sep in text or (os.altsep and os.altsep in text):
        return True
    name = text.partition(":")[0]
    known = name in _KNOWN_MODULES or name in _REGISTRY or name in _ALIASES
    return not known and Path(text).exists()  # a folder too: load_workflow names it as one


def is_python_spec(text: str) -> bool:
    """``FILE.py:NAME`` or ``FILE.py``: a workflow defined in the user's own Python file."""
    return ".py:" in text or text.endswith(".py")


def load_python(spec: str) -> Workflow:
    """The workflow of ``FILE.py[:NAME]``: the file is run as a module and its attribute NAME (default
    ``workflow``) is a sink node of ``@task`` calls, a list of sink nodes, a Workflow, or a function
    returning one of these."""
    from sim.usercode import load_file_module

    path, _, name = spec.partition(":")
    file = Path(path)
    if not file.is_file():  # as the user typed it, not as a resolved path
        raise WorkflowError(f"no such file: {path}")
    module = load_file_module(file, f"plansim_user_{file.stem}", WorkflowError)  # tasks pickle by reference
    obj = getattr(module, name or "workflow", None)
    if obj is None:
        raise WorkflowError(f"{path} has no attribute {name or 'workflow'!r}")
    if callable(obj) and not isinstance(obj, Workflow) and not hasattr(obj, "upstream"):
        from sim.usercode import user_error

        try:
            obj = obj()
        except Exception as exc:
            raise WorkflowError(f"{path}: {name or 'workflow'}() failed: {user_error(exc, file)}") from None
    if isinstance(obj, Workflow):
        return obj
    nodes = obj if isinstance(obj, (list, tuple)) else [obj]
    return Workflow.from_nodes(*nodes, name=file.stem)


def load_workflow(text: str | os.PathLike[str]) -> Workflow:
    """A workflow named ``NAME[:key=value,...]`` (see ``plansim workflows list``), a WfFormat file path,
    or ``FILE.py[:NAME]`` (:func:`load_python`)."""
    text = os.fspath(text)
    if is_python_spec(text):
        return load_python(text)
    if _looks_like_path(text):
        if os.path.isdir(text):  # as typed: read as a file, it was '[Errno 21] Is a directory'
            raise WorkflowError(
                f"{text} is a folder, not a workflow (a WfFormat .json or .json.xz file, or FILE.py:NAME)"
            )
        from sim.workflow.wfformat import load_wfformat

        return load_wfformat(text)
    name, params = parse_spec(text)
    return get_type(name).make(**params)
