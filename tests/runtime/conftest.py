"""Fixtures for the real runtime: a real Redis server and the real Docker engine, never mocks.

* ``redis_server``: a private ``redis-server`` on a free loopback port with a generated password, shared
  by the whole session (tests namespace their keys by run id, so sharing is safe).
* ``docker_client``: the Docker engine from the environment. When it is unreachable the test is skipped
  with the reason on a developer machine, but *fails* under CI (env ``CI`` set), so that a broken CI
  machine cannot pass by skipping everything.
* ``worker_image``: the worker image for the current sources (built if missing; ``scripts/test.sh``
  builds it before pytest runs, so this is normally a lookup).
* ``make_launcher``: a factory for launchers of either kind (``"process"`` or ``"docker"``) that run the
  diagnostic handler; every launcher it made is closed at the end of the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime.launchers import DIAGNOSTIC_COMMAND, PooledLauncher, ProcessLauncher
from runtime.services import RedisServer

IN_CI = bool(os.environ.get("CI"))


def engine_unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"Docker engine required in CI: {reason}")
    pytest.skip(f"Docker engine not available: {reason}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    try:
        import docker
    except ImportError as exc:
        engine_unavailable(f"the docker Python package is not installed ({exc})")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        engine_unavailable(f"{exc.__class__.__name__}: {exc} (start it with: bash scripts/services.sh)")
    yield client
    client.close()


@pytest.fixture(scope="session")
def worker_image(docker_client: Any) -> str:
    from runtime.image import build_image

    return build_image(client=docker_client).tag


LauncherFactory = Callable[..., PooledLauncher]


@pytest.fixture(params=["process", "docker"])
def launcher_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_launcher(
    request: pytest.FixtureRequest, redis_server: RedisServer, launcher_kind: str
) -> Iterator[LauncherFactory]:
    made: list[PooledLauncher] = []
    if launcher_kind == "docker":
        client = request.getfixturevalue("docker_client")
        image = request.getfixturevalue("worker_image")

    def factory(**kwargs: Any) -> PooledLauncher:
        kwargs.setdefault("command", DIAGNOSTIC_COMMAND)
        launcher: PooledLauncher
        if launcher_kind == "docker":
            from runtime.launchers import DockerLauncher

            launcher = DockerLauncher(redis_server.url, client=client, image=image, **kwargs)
        else:
            launcher = ProcessLauncher(redis_server.url, **kwargs)
        made.append(launcher)
        return launcher

    yield factory
    for launcher in made:
        launcher.close()
