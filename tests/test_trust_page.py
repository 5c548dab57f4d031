"""AppTest of the "Can I trust these maps?" section of "Explain an image"."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.pipeline import map_cache
from ui.explain.cache import trust_cache
from ui.explain.trust import canvas_boxes

PAGE = str(Path(__file__).resolve().parent.parent / "views" / "explain.py")
TIMEOUT = 240
FAST = {"explain_integrated_gradients_steps_": 4}


@pytest.fixture(autouse=True)
def empty_caches() -> None:
    map_cache().clear()
    trust_cache().clear()


def start(methods: list[str], **state: object) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    app.session_state["explain_methods"] = methods
    for key, value in {**FAST, **state}.items():
        app.session_state[key] = value
    return app.run()


def test_curves_table_and_agreement_for_the_chosen_maps() -> None:
    app = start(["gradcam", "saliency"], trust_steps=14)
    assert not app.exception, [e.value for e in app.exception]
    assert "Can I trust these maps?" in [s.value for s in app.subheader]
    toggle = app.toggle(key="trust_curves")
    assert "forward passes" in toggle.label
    toggle.set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    table = next(d.value for d in app.dataframe if "deletion AUC (lower is better)" in d.value)
    assert set(table["map"]) == {
        "Grad-CAM", "Saliency", "Grad-CAM reversed", "Saliency reversed",
        "random (smooth, 7 x 7)", "edges (Sobel, image only)",
    }  # fmt: skip
    scores = list(table["insertion - deletion"])
    assert scores == sorted(scores, reverse=True)
    assert table[table["map"] == "Grad-CAM reversed"]["baseline"].item() == "yes"
    charts = app.get("plotly_chart")
    assert len(charts) >= 3  # deletion, insertion, agreement


def test_sanity_check_shows_its_estimate_first_then_runs(monkeypatch) -> None:
    app = start(["gradcam"])
    button = app.button(key="trust_sanity_run")
    assert "about" in button.label
    assert "blocks" in button.label
    button.click().run()
    assert not app.exception, [e.value for e in app.exception]
    verdicts = [m.value for m in app.markdown if m.value.startswith("**Grad-CAM**")]
    assert len(verdicts) == 1
    assert "at full randomisation Spearman" in verdicts[0]


def test_canvas_rectangles_become_boxes_in_input_pixels() -> None:
    data = {
        "objects": [
            {"type": "Rect", "left": 30, "top": 60, "width": 90, "height": 45,
             "scaleX": 1, "scaleY": 2},
            {"type": "path"},
            {"type": "rect", "left": 5, "top": 5, "width": 0.5, "height": 10},  # a click
        ]
    }  # fmt: skip
    assert canvas_boxes(data, 224 / 336) == [
        pytest.approx((20.0, 40.0, 80.0, 100.0)),
    ]
    assert canvas_boxes(None, 1.0) == []
