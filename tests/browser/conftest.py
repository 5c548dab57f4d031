"""Real-browser test fixtures: a `streamlit run` server on localhost and headless Chromium.

The browser is Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) driven
by Playwright for Python; Playwright's own browser download is never used.

Fixtures:
    app_server: the running server (``url``, ``log_path``, ``log()``), one per session.
    app_url: its base URL, e.g. ``http://127.0.0.1:8765``.
    browser: one Chromium per session.
    page: a fresh browser context and page per test.
Helpers (in tests/browser/helpers.py; import them from there):
    open_page(page, app_url, url_path): navigate and wait until the script has run.
    wait_for_app(page): wait until the app is connected and its script not running.
    assert_no_error(page): fail on an error box or a traceback in the page.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.helpers import SCRIPT_TIMEOUT_MS, assert_no_error, open_page, wait_for_app

__all__ = ["assert_no_error", "open_page", "wait_for_app"]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 60.0
DUMPABLE_STREAMLIT = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True);"
    " from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; sys.exit(main())"
)


@dataclass
class AppServer:
    """A Streamlit server started for the test session."""

    url: str
    log_path: Path
    process: subprocess.Popen
    start_seconds: float

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """Start ``streamlit run streamlit_app.py`` on a free localhost port."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    # `streamlit run`, with every thread's stack written to the log on SIGUSR1: a test
    # that times out on a page that never settles shows where the server is (page fixture)
    command = [
        sys.executable, "-c", DUMPABLE_STREAMLIT, "run", "streamlit_app.py",
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    started = time.perf_counter()
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, text=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = started + SERVER_START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    break
        except OSError:
            pass
        if time.perf_counter() > deadline:
            process.kill()
            pytest.fail(
                f"streamlit did not answer in {SERVER_START_TIMEOUT} s:\n{log_path.read_text()}"
            )
        time.sleep(0.2)
    server = AppServer(url, log_path, process, time.perf_counter() - started)
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def app_url(app_server: AppServer) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium, one per test session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium), "
            "as .ci/run does, or set CHROMIUM_PATH."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Keep each phase's report on the item (the ``page`` fixture reads the call's)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A fresh context (no shared session state) and page per test. When the test fails,
    what the browser saw is printed (the app's connection and script states, the
    console's last lines) and a screenshot saved; and when the server is running, its
    threads' stacks go to its log, and the log's end is printed with the failure (where
    a page that never settled was waiting)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(SCRIPT_TIMEOUT_MS)
    new_page = context.new_page()
    console: list[str] = []
    new_page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    yield new_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        _print_browser_side(new_page, console, request.node.name)
    context.close()
    if report is not None and report.failed and "app_server" in request.fixturenames:
        server: AppServer = request.getfixturevalue("app_server")
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            print("---- the server's log, last 20,000 characters ----")
            print(server.log()[-20_000:])


def _print_browser_side(page, console: list[str], test_name: str) -> None:  # type: ignore[no-untyped-def]
    """What a failed test's browser saw: the app's states, the console, a screenshot."""
    try:
        app = page.locator('[data-testid="stApp"]')
        states = {name: app.get_attribute(f"data-test-{name}", timeout=2_000)
                  for name in ("connection-state", "script-state")}  # fmt: skip
        shot = Path(os.environ.get("TMPDIR", "/tmp")) / f"failed-{test_name[:80]}.png"
        page.screenshot(path=str(shot), full_page=True, timeout=10_000)
        print(f"---- the browser: app {states}, screenshot {shot} ----")
    except Exception as error:  # a closed or crashed page: say so, keep the test's failure
        print(f"---- the browser could not be read: {error} ----")
    print("\n".join(console[-40:]) or "(nothing on the console)")
