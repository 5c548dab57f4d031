"""AppTest of the "Explain an image" page: a sample photo, methods, class and parameters."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.attribution import METHODS
from core.common.hooks import count_hooks
from core.common.samples import sample_path
from core.models import classify
from ui.common import default_model
from ui.explain.cache import map_cache

PAGE = str(Path(__file__).resolve().parent.parent / "views" / "explain.py")
TIMEOUT = 180

# Small settings so every method runs in a test (widget keys: explain_<method>_<param>_).
CHEAP = {
    "explain_integrated_gradients_steps_": 4,
    "explain_smoothgrad_samples_": 2,
    "explain_occlusion_patch_": 112,
    "explain_occlusion_stride_": 112,
    "explain_lime_samples_": 50,
    "explain_lime_superpixels_": 10,
    "explain_kernel_shap_samples_": 50,
    "explain_kernel_shap_superpixels_": 10,
    "explain_gradient_shap_samples_": 2,
    "explain_rise_masks_": 50,
    "explain_scorecam_layer_efficientnet_lite0": "blocks.14",
}


@pytest.fixture(autouse=True)
def empty_map_cache() -> None:
    """Each test starts with no map computed (other tests share this process's cache)."""
    map_cache.clear()


def start(methods: list[str], **state: object) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    app.session_state["explain_methods"] = methods
    for key, value in state.items():
        app.session_state[key] = value
    return app.run()


def tile_captions(app: AppTest) -> list[str]:
    """Captions of the map tiles (the first image is the photo itself)."""
    return [image.proto.imgs[0].caption for image in app.get("image")[1:]]


def test_sample_with_three_methods_cheapest_first_then_cached() -> None:
    app = start(["integrated_gradients", "saliency", "gradcam"], **CHEAP)
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error
    assert not app.warning
    assert "Why “Egyptian cat”?" in [s.value for s in app.subheader]  # default: the cat, top-1
    captions = tile_captions(app)
    assert [c.split(" · ")[0] for c in captions] == ["Grad-CAM", "Saliency", "Integrated Gradients"]
    assert all(c.endswith("(just now)") for c in captions)
    assert "3 maps ready." in app.get("progress")[-1].proto.text
    assert count_hooks(default_model().net) == 0

    app.run()  # same inputs again: every map from the cache, with its first run time
    again = tile_captions(app)
    assert all(c.endswith("(cached)") for c in again)
    assert [c.split(" (")[0] for c in again] == [c.split(" (")[0] for c in captions]


def test_class_and_parameters_change_the_maps() -> None:
    app = start(["gradcam", "integrated_gradients"], **CHEAP)
    second = classify(default_model(), Image.open(sample_path("cat.jpg")), 2)[1]
    target = next(s for s in app.selectbox if s.label == "Class to explain")
    assert target.options[1] == second.label  # top-5 first, in order
    target.set_value(second.index).run()
    assert f"Why “{second.label}”?" in [s.value for s in app.subheader]
    assert all(c.endswith("(just now)") for c in tile_captions(app))
    # IG's parameters come from its declared params: a "Steps" slider and a baseline box.
    assert any(s.label == "Steps" for s in app.slider)
    app.slider(key="explain_integrated_gradients_steps_").set_value(6).run()
    captions = tile_captions(app)
    assert captions[0].endswith("(cached)")
    assert captions[1].endswith("(just now)")


def test_every_method_renders_with_a_widget_per_declared_parameter() -> None:
    app = start(list(METHODS), **CHEAP)
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    titles = [c.split(" · ")[0] for c in tile_captions(app)]
    assert sorted(titles) == sorted(m.title for m in METHODS.values())
    widget_keys = {w.key for kind in ("slider", "selectbox", "checkbox", "number_input",
                                      "select_slider") for w in app.get(kind)}  # fmt: skip
    for method in METHODS.values():
        for param in method.params:
            expected = f"explain_{method.name}_{param.name}_"
            assert any(k and k.startswith(expected) for k in widget_keys), expected


def test_each_tile_says_which_engine_ran_it() -> None:
    app = start(["gradcam", "occlusion"], **CHEAP)
    assert not app.exception, [e.value for e in app.exception]
    captions = dict(c.split(" · ", 1) for c in tile_captions(app))
    assert " on torch " in captions["Grad-CAM"]
    assert " on ONNX Runtime " in captions["Occlusion"]


def _page_namespaces() -> list[dict]:
    """The module namespaces of this page's runs still alive (one per run that is kept)."""
    gc.collect()
    return [
        space
        for space in gc.get_objects()
        if type(space) is dict and space.get("__file__") == PAGE and "picked" in space
    ]


def test_the_class_follows_the_photo_and_no_earlier_run_stays_in_memory() -> None:
    """One class widget per model: a new photo starts at its own top-1, the photo the
    user comes back to as well, and the last run's namespace is the only one alive.

    Streamlit keeps the record of every widget drawn in a session; with a key per photo
    and a format function defined in the page, each photo kept its run's whole namespace
    (decoded photo, file bytes, maps, tiles): ~4 MB per upload in the 50-upload soak."""
    app = start(["gradcam"])
    cat = classify(default_model(), Image.open(sample_path("cat.jpg")), 2)
    app.selectbox(key="explain_target_efficientnet_lite0").set_value(cat[1].index).run()
    assert f"Why “{cat[1].label}”?" in [s.value for s in app.subheader]
    for sample in ("espresso.jpg", "rocket.jpg", "cat.jpg"):
        app.selectbox(key="explain_image_sample").set_value(sample).run()
        assert not app.exception, [e.value for e in app.exception]
        top1 = classify(default_model(), Image.open(sample_path(sample)), 1)[0]
        assert f"Why “{top1.label}”?" in [s.value for s in app.subheader], sample
    assert len(_page_namespaces()) <= 1
