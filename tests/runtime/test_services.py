"""RedisServer and the persistent server of `plansim runtime up`, against a real redis-server."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from runtime.services import RedisServer, find_or_start_redis, load_state, masked_url, ping, stop_redis


def test_fixture_server_requires_its_password(redis_server: RedisServer) -> None:
    assert redis_server.url == f"redis://:{redis_server.password}@127.0.0.1:{redis_server.port}/0"
    assert redis.Redis.from_url(redis_server.url).ping() is True
    no_retry = Retry(NoBackoff(), 0)
    for client in (
        redis.Redis(host="127.0.0.1", port=redis_server.port, retry=no_retry),
        redis.Redis(host="127.0.0.1", port=redis_server.port, password="wrong", retry=no_retry),
    ):
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            client.ping()


def test_server_configuration_is_cache_like(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert len(redis_server.password) >= 32


def test_stop_frees_port_and_removes_directory() -> None:
    server = RedisServer().start()
    port, directory = server.port, server.dir
    assert directory is not None and directory.exists()
    assert ping(server.url)
    server.stop()
    assert not directory.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert not ping(server.url, timeout=0.3)


def test_a_private_server_is_out_of_reach_of_the_terminals_ctrl_c() -> None:
    """A terminal's Ctrl-C signals its whole foreground process group. The private server of `plansim run`
    or `validate` was in the command's group, so redis-server shut down on the SIGINT the command was
    still cleaning up after: the stop key could not be set, and the command waited out the workers'
    10 s grace (Ctrl-C mid-run: 10.3 s to exit, 1.6 s with only the command signalled). Its own group
    keeps it up until the command stops it; the parent-death signal still ends it with its owner."""
    with RedisServer() as server:
        assert server.pid is not None
        assert os.getpgid(server.pid) != os.getpgrp()
        os.killpg(os.getpgid(server.pid), 0)  # a group of its own, that exists


def test_two_servers_get_different_ports_and_passwords() -> None:
    with RedisServer() as a, RedisServer() as b:
        assert a.port != b.port and a.password != b.password
        redis.Redis.from_url(a.url).set("k", "a")
        assert redis.Redis.from_url(b.url).get("k") is None


def test_find_or_start_reuses_then_stop_forgets(tmp_path: Path) -> None:
    state, started = find_or_start_redis(tmp_path)
    try:
        assert started and ping(state.url)
        mode = stat.S_IMODE(os.stat(tmp_path / "runtime.json").st_mode)
        assert mode == 0o600, oct(mode)  # the file holds the password
        again, started_again = find_or_start_redis(tmp_path)
        assert not started_again and again == state
    finally:
        assert stop_redis(tmp_path) is True
    assert load_state(tmp_path) is None
    assert not ping(state.url, timeout=0.3)
    assert stop_redis(tmp_path) is False


def test_find_or_start_replaces_a_dead_server(tmp_path: Path) -> None:
    state, _ = find_or_start_redis(tmp_path)
    try:
        redis.Redis.from_url(state.url).shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # SHUTDOWN closes the connection
    new, started = find_or_start_redis(tmp_path)
    try:
        assert started and new.url != state.url and ping(new.url)
    finally:
        stop_redis(tmp_path)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://alice:s3cret@host:1/2", "redis://alice:***@host:1/2"),
        ("rediss://alice:p@ss:w@host/0", "rediss://alice:***@host/0"),  # '@' and ':' inside the password
        ("redis://alice@host/0", "redis://alice@host/0"),  # a user name alone is no secret
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        # redis-py also takes the password from the query string: shown in full before
        ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379/0?password=***"),
        ("unix:///tmp/r.sock?db=0&password=s3cret", "unix:///tmp/r.sock?db=0&password=***"),
    ],
)
def test_masked_url_hides_the_password_only(url: str, shown: str) -> None:
    assert masked_url(url) == shown
