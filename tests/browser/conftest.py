"""Fixtures for the browser tests: a running app and a Chromium page driven by Playwright.

The app is started once per test session with ``streamlit run app.py`` on a free port, from the
repository root, and stopped at the end. Its output goes to ``test-output/streamlit-server.log``.

The browser is Debian's Chromium at ``/usr/bin/chromium`` (``apt-get install chromium``), driven
by Playwright for Python through ``executable_path``; ``playwright install`` is never needed.
Without that binary the browser tests are skipped, unless ``LAB_REQUIRE_BROWSER=1`` (set by
``.ci/run``), in which case they fail with a message saying what is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO_ROOT / "test-output"
SCREENSHOT_DIR = OUTPUT_DIR / "screenshots"
SERVER_LOG = OUTPUT_DIR / "streamlit-server.log"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

SERVER_START_TIMEOUT_S = 60
# A page's first run can build a torch model: give it time.
PAGE_RUN_TIMEOUT_MS = 120_000


def browser_required() -> bool:
    """True where a missing browser must fail the run (CI sets LAB_REQUIRE_BROWSER=1)."""
    return os.environ.get("LAB_REQUIRE_BROWSER", "").strip() == "1"


def chromium_available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


# Used by the test modules as `pytestmark = pytest.mark.skipif(SKIP_BROWSER, reason=...)`.
SKIP_BROWSER = not chromium_available() and not browser_required()
SKIP_REASON = (
    f"Chromium not found at {CHROMIUM} (install it with `apt-get install chromium`); "
    "set LAB_REQUIRE_BROWSER=1 to make this a failure instead"
)


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")
    return slug or "page"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_log_tail(lines: int = 60) -> str:
    try:
        text = SERVER_LOG.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200 and resp.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextlib.contextmanager
def running_app(
    log_path: Path = SERVER_LOG,
    env: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    unset: tuple[str, ...] = (),
):
    """Start ``streamlit run app.py`` on a free port; yield its base URL (ends with '/').

    ``env`` overrides environment variables of the server (e.g. ``LAB_RUN_CODE``); ``unset``
    removes some (e.g. ``LAB_DATA_DIR``, to run with the defaults a newcomer has); ``cwd`` is
    the copy of the app to run (default: this checkout)."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        # No file watching: the tests never edit the app, and a watcher over the repo (venvs
        # included) floods the log and burns CPU.
        "--server.fileWatcherType",
        "none",
    ]
    log = open(log_path, "w")  # noqa: SIM115 - the server's log, open while it runs
    server_env = {**os.environ, "LAB_RUN_CODE": "auto", **(env or {})}
    for name in unset:
        server_env.pop(name, None)
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=server_env,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _health_ok(base + "_stcore/health"):
            if proc.poll() is not None:
                pytest.fail(
                    f"streamlit exited with code {proc.returncode} before it was healthy.\n"
                    f"Command: {' '.join(cmd)}\nLog ({log_path}):\n{server_log_tail()}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not answer {base}_stcore/health with 'ok' within "
                    f"{SERVER_START_TIMEOUT_S} s.\nLog ({log_path}):\n{server_log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="session")
def app_url():
    """The app, started once for the whole session. The browser reaches it at 127.0.0.1, so
    learner code runs (the default on the learner's own machine)."""
    with running_app() as base:
        yield base


@pytest.fixture(scope="module")
def hosted_app_url():
    """A second server as a hosted copy would be configured: running learner code is off."""
    with running_app(OUTPUT_DIR / "server-hosted.log", env={"LAB_RUN_CODE": "off"}) as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, through Playwright."""
    if not chromium_available():
        # Only reached when LAB_REQUIRE_BROWSER=1 (otherwise the module is skipped).
        pytest.fail(
            f"LAB_REQUIRE_BROWSER=1 but Chromium is missing at {CHROMIUM}. "
            "Install it with `apt-get install chromium` (as root), or unset LAB_REQUIRE_BROWSER "
            "to skip the browser tests.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser):
    """A fresh browser context and page per test, collecting console errors."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_RUN_TIMEOUT_MS)
    pg = context.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda exc: pg.console_errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()


def wait_for_app_idle(pg, timeout_ms: int = PAGE_RUN_TIMEOUT_MS) -> None:
    """Wait until the app is connected and its script has finished running.

    Streamlit (1.67) marks its root element: `[data-testid="stApp"]` carries
    `data-test-connection-state` ("CONNECTED" once the websocket is up) and
    `data-test-script-state` ("initial" → "running" → "notRunning").
    """
    pg.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout_ms
    )
    pg.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms
    )
    # The status widget ("Running...") must be gone too.
    pg.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden", timeout=timeout_ms)


def screenshot(pg, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{slugify(name)}.png"
    # Streamlit scrolls inside its main container, so a "full page" screenshot would stop at the
    # viewport: grow the viewport to the content's height first, then restore it.
    height = pg.evaluate(
        """() => { const m = document.querySelector('[data-testid="stMain"]');
                   return m ? Math.max(m.scrollHeight, window.innerHeight) : window.innerHeight; }"""
    )
    original = pg.viewport_size or VIEWPORT
    pg.set_viewport_size({"width": original["width"], "height": min(int(height) + 40, 16_000)})
    pg.wait_for_timeout(1_500)  # let charts re-layout at the new size
    pg.screenshot(path=str(path), full_page=True)
    pg.set_viewport_size(original)
    return path
