"""Real browser: settings follow the user from page to page, and presenter mode
(``?present=1``) fits each page's key picture into a 1280 x 720 screen (issue 25)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from core.attribution import METHODS
from tests.browser.helpers import (
    SCRIPT_TIMEOUT_MS,
    assert_no_error,
    open_page,
    upload,
    wait_for_app,
)

SCREEN = {"width": 1280, "height": 720}


def _go(page, title: str) -> None:  # type: ignore[no-untyped-def]
    """Move to another page through the sidebar's page list."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    wait_for_app(page)


def _methods(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The titles of the methods chosen in Explain's sidebar, in their order (each tag
    is labelled with its title)."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelectTagsContainer"]')
    box.first.wait_for(timeout=SCRIPT_TIMEOUT_MS)
    titles = {method.title for method in METHODS.values()}
    labels = [e.get_attribute("aria-label") for e in box.first.locator("[aria-label]").all()]
    return [label for label in labels if label in titles]


@pytest.mark.browser
def test_photo_and_methods_of_explain_survive_a_trip_to_another_page(page, app_url) -> None:  # type: ignore[no-untyped-def]
    open_page(page, app_url, "/explain")
    sidebar = page.locator('[data-testid="stSidebar"]')
    for name in ("Grad-CAM++", "Guided backprop", "Guided Grad-CAM"):
        sidebar.get_by_role("button", name=f"Remove {name}", exact=True).click()
        wait_for_app(page)
    sidebar.locator('[data-testid="stMultiSelect"] input').first.click()
    page.keyboard.type("Occlusion")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_for_app(page)
    chosen = ["Grad-CAM", "Saliency", "Integrated Gradients", "Occlusion"]
    assert _methods(page) == chosen
    page.locator(".st-key-explain_image_sample input").click()
    page.get_by_role("option", name="Espresso").click()
    wait_for_app(page)
    assert "sample=espresso.jpg" in page.url
    assert "methods=gradcam%2Csaliency%2Cintegrated_gradients%2Cocclusion" in page.url

    _go(page, "Geometry calculator")
    assert "/geometry" in page.url
    _go(page, "Explain an image")
    assert_no_error(page)
    expect(page.locator(".st-key-explain_image_sample input")).to_have_value("Espresso")
    assert _methods(page) == chosen
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Espresso, as EfficientNet-Lite0").wait_for(timeout=SCRIPT_TIMEOUT_MS)
    assert "sample=espresso.jpg" in page.url  # and its URL is the page's state again


@pytest.mark.browser
def test_an_upload_is_shown_again_after_a_trip_to_another_page(page, app_url) -> None:  # type: ignore[no-untyped-def]
    """A file uploader cannot be given its file back: the page shows the upload picked
    before, and says so, instead of "Upload a photo"."""
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 40, 40)).save(buffer, format="PNG")
    open_page(page, app_url, "/explain")
    page.get_by_role("radio", name="Upload", exact=True).click()
    wait_for_app(page)
    upload(page, "red.png", buffer.getvalue(), "image/png")
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("red.png, as EfficientNet-Lite0").wait_for(timeout=SCRIPT_TIMEOUT_MS)
    _go(page, "Convolution animation")
    _go(page, "Explain an image")
    assert_no_error(page)
    main.get_by_text("red.png, as EfficientNet-Lite0").wait_for(timeout=SCRIPT_TIMEOUT_MS)
    assert "the photo you uploaded here before" in main.inner_text()
    assert "Upload a photo, or switch to a sample" not in main.inner_text()


@pytest.mark.browser
def test_a_teachers_deep_link_restores_the_page_and_a_bad_value_says_so(page, app_url) -> None:  # type: ignore[no-untyped-def]
    open_page(page, app_url, "/convolution?op=maxpool2d&square=false&k=2x3&s=2&view=step")
    assert_no_error(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_role("radio", name="Max pooling")).to_be_checked()
    main = page.locator('[data-testid="stMain"]')
    expect(page.locator(".st-key-anim_frame")).to_be_visible()  # "Step through": a frame slider
    for label, value in (
        ("Kernel (height)", "2"),
        ("Kernel (width)", "3"),
        ("Stride (height)", "2"),
    ):
        slider = main.get_by_role("slider", name=label).first
        expect(slider).to_have_value(value)
    assert "k=2x3" in page.url  # the page keeps its link
    assert "op=maxpool2d" in page.url
    open_page(page, app_url, "/convolution?op=conv9d&k=2")
    assert_no_error(page)
    warning = main.locator('[data-testid="stAlert"]').first
    warning.wait_for(timeout=SCRIPT_TIMEOUT_MS)
    assert "op=conv9d is not allowed" in warning.inner_text()
    expect(sidebar.get_by_role("radio", name="Convolution", exact=True)).to_be_checked()
    kernel = main.get_by_role("slider", name="Kernel").first
    expect(kernel).to_have_value("2")  # the link's good value is applied


# page -> the key picture that must be in the first screen: a locator inside stMain.
KEY_PICTURES = {
    "/explain": '[data-testid="stPlotlyChart"]',  # the first row of tiles
    "/geometry": '[data-testid="stDataFrame"]',  # the table of what comes out
    "/convolution": '[data-testid="stImage"] img',  # the animation's frame
    "/digits": ".st-key-digits_canvas",  # the drawing canvas
    "/playground": '[data-testid="stPlotlyChart"]',  # the network graph
    "/inside": '[data-testid="stDataFrame"]',  # the layer table, its first section
    "/receptive_field": '[data-testid="stImage"] img',  # the field on the stack's input
    "/receptive_field?network=network": '[data-testid="stImage"] img',  # ...on a photo
}


def _within_first_screen(page, selector: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    element = page.locator('[data-testid="stMain"]').locator(selector).first
    element.wait_for(timeout=SCRIPT_TIMEOUT_MS)
    box = element.bounding_box()
    assert box is not None, selector
    return box


@pytest.mark.browser
@pytest.mark.parametrize("path", list(KEY_PICTURES))
def test_presenter_mode_fits_each_pages_key_picture_into_1280x720(page, app_url, path) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(SCREEN)
    open_page(page, app_url, f"{path}{'&' if '?' in path else '?'}present=1")
    wait_for_app(page)
    assert_no_error(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_attribute("data-collapsed") == "true"  # the settings are folded away
    box = _within_first_screen(page, KEY_PICTURES[path])
    assert box["y"] >= 0, (path, box)
    assert box["y"] + box["height"] <= SCREEN["height"], (path, box)
    assert box["x"] + box["width"] <= SCREEN["width"], (path, box)
    if path.startswith("/digits"):  # the prediction beside the canvas, in the first screen too
        answer = page.locator('[data-testid="stMain"]').get_by_text("Draw a digit on the canvas")
        answer_box = answer.bounding_box()
        assert answer_box is not None
        assert answer_box["y"] + answer_box["height"] <= SCREEN["height"]
    if path == "/playground":  # the loss beside the graph
        loss = page.locator('[data-testid="stMain"]').get_by_text("Loss per step")
        loss_box = loss.bounding_box()
        assert loss_box is not None
        assert loss_box["y"] + loss_box["height"] <= SCREEN["height"]
    assert "present=1" in page.url


@pytest.mark.browser
def test_presenter_mode_stays_on_from_page_to_page(page, app_url) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(SCREEN)
    open_page(page, app_url, "/geometry?present=1")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_attribute("data-collapsed") == "true"
    page.locator('[data-testid="stExpandSidebarButton"]').click()  # open the settings
    expect(sidebar).to_have_attribute("data-collapsed", "false")
    page.wait_for_timeout(800)  # its slide-in
    _go(page, "Convolution animation")
    assert "present=1" in page.url
    expect(page.locator(".st-key-present input")).to_be_checked()
    page.locator(".st-key-present").get_by_text("Presenter mode").click()  # off: the URL too
    wait_for_app(page)
    assert "present=1" not in page.url
    _go(page, "Geometry calculator")
    assert "present=1" not in page.url
