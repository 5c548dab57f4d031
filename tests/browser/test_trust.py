"""Real browser: draw a box on the photo in "Your guess" and read the maps' scores."""

from __future__ import annotations

import re

import pytest

from tests.browser.helpers import SCRIPT_TIMEOUT_MS, assert_no_error, open_page, wait_for_app


@pytest.mark.browser
def test_drawing_a_box_scores_every_map(page, app_url) -> None:  # type: ignore[no-untyped-def]
    open_page(page, app_url, "/explain")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("maps ready.").wait_for(timeout=SCRIPT_TIMEOUT_MS)
    wait_for_app(page)  # the trust section renders after the maps: a rerun would reset the canvas
    page.get_by_role("tab", name="Your guess").click()
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    wait_for_app(page)
    box = canvas.bounding_box()
    assert box is not None
    # the cat's head is in the upper middle of the default sample
    page.mouse.move(box["x"] + 90, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 250, box["y"] + 200, steps=20)
    page.mouse.up()
    answer = main.get_by_text("Closest to your guess")
    answer.wait_for(timeout=SCRIPT_TIMEOUT_MS)
    wait_for_app(page)
    assert_no_error(page)
    text = answer.inner_text()
    share = int(re.search(r"(\d+)% of its mass inside", text).group(1))  # type: ignore[union-attr]
    assert 0 < share <= 100
    assert "(1 box)" in text
