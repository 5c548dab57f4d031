"""Helpers for real-browser tests: ``from tests.browser.helpers import open_page, ...``."""

from __future__ import annotations

import mimetypes

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


def download(page, name: str, attempts: int = 3) -> bytes:  # type: ignore[no-untyped-def]
    """Click the download button called ``name`` and return the file it delivers.

    A button made with a callable (Streamlit's deferred download) can fail to deliver under
    load: seen twice in full suite runs with four sessions busy, once as "Deferred file ...
    not found" in the server log (the id revoked by a run), once as a button left disabled
    after the click. Then the page is reloaded (the view is in the URL and the maps come
    back from the shared cache) and the button clicked again.
    """
    for attempt in range(attempts):
        wait_for_app(page)
        try:
            with page.expect_download(timeout=SCRIPT_TIMEOUT_MS // attempts) as info:
                page.get_by_role("button", name=name).first.click(
                    timeout=SCRIPT_TIMEOUT_MS // attempts
                )
            with open(info.value.path(), "rb") as file:
                return file.read()
        except Exception:  # playwright's TimeoutError; the last one is raised
            if attempt == attempts - 1:
                raise
            page.reload()
    raise AssertionError("unreachable")


def upload(page, name: str, data: bytes, mime: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Put a file into the page's upload widget and wait for the run it starts."""
    mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )
    wait_for_app(page)
