"""The user's own Python code: a file run as a module, and its errors told in one line that says where.

A workflow (``FILE.py:NAME``, :mod:`sim.workflow.library`) and a plug-in planner (``FILE.py:CLASS``,
:mod:`sim.planners.plugins`) both come from a file the user wrote. Whatever goes wrong in it (a syntax
error, a failed import, an exception in their function) is their mistake to fix, so it is reported as
``Type: message (line N)`` with N a line of *their* file, not as plansim's traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_file_module(
    file: Path, mod_name: str, error: type[Exception] = ValueError, folder_importable: bool = False
) -> ModuleType:
    """Run ``file`` as the module ``mod_name`` and return it; ``error`` (one line) if it cannot be run.

    The module is registered in ``sys.modules`` under ``mod_name``: what it defines (functions, classes,
    dataclasses) then pickles and introspects like any imported module's. With ``folder_importable`` the
    file's folder goes on ``sys.path`` (last, so that a file there named like an installed module shadows
    nothing): the file imports the modules beside it, as ``python FILE.py`` would, except that an
    installed module of the same name wins. A file that fails to load leaves ``sys.path`` as it was.
    Planners run where they are loaded; a workflow's tasks run in workers, which would not find those
    modules, so a workflow file is loaded without."""
    if not file.is_file():
        raise error(f"no such file: {file}")
    module_spec = importlib.util.spec_from_file_location(mod_name, file)
    if module_spec is None or module_spec.loader is None:
        raise error(f"{file} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    folder = str(file.resolve().parent)
    added = folder_importable and folder not in sys.path
    if added:
        sys.path.append(folder)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: one error line that says where, not our traceback
        sys.modules.pop(mod_name, None)
        if added and folder in sys.path:
            sys.path.remove(folder)
        raise error(f"{file} could not be loaded: {user_error(exc, file)}") from None
    return module


def user_error(exc: BaseException, file: Path | None) -> str:
    """``exc`` as ``Type: message (line N)``, N the last line of ``file`` the error passed through."""
    line = exc.lineno if isinstance(exc, SyntaxError) else None
    tb = exc.__traceback__
    target = file.resolve() if file is not None else None
    while tb is not None:
        if target is not None and Path(tb.tb_frame.f_code.co_filename).resolve() == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)  # str() repeats file and line
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{text} (line {line})" if line else text
