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
    # Fabric takes mouse events once it has set up and painted the photo on its lower
    # canvas: on a busy machine a drag made before that is lost (a user sees the photo
    # appear first, then draws)
    lower = page.locator("canvas.lower-canvas").first  # in the component's shadow root
    painted = """c => c.width > 0 &&
        c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data[3] > 0"""
    for _ in range(SCRIPT_TIMEOUT_MS // 250):
        if lower.evaluate(painted):
            break
        page.wait_for_timeout(250)
    else:
        raise AssertionError("the photo never appeared on the canvas")
    canvas.scroll_into_view_if_needed()
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
