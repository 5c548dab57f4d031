"""Smoke test in a real browser: every page opens without an error box or a traceback."""

import pytest

from tests.browser.helpers import assert_no_error, open_page
from ui.pages import HOME, PAGES


def url_path(path: str) -> str:
    """The URL path of a page file: ``views/foo_bar.py`` -> ``/foo_bar``; home is ``/``."""
    info = next(p for p in PAGES if p.path == path)
    return "/" if info is HOME else "/" + info.url_name


@pytest.mark.browser
@pytest.mark.parametrize("page_info", PAGES, ids=[p.title for p in PAGES])
def test_every_page_opens_without_error(page, app_url, page_info):
    open_page(page, app_url, url_path(page_info.path))
    assert_no_error(page)
    assert page.title().startswith(page_info.title)
    main_text = page.locator('[data-testid="stMain"]').inner_text()
    assert len(main_text) > 200, f"{page_info.title} shows almost nothing: {main_text!r}"


@pytest.mark.browser
def test_server_built_the_default_model_once(page, app_server):
    """After every page was opened in its own session, the model was built once."""
    for page_info in PAGES:
        open_page(page, app_server.url, url_path(page_info.path))
    log = app_server.log()
    assert log.count("loaded model efficientnet_lite0 (load #") == 1, log[-3000:]
