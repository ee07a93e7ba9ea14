"""``plansim dashboard``: start the Streamlit dashboard (``streamlit run`` as a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from sim.dashboard.data import ENV_METRICS, ENV_MODELS, ENV_REDIS

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
    if models and not Path(models).exists():
        raise FileNotFoundError(f"models file {models!r} does not exist")
    env[ENV_METRICS] = json.dumps(
        [m if m.startswith(("redis://", "rediss://")) else str(Path(m).resolve()) for m in metrics]
    )
    if models:
        env[ENV_MODELS] = str(Path(models).resolve())
    if redis_url:
        env[ENV_REDIS] = redis_url
    return env


@click.command()
@click.option("--port", default=8501, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--metrics",
    "metrics",
    multiple=True,
    help="Metric records (JSONL, WfFormat traces, redis:// stores); repeatable.",
)
@click.option("--models", "models", default=None, help="A models file (plansim calibrate).")
@click.option("--redis", "redis_url", default=None, help="The runtime's Redis URL (live page).")
@click.option("--headless/--browser", default=True, show_default=True, help="Do not open a browser.")
def dashboard(port, address, metrics, models, redis_url, headless):
    """Start the dashboard: what-if, calibration, plan vs real, live."""
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise ValueError("the dashboard needs streamlit and plotly: pip install streamlit plotly") from None
    env = environment(metrics, models, redis_url)
    click.echo(f"plansim dashboard on http://{address}:{port}  (Ctrl-C stops it)", err=True)
    proc = subprocess.Popen(command(port, address, headless), env=env)
    try:
        sys.exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
