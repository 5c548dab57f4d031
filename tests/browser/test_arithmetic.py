"""The CNN-arithmetic pages in a real browser: clicking a cell, the animation, the table."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import SCRIPT_TIMEOUT_MS, assert_no_error, open_page, wait_for_app


@pytest.mark.browser
def test_clicking_a_cell_moves_the_receptive_field(page, app_url):
    open_page(page, app_url, "/receptive_field")
    assert_no_error(page)
    page.get_by_text("Cell (2, 2) of row 4 sees input rows 8-23").wait_for()
    chart = page.locator(".st-key-rf_stack_chart")
    chart.locator(".js-plotly-plot").wait_for()
    # LeNet-5's row 4 is 5 x 5: point index = y * 5 + x in the first (cells) trace
    chart.locator(".scatterlayer .trace").first.locator(".point").nth(1 * 5 + 4).click(force=True)
    wait_for_app(page)
    page.get_by_text("Cell (1, 4) of row 4 sees input rows 4-19 and columns 16-31").wait_for()
    assert_no_error(page)


@pytest.mark.browser
def test_animation_and_calculator_pages_render(page, app_url):
    open_page(page, app_url, "/convolution")
    assert_no_error(page)
    page.get_by_text("25 frames, one per output cell").wait_for()
    page.get_by_role("button", name="Download GIF").wait_for()
    open_page(page, app_url, "/geometry")
    assert_no_error(page)
    page.get_by_text("Final shape: 10").wait_for()


@pytest.mark.browser
def test_layer_table_page_renders(page, app_url):
    open_page(page, app_url, "/inside")
    assert_no_error(page)
    page.get_by_text("Total 4,652,008").wait_for()


@pytest.mark.browser
def test_animate_a_row_shows_the_new_presets_row_in_the_browser(page, app_url):
    """Issue 25: after loading the VGG preset, "Animate a row" still read LeNet's
    "row 1: conv2d, 6, k 5" in the browser (AppTest saw the new label)."""
    open_page(page, app_url, "/geometry")
    shown = page.locator(".st-key-arith_animate input")
    expect(shown).to_have_value("row 1: conv2d, 6, k 5", timeout=SCRIPT_TIMEOUT_MS)
    page.locator(".st-key-arith_preset input").click()
    page.get_by_role("option", name="VGG block").click()
    wait_for_app(page)
    page.get_by_role("button", name="Load preset").click()
    wait_for_app(page)
    expect(shown).to_have_value("row 1: conv2d, 64, k 3, p 1", timeout=SCRIPT_TIMEOUT_MS)
    assert_no_error(page)
