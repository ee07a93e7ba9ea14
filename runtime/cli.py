"""``plansim runtime up|down|status``: manage the local real-runtime services.

* ``up`` starts (or finds) a password-protected Redis on loopback, checks the Docker engine and builds
  the worker image; it prints the Redis URL, the engine and the image tag. With ``--process`` no engine
  is needed (workers will be local processes). With ``--requirements FILE`` it also builds the derived
  worker image holding those pip requirements (:mod:`runtime.req_image`), which later runs reuse.
* ``down`` stops the Redis that ``up`` started and removes the plansim containers that served it (label
  ``plansim.redis``); ``--all`` removes every plansim container on the engine.
* ``status`` lists plansim containers (run, memory, vCPUs, state), derived images, and Redis keys per run.
* ``images`` lists the derived worker images; ``images prune`` removes those no container uses.

User errors (no engine, no redis-server, ...) print one ``error:`` line and exit 1, never a traceback.
The Docker SDK is imported lazily so that ``plansim`` works where it is not installed.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import click
import redis
from rich.console import Console
from rich.table import Table

from runtime.services import (
    RedisServerError,
    default_state_dir,
    find_or_start_redis,
    load_state,
    masked_url,
    stop_redis,
)
from sim.extras import missing_message

__all__ = ["runtime"]

ENGINE_HINT = (
    "start it as root with `bash scripts/services.sh` (installs docker.io and runs dockerd), "
    "or use --process to run workers as local processes"
)


class RuntimeUserError(click.ClickException):
    """A problem the user can fix; printed as one ``error:`` line, exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _engine() -> tuple[Any, str]:
    """A connected Docker client and a one-line description, or RuntimeUserError."""
    try:
        import docker
    except ImportError:
        raise RuntimeUserError(missing_message("docker", "the Docker engine check")) from None
    try:
        client = docker.from_env(timeout=600)
        version = client.version()
    except docker.errors.DockerException as exc:
        reason = str(exc).splitlines()[0][:160]
        raise RuntimeUserError(f"Docker engine not reachable ({reason}); {ENGINE_HINT}") from None
    info = client.info()
    desc = f"Docker {version.get('Version', '?')} ({info.get('Driver', '?')}, {info.get('NCPU', '?')} CPUs)"
    return client, desc


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where runtime.json is kept (default: $PLANSIM_HOME or ~/.plansim)",
)


@click.group("runtime")
def runtime() -> None:
    """The real runtime's local services: Redis, the Docker engine, the worker image."""


@runtime.command("up")
@state_dir_option
@click.option("--process", is_flag=True, help="no Docker: workers will be local processes")
@click.option("--no-image", is_flag=True, help="do not build the worker image")
@click.option("--force-build", is_flag=True, help="rebuild the worker image even if up to date")
@click.option(
    "--requirements",
    "requirements_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="also build the derived worker image with this requirements.txt (process: check it is installed)",
)
def up(
    state_dir: Path | None, process: bool, no_image: bool, force_build: bool, requirements_file: Path | None
) -> None:
    """Start or find Redis, check the Docker engine, build the worker image."""
    engine, tag, derived = "none (process launcher)", "-", "-"
    client = None
    reqs = _file_requirements(requirements_file)  # a bad file is reported before anything starts
    if process and reqs:
        from runtime.requirements import check_installed

        _user_errors(check_installed, reqs)
        derived = f"installed here: {reqs.describe()}"
    if not process:
        client, engine = _engine()  # checked first: a missing engine should not leave a Redis behind
    try:
        state, started = find_or_start_redis(state_dir)
    except RedisServerError as exc:
        raise RuntimeUserError(str(exc)) from None
    if client is not None:
        if not no_image:
            from runtime.image import ImageBuildError, build_image

            try:
                result = build_image(client=client, force=force_build)
            except ImageBuildError as exc:
                raise RuntimeUserError(str(exc).splitlines()[0]) from None
            tag = f"{result.tag} ({'built' if result.built else 'up to date'}, base {result.base})"
            if reqs:
                from runtime.req_image import build_derived_image

                d = _user_errors(build_derived_image, reqs, client=client, worker_image=result.tag)
                derived = f"{d.tag} ({'built' if d.built else 'up to date'} in {d.seconds:.1f}s)"
    table = Table(title="plansim runtime", show_header=False)
    table.add_row("redis", state.url)
    table.add_row("", f"pid {state.pid}, {'started' if started else 'already running'}")
    table.add_row("engine", engine)
    table.add_row("image", tag)
    if reqs:
        table.add_row("requirements", derived)
    table.add_row("state", str((state_dir or default_state_dir()) / "runtime.json"))
    Console().print(table)
    click.echo(f"export PLANSIM_REDIS_URL='{state.url}'")


@runtime.command("down")
@state_dir_option
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="also remove plansim containers of other runtimes and tests on this engine",
)
def down(state_dir: Path | None, everything: bool) -> None:
    """Stop the Redis started by `up` and remove the plansim containers that served it."""
    state = load_state(state_dir)
    stopped = stop_redis(state_dir)
    click.echo(f"redis: {'stopped' if stopped else 'not running'}")
    try:
        client, _ = _engine()
    except RuntimeUserError:
        click.echo("containers: no Docker engine, nothing to remove")
        return
    from runtime.launchers.docker_launcher import RUN_LABEL, remove_containers

    # Only this runtime's workers by default: on an engine shared with other checkouts or a test run, a
    # blanket removal would kill their running workflows.
    if everything:
        removed = remove_containers(client)
    elif state is not None:
        removed = remove_containers(client, redis_url=state.url)
    else:
        removed = 0
    others = len(client.containers.list(all=True, filters={"label": RUN_LABEL}))
    click.echo(
        f"containers: removed {removed}"
        + (f"; {others} of other runtimes left (--all removes them)" if others else "")
    )


@runtime.command("status")
@state_dir_option
@click.option(
    "--redis-url", envvar="PLANSIM_REDIS_URL", default=None, help="default: the server `up` started"
)
def status(state_dir: Path | None, redis_url: str | None) -> None:
    """List plansim containers and Redis keys per run."""
    console = Console()
    try:
        client, engine = _engine()
    except RuntimeUserError as exc:
        console.print(f"engine: {exc.format_message()}", markup=False)
        client = None
    if client is not None:
        table = Table()
        for col in ("name", "run", "memory MB", "vCPUs", "state", "age"):
            table.add_column(col)
        now = time.time()
        for c in client.containers.list(all=True, filters={"label": "plansim.run"}):
            created = c.attrs.get("Created", "")
            age = "-"
            try:
                from datetime import datetime

                started = datetime.fromisoformat(created.replace("Z", "+00:00")[:26] + "+00:00").timestamp()
                age = f"{now - started:.0f}s"
            except ValueError:
                pass
            labels = c.labels
            table.add_row(
                c.name,
                labels.get("plansim.run", "?"),
                labels.get("plansim.memory", "?"),
                labels.get("plansim.cpus", "?"),
                c.status,
                age,
            )
        # Titles as lines of their own: rich wraps a title at the table's (narrow) width.
        console.print(f"plansim containers - {engine}", markup=False, highlight=False)
        console.print(table)
        console.print(_images_table(client))
    url = redis_url or (load_state(state_dir).url if load_state(state_dir) else None)
    if url is None:
        console.print("redis: not started (run `plansim runtime up`)")
        return
    try:
        r = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        counts: Counter[str] = Counter()
        for key in r.scan_iter(match="plansim:*", count=1000):
            parts = key.decode(errors="replace").split(":")
            counts[parts[1] if len(parts) > 2 else "(global)"] += 1
    except redis.RedisError as exc:
        raise RuntimeUserError(f"redis at {masked_url(url)} not reachable: {exc}") from None
    keys = Table()
    keys.add_column("run")
    keys.add_column("keys", justify="right")
    for run, n in sorted(counts.items()):
        keys.add_row(run, str(n))
    if not counts:
        keys.add_row("(none)", "0")
    console.print(f"redis keys - {masked_url(url)}", markup=False, highlight=False, soft_wrap=True)
    console.print(keys)


def _file_requirements(path: Path | None) -> Any:
    """The requirement set of a requirements.txt (empty without one); a bad file is a user error."""
    from runtime.requirements import collect

    return _user_errors(collect, None, path)


def _user_errors(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with requirement and image errors turned into one ``error:`` line."""
    from runtime.image import ImageBuildError
    from runtime.requirements import RequirementsError

    try:
        return fn(*args, **kwargs)
    except (RequirementsError, ImageBuildError) as exc:
        raise RuntimeUserError(str(exc).splitlines()[0]) from None


def _images_table(client: Any) -> Table:
    from runtime.req_image import list_derived_images

    table = Table(title="derived worker images (pip requirements)")
    for col in ("tag", "requirements", "MB", "created", "containers", "current"):
        table.add_column(col)
    for img in list_derived_images(client):
        table.add_row(
            img.tag,
            img.requirements,
            f"{img.size_mb:.0f}",
            img.created,
            str(img.containers),
            "yes" if img.current else "no (older sources)",
        )
    if not table.rows:
        table.add_row("(none)", "", "", "", "", "")
    return table


@runtime.group("images", invoke_without_command=True)
@click.pass_context
def images(ctx: click.Context) -> None:
    """List the derived worker images (the worker image plus a run's pip requirements)."""
    if ctx.invoked_subcommand is None:
        client, _ = _engine()
        Console().print(_images_table(client))


@images.command("prune")
@click.option("--stale", is_flag=True, help="only images built on an older worker image")
def images_prune(stale: bool) -> None:
    """Remove derived worker images that no container uses."""
    from runtime.req_image import prune_derived_images

    client, _ = _engine()
    removed = prune_derived_images(client, stale_only=stale)
    click.echo(f"removed {len(removed)} derived image(s){': ' + ' '.join(removed) if removed else ''}")


def main() -> None:  # pragma: no cover - `python -m runtime.cli`
    """Run the group standalone (the lead's `plansim` command attaches it as `plansim runtime`)."""
    sys.exit(runtime.main(prog_name="plansim runtime", standalone_mode=True) or 0)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "120")
    main()
