"""Start-up time and memory of the app, as a user meets it.

Starts ``streamlit run streamlit_app.py`` on a free port, measures the time until the
server answers and until the home page has finished rendering in headless Chromium
(model load included), then opens every page in a fresh session and reports the
server's peak resident memory (VmHWM) and current RSS.

Usage: ``python bench/startup.py`` (needs /usr/bin/chromium and playwright).
Target (issue 2): start-up <= 10 s on the 2-core CI machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port  # noqa: E402
from tests.browser.helpers import wait_for_app  # noqa: E402
from tests.browser.test_smoke import url_path  # noqa: E402
from ui.pages import PAGES  # noqa: E402


def start_server(
    port: int,
    *options: str,
    repo: Path = REPO,
    log: Path | None = None,
    script: str = "streamlit_app.py",
) -> subprocess.Popen:
    """``streamlit run streamlit_app.py`` (or ``script``, relative to ``repo``) of
    ``repo``, headless on ``port``, its output discarded or written to ``log``; more
    ``--name value`` options after those."""
    out = subprocess.DEVNULL if log is None else log.open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script,
             "--server.headless", "true", "--server.port", str(port),
             "--browser.gatherUsageStats", "false", *options],
            cwd=repo, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    finally:
        if log is not None:
            out.close()  # the server has its own copy


def wait_until_healthy(url: str) -> None:
    """Poll Streamlit's health endpoint until it answers ``ok``."""
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.05)


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a process and its children (Linux VmHWM), in MB."""
    total = 0.0
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with sync_playwright() as playwright:
        # The browser is started first: a user's browser is already open.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        started = time.perf_counter()
        server = start_server(port)
        try:
            wait_until_healthy(url)
            server_ready = time.perf_counter() - started
            page.goto(url)
            wait_for_app(page)
            home_rendered = time.perf_counter() - started
            print(f"server answering:          {server_ready:6.2f} s")
            print(f"home page fully rendered:  {home_rendered:6.2f} s  (target <= 10 s)")
            for info in PAGES:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                tab = context.new_page()
                t0 = time.perf_counter()
                tab.goto(url + url_path(info.path))
                wait_for_app(tab)
                rss_now = psutil.Process(server.pid).memory_info().rss / 2**20
                print(
                    f"  {info.title:<28} {time.perf_counter() - t0:6.2f} s   RSS {rss_now:5.0f} MB"
                )
                context.close()
            browser.close()
            report_memory(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)


def report_memory(pid: int) -> None:
    """The server's memory after every page was visited."""
    rss = psutil.Process(pid).memory_info().rss / 2**20
    print(f"server RSS after every page: {rss:7.0f} MB")
    print(f"server peak RSS (VmHWM):     {peak_rss_mb(pid):7.0f} MB")


if __name__ == "__main__":
    main()
