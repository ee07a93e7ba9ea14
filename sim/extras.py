"""The optional dependencies: which extra of ``pyproject.toml`` installs each, and the one line that
says so when one is missing.

``bash scripts/demo.sh`` installs only what simulations need; charts, reports, WfCommons workflows,
sweeps, the dashboard and Docker runs import their packages when used. A missing one must be one
``error:`` line naming the command that installs it (not a ``ModuleNotFoundError`` traceback, and not
``pip install 'plansim[...]'``: plansim is not on a package index, so that would fetch nothing or
something else).
"""

from __future__ import annotations

import importlib.util

# Top-level module -> the extra that installs it.
EXTRAS: dict[str, str] = {
    "matplotlib": "plots",
    "plotly": "plots",
    "pandas": "sweep",
    "pyarrow": "sweep",
    "dask": "sweep",
    "distributed": "sweep",
    "streamlit": "dashboard",
    "wfcommons": "wfcommons",
    "docker": "runtime",
}


def install_hint(module: str) -> str:
    """How to install ``module``'s extra, e.g. ``bash scripts/setup.sh installs it (extra 'plots')``."""
    extra = EXTRAS.get(module.partition(".")[0], "all")
    return f"`bash scripts/setup.sh` installs it (extra '{extra}')"


def missing_message(module: str, what: str | None = None) -> str:
    """``what`` (e.g. "an .html Gantt chart") needs ``module``, which is not installed, and the fix."""
    subject = f"{what} needs {module}, which" if what else module
    return f"{subject} is not installed: {install_hint(module)}"


def is_optional(module: str | None) -> bool:
    """Whether ``module`` (a ``ModuleNotFoundError.name``) belongs to an optional dependency."""
    return bool(module) and module.partition(".")[0] in EXTRAS


def missing(modules: tuple[str, ...]) -> str | None:
    """The first of ``modules`` that cannot be imported, or None; found without importing it."""
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):  # a parent package missing, or a module without a spec
            return module
    return None
