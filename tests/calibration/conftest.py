"""Shared fixtures for calibration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.workflow.shared_data import shared_data_dir

DATA = shared_data_dir() / "wfinstances"


@pytest.fixture(scope="session")
def wfinstances() -> Path:
    if not DATA.exists():
        pytest.skip("shared/data/wfinstances is not available")
    return DATA


@pytest.fixture(scope="session")
def hello_trace(wfinstances: Path) -> Path:
    """The development file of the helloworld folder (1st by name)."""
    return sorted((wfinstances / "helloworld").glob("*.json.xz"))[0]
