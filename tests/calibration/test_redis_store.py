"""The Redis metrics store against a real redis-server (password, free port)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from calibration.loaders import load_inputs
from calibration.redis_store import RedisMetricsStore
from calibration.synthetic import synthetic_records
from sim.models.records import LoadReport, to_dict

services = pytest.importorskip("runtime.services")


@pytest.fixture(scope="module")
def redis_url():
    with services.RedisServer() as server:
        yield server.url


def test_round_trip_and_delete(redis_url) -> None:
    store = RedisMetricsStore(redis_url, prefix="t1")
    a = synthetic_records(5, seed=1)
    b = synthetic_records(3, seed=2)
    assert store.append(a) == len(a)
    assert store.append(b) == len(b)
    assert store.run_ids() == ["synthetic-1", "synthetic-2"]
    got = list(store.iter_records("synthetic-1"))
    assert [to_dict(r) for r in got] == [to_dict(r) for r in a]
    assert len(list(store.iter_records())) == len(a) + len(b)
    store.delete_run("synthetic-1")
    assert store.run_ids() == ["synthetic-2"]
    assert list(store.iter_records("synthetic-1")) == []
    store.close()


def test_bad_elements_are_skipped(redis_url) -> None:
    store = RedisMetricsStore(redis_url, prefix="t2")
    store.append(synthetic_records(2, seed=3))
    store.client.rpush("t2:metrics:synthetic-3", b"not json", b'{"kind": "task"}', b"\xff\xfe")
    report = LoadReport("redis")
    recs = list(store.iter_records(report=report))
    assert len(recs) == report.loaded == 2 * 3 + 2 * 2
    assert report.skipped == 3


def test_calibrate_from_redis_url(redis_url, tmp_path) -> None:
    from sim.cli import main

    store = RedisMetricsStore(redis_url)  # default prefix, as the runtime writes
    store.append(synthetic_records(40, seed=4))
    data = load_inputs([redis_url])
    assert len(data.records) == 40 * 3 + 40 * 2
    assert "***@" in data.reports[0].source  # the password is not echoed
    res = CliRunner().invoke(main, ["calibrate", redis_url, "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.json").exists()


def test_unreachable_redis_is_one_error(tmp_path) -> None:
    from sim.cli import main

    port = services.free_port()
    res = CliRunner().invoke(
        main, ["calibrate", f"redis://:pw@127.0.0.1:{port}/0", "-o", str(tmp_path / "m.json")]
    )
    assert res.exit_code == 1
    assert "cannot read metrics" in res.output and "pw@" not in res.output
