"""``plansim dashboard``: start the Streamlit dashboard (``streamlit run`` as a subprocess).

Stopping the command stops the server: Ctrl-C (exit code 1), SIGTERM (143) and even SIGKILL (the
server gets SIGTERM from the kernel when its parent dies, ``sim.processes.death_signal_setter``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import click

from sim.dashboard.data import ENV_METRICS, ENV_MODELS, ENV_REDIS
from sim.extras import missing, missing_message
from sim.processes import death_signal_setter

APP = Path(__file__).with_name("app.py")


def command(port: int, address: str, headless: bool) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
    ]


def environment(metrics: tuple[str, ...], models: str | None, redis_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for m in metrics:
        if not m.startswith(("redis://", "rediss://")) and not Path(m).exists():
            raise FileNotFoundError(f"metrics file {m!r} does not exist")
    if models:  # loaded once here, so a bad file is one error line rather than a page's error
        from sim.models.performance import PerformanceModels

        PerformanceModels.load(models)
    env[ENV_METRICS] = json.dumps(
        [m if m.startswith(("redis://", "rediss://")) else str(Path(m).resolve()) for m in metrics]
    )
    if models:
        env[ENV_MODELS] = str(Path(models).resolve())
    if redis_url:
        env[ENV_REDIS] = redis_url
    return env


def check_listen(address: str, port: int) -> None:
    """Fail now, with one line, if the server could not listen on ``address:port`` (taken, or an
    address of no interface here): Streamlit would print a traceback, or a timestamped log line."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.bind(infos[0][4])
    except OSError as exc:
        raise ValueError(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from None


@click.command()
@click.option(
    "--port", default=8501, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--metrics",
    "metrics",
    multiple=True,
    help="Metric records (JSONL, WfFormat traces, redis:// stores); repeatable.",
)
@click.option(
    "--models", "models", default=None, help="A models file (plansim calibrate); built-in defaults otherwise."
)
@click.option(
    "--redis",
    "redis_url",
    default=None,
    help="The runtime's Redis URL (live page); default: $PLANSIM_REDIS_URL, else typed on the page.",
)
@click.option("--headless/--browser", default=True, show_default=True, help="Do not open a browser.")
def dashboard(port, address, metrics, models, redis_url, headless):
    """Start the dashboard: what-if, calibration, plan vs real, live."""
    module = missing(("streamlit", "plotly", "pandas"))
    if module:
        raise ValueError(missing_message(module, "the dashboard"))
    env = environment(metrics, models, redis_url)
    check_listen(address, port)
    click.echo(f"plansim dashboard on http://{address}:{port}  (Ctrl-C stops it)", err=True)
    # The server dies with this process even when it is killed outright (SIGKILL runs no clean-up).
    proc = subprocess.Popen(command(port, address, headless), env=env, preexec_fn=death_signal_setter())
    interrupted = False
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # a terminal's Ctrl-C reached the server too, which is stopping already
        interrupted = True
        raise
    finally:  # Ctrl-C or SIGTERM (SystemExit(143), sim/cli.py): the server must not outlive the command
        stop(proc, grace_s=10.0 if interrupted else 0.0)
    sys.exit(code)


def stop(proc: subprocess.Popen, grace_s: float = 0.0) -> None:
    """End the Streamlit server if it still runs after ``grace_s``: SIGTERM, then SIGKILL after 10 s.

    A second signal while Streamlit stops makes it print a traceback, hence the grace after Ctrl-C."""
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
