"""AppTest of the "Can I trust these maps?" section of "Explain an image"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation import CascadeStep, SanityResult, Similarity
from core.pipeline import map_cache
from ui.explain.cache import trust_cache
from ui.explain.trust import canvas_boxes, sanity_figure

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
    assert "At full randomisation: Spearman" in verdicts[0]
    # the verdict is the rule's, in words, and the caption states the same rule
    assert verdicts[0].startswith("**Grad-CAM** passes: its map changed (Spearman below 0.5)")
    assert any("falls below 0.5 before half of the blocks" in c.value for c in app.caption)
    assert not any("guided Grad-CAM stay similar (fail)" in c.value for c in app.caption)


def _cascade(method: str, similarities: list[float]) -> SanityResult:
    blank = np.zeros((2, 2), np.float32)
    steps = [
        CascadeStep(tuple(f"block{j}" for j in range(i)), blank, Similarity(s, s, s, s))
        for i, s in enumerate(similarities)
    ]
    return SanityResult(method, 0, steps)


# Measured on EfficientNet-Lite0 and cat.jpg (the sanity cascade, 19 blocks, issue 25)
GUIDED_BACKPROP_CAT = [1.0, 0.999, 0.998, 0.992, 0.982, 0.98, 0.978, 0.946, 0.918, 0.872, 0.754,
                       0.778, 0.746, 0.517, 0.485, 0.356, 0.377, 0.253, 0.195, 0.1]  # fmt: skip
GRADCAM_ESPRESSO = [1.0, 0.677, 0.772, -0.05, -0.093, -0.182, 0.21, -0.292, -0.038, -0.191,
                    0.233, -0.293, 0.002, -0.078, -0.109, -0.159, -0.476, -0.045, -0.242,
                    -0.314]  # fmt: skip


def test_the_sanity_figure_holds_every_point() -> None:
    """Issue 25: the y axis (fixed at -0.3) clipped Grad-CAM's curve."""
    results = {
        "gradcam": _cascade("gradcam", GRADCAM_ESPRESSO),
        "guided_backprop": _cascade("guided_backprop", GUIDED_BACKPROP_CAT),
    }
    figure = sanity_figure(results)
    low, high = figure.layout.yaxis.range
    every = [y for trace in figure.data for y in trace.y]
    assert low < min(every)
    assert high > max(every)


def test_guided_backprop_fails_and_its_text_says_so() -> None:
    """Issue 25: the verdict said "passes" (below 0.5 at the very end) for a curve above
    0.7 for 12 of its 19 blocks, next to a text that expected it to fail."""
    verdict = _cascade("guided_backprop", GUIDED_BACKPROP_CAT).verdict()
    assert not verdict.passes
    assert verdict.changed_at == 14
    assert verdict.text() == (
        "fails: its map changed (Spearman below 0.5) only once 14 of 19 blocks were "
        "randomised, more than half the network"
    )
    gradcam = _cascade("gradcam", GRADCAM_ESPRESSO).verdict()
    assert gradcam.passes
    assert gradcam.text() == (
        "passes: its map changed (Spearman below 0.5) once 3 of 19 blocks were randomised"
    )


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
