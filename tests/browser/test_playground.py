"""The perceptron playground in a real browser: live training and clicking a neuron."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import assert_no_error, open_page

URL_PATH = "/playground"


def step_count(page) -> int:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Step").first
    return int(re.sub(r"\D", "", metric.locator('[data-testid="stMetricValue"]').inner_text()))


def wait_for_state(page, state: str) -> None:
    """Wait for the status badge (icon ligature + text, e.g. 'pause Paused')."""
    page.locator('[data-testid="stMarkdown"]').filter(
        has_text=re.compile(rf"\b{state}$")
    ).first.wait_for()


@pytest.mark.browser
def test_training_runs_live_and_pauses(page, app_url):
    open_page(page, app_url, URL_PATH)
    assert_no_error(page)
    assert step_count(page) == 0
    page.get_by_role("button", name="Start").click()
    wait_for_state(page, "Running")
    # the fragment timer keeps training without any further interaction
    page.wait_for_function(
        """() => {
            const metric = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .find(m => m.innerText.startsWith('Step'));
            return metric && parseInt(metric.innerText.replace(/\\D/g, '')) >= 20;
        }""",
        timeout=60_000,
    )
    page.get_by_role("button", name="Pause").click()
    wait_for_state(page, "Paused")
    page.wait_for_timeout(1500)
    paused = step_count(page)
    page.wait_for_timeout(1500)
    assert step_count(page) == paused
    assert_no_error(page)


@pytest.mark.browser
def test_clicking_a_neuron_selects_it(page, app_url):
    open_page(page, app_url, URL_PATH)
    graph = page.locator(".st-key-pg_graph")
    graph.locator(".js-plotly-plot").wait_for()
    # find the node of hidden 2, neuron 3 through the figure's own data, then click it
    trace_index, point_index = page.evaluate(
        """() => {
            const plot = document.querySelector('.st-key-pg_graph .js-plotly-plot');
            const traces = plot.data;
            for (let t = 0; t < traces.length; t++) {
                const ids = traces[t].customdata || [];
                const p = ids.indexOf('1:2');
                if (p >= 0) return [t, p];
            }
            return [-1, -1];
        }"""
    )
    assert trace_index >= 0
    points = graph.locator(".scatterlayer .trace").nth(trace_index).locator(".point")
    box = points.nth(point_index).bounding_box()
    # plotly picks points from the mouse position on its drag layer, not from DOM clicks
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)
    page.wait_for_timeout(300)
    page.mouse.click(*centre)
    expect(page.locator(".st-key-pg_neuron input")).to_have_value(
        "hidden 2, neuron 3", timeout=30_000
    )
    page.get_by_text("from hidden 1 #1").first.wait_for()
    assert_no_error(page)
