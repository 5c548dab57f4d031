""" "Inside the network" in a real browser: hovering a point of the embedding shows its
image (a component AppTest cannot run), the feature-visualisation panel renders, and
clicking a feature-map cell (a plotly click, which AppTest cannot make) explains it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import assert_no_error, open_page, wait_for_app


def _choose(page, label: str) -> None:
    page.locator("button").filter(has_text=label).first.click()
    wait_for_app(page, 120_000)


@pytest.mark.browser
def test_hovering_an_embedded_digit_shows_it(page, app_url):
    """The embedding starts on the 5,000 MNIST digits (a real set, issue 25); hovering a
    point shows that point's own thumbnail and caption (the box's index is the hovered
    point's ``customdata``, its text that point's caption)."""
    open_page(page, app_url, "/inside")
    _choose(page, "Embedding")
    assert_no_error(page)
    chart = page.locator(".st-key-inside_emb_chart .js-plotly-plot")
    chart.wait_for()
    box = page.locator('[data-testid="inside-hover-box"]')
    # every point of every trace: screen position, index (customdata) and caption
    points = page.evaluate(
        """() => {
          const gd = document.querySelector('.st-key-inside_emb_chart .js-plotly-plot');
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          const r = gd.getBoundingClientRect();
          return gd._fullData.filter(t => t.customdata).flatMap(t => Array.from(t.x, (x, i) =>
            [r.left + xa._offset + xa.l2p(x), r.top + ya._offset + ya.l2p(t.y[i]),
             Number(t.customdata[i]), t.text[i]]));
        }"""
    )
    assert len(points) == 5000  # the digit CNN's MNIST set, one point per digit
    captions = {index: text for _, _, index, text in points}
    page.wait_for_timeout(800)  # the component attaches its listener within 300 ms
    # the point furthest from the centre has no neighbour on top of it
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    x, y, index, text = max(points, key=lambda p: (p[0] - cx) ** 2 + (p[1] - cy) ** 2)
    page.mouse.move(x, y)
    box.wait_for(state="visible", timeout=10_000)
    shown = int(box.get_attribute("data-index") or -1)
    assert shown in captions
    assert box.inner_text().strip() == captions[shown]
    assert shown == index  # the hovered point itself, not a neighbour


def _point_position(page, chart_key: str, fragment: str, occurrence: int = 0) -> tuple:
    """Screen position and hover text of a point of a chart's click layer (its last
    trace: transparent points over the cells, WebGL on large charts): the
    ``occurrence``-th whose hover text contains ``fragment``, in the trace's order."""
    return page.evaluate(
        """([key, fragment, occurrence]) => {
          const gd = document.querySelector('.st-key-' + key + ' .js-plotly-plot');
          const trace = gd._fullData[gd._fullData.length - 1];
          const found = trace.text.map((t, i) => [t, i]).filter(([t]) => t.includes(fragment));
          const index = found[occurrence][1];
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          const r = gd.getBoundingClientRect();
          return [[r.left + xa._offset + xa.l2p(trace.x[index]),
                   r.top + ya._offset + ya.l2p(trace.y[index])], trace.text[index]];
        }""",
        [chart_key, fragment, occurrence],
    )


def _click(page, position: list[float]) -> None:
    page.mouse.move(*position)
    page.wait_for_timeout(300)
    page.mouse.click(*position)
    wait_for_app(page, 120_000)


@pytest.mark.browser
def test_clicking_a_feature_map_cell_explains_it(page, app_url):
    open_page(page, app_url, "/inside")
    _choose(page, "Feature maps")
    page.locator(".st-key-inside_fm_chart .js-plotly-plot").wait_for()
    page.locator(".st-key-inside_fm_chart").scroll_into_view_if_needed()
    # a point halfway through the click layer (whatever the default layer and its size)
    count = page.evaluate(
        """() => { const gd = document.querySelector('.st-key-inside_fm_chart .js-plotly-plot');
                   return gd._fullData[gd._fullData.length - 1].x.length; }"""
    )
    position, text = _point_position(page, "inside_fm_chart", "row ", count // 2 + 3)
    channel, row, col = (int(n) for n in re.findall(r"channel (\d+).*row (\d+), column (\d+)",
                                                    text.replace("<br>", " "))[0])  # fmt: skip
    _click(page, position)
    assert_no_error(page)
    label = re.compile(rf"^[\w.]+: channel {channel}, row {row}, column {col}$")
    expect(page.get_by_text(label)).to_be_visible(timeout=30_000)
    expect(page.locator(".st-key-inside_cell_channel input")).to_have_value(str(channel))
    # then another cell of that channel's own map
    page.locator(".st-key-inside_cell_map").scroll_into_view_if_needed()
    position, _ = _point_position(page, "inside_cell_map", "row 1, column 2<")
    _click(page, position)
    label = re.compile(rf"^[\w.]+: channel {channel}, row 1, column 2$")
    expect(page.get_by_text(label)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Recomputed:")).to_be_visible()
