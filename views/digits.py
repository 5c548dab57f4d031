"""Digits lab: draw a digit, watch a small CNN decide, fool it, see what it learned."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core import digits
from core.digits.share import DIGITS_FIELDS, PANELS
from ui.digits.arithmetic import arithmetic_panel
from ui.digits.cache import cached_probabilities, digit_key
from ui.digits.panels import (
    activations_panel,
    adversarial_panel,
    heatmaps_panel,
    kernels_learning_panel,
    pixelated_images,
    prototypes_panel,
    seven_segment_panel,
    show_digit,
    show_prediction,
)
from ui.digits.picker import held_out_picker
from ui.present import intro, presenting
from ui.state import Bound, PageState, bind, current, declare

NEEDS_A_DIGIT = {"Activations", "Heatmaps", "Adversarial"}
FIELDS = {f.name: f for f in DIGITS_FIELDS}

st.title("Digits lab")
pixelated_images()
# ?source=mnist&digit=42&tab=heatmaps
declare(PageState("digits", bind(
    DIGITS_FIELDS, "digits_", digit=Bound(FIELDS["digit"], "digits_index",
                                          lambda s: s.get("digits_source") == "MNIST digit"),
    tab="digits_panel",
)))  # fmt: skip
intro(
    "Draw a digit and a small convolutional network trained on MNIST reads it "
    "(98-99% right on handwritten digits it never saw). Below the drawing: what the "
    "network sees after MNIST's own preprocessing, and then ways to look inside it."
)

CANVAS_SIZE = 360 if presenting() else 280  # a projector: a larger canvas
draw_column, result_column = st.columns([1, 1])
with draw_column:
    source = st.segmented_control(
        "Digit",
        ["Draw", "MNIST digit"],
        default=current("digits_source", "Draw"),
        required=True,
        key="digits_source",
    )
    image: np.ndarray | None = None
    if source == "MNIST digit":
        picked = held_out_picker("digits_index")
        image = picked.image
        wrong = " The network gets this one wrong." if picked.mistaken else ""
        show_digit(image, f"Held-out MNIST digit {picked.index}, a {picked.label}, as stored "
                   f"(28 x 28): never seen in training.{wrong}", width=CANVAS_SIZE)  # fmt: skip
    else:
        tool_column, width_column = st.columns(2)
        tool = tool_column.segmented_control(
            "Tool", ["Pen", "Eraser"], default="Pen", required=True, key="digits_tool"
        )
        pen_width = width_column.slider(
            "Pen width", 6, 40, current("digits_pen_width", 20), key="digits_pen_width"
        )
        canvas = st_canvas(
            stroke_width=pen_width,
            stroke_color="#000000" if tool == "Eraser" else "#FFFFFF",
            background_color="#000000",
            height=CANVAS_SIZE,
            width=CANVAS_SIZE,
            drawing_mode="freedraw",
            return_image_data=True,
            update_streamlit=True,
            key="digits_canvas",
        )
        st.caption("Draw one digit, large. Undo, redo and clear are in the toolbar.")
        image = canvas.image_data

digit: np.ndarray | None = None
if image is not None:
    try:
        digit = digits.preprocess(image)
    except digits.EmptyDrawing:
        digit = None
    except ValueError as err:
        st.error(f"This drawing cannot be read: {err}")

probs: np.ndarray | None = None
with result_column:
    if digit is None:
        st.info("Draw a digit on the canvas: the network's answer appears here. "
                "An empty canvas gets no guess.")  # fmt: skip
    else:
        probs = cached_probabilities(digit_key(digit), digit)
        show_prediction(probs)
        show_digit(digit, "What the network sees: cropped, fitted into 20 x 20, centred "
                   "by centre of mass in 28 x 28")  # fmt: skip

st.divider()
panel = st.segmented_control("Look inside", list(PANELS),
                             default=current("digits_panel", "Activations"),
                             required=True, key="digits_panel")  # fmt: skip
if panel is None:
    panel = "Activations"
st.caption(PANELS[panel])
if panel != "Kernels learning" and st.session_state.get("digits_training"):
    st.session_state.digits_training = False  # leaving the panel pauses the training

if panel in NEEDS_A_DIGIT and (digit is None or probs is None):
    st.info(f"{panel} explain a drawing: draw a digit first (or pick an MNIST digit).")
elif panel == "Activations":
    activations_panel(digit, probs)
    arithmetic_panel(digit)
elif panel == "Heatmaps":
    heatmaps_panel(digit, probs)
elif panel == "Adversarial":
    adversarial_panel(digit)
elif panel == "Prototypes":
    prototypes_panel(digit)
elif panel == "Seven segments":
    seven_segment_panel()
else:
    kernels_learning_panel()
