"""Real browser: each tile says what it is doing (queued or running while it waits, its
time and "computed" or "cached" when done), and a finished tile never goes back to
waiting when the method set changes (issue 21)."""

from __future__ import annotations

import time

import pytest

from tests.browser.helpers import SCRIPT_TIMEOUT_MS, assert_no_error, wait_for_app

# A photo no other browser test explains, and Integrated Gradients slow enough to watch
# (128 steps: seconds, not milliseconds).
VIEW = (
    "/explain?sample=rocket.jpg&methods=gradcam,integrated_gradients&integrated_gradients.steps=128"
)


def tile_texts(page) -> list[str]:  # type: ignore[no-untyped-def]
    main = page.locator('[data-testid="stMain"]')
    return main.locator(
        '[data-testid="stImageCaption"], [data-testid="stCaptionContainer"]'
    ).all_inner_texts()


@pytest.mark.browser
def test_tiles_say_what_they_are_doing_and_done_tiles_stay_done(page, app_url) -> None:  # type: ignore[no-untyped-def]
    page.goto(app_url.rstrip("/") + VIEW)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Grad-CAM · ").first.wait_for(timeout=SCRIPT_TIMEOUT_MS)
    # Grad-CAM is done while Integrated Gradients still waits or runs.
    texts = tile_texts(page)
    waiting = [t for t in texts if t.startswith("Integrated Gradients: ")]
    assert waiting, texts
    assert any(w in waiting[0] for w in ("queued", "running")), waiting

    # Add Saliency while IG runs: the rerun draws Grad-CAM at once as done.
    page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"] input').first.click()
    page.keyboard.type("Saliency")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    deadline = time.monotonic() + 3 * SCRIPT_TIMEOUT_MS / 1000
    seen_waiting_gradcam = False
    while time.monotonic() < deadline:
        texts = tile_texts(page)
        seen_waiting_gradcam |= any(t.startswith("Grad-CAM: ") for t in texts)
        if any(t.endswith("maps ready.") and t.startswith("3 ") for t in texts):
            break
        page.wait_for_timeout(50)
    wait_for_app(page)
    assert not seen_waiting_gradcam, "a finished Grad-CAM tile went back to waiting"
    tiles = {t.split(" · ")[0]: t for t in tile_texts(page) if " · " in t}
    assert set(tiles) == {"Grad-CAM", "Saliency", "Integrated Gradients"}
    # This session saw all three computed: none is called "cached".
    assert all("(computed; estimated" in c for c in tiles.values()), tiles
    assert_no_error(page)
