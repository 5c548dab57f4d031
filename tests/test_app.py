"""AppTest of the whole app: the router, every page, the home page's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import models
from core.models import registry
from ui.common import default_model
from ui.pages import HOME, PAGES

TIMEOUT = 120
APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def start_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


@pytest.mark.parametrize("page_info", PAGES, ids=[p.title for p in PAGES])
def test_every_page_runs_without_exception_or_error_box(page_info):
    app = start_app()
    app.switch_page(page_info.path).run()
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    # A real page shows more than a title and a caption.
    assert count_elements(app.main) >= 4


def count_elements(node) -> int:
    """Leaf elements below an AppTest node (blocks are walked, not counted)."""
    children = getattr(node, "children", None)
    if not children:
        return 1
    return sum(count_elements(child) for child in children.values())


def test_home_lists_every_other_page_and_classifies_a_sample():
    app = start_app()
    assert not app.exception
    listed = {link.proto.page for link in app.get("page_link")}
    assert listed == {p.url_name for p in PAGES if p is not HOME}
    bars = [p.proto.text for p in app.get("progress")]
    assert len(bars) == 5
    assert "cat" in bars[0].lower()
    table = app.dataframe[0].value
    assert list(table["Model"])[0].startswith("EfficientNet-Lite0")
    assert len(table) == len(models.list_models())


def test_choosing_another_sample_changes_the_prediction():
    app = start_app()
    app.selectbox(key="home_image_sample").set_value("espresso.jpg").run()
    assert "espresso" in app.get("progress")[0].proto.text


def test_unavailable_model_shows_a_message_and_falls_back(monkeypatch):
    def no_weights(pretrained):
        raise models.ModelUnavailable("VGG-16 needs its pretrained weights (test).")

    spec = models.model_spec("vgg16")
    monkeypatch.setitem(
        registry._REGISTRY, "vgg16", models.ModelSpec(**{**spec.__dict__, "build": no_weights})
    )
    app = start_app()
    app.selectbox(key="model").set_value("vgg16").run()
    assert not app.exception
    assert any("VGG-16 needs its pretrained weights" in w.value for w in app.warning)
    assert len(app.get("progress")) == 5  # still classifies, with the embedded model


def test_default_model_is_built_once_per_process_not_per_session():
    default_model.clear()  # as in a fresh process
    before = models.LOAD_COUNTS.get(models.DEFAULT_MODEL, 0)
    for _ in range(3):  # three sessions, several reruns each
        app = start_app()
        app.selectbox(key="home_image_sample").set_value("rocket.jpg").run()
    assert models.LOAD_COUNTS[models.DEFAULT_MODEL] == before + 1
