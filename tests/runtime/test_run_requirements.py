"""Derived worker images with a workflow's pip requirements, on the real Docker engine.

``six`` is in neither the worker image nor the test environment, so a correct result proves the run used
the derived image. The image for the test's requirement set is removed first (the first build is a real
build) and removed at the end; the `runtime images prune` test removes every unused derived image.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from runlib.req_workflows import SIX, shouting

from runtime.cli import runtime
from runtime.client import make_launcher, run_workflow
from runtime.driver import TaskFailed
from runtime.image import ROOT
from runtime.req_image import (
    DERIVED_REPO,
    DIGEST_LABEL,
    build_derived_image,
    derived_tag,
    list_derived_images,
)
from runtime.requirements import RequirementsError, collect

EXPECTED = "HELLO six 1.16.0 / WORLD six 1.16.0"


def _containers_of_run(client, run_id: str) -> set[str]:
    return {c.id for c in client.containers.list(all=True, filters={"label": f"plansim.run={run_id}"})}


@pytest.fixture(scope="module")
def fresh_reqs(docker_client, worker_image):
    """The requirement set of :func:`shouting`, its derived image absent; removed again afterwards."""
    reqs = collect(shouting())
    tag = derived_tag(worker_image, reqs)
    if any(img.tag == tag for img in list_derived_images(docker_client)):
        docker_client.images.remove(tag)
    yield reqs
    if any(img.tag == tag for img in list_derived_images(docker_client)):
        docker_client.images.remove(tag)


def test_built_once_then_reused_and_run_in_docker(redis_server, docker_client, worker_image, fresh_reqs):
    first = build_derived_image(fresh_reqs, client=docker_client, worker_image=worker_image)
    second = build_derived_image(fresh_reqs, client=docker_client, worker_image=worker_image)
    print(f"derived image {first.tag}: first build {first.seconds:.2f}s, second {second.seconds:.3f}s")
    assert first.built and not second.built and first.tag == second.tag
    image = docker_client.images.get(first.tag)
    assert image.labels["plansim.requirements"] == SIX and image.labels[DIGEST_LABEL] == fresh_reqs.digest()
    # The run's own docker launcher picks the derived image from the workflow's hints.
    rep = run_workflow(shouting(), launcher="docker", redis_url=redis_server.url, timeout_s=120)
    assert rep.results[shouting().sinks[0]] == EXPECTED
    assert rep.keys_left == 0 and rep.launcher == "docker"


def test_without_the_derived_image_the_task_names_the_missing_module(redis_server, worker_image):
    lch = make_launcher("docker", redis_server.url, image=worker_image)
    try:
        with pytest.raises(TaskFailed) as err:
            run_workflow(shouting(), launcher=lch, redis_url=redis_server.url, timeout_s=120)
    finally:
        lch.close()
    assert "No module named 'six'" in err.value.hint and "@task(requirements=" in err.value.hint


def test_unknown_requirement_is_named_and_leaves_nothing(redis_server, docker_client, worker_image, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("plansim-no-such-package-xyz==1.0\n")
    cache = ROOT / ".plansim" / "cache"
    wheelhouses = set(cache.glob("reqs-*"))
    digest = collect(shouting(), req).digest()
    run_id = "req-unknown-" + digest[:8]
    with pytest.raises(RequirementsError) as err:
        run_workflow(
            shouting(), launcher="docker", redis_url=redis_server.url, requirements_file=req, run_id=run_id
        )
    assert "No matching distribution found for plansim-no-such-package-xyz==1.0" in str(err.value)
    assert "\n" not in str(err.value)
    assert set(cache.glob("reqs-*")) == wheelhouses
    # Only this run's containers: other runs on the same engine come and go meanwhile.
    assert _containers_of_run(docker_client, run_id) == set()
    assert docker_client.images.list(filters={"label": f"{DIGEST_LABEL}={digest}"}) == []


def test_conflict_with_the_worker_pins(docker_client, worker_image, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==0.1\n")
    with pytest.raises(
        RequirementsError, match=r"numpy==0.1 \(requirements.txt:1\) and numpy==[\d.]+ \(the worker image\)"
    ):
        build_derived_image(collect(shouting(), req), client=docker_client, worker_image=worker_image)


def test_images_listed_by_status_and_pruned(docker_client, worker_image, fresh_reqs, tmp_path: Path):
    tag = build_derived_image(fresh_reqs, client=docker_client, worker_image=worker_image).tag
    runner = CliRunner()
    listed = runner.invoke(runtime, ["status", "--state-dir", str(tmp_path)], env={"COLUMNS": "250"})
    assert tag in listed.output and SIX in listed.output, listed.output
    pruned = runner.invoke(runtime, ["images", "prune"])
    assert pruned.exit_code == 0 and tag in pruned.output, pruned.output
    assert all(img.tag != tag for img in list_derived_images(docker_client))
    assert not docker_client.images.list(name=f"{DERIVED_REPO}:{tag.split(':')[1]}")


def test_failed_install_leaves_no_layers(docker_client, worker_image, tmp_path, monkeypatch):
    """A build that fails after its wheels arrived (here: an install step that exits 3) removes its layers."""
    import runtime.req_image as req_image

    failing = tmp_path / "Dockerfile"
    failing.write_text(
        req_image.DOCKERFILE.read_text().replace(
            "RUN /opt/venv/bin/python -m pip install", "RUN exit 3 && true"
        )
    )
    monkeypatch.setattr(req_image, "DOCKERFILE", failing)
    reqs = collect(shouting())
    monkeypatch.setattr(type(reqs), "digest", lambda self: "f41ed0b0117d")  # a set no other test builds
    with pytest.raises(RequirementsError, match="installing six==1.16.0 in the worker image failed"):
        build_derived_image(reqs, client=docker_client, worker_image=worker_image)
    assert docker_client.images.list(filters={"label": f"{DIGEST_LABEL}=f41ed0b0117d"}) == []
    assert (
        docker_client.images.list(filters={"label": f"{DIGEST_LABEL}=f41ed0b0117d", "dangling": True}) == []
    )
