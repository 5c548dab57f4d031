""" "Inside the network" in a real browser: hovering a point of the embedding shows its
image (a component AppTest cannot run), and the feature-visualisation panel renders."""

from __future__ import annotations

import pytest

from tests.browser.helpers import assert_no_error, open_page, wait_for_app


def _choose(page, label: str) -> None:
    page.locator("button").filter(has_text=label).first.click()
    wait_for_app(page, 120_000)


@pytest.mark.browser
def test_hovering_an_embedded_photo_shows_it(page, app_url):
    open_page(page, app_url, "/inside")
    _choose(page, "Embedding")
    assert_no_error(page)
    chart = page.locator(".st-key-inside_emb_chart .js-plotly-plot")
    chart.wait_for()
    box = page.locator('[data-testid="inside-hover-box"]')
    # hover the points one after the other until plotly reports one (WebGL markers)
    points = page.evaluate(
        """() => {
          const gd = document.querySelector('.st-key-inside_emb_chart .js-plotly-plot');
          const trace = gd._fullData[0];
          const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
          const r = gd.getBoundingClientRect();
          return Array.from(trace.x, (x, i) => [r.left + xa._offset + xa.l2p(x),
                                        r.top + ya._offset + ya.l2p(trace.y[i])]);
        }"""
    )
    assert len(points) == 7  # the sample photos
    page.wait_for_timeout(800)  # the component attaches its listener within 300 ms
    page.mouse.move(*points[2])
    box.wait_for(state="visible", timeout=10_000)
    assert box.get_attribute("data-index") == "2"
    assert "Camera on a tripod" in box.inner_text()
