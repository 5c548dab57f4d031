"""Real browser: upload photos to "Explain an image" and get maps, or a clear message."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from core.attribution import METHODS
from tests.browser.helpers import (
    SCRIPT_TIMEOUT_MS,
    assert_no_error,
    open_page,
    upload,
    wait_for_app,
)


def _png_with_transparency() -> bytes:
    rng = np.random.default_rng(0)
    rgba = (rng.random((300, 400, 4)) * 255).astype(np.uint8)
    rgba[..., 3] = 255
    rgba[:50, :, 3] = 0  # a transparent band
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


def _upload(page, name: str, mime: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("radio", name="Upload", exact=True).click()
    wait_for_app(page)
    upload(page, name, data, mime)


@pytest.mark.browser
def test_uploaded_photo_gets_its_maps(page, app_url) -> None:  # type: ignore[no-untyped-def]
    open_page(page, app_url, "/explain")
    _upload(page, "transparent.png", "image/png", _png_with_transparency())
    assert_no_error(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("maps ready.").wait_for(timeout=SCRIPT_TIMEOUT_MS)
    assert "transparent.png, as EfficientNet-Lite0" in main.inner_text()
    assert "Converted from RGB with transparency" in main.inner_text()
    captions = main.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    tiles = [c.strip() for c in captions if " · " in c and c.strip().endswith(")")]
    assert len(tiles) >= 5
    assert any(c.startswith("Grad-CAM · ") for c in tiles)
    assert all(c.endswith((" s)", "(cached)")) for c in tiles)
    # Each tile is a figure with a colour bar; the pointer reads a raw value out.
    figure = main.locator('[data-testid="stPlotlyChart"]').first
    figure.scroll_into_view_if_needed()
    box = figure.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.4)
    hover = page.locator(".hoverlayer .hovertext")
    hover.first.wait_for(timeout=10_000)
    text = hover.first.text_content() or ""  # SVG text
    assert any(f" {method.unit}" in text for method in METHODS.values()), text


@pytest.mark.browser
def test_truncated_upload_gets_a_message_not_a_traceback(page, app_url) -> None:  # type: ignore[no-untyped-def]
    open_page(page, app_url, "/explain")
    _upload(page, "broken.jpg", "image/jpeg", _truncated_jpeg())
    assert page.locator('[data-testid="stException"]').count() == 0
    error = page.locator('[data-testid="stAlertContentError"]')
    assert "truncated" in error.inner_text()
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0  # no map tile


@pytest.mark.browser
def test_the_methods_box_shows_every_chosen_method(page, app_url) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: the sidebar's methods box showed five of the six default tags and hid
    the sixth behind a scroll bar. The sidebar is drawn before the maps: no need to wait
    for them."""
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(app_url.rstrip("/") + "/explain")
    tags = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelectTagsContainer"]')
    last = tags.first.get_by_text("Integrated Gradients", exact=True)
    last.wait_for(timeout=SCRIPT_TIMEOUT_MS)
    # The style sheet comes with the router's first elements and the tags with the
    # sidebar's; under the suite's load the browser applied it more than the 0.5 s this
    # test once gave it after the last tag (CI: the box still scrolled, 203 > 154 px).
    # Wait for it to hold instead, failing only if it never does.
    fits = "e => e.scrollHeight <= e.clientHeight + 1"
    deadline = time.monotonic() + 15
    while not tags.first.evaluate(fits) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    scroll, client = tags.first.evaluate("e => [e.scrollHeight, e.clientHeight]")
    assert scroll <= client + 1, (scroll, client)
    box = tags.first.bounding_box()
    assert box is not None
    for name in ("Grad-CAM", "Saliency", "Guided Grad-CAM", "Integrated Gradients"):
        tag = tags.first.get_by_text(name, exact=True).bounding_box()
        assert tag is not None, name
        assert tag["y"] + tag["height"] <= box["y"] + box["height"] + 1, name
