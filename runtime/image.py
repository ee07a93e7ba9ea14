"""Build the plansim worker image ``plansim-worker:<content-hash>`` (also tagged ``plansim-worker:latest``).

Usage::

    python -m runtime.image build [--force] [--offline]   # progress on stderr, the tag on stdout
    python -m runtime.image tag                           # the tag the current sources should have

What goes into the image (see ``runtime/docker_worker/Dockerfile``):

1. a base with Python 3.11: ``python:3.11-slim`` where an image registry is reachable, otherwise
   ``plansim-base:bookworm`` built *once* from Debian packages with ``debootstrap --variant=minbase`` and
   ``docker import`` (cached: reused while the image exists);
2. the worker's third-party dependencies (:data:`WORKER_REQUIREMENTS`) from a wheelhouse downloaded **on
   the host** for CPython 3.11 / manylinux, installed with ``pip --no-index``. pip inside a container may
   not be able to verify TLS (an intercepting proxy whose CA only the host trusts); the wheelhouse
   sidesteps that and keeps the image free of any CA. Versions are pinned to the host's installed ones
   where possible: cloudpickle payloads must be unpickled by the same cloudpickle (and numpy) version;
3. the project sources ``sim/`` and ``runtime/`` under ``/app`` (``PYTHONPATH=/app``), last, so that a
   code change only rebuilds that cheap layer.

The container runs as the non-root user ``plansim`` (uid 10001); the entrypoint is
``python3 -m runtime.docker_worker``.

The content hash covers the Dockerfile, the pinned requirement list, the target platform and every
source file of ``sim/`` and ``runtime/``: the tag changes exactly when the image would. The base image is
deliberately not part of the hash, so ``tag`` answers without touching the engine or the network.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = Path(__file__).resolve().parent / "docker_worker" / "Dockerfile"
SOURCE_DIRS = ("sim", "runtime")
IMAGE_REPO = "plansim-worker"
ONLINE_BASE = "python:3.11-slim"
OFFLINE_BASE = "plansim-base:bookworm"
DEBOOTSTRAP_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
SUITE = "bookworm"

#: Third-party packages the worker needs inside the container (keep lean: every one costs image size and
#: cold-start import time). ``async-timeout`` is needed by redis-py on Python < 3.11.3 (Debian's 3.11.2).
WORKER_REQUIREMENTS = ("redis", "hiredis", "cloudpickle", "numpy", "networkx", "simpy", "async-timeout")

_IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}

Progress = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """The image (or its base, or its wheelhouse) could not be built; the message says why."""


def _say(msg: str) -> None:
    print(f"[image] {msg}", file=sys.stderr, flush=True)


# --- content hash -----------------------------------------------------------------------------------


def pinned_requirements() -> list[str]:
    """``name==version`` for each worker requirement installed on the host, bare ``name`` otherwise."""
    pins = []
    for name in WORKER_REQUIREMENTS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def source_files(root: Path = ROOT) -> Iterator[Path]:
    """Every file of the source dirs copied into the image, in a stable order (caches excluded)."""
    for top in SOURCE_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if (
                path.is_file()
                and not (_IGNORED_PARTS & set(rel.parts))
                and path.suffix not in {".pyc", ".pyo"}
            ):
                yield path


def content_hash(root: Path = ROOT) -> str:
    """12 hex digits of sha256 over the Dockerfile, pinned requirements, platform and sources."""
    h = hashlib.sha256()
    h.update(DOCKERFILE.read_bytes())
    h.update("\n".join(pinned_requirements()).encode())
    h.update(_arch().encode())
    for path in source_files(root):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def expected_tag(root: Path = ROOT) -> str:
    """``plansim-worker:<content-hash>`` for the current sources."""
    return f"{IMAGE_REPO}:{content_hash(root)}"


# --- wheelhouse -------------------------------------------------------------------------------------


def pip_platform_args(arch: str | None = None) -> list[str]:
    """``pip download`` options selecting wheels for the image's CPython 3.11 on manylinux/``arch``."""
    arch = arch or _arch()
    args = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
    for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "manylinux_2_5", "manylinux1"):
        if tag.startswith("manylinux_") or arch == "x86_64":
            args += ["--platform", f"{tag}_{arch}"]
    return args


def pip_errors(stderr: str) -> str:
    """pip's ``ERROR:`` lines joined into one line (its last lines when it printed none).

    For a requirement no index has, pip says it twice ("Could not find a version that satisfies ...",
    then "No matching distribution found for X"): only the second is kept.
    """
    errors = [
        line.removeprefix("ERROR:").strip() for line in stderr.splitlines() if line.startswith("ERROR:")
    ]
    if any(e.startswith("No matching distribution") for e in errors):
        errors = [e for e in errors if not e.startswith("Could not find a version")]
    if not errors:
        errors = [line.strip() for line in stderr.strip().splitlines()[-3:]]
    return "; ".join(e for e in errors if e) or "pip failed without a message"


def download_wheels(
    lines: list[str],
    cache_dir: Path,
    prefix: str,
    progress: Progress = _say,
    constraints: list[str] | None = None,
) -> Path:
    """Download wheels for ``lines`` (requirement strings) for the image's Python into a cached directory.

    The directory ``{prefix}-{key}`` is keyed by the requirements, the constraints and the platform; it
    holds the wheels, ``requirements.txt`` and (when given) ``constraints.txt``. A ``.complete`` marker makes a half
    finished download count as missing, and a failed download removes the directory: nothing is left
    behind. Raises :class:`ImageBuildError` whose first line is pip's errors condensed.
    """
    arch = _arch()
    constraints = list(constraints or [])
    keyed = "\n".join(lines) + (f"\0{chr(10).join(constraints)}" if constraints else "") + arch
    target = cache_dir / f"{prefix}-{hashlib.sha256(keyed.encode()).hexdigest()[:12]}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / "requirements.txt").write_text("\n".join(lines) + "\n")
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        *pip_platform_args(arch), "--dest", str(target), "-r", str(target / "requirements.txt"),
    ]  # fmt: skip
    if constraints:
        (target / "constraints.txt").write_text("".join(f"{c}\n" for c in constraints))
        cmd += ["-c", str(target / "constraints.txt")]
    progress(f"downloading wheels for the image: {' '.join(lines)}")
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise ImageBuildError(f"{pip_errors(proc.stderr)}\n{proc.stderr.strip()[-2000:]}")
    (target / ".complete").write_text("")
    progress(f"wheelhouse ready in {time.monotonic() - t0:.1f}s ({target})")
    return target


def build_wheelhouse(cache_dir: Path, progress: Progress = _say) -> Path:
    """Download wheels of :func:`pinned_requirements` for CPython 3.11 manylinux into a cached directory."""
    try:
        return download_wheels(pinned_requirements(), cache_dir, "wheelhouse", progress)
    except ImageBuildError as exc:
        raise ImageBuildError(f"pip download of the worker wheels failed: {exc}") from None


# --- base image -------------------------------------------------------------------------------------


def image_exists(client: docker.DockerClient, name: str) -> bool:
    """Whether the engine has an image (or tag) ``name`` locally (never pulls)."""
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def _try_pull(client: docker.DockerClient, name: str, timeout: float) -> bool:
    """Pull ``name`` in a thread; False when it fails or takes longer than ``timeout`` seconds."""
    outcome: list[bool] = []

    def pull() -> None:
        try:
            client.images.pull(name)
            outcome.append(True)
        except docker.errors.DockerException:
            outcome.append(False)

    thread = threading.Thread(target=pull, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def build_offline_base(client: docker.DockerClient, progress: Progress = _say, force: bool = False) -> float:
    """Create ``plansim-base:bookworm`` with debootstrap + docker import; return seconds spent (0 if cached).

    Needs root and the ``debootstrap`` command (``bash scripts/services.sh`` installs it). The rootfs is
    built in a temporary directory under /var/tmp and removed afterwards; apt caches are dropped before
    the import to keep the image small. The Debian mirror is debootstrap's default unless
    ``PLANSIM_DEBIAN_MIRROR`` is set.
    """
    if image_exists(client, OFFLINE_BASE) and not force:
        return 0.0
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            "debootstrap not found: run `bash scripts/services.sh` as root (it installs it)"
        )
    if os.geteuid() != 0:
        raise ImageBuildError("building the offline base image needs root (debootstrap); rerun as root")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="plansim-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", f"--include={DEBOOTSTRAP_PACKAGES}", SUITE, str(rootfs)]
        mirror = os.environ.get("PLANSIM_DEBIAN_MIRROR")
        if mirror:
            cmd.append(mirror)
        progress(f"no registry: building base image {OFFLINE_BASE} with debootstrap (about a minute)")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ImageBuildError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            for child in (rootfs / junk).glob("*"):
                if child.is_dir() and child.name != "partial":
                    shutil.rmtree(child, ignore_errors=True)
                elif child.is_file():
                    child.unlink(missing_ok=True)
        progress(f"debootstrap done in {time.monotonic() - t0:.1f}s; importing")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["docker", "import", "--change", 'CMD ["/bin/bash"]', "-", OFFLINE_BASE],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imp.returncode != 0:
            raise ImageBuildError(f"docker import of the rootfs failed: {imp.stderr.strip()}")
    seconds = time.monotonic() - t0
    progress(f"base image {OFFLINE_BASE} ready in {seconds:.1f}s")
    return seconds


def choose_base(
    client: docker.DockerClient,
    offline: bool | None = None,
    progress: Progress = _say,
    pull_timeout: float = 20.0,
) -> str:
    """Pick the base image: the online one if present, else the offline one if present, else the online
    one if it can be pulled within ``pull_timeout`` seconds, else build the offline (debootstrap) one.

    ``offline=True`` (or env ``PLANSIM_OFFLINE_IMAGE=1``) skips the registry entirely.
    """
    if offline is None:
        offline = os.environ.get("PLANSIM_OFFLINE_IMAGE", "") not in ("", "0")
    if not offline:
        if image_exists(client, ONLINE_BASE):
            return ONLINE_BASE
        if image_exists(client, OFFLINE_BASE):
            return OFFLINE_BASE  # made earlier because the registry was unreachable: do not retry the pull
        progress(f"pulling {ONLINE_BASE}")
        if _try_pull(client, ONLINE_BASE, pull_timeout):
            return ONLINE_BASE
        progress(f"cannot pull {ONLINE_BASE}: using the offline base")
    build_offline_base(client, progress)
    return OFFLINE_BASE


# --- image ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_image` did."""

    tag: str
    base: str
    built: bool  # False when the tag already existed
    seconds: float
    base_seconds: float


def _copy_sources(dest: Path, root: Path) -> None:
    for path in source_files(root):
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _engine_client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except docker.errors.DockerException as exc:
        raise ImageBuildError(
            f"Docker engine not reachable ({exc.__class__.__name__}); start it with "
            "`bash scripts/services.sh` (as root)"
        ) from exc


def docker_build(
    client: docker.DockerClient,
    ctx: Path,
    tag: str,
    *,
    buildargs: dict[str, str],
    labels: dict[str, str],
    progress: Progress = _say,
) -> None:
    """``docker build`` of the context directory ``ctx`` as ``tag``; step lines go to ``progress``.

    Intermediate containers are removed even when a step fails (``forcerm``). Raises
    :class:`ImageBuildError` with the engine's message.
    """
    try:
        stream = client.api.build(
            path=str(ctx), tag=tag, buildargs=buildargs, labels=labels, rm=True, forcerm=True, decode=True
        )
        for chunk in stream:
            if "error" in chunk:
                raise ImageBuildError(f"docker build failed: {chunk['error'].strip()}")
            line = str(chunk.get("stream", "")).strip()
            if line.startswith("Step ") or line.startswith("---> Using cache"):
                progress(line)
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"docker build failed: {exc.explanation or exc}") from exc


def build_image(
    *,
    force: bool = False,
    offline: bool | None = None,
    client: docker.DockerClient | None = None,
    root: Path = ROOT,
    cache_dir: Path | None = None,
    progress: Progress = _say,
) -> BuildResult:
    """Build (or find) the worker image for the current sources and return its tag.

    Skips all work when ``plansim-worker:<hash>`` exists, unless ``force``. Tags ``latest`` as well.
    """
    t0 = time.monotonic()
    client = client or _engine_client()
    tag = expected_tag(root)
    if not force and image_exists(client, tag):
        client.images.get(tag).tag(IMAGE_REPO, "latest")
        labels = client.images.get(tag).labels or {}
        return BuildResult(tag, labels.get("plansim.base", "?"), False, time.monotonic() - t0, 0.0)
    t_base = time.monotonic()
    base = choose_base(client, offline, progress)
    base_seconds = time.monotonic() - t_base
    wheels = build_wheelhouse(cache_dir or root / ".plansim" / "cache", progress)
    with tempfile.TemporaryDirectory(prefix="plansim-image-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(DOCKERFILE, ctx / "Dockerfile")
        shutil.copytree(wheels, ctx / "wheels", ignore=shutil.ignore_patterns(".complete"))
        _copy_sources(ctx / "app", root)
        progress(f"building {tag} FROM {base}")
        docker_build(
            client,
            ctx,
            tag,
            buildargs={"BASE_IMAGE": base},
            labels={"plansim.content-hash": tag.split(":", 1)[1], "plansim.base": base},
            progress=progress,
        )
    client.images.get(tag).tag(IMAGE_REPO, "latest")
    pruned = prune_old_images(client)
    if pruned:
        progress(f"removed old images: {' '.join(pruned)}")
    seconds = time.monotonic() - t0
    progress(f"built {tag} in {seconds:.1f}s (base {base}, base step {base_seconds:.1f}s)")
    return BuildResult(tag, base, True, seconds, base_seconds)


PRUNE_MIN_AGE_S = 24 * 3600.0


def prune_old_images(
    client: docker.DockerClient, keep: int = 3, min_age_s: float = PRUNE_MIN_AGE_S, repo: str = IMAGE_REPO
) -> list[str]:
    """Remove the ``repo:<hash>`` tags beyond the ``keep`` newest that are older than ``min_age_s``;
    returns the removed tags.

    Every code change makes a new tag (sharing all but the last layers), so old ones pile up. Images a
    container still uses are left alone, and so are images built in the last ``min_age_s``: checkouts
    of different code on one engine (a shared build host, CI beside a developer, several worktrees) each
    build their own tag, and with the count alone one checkout's build removed the image another was
    about to run its workers from.
    """
    images = sorted(client.images.list(name=repo), key=lambda im: im.attrs.get("Created", ""), reverse=True)
    now = time.time()
    removed = []
    for img in images[keep:]:
        if now - _created_s(img) < min_age_s:
            continue
        for tag in img.tags:
            if tag.endswith(":latest"):
                continue
            try:
                client.images.remove(tag, noprune=False)
                removed.append(tag)
            except docker.errors.APIError:
                pass  # in use by a container, or already gone
    return removed


def _created_s(image: Any) -> float:
    """When ``image`` was built, in seconds since the epoch (now when the engine does not say: kept)."""
    created = str(image.attrs.get("Created", ""))
    try:  # RFC 3339 with nanoseconds, e.g. 2026-11-29T19:30:00.123456789Z
        whole, _, fraction = created.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
        return stamp + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)
    except ValueError:
        return time.time()


def main(argv: list[str] | None = None) -> int:
    """``python -m runtime.image {build,tag}``."""
    parser = argparse.ArgumentParser(prog="python -m runtime.image", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the worker image (no-op when the tag exists)")
    b.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    b.add_argument("--offline", action="store_true", help="do not use a registry (debootstrap base)")
    sub.add_parser("tag", help="print the tag the current sources should have")
    args = parser.parse_args(argv)
    if args.cmd == "tag":
        print(expected_tag())
        return 0
    try:
        result = build_image(force=args.force, offline=True if args.offline else None)
    except ImageBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not result.built:
        _say(f"{result.tag} is up to date")
    print(result.tag)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
