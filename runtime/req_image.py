"""Derived worker images: the plansim worker image plus a run's pip requirements, built offline.

``build_derived_image(reqs)`` gives the image a Docker run of a workflow with requirements uses::

    plansim-worker-reqs:<requirements digest>-<worker image hash>

1. the requirement set (:mod:`runtime.requirements`) is checked against the worker's own pins (a
   function asking ``numpy==2.1`` where the worker runs 1.26 is an error naming both, since client and
   worker must unpickle each other's numpy arrays);
2. wheels for CPython 3.11 manylinux are downloaded **on the host** (``pip download``, the worker's pins
   as constraints), cached under ``.plansim/cache/reqs-<key>``. An unknown or unresolvable requirement
   fails here, with pip's errors condensed to one line, before the engine is touched;
3. ``docker build`` of ``runtime/docker_worker/Dockerfile.requirements``: ``FROM`` the worker image
   (local: no registry), the wheels copied in and installed with ``pip --no-index``; the container never
   needs the network. A failed build's layers are removed (they carry the requirements label).

The tag is a pure function of the requirement set and the worker sources, so a re-run finds it and
builds nothing; when the sources change, the next build replaces the image for the same requirements
(unless a container still uses it). ``plansim runtime images`` lists and prunes these images.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from runtime.image import (
    ROOT,
    ImageBuildError,
    build_image,
    docker_build,
    download_wheels,
    expected_tag,
    image_exists,
    pinned_requirements,
)
from runtime.requirements import RequirementsError, RequirementSet, check_conflicts, parse

__all__ = [
    "DERIVED_REPO",
    "DerivedBuild",
    "DerivedImage",
    "build_derived_image",
    "derived_tag",
    "list_derived_images",
    "prune_derived_images",
]

DERIVED_REPO = "plansim-worker-reqs"
DOCKERFILE = Path(__file__).resolve().parent / "docker_worker" / "Dockerfile.requirements"
#: Set by the Dockerfile (so intermediate layers have it too): the requirement set's digest.
DIGEST_LABEL = "plansim.derived-from-requirements"
LINES_LABEL = "plansim.requirements"
WORKER_LABEL = "plansim.worker-image"

Progress = Callable[[str], None]


def _quiet(msg: str) -> None:
    pass


def derived_tag(worker_image: str, reqs: RequirementSet) -> str:
    """``plansim-worker-reqs:<requirements digest>-<worker image hash>``."""
    return f"{DERIVED_REPO}:{reqs.digest()}-{worker_image.rsplit(':', 1)[-1]}"


@dataclass(frozen=True)
class DerivedBuild:
    """What :func:`build_derived_image` did; ``built`` is False when the tag already existed."""

    tag: str
    worker_image: str
    built: bool
    seconds: float
    download_seconds: float = 0.0


def build_derived_image(
    reqs: RequirementSet,
    *,
    client: docker.DockerClient,
    worker_image: str | None = None,
    cache_dir: Path | None = None,
    progress: Progress = _quiet,
) -> DerivedBuild:
    """Find or build the derived image for ``reqs`` on ``worker_image`` (default: the current one).

    Raises :class:`~runtime.requirements.RequirementsError` (one line) for a conflict with the worker's
    pins, a requirement pip cannot resolve, or a failed install; nothing is left behind then.
    """
    t0 = time.monotonic()
    worker_image = worker_image or build_image(client=client, progress=progress).tag
    tag = derived_tag(worker_image, reqs)
    if image_exists(client, tag):
        return DerivedBuild(tag, worker_image, False, time.monotonic() - t0)
    pins = pinned_requirements()
    check_conflicts([*reqs.items, *(parse(p, "the worker image") for p in pins)])
    lines = reqs.lines()
    t_dl = time.monotonic()
    try:
        wheels = download_wheels(
            lines, cache_dir or ROOT / ".plansim" / "cache", "reqs", progress, constraints=pins
        )
    except ImageBuildError as exc:
        raise RequirementsError(
            f"pip cannot resolve the requirements ({' '.join(lines)}): {str(exc).splitlines()[0]}"
        ) from None
    download_seconds = time.monotonic() - t_dl
    with tempfile.TemporaryDirectory(prefix="plansim-reqs-image-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(DOCKERFILE, ctx / "Dockerfile")
        shutil.copytree(wheels, ctx / "wheels", ignore=shutil.ignore_patterns(".complete"))
        progress(f"building {tag} FROM {worker_image} with {' '.join(lines)}")
        try:
            docker_build(
                client,
                ctx,
                tag,
                buildargs={"WORKER_IMAGE": worker_image, "REQUIREMENTS_HASH": reqs.digest()},
                labels={LINES_LABEL: " ".join(lines), WORKER_LABEL: worker_image},
                progress=progress,
            )
        except ImageBuildError as exc:
            _remove_failed_layers(client, reqs.digest())
            raise RequirementsError(
                f"installing {' '.join(lines)} in the worker image failed: {exc}"
            ) from None
    superseded = [
        img.tag for img in list_derived_images(client) if img.digest == reqs.digest() and img.tag != tag
    ]
    _remove_unused(client, superseded)
    seconds = time.monotonic() - t0
    progress(f"built {tag} in {seconds:.1f}s (wheels {download_seconds:.1f}s)")
    return DerivedBuild(tag, worker_image, True, seconds, download_seconds)


def _remove_failed_layers(client: docker.DockerClient, digest: str) -> None:
    """Remove the untagged layers a failed build of ``digest`` left (removing the last frees its parents)."""
    for img in client.images.list(filters={"dangling": True, "label": f"{DIGEST_LABEL}={digest}"}):
        try:
            client.images.remove(img.id, noprune=False)
        except docker.errors.APIError:
            pass  # shared with a concurrent build of the same set: that build owns it


# --- listing and pruning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivedImage:
    """One derived image as ``plansim runtime images`` shows it."""

    tag: str
    digest: str
    requirements: str
    worker_image: str
    size_mb: float
    created: str
    containers: int  # containers (any state) using it
    current: bool  # built on the worker image of the current sources


def _containers_by_image(client: docker.DockerClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in client.containers.list(all=True):
        image_id = c.attrs.get("Image", "")
        counts[image_id] = counts.get(image_id, 0) + 1
    return counts


def list_derived_images(client: docker.DockerClient) -> list[DerivedImage]:
    """Every ``plansim-worker-reqs`` tag, newest first."""
    current = expected_tag()
    users = _containers_by_image(client)
    found = []
    images: list[Any] = client.images.list(name=DERIVED_REPO)
    for img in sorted(images, key=lambda im: im.attrs.get("Created", ""), reverse=True):
        labels = img.labels or {}
        for tag in img.tags:
            found.append(
                DerivedImage(
                    tag=tag,
                    digest=labels.get(DIGEST_LABEL, "?"),
                    requirements=labels.get(LINES_LABEL, "?"),
                    worker_image=labels.get(WORKER_LABEL, "?"),
                    size_mb=round(img.attrs.get("Size", 0) / 1e6, 1),
                    created=str(img.attrs.get("Created", ""))[:19].replace("T", " "),
                    containers=users.get(img.id, 0),
                    current=labels.get(WORKER_LABEL) == current,
                )
            )
    return found


def _remove_unused(client: docker.DockerClient, tags: list[str]) -> list[str]:
    removed = []
    for tag in tags:
        try:
            client.images.remove(tag, noprune=False)
            removed.append(tag)
        except docker.errors.APIError:
            pass  # a container uses it (the engine refuses), or it is already gone
    return removed


def prune_derived_images(client: docker.DockerClient, stale_only: bool = False) -> list[str]:
    """Remove derived images no container uses (only those built on an older worker image when
    ``stale_only``); returns the removed tags."""
    candidates = [
        img.tag
        for img in list_derived_images(client)
        if img.containers == 0 and not (stale_only and img.current)
    ]
    return _remove_unused(client, candidates)
