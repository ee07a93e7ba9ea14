"""Where the shared reference data lives (WfInstances traces, the WfFormat schema).

The project sits beside a ``shared/`` folder (``../shared/data``); a checkout elsewhere (a temporary clone,
a CI work tree) finds it through ``PLANSIM_SHARED_DATA`` or, failing that, at this machine's
``/work/shared/data``.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The first existing of ``$PLANSIM_SHARED_DATA``, ``<repo>/../shared/data`` and ``/work/shared/data``."""
    env = os.environ.get("PLANSIM_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [_REPO.parent / "shared" / "data", Path("/work/shared/data")]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]
