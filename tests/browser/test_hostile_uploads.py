"""Real browser: 44 bad or odd files through the upload widget of "Explain an image".

Each ends as tests/hostile_files.py promises (maps, with the promised note, or a clear
message), never with a traceback or a hung page, and the session still explains a good
photo afterwards.
"""

from __future__ import annotations

import time

import pytest

from tests.browser.helpers import SCRIPT_TIMEOUT_MS, open_page, upload, wait_for_app
from tests.hostile_files import corpus


@pytest.mark.browser
def test_every_hostile_file_ends_as_promised_and_the_session_survives(page, app_url) -> None:  # type: ignore[no-untyped-def]
    open_page(page, app_url, "/explain?methods=gradcam")
    page.get_by_role("radio", name="Upload", exact=True).click()
    wait_for_app(page)
    main = page.locator('[data-testid="stMain"]')
    outcomes = []
    for case in corpus():
        started = time.perf_counter()
        try:
            upload(page, case.name, case.data)
        except Exception as error:  # playwright's TimeoutError: say which file hung
            raise AssertionError(f"{case.name}: the page did not settle: {error}") from error
        # this file's own ending: its crop shown, or an error box naming it
        shown = main.get_by_text(f"{case.name}, as")
        refused = page.locator('[data-testid="stAlertContentError"]').filter(has_text=case.name)
        shown.or_(refused).first.wait_for(timeout=SCRIPT_TIMEOUT_MS)
        if case.ok:  # its caption comes before its map: wait for the map (or an error)
            done = main.get_by_text("map ready.").or_(refused)
            done.first.wait_for(timeout=SCRIPT_TIMEOUT_MS)
        wait_for_app(page)
        text = main.inner_text()
        tracebacks = page.locator('[data-testid="stException"]').count()
        errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        explained = "map ready." in text and f"{case.name}, as" in text
        good = tracebacks == 0 and (explained if case.ok else bool(errors))
        good = good and (case.expect in text)
        outcomes.append((case.name, good, errors[:1]))
        print(f"{case.name}: {time.perf_counter() - started:.1f} s")
    failed = [o for o in outcomes if not o[1]]
    assert not failed, failed
    # a good photo afterwards: the session still works
    page.get_by_role("radio", name="Sample", exact=True).click()
    wait_for_app(page)
    main.get_by_text("map ready.").wait_for(timeout=SCRIPT_TIMEOUT_MS)
    assert "Cat (Chelsea), as" in main.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
