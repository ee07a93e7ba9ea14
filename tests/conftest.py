"""Suite-wide: tests that need the Docker engine carry the ``docker`` marker.

A test needs the engine when it uses the ``docker_client`` or ``worker_image`` fixture (directly or through
another fixture) or is parametrised with the ``docker`` launcher. The marker lets a developer run the rest
while someone else holds the engine: ``pytest -m "not docker"``.
"""

from __future__ import annotations

import pytest

DOCKER_FIXTURES = {"docker_client", "worker_image"}


def _needs_docker(item: pytest.Item) -> bool:
    if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(v == "docker" for v in callspec.params.values() if isinstance(v, str))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs the Docker engine (added automatically)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _needs_docker(item):
            item.add_marker(pytest.mark.docker)
