"""Stopping ``plansim dashboard`` stops its Streamlit server: Ctrl-C (SIGINT to the terminal's process
group: exit code 1, no traceback), SIGTERM to the command, which runs its clean-up (143), and SIGKILL,
which runs none but still takes the server down with it (a death signal). Before, SIGTERM and SIGKILL
left the server running and serving, re-parented to init, and Ctrl-C exited with 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim.processes import process_gone

pytest.importorskip("streamlit")

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _until(condition, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _healthy(port: int) -> bool:
    """Streamlit answers its health check: started, not merely listening (a stop during its start-up
    cancels the start and Streamlit prints the cancellation's traceback, which is not what is tested)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


STOPS = {"ctrl-c": (signal.SIGINT, 1), "sigterm": (signal.SIGTERM, 143), "sigkill": (signal.SIGKILL, -9)}


@pytest.mark.parametrize("how", sorted(STOPS))
def test_a_stopped_dashboard_leaves_no_server(how):
    sig, code = STOPS[how]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "sim.cli", "dashboard", "--port", str(port)]
    out = subprocess.PIPE
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=out,
        text=True,
        start_new_session=True,
        # a shell's background job (CI harnesses, `cmd &`) starts with SIGINT ignored, and Python then
        # keeps ignoring it: the Ctrl-C case needs the handler a terminal's foreground command has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    server = None
    try:
        assert _until(lambda: _healthy(port) or proc.poll() is not None, 90), "the server never started"
        assert proc.poll() is None, f"plansim dashboard ended by itself (exit code {proc.returncode})"
        (server,) = _children(proc.pid)
        if how == "ctrl-c":
            os.killpg(proc.pid, sig)  # what a terminal does: the whole foreground group gets SIGINT
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        assert "Traceback" not in err, err
        assert _until(lambda: process_gone(server), 15), "the Streamlit server outlived plansim dashboard"
        assert not _listening(port)
    finally:
        for pid in [proc.pid] + ([server] if server else []):
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()
