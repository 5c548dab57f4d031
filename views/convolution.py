"""Convolution animation: the kernel sliding over the padded input, one frame per output cell."""

from __future__ import annotations

import streamlit as st

from core.arithmetic import GeometryError, Layer, output_size_formula, plan_animation
from ui.arithmetic import cached_frame_png, cached_gif, layer_key

st.title("Convolution animation")
st.markdown(
    "Watch a kernel slide over its input. Blue squares are the kernel's taps (dilation "
    "spreads them apart), grey cells are padding, the dark outline is the window, and the "
    "output fills in cell by cell. A **transposed** convolution is drawn as the direct "
    "convolution it equals: zeros (yellow) between the input cells, extra padding around, "
    "stride 1 (Dumoulin & Visin 2016, *A guide to convolution arithmetic*)."
)

OPS = {
    "Convolution": "conv2d",
    "Transposed convolution": "convtranspose2d",
    "Max pooling": "maxpool2d",
    "Average pooling": "avgpool2d",
}

with st.sidebar:
    st.subheader("Layer")
    kind = st.radio("Operation", list(OPS), key="anim_op")
    op = OPS[kind]
    square = st.toggle("Same value for height and width", value=True, key="anim_square")


def axis_sliders(label: str, low: int, high: int, default: int, key: str) -> tuple[int, int]:
    """One slider (square) or a height and a width slider; switching carries the values."""
    state = st.session_state
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
    input_hw = axis_sliders("Input size", 1, 12, 5, "anim_in")
    kernel = axis_sliders("Kernel", 1, 5, 3, "anim_k")
    stride = axis_sliders("Stride", 1, 3, 1 if op != "maxpool2d" else 2, "anim_s")
    padding = axis_sliders("Padding", 0, 3, 1 if op == "conv2d" else 0, "anim_p")
    dilation = axis_sliders("Dilation", 1, 3, 1, "anim_d") if op != "avgpool2d" else None
    output_padding = (
        axis_sliders("Output padding", 0, 2, 0, "anim_op_pad") if op == "convtranspose2d" else None
    )
    ceil_mode = (
        st.checkbox("ceil_mode", key="anim_ceil") if op in ("maxpool2d", "avgpool2d") else None
    )
    speed = st.select_slider(
        "Frame time", [200, 350, 500, 800, 1200], value=500, format_func=lambda ms: f"{ms} ms",
        key="anim_speed",
    )  # fmt: skip

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
    mode = st.segmented_control("View", ["Play", "Step through"], default="Play", key="anim_mode")
    gif = cached_gif(key, input_hw, speed)
    if mode == "Step through":
        if plan.n_frames > 1:
            frame = st.slider("Frame (output cell)", 1, plan.n_frames, 1, key="anim_frame")
        else:
            frame = 1
        y, x = plan.cell(frame - 1)
        rows, cols = plan.input_cells(frame - 1)
        st.image(cached_frame_png(key, input_hw, frame - 1), width="content")
        if rows and cols:
            listed = f"rows {', '.join(map(str, rows))} and columns {', '.join(map(str, cols))}"
            st.caption(f"Output cell ({y}, {x}) reads input {listed}.")
        else:
            st.caption(f"Output cell ({y}, {x}) reads only padding.")
    else:
        st.image(gif, width="content", caption=f"{plan.n_frames} frames, one per output cell")
    st.download_button(
        "Download GIF", gif, file_name=f"{op}_animation.gif", mime="image/gif",
        key="anim_download",
    )  # fmt: skip
    st.markdown("**Output size**, PyTorch's formula with your numbers:")
    for line in output_size_formula(plan.layer, input_hw):
        st.latex(line)
