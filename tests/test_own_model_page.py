"""AppTests of "Your own model…": a model read from a file is offered and used by every
page that takes a photo model (Explain, Compare, Inside the network, Receptive field),
and the upload form's problems are messages, with the previous model still in use.

AppTest cannot put a file into a file uploader: the model is read as the form would
(``ui.own_model`` keeps its source for the process and the session lists it), and the
upload itself is driven in a real browser (tests/browser/test_own_model.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.attribution import METHODS
from core.models import ModelSource, Settings, source_name
from core.pipeline import map_cache
from tests.model_files import EXAMPLES, shrink_model
from ui import own_model

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240
LABELS = str(EXAMPLES / "digit_labels.txt")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ok(app: AppTest) -> AppTest:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    return app


def uploaded(source: ModelSource) -> str:
    """What a successful upload leaves: the source kept for the process; its name."""
    name = source_name(source)
    with own_model._SOURCES_LOCK:
        own_model._SOURCES[name] = source
    return name


def page(file: str, source: ModelSource, select: bool = True, **state: object) -> AppTest:
    name = uploaded(source)
    app = AppTest.from_file(str(ROOT / "views" / file), default_timeout=TIMEOUT)
    app.session_state[own_model.SESSION_MODELS] = {name: source}
    if select:
        app.session_state["model"] = name
    for key, value in state.items():
        app.session_state[key] = value
    return app


@pytest.fixture
def digit_onnx() -> ModelSource:
    map_cache().clear()
    return ModelSource(str(EXAMPLES / "digit_cnn.onnx"), labels=LABELS, title="digit_cnn.onnx")


def tile_captions(app: AppTest) -> list[str]:
    """The first caption of each map tile: "<method title> · <time> on <engine> (...)"."""
    titles = {method.title for method in METHODS.values()}
    return [c.value for c in app.caption if c.value.split(" · ")[0] in titles]


def test_explain_runs_every_kind_of_method_on_an_uploaded_onnx_model(digit_onnx):
    app = ok(page("explain.py", digit_onnx,
                  explain_methods=["saliency", "gradcam", "occlusion"],
                  explain_occlusion_patch_=8, explain_occlusion_stride_=4).run())  # fmt: skip
    assert app.selectbox(key="model").value == source_name(digit_onnx)
    assert app.get("image")[0].proto.imgs[0].caption.endswith("as digit_cnn.onnx sees it")
    tiles = {c.split(" · ")[0]: c for c in tile_captions(app)}
    assert set(tiles) == {"Saliency", "Grad-CAM", "Occlusion"}
    assert "on ONNX Runtime" in tiles["Occlusion"]  # the forward engine: the file's own graph
    assert any(s.value.startswith("Why “digit ") for s in app.subheader)
    about = [c.value for c in app.caption if "ONNX, 10 classes, 1 x 28 x 28 input" in c.value]
    assert about, "the picker says what it read"


def test_gradient_tiles_say_why_on_an_onnx_model_without_a_torch_version(tmp_path):
    map_cache().clear()
    path, _ = shrink_model(tmp_path / "shrink.onnx")
    source = ModelSource(str(path), settings=Settings(input_size=(16, 16)), title="shrink.onnx")
    app = ok(page("explain.py", source, explain_methods=["saliency", "rise", "scorecam"],
                  explain_rise_masks_=50).run())  # fmt: skip
    notes = [i.value for i in app.info]
    assert any("Saliency** does not apply" in n and "onnx2torch cannot convert" in n for n in notes)
    assert any(c.startswith("RISE") and "ONNX Runtime" in c for c in tile_captions(app))
    assert any("has no layers to choose from" in c.value for c in app.caption)


def test_the_form_s_problems_are_messages_and_the_previous_model_stays(digit_onnx):
    app = page("explain.py", digit_onnx, select=False, explain_methods=["gradcam"]).run()
    ok(app)
    first = app.get("image")[0].proto.imgs[0].caption
    app.selectbox(key="model").set_value(own_model.OWN_MODEL).run()
    ok(app)
    assert app.get("image")[0].proto.imgs[0].caption == first  # the page goes on
    app.button(key="model_own_load").click().run()
    assert not app.exception
    assert [e.value for e in app.error] == ["This model cannot be used: choose a model file first"]
    assert app.get("image")[0].proto.imgs[0].caption == first
    assert any("Until a model is loaded" in c.value for c in app.caption)


def test_compare_offers_three_embedded_models_and_the_uploaded_one(digit_onnx):
    app = page("compare.py", digit_onnx, select=False, compare_methods=["gradcam"]).run()
    ok(app)
    models = app.multiselect(key="compare_models")
    assert models.value == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    name = source_name(digit_onnx)
    assert name in models.options or "digit_cnn.onnx (your model)" in models.options
    models.set_value(["efficientnet_lite0", name]).run()
    ok(app)
    rows = " ".join(m.value for m in app.markdown)
    assert "**digit_cnn.onnx**" in rows
    assert "**EfficientNet-Lite0 (embedded)**" in rows


def test_inside_the_network_and_the_receptive_field_use_the_uploaded_model(digit_onnx):
    name = source_name(digit_onnx)
    app = ok(page("inside.py", digit_onnx).run())
    table = app.dataframe[0].value
    assert "conv" in " ".join(map(str, table.iloc[:, 1])).lower() or len(table) > 3
    app.button_group(key="inside_section").set_value("Feature maps").run()
    ok(app)
    app = ok(page("receptive_field.py", digit_onnx, rf_mode="Real network").run())
    layer = app.selectbox(key=f"rf_model_layer_{name}")
    assert layer.options
    assert any("as digit_cnn.onnx sees it" in c for i in app.get("image") for c in i.captions)


def test_pages_that_need_layers_say_so_for_an_onnx_runtime_only_model(tmp_path):
    path, _ = shrink_model(tmp_path / "shrink.onnx")
    source = ModelSource(str(path), settings=Settings(input_size=(16, 16)), title="shrink.onnx")
    app = ok(page("inside.py", source).run())
    assert any("shrink.onnx runs on ONNX Runtime only" in i.value for i in app.info)
    app = ok(page("receptive_field.py", source, rf_mode="Real network").run())
    assert any("has no layer whose output torch can see" in i.value for i in app.info)


def test_an_uploaded_model_is_in_the_pages_url_and_a_link_in_this_session_opens_it(
    digit_onnx,
):
    """The model file cannot go into a link, its name can: this session's link (a reload)
    opens it; another session's says so (tests/test_page_links.py)."""
    name = source_name(digit_onnx)
    app = ok(page("inside.py", digit_onnx).run())
    assert app.query_params["model"] == name
    linked = page("inside.py", digit_onnx, select=False)
    linked.query_params["model"] = name
    linked = ok(linked.run())
    assert not linked.warning
    assert linked.selectbox(key="model").value == name
