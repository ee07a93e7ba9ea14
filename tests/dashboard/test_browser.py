"""One real-browser check: `plansim dashboard`'s Streamlit server, headless Chromium loads each page (over the
DevTools protocol), waits until the app has rendered, and takes a screenshot; no page shows an exception
or an error box, and every screenshot is a non-blank PNG.

Chromium is the Debian package ``chromium``. Outside CI the test is skipped when it is missing; in CI (env
``CI`` set) a missing browser is a failure. Screenshots are kept in ``$PLANSIM_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sim.dashboard.cli import command
from sim.dashboard.data import ENV_METRICS, ENV_REDIS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
    "--window-size=1400,1100",
]
PAGES = {  # page -> text that shows it rendered with content
    "what-if": "simulated results",
    "calibration": "fitted models",
    "plan-vs-real": "general percentage offset",
    "live": "task sleep_task-0",
}

if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (apt-get install -y chromium)", pytrace=False)
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class CDP:
    """A minimal DevTools-protocol client over tornado's websocket (a Streamlit dependency)."""

    def __init__(self, ws) -> None:  # noqa: ANN001
        self.ws = ws
        self.n = 0

    @classmethod
    async def connect(cls, url: str) -> CDP:
        from tornado.websocket import websocket_connect

        return cls(await websocket_connect(url, max_message_size=64 << 20))

    async def call(self, method: str, **params):  # noqa: ANN003, ANN201
        self.n += 1
        mid = self.n
        await self.ws.write_message(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = await asyncio.wait_for(self.ws.read_message(), 60)
            if msg is None:
                raise ConnectionError("DevTools connection closed")
            data = json.loads(msg)
            if data.get("id") == mid:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})


STATE_JS = """(() => ({
  text: document.body ? document.body.innerText : "",
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  errors: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]')).map(e => e.innerText),
  running: !!document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]'),
  skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
}))()"""


async def _visit(ws_url: str, url: str, expect: str, out: Path, timeout: float = 150.0) -> dict:
    cdp = await CDP.connect(ws_url)
    await cdp.call("Page.enable")
    await cdp.call(
        "Emulation.setDeviceMetricsOverride", width=1400, height=1100, deviceScaleFactor=1, mobile=False
    )
    await cdp.call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    state: dict = {}
    settled = 0
    while time.monotonic() < deadline:
        res = await cdp.call("Runtime.evaluate", expression=STATE_JS, returnByValue=True)
        state = res.get("result", {}).get("value") or {}
        if state.get("exceptions") or state.get("errors"):
            break
        done = expect in state.get("text", "") and not state.get("running") and not state.get("skeletons")
        settled = settled + 1 if done else 0
        if settled >= 3:  # the same for 1.5 s: the script finished and the page is drawn
            await asyncio.sleep(1.0)  # let charts finish drawing
            break
        await asyncio.sleep(0.5)
    shot = await cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    out.write_bytes(base64.b64decode(shot["data"]))
    cdp.ws.close()
    return state


@pytest.fixture
def dashboard_server(metrics_file, tmp_path):
    from runtime.services import RedisServer
    from tests.dashboard.live_seed import seed

    key = secrets.token_bytes(32)
    redis_srv = RedisServer().start() if shutil.which("redis-server") else None
    if redis_srv is not None:
        seed(redis_srv.url, key)
    port = _free_port()
    env = dict(os.environ)
    env[ENV_METRICS] = str(metrics_file)
    env["PLANSIM_HMAC_KEY"] = key.hex()
    if redis_srv is not None:
        env[ENV_REDIS] = redis_srv.url
    log = open(tmp_path / "streamlit.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(command(port, "127.0.0.1", True), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", 90)
        yield f"http://127.0.0.1:{port}", redis_srv is not None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if redis_srv is not None:
            redis_srv.stop()


def test_each_page_renders_in_chromium(dashboard_server, tmp_path):
    base, have_redis = dashboard_server
    keep = os.environ.get("PLANSIM_SCREENSHOTS")
    profile = tmp_path / "chromium-profile"  # fresh user data dir
    # Chromium leaves scratch directories under TMPDIR on exit: give it one of ours and remove it after.
    # Not under tmp_path: its unix sockets live there and pytest's paths exceed the 108-byte socket limit.
    scratch = tempfile.mkdtemp(prefix="plansim-chromium-")
    browser = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        env={**os.environ, "TMPDIR": scratch},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ws_browser = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ws_browser is None:
            line = browser.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line or "")
            if m:
                ws_browser = m.group(1)
        assert ws_browser, "chromium did not start its DevTools endpoint"
        port = re.search(r":(\d+)/", ws_browser).group(1)
        import urllib.request

        results = {}
        for page, expect in PAGES.items():
            if page == "live" and not have_redis:
                expect = "Redis URL"
            with urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT"),
                timeout=10,
            ) as r:
                target = json.loads(r.read())
            shot = tmp_path / f"{page}.png"
            state = asyncio.run(_visit(target["webSocketDebuggerUrl"], f"{base}/?page={page}", expect, shot))
            results[page] = (state, shot)
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(keep) / shot.name)
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=15)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    import matplotlib.image as mpimg

    for page, (state, shot) in results.items():
        assert state.get("exceptions") == 0, (page, state.get("text", "")[:2000])
        assert not state.get("errors"), (page, state["errors"])
        assert PAGES[page] in state.get("text", "") or (page == "live" and not have_redis), (
            page,
            state.get("text", "")[:1500],
        )
        img = mpimg.imread(io.BytesIO(shot.read_bytes()), format="png")
        assert img.shape[0] >= 1000 and img.shape[1] >= 1300, (page, img.shape)
        assert float(img[..., :3].std()) > 0.02, f"{page}: the screenshot is blank"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
