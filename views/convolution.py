"""Convolution animation: the kernel sliding over the padded input, one frame per output cell."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import streamlit as st
from PIL import Image

from core.arithmetic import (
    CONVOLUTION_FIELDS,
    SPEEDS,
    GeometryError,
    Layer,
    output_size_formula,
    plan_animation,
)
from core.common.query import QueryField
from ui.arithmetic import cached_frame_png, cached_gif, layer_key
from ui.present import intro, presenting
from ui.state import Bound, PageState, Session, bind, check_choice, current, declare

st.title("Convolution animation")
intro(
    "Watch a kernel slide over its input. Blue squares are the kernel's taps (dilation "
    "spreads them apart), grey cells are padding, the dark outline is the window, and the "
    "output fills in cell by cell. A **transposed** convolution is drawn as the direct "
    "convolution it equals: zeros (yellow) between the input cells, extra padding around, "
    "stride 1 (Dumoulin & Visin 2016, *A guide to convolution arithmetic*)."
)

OPS = {
    "conv2d": "Convolution",
    "convtranspose2d": "Transposed convolution",
    "maxpool2d": "Max pooling",
    "avgpool2d": "Average pooling",
}
FIELDS = {f.name: f for f in CONVOLUTION_FIELDS}
PAIRS = {"in": "anim_in", "k": "anim_k", "s": "anim_s", "p": "anim_p", "d": "anim_d",
         "outpad": "anim_op_pad"}  # fmt: skip


def pair_bound(field: QueryField, key: str) -> Bound:
    """A (height, width) setting in the URL (``k=3x5``): one slider while "same value"
    is on, two otherwise; a link with two different values turns "same value" off."""
    both, height, width = f"{key}_both", f"{key}_h", f"{key}_w"

    def get(state: Mapping[str, Any]) -> tuple[int, int] | None:
        if state.get("anim_square", True):
            return None if both not in state else (state[both], state[both])
        return (state[height], state[width]) if height in state and width in state else None

    def put(state: Session, pair: tuple[int, int]) -> None:
        state[both], state[height], state[width] = pair[0], pair[0], pair[1]
        if pair[0] != pair[1]:
            state["anim_square"] = False

    takes = {"d": ("conv2d", "convtranspose2d", "maxpool2d"), "outpad": ("convtranspose2d",)}
    ops = takes.get(field.name, tuple(OPS))
    return Bound(field, both, lambda s: s.get("anim_op", "conv2d") in ops, get, put,
                 (height, width))  # fmt: skip


declare(PageState("convolution", bind(
    CONVOLUTION_FIELDS, "anim_", op="anim_op", square="anim_square", speed="anim_speed",
    view="anim_mode", frame=Bound(FIELDS["frame"], "anim_frame",
                                  lambda s: s.get("anim_mode") == "Step through"),
    ceil=Bound(FIELDS["ceil"], "anim_ceil", lambda s: "pool" in s.get("anim_op", "")),
    **{name: pair_bound(FIELDS[name], key) for name, key in PAIRS.items()},
)))  # fmt: skip

with st.sidebar:
    st.subheader("Layer")
    op = st.radio("Operation", list(OPS), format_func=OPS.__getitem__, key="anim_op")
    square = st.toggle("Same value for height and width", value=True, key="anim_square")


def axis_sliders(label: str, name: str, default: int) -> tuple[int, int]:
    """One slider (square) or a height and a width slider; switching carries the values.
    Bounds from the page's URL field ``name``."""
    state, key = st.session_state, PAIRS[name]
    low, high = int(FIELDS[name].low or 0), int(FIELDS[name].high or 0)
    both, height, width = f"{key}_both", f"{key}_h", f"{key}_w"
    if square:
        state.setdefault(both, state.get(height, default))
        value = st.slider(label, low, high, key=both)
        return (value, value)
    state.setdefault(height, state.get(both, default))
    state.setdefault(width, state.get(both, default))
    left, right = st.columns(2)
    return (
        left.slider(f"{label} (height)", low, high, key=height),
        right.slider(f"{label} (width)", low, high, key=width),
    )


controls, view = st.columns([1, 2])
with controls:
    input_hw = axis_sliders("Input size", "in", 5)
    kernel = axis_sliders("Kernel", "k", 3)
    stride = axis_sliders("Stride", "s", 1 if op != "maxpool2d" else 2)
    padding = axis_sliders("Padding", "p", 1 if op == "conv2d" else 0)
    dilation = axis_sliders("Dilation", "d", 1) if op != "avgpool2d" else None
    transposed = op == "convtranspose2d"
    output_padding = axis_sliders("Output padding", "outpad", 0) if transposed else None
    ceil_mode = (
        st.checkbox("ceil_mode", key="anim_ceil") if op in ("maxpool2d", "avgpool2d") else None
    )
    speed = st.select_slider(
        "Frame time", SPEEDS, value=500, format_func=lambda ms: f"{ms} ms", key="anim_speed"
    )

layer = Layer(
    op=op,
    out_channels=1 if op in ("conv2d", "convtranspose2d") else None,
    kernel_size=kernel,
    stride=stride,
    padding=padding,
    dilation=dilation,
    output_padding=output_padding,
    ceil_mode=ceil_mode,
)

with view:
    try:
        plan = plan_animation(layer, input_hw)
    except GeometryError as err:
        st.error(
            f"This layer is impossible on a {input_hw[0]} x {input_hw[1]} input: {err.reason}",
            icon=":material/error:",
        )
        st.stop()
    except ValueError as err:  # too many output cells to animate
        st.warning(f"{err}.", icon=":material/warning:")
        st.stop()
    key = layer_key(plan.layer)
    gif = cached_gif(key, input_hw, speed)
    picture_width: Any = "content"
    if presenting():  # a projector: as wide as its column, at most 540 px high
        width, height = Image.open(io.BytesIO(gif)).size
        picture_width = max(width, min(760, width * 540 // height))
    mode = st.segmented_control(
        "View", ["Play", "Step through"], default=current("anim_mode", "Play"), key="anim_mode"
    )
    if mode == "Step through":
        check_choice("anim_frame", range(1, plan.n_frames + 1), "frame")
        if plan.n_frames > 1:
            frame = st.slider("Frame (output cell)", 1, plan.n_frames, 1, key="anim_frame")
        else:
            frame = 1
        y, x = plan.cell(frame - 1)
        rows, cols = plan.input_cells(frame - 1)
        st.image(cached_frame_png(key, input_hw, frame - 1), width=picture_width)
        if rows and cols:
            listed = f"rows {', '.join(map(str, rows))} and columns {', '.join(map(str, cols))}"
            st.caption(f"Output cell ({y}, {x}) reads input {listed}.")
        else:
            st.caption(f"Output cell ({y}, {x}) reads only padding.")
    else:
        st.image(gif, width=picture_width, caption=f"{plan.n_frames} frames, one per output cell")
    st.download_button(
        "Download GIF", gif, file_name=f"{op}_animation.gif", mime="image/gif",
        key="anim_download",
    )  # fmt: skip
    st.markdown("**Output size**, PyTorch's formula with your numbers:")
    for line in output_size_formula(plan.layer, input_hw):
        st.latex(line)
