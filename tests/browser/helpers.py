"""Helpers for real-browser tests: ``from tests.browser.helpers import open_page, ...``."""

from __future__ import annotations

SCRIPT_TIMEOUT_MS = 60_000


def wait_for_app(page, timeout_ms: int = SCRIPT_TIMEOUT_MS) -> None:
    """Wait until the app is connected and its script has finished running.

    Streamlit marks its root element with ``data-test-script-state``
    (``initial``/``running``/``notRunning``/``rerunRequested``).
    """
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                           timeout=timeout_ms)  # fmt: skip
    # Give a rerun triggered by the last interaction the chance to start first.
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=timeout_ms)  # fmt: skip


def open_page(page, app_url: str, url_path: str = "/") -> None:
    """Navigate to a page of the app (``/`` is home, ``/explain`` for views/explain.py)."""
    page.goto(app_url.rstrip("/") + url_path)
    wait_for_app(page)


def assert_no_error(page) -> None:
    """Fail when the page shows an error box or a traceback."""
    problems = [
        f"{selector}: {element.inner_text()[:500]}"
        for selector in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')
        for element in page.locator(selector).all()
    ]
    assert not problems, "\n".join(problems)
