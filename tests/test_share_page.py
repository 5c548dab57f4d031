"""AppTest: a shared URL restores the view of "Explain an image"; a bad one opens with the
defaults and a notice; the model grid of "Compare models" labels each row."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.attribution import METHODS
from core.models import ModelSpec, registry
from core.pipeline import map_cache
from ui.common import _zoo_model

VIEWS = Path(__file__).resolve().parent.parent / "views"
TIMEOUT = 240


@pytest.fixture(autouse=True)
def empty_map_cache() -> None:
    map_cache().clear()


def open_link(query: dict[str, str]) -> AppTest:
    app = AppTest.from_file(str(VIEWS / "explain.py"), default_timeout=TIMEOUT)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def tile_titles(app: AppTest) -> list[str]:
    """The method of each map tile, from its first caption ("<title> · <time> ...")."""
    titles = {method.title for method in METHODS.values()}
    return [c.value.split(" · ")[0] for c in app.caption if c.value.split(" · ")[0] in titles]


def test_a_shared_link_restores_methods_settings_photo_and_class() -> None:
    app = open_link(
        {"methods": "gradcam,integrated_gradients", "integrated_gradients.steps": "6",
         "integrated_gradients.baseline": "blur", "sample": "espresso.jpg", "class": "968"}
    )  # fmt: skip
    assert not app.exception, [e.value for e in app.exception]
    assert not app.warning, [w.value for w in app.warning]
    assert sorted(tile_titles(app)) == ["Grad-CAM", "Integrated Gradients"]
    assert app.slider(key="explain_integrated_gradients_steps_").value == 6
    assert app.selectbox(key="explain_integrated_gradients_baseline_").value == "blur"
    assert app.selectbox(key="explain_image_sample").value == "espresso.jpg"
    assert "Why “cup”?" in [s.value for s in app.subheader]  # class 968
    # ...and the page writes its state back into the URL for sharing
    link = app.sidebar.get("code")[0].value
    assert "methods=gradcam%2Cintegrated_gradients" in link
    assert "integrated_gradients.steps=6" in link
    assert "sample=espresso.jpg" in link
    assert "class=968" in link


def test_a_bad_link_opens_with_defaults_and_a_notice() -> None:
    app = open_link(
        {"methods": "gradcam,shap", "integrated_gradients.steps": "-5", "model": "vgg99",
         "class": "12345"}
    )  # fmt: skip
    assert not app.exception, [e.value for e in app.exception]
    notices = " ".join(w.value for w in app.warning)
    assert "shap" in notices
    assert "integrated_gradients.steps=-5" in notices
    assert "vgg99" in notices
    assert "class=12345" in notices
    assert tile_titles(app) == ["Grad-CAM"]
    assert "Why “Egyptian cat”?" in [s.value for s in app.subheader]  # defaults: cat, top-1


def test_model_grid_rows_are_labelled_with_each_models_own_top1(monkeypatch) -> None:
    spec = registry.model_spec("resnet18")

    def random_weights(pretrained: bool):  # type: ignore[no-untyped-def]
        return spec.build(False)

    monkeypatch.setitem(
        registry._REGISTRY, "resnet18",
        ModelSpec(**{**spec.__dict__, "build": random_weights, "offline": True}),
    )  # fmt: skip
    _zoo_model.clear()
    try:
        app = AppTest.from_file(str(VIEWS / "compare.py"), default_timeout=TIMEOUT)
        app.session_state["compare_models"] = ["efficientnet_lite0", "resnet18"]
        app.session_state["compare_methods"] = ["gradcam", "saliency"]
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        labels = [m.value for m in app.markdown if m.value.startswith("**")]
        assert any(
            v.startswith("**EfficientNet-Lite0 (embedded)**  \nEgyptian cat: ") for v in labels
        )
        assert any(v.startswith("**ResNet-18**  \n") for v in labels)
        captions = [c.value for c in app.caption if " s on " in c.value]  # the tiles' times
        assert len(captions) == 4  # 2 models x 2 methods
        assert len(app.get("plotly_chart")) == 4  # each tile: picture, colour bar, read-out
    finally:
        _zoo_model.clear()
