"""Receptive field: which input pixels one output cell sees, on a stack or a real network."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from core.arithmetic import (
    RECEPTIVE_FIELD_FIELDS,
    analyze_stack,
    empty_field_reason,
    format_shape,
    largest_fields,
    overlay_field,
    receptive_field,
)
from core.common.samples import sample_path
from core.models import DEFAULT_MODEL
from ui.arithmetic import (
    cached_layer_table,
    cached_model_field,
    cell_picker,
    field_table,
    init_stack,
    stack_bindings,
    stack_in_state,
)
from ui.common import image_picker, model_binding, model_picker, sample_binding
from ui.present import intro, presenting
from ui.state import Bound, PageState, bind, check_choice, current, declare
from ui.widgets import labelled_selectbox

st.title("Receptive field")
intro(
    "Pick a layer and one of its output cells to light up the input pixels that cell "
    "depends on. On a layer stack the box is exact arithmetic (padding is not input, so "
    "border cells see less). On a real network it comes from the gradient of the cell "
    "(summed over channels) with respect to the image, so residual branches count; red "
    "shows how strongly each pixel matters, the *effective* receptive field (Luo et al. "
    "2016), usually much smaller than the box."
)


def real(state: Any) -> bool:
    """The page looks at a real network (else at the calculator's stack)."""
    return state.get("rf_mode") == "Real network"


def layer_key(state: Any) -> str:
    """The real network's layer choice (one per model)."""
    return f"rf_model_layer_{state.get('model', DEFAULT_MODEL)}__option"


FIELDS = {f.name: f for f in RECEPTIVE_FIELD_FIELDS}
init_stack()
input_bound, layers_bound = stack_bindings(when=lambda s: not real(s))
declare(PageState("receptive_field", bind(
    RECEPTIVE_FIELD_FIELDS, "rf_", network="rf_mode", input=input_bound, layers=layers_bound,
    row=Bound(FIELDS["row"], "rf_stack_row__option", lambda s: not real(s)),
    model=model_binding(when=real), sample=sample_binding("rf_image", real),
    layer=Bound(FIELDS["layer"], layer_key, real),
    every_layer=Bound(FIELDS["every_layer"], "rf_model_every_layer", real),
    y=Bound(FIELDS["y"], lambda s: "rf_model_y" if real(s) else "rf_stack_y"),
    x=Bound(FIELDS["x"], lambda s: "rf_model_x" if real(s) else "rf_stack_x"),
)))  # fmt: skip
mode = st.segmented_control(
    "Network", ["Calculator's stack", "Real network"],
    default=current("rf_mode", "Calculator's stack"), key="rf_mode",
)  # fmt: skip


def input_picture(channels: int, height: int, width: int) -> Image.Image:
    """A picture of the stack's input: a photo for big inputs, a checkerboard for small."""
    if min(height, width) >= 24:
        photo = Image.open(sample_path("cat.jpg")).resize((width, height))
        return photo.convert("L" if channels == 1 else "RGB")
    checker = (np.indices((height, width)).sum(0) % 2) * 30 + 200  # (H, W) light greys
    return Image.fromarray(np.repeat(checker[..., None], 3, axis=2).astype(np.uint8))


if mode != "Real network":
    shape, rows = stack_in_state()
    report = analyze_stack(shape, rows)
    st.caption(
        f"The stack of the **Geometry calculator** page ({len(rows)} rows on a "
        f"{format_shape(shape)} input); edit it there."
    )
    if report.error is not None:
        st.warning(f"Rows from {report.error.row} on are not usable: {report.error}")
    spatial = [r for r in report.results if len(r.output_shape) == 3]
    if not spatial:
        st.info("No valid row with a spatial output: add a convolution or pooling row.")
        st.stop()
    check_choice("rf_stack_row__option", [r.row for r in spatial], "row")
    row = labelled_selectbox(
        "Layer",
        [r.row for r in spatial],
        lambda n: (
            f"row {n}: {report.results[n - 1].layer.describe()} -> "
            + format_shape(report.results[n - 1].output_shape)
        ),
        key="rf_stack_row",
        index=len(spatial) - 1,
    )
    _, out_h, out_w = report.results[row - 1].output_shape
    left, right = st.columns([1, 1])
    with left:
        y, x = cell_picker(out_h, out_w, "rf_stack", f"Output cells of row {row}")
    try:
        box = receptive_field(rows, shape, row - 1, y, x)
    except ValueError as err:  # a stack too large to trace cell by cell
        st.warning(str(err))
        st.stop()
    with right:
        y0, y1, x0, x1 = box
        picture = overlay_field(input_picture(*shape), box)
        st.image(picture, caption=f"The {shape[1]} x {shape[2]} input", width="content")
        if y1 > y0:
            st.success(
                f"Cell ({y}, {x}) of row {row} sees input rows {y0}-{y1 - 1} and columns "
                f"{x0}-{x1 - 1}: {y1 - y0} x {x1 - x0} pixels."
            )
        else:
            reason = empty_field_reason(rows, shape, row - 1, y, x)
            st.info(f"Cell ({y}, {x}) of row {row} reads no input pixel: {reason}.")
    st.subheader("Receptive field per row")
    st.dataframe(
        field_table(report, largest_fields(rows[: len(report.results)], shape)),
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Classic arithmetic (Araujo et al. 2019): size r and jump j per axis, start = centre "
        "of the first cell's field (pixel centres at 0, 1, 2...). Padding counts as pixels "
        "there, so r can exceed the input; the last column is the real, clipped widest field."
    )
else:
    model = model_picker(key="model")
    picked = image_picker(key="rf_image", sidebar=presenting())
    if picked is None:
        st.stop()
    every_layer = st.toggle(
        "Show every layer", False, key="rf_model_every_layer",
        help="Off: one entry per block of the network (its output). On: every layer "
        "inside the blocks too (convolutions, batch norms, activations...).",
    )  # fmt: skip
    layer_rows = cached_layer_table(model.name, model, blocks=not every_layer)
    spatial = {
        (r.name, r.call): r
        for r in layer_rows
        if r.output_shape is not None and len(r.output_shape) == 3
    }
    if not spatial:  # e.g. an ONNX model that runs on ONNX Runtime only: no layer to hook
        st.info(f"{model.title} has no layer whose output torch can see: nothing to trace.")
        st.stop()
    check_choice(layer_key(st.session_state), list(spatial), "layer")
    where = labelled_selectbox(
        f"Layer ({len(spatial)} {'layers' if every_layer else 'blocks'})",
        list(spatial),
        lambda k: (
            k[0]
            + (f" (call {k[1]})" if k[1] > 1 else "")
            + f" - {spatial[k].type} -> {format_shape(spatial[k].output_shape, 'x')}"
        ),
        key=f"rf_model_layer_{model.name}",
        index=len(spatial) // 3,
    )
    chosen = spatial[where]
    _, out_h, out_w = chosen.output_shape
    left, right = st.columns([1, 1])
    with left:
        y, x = cell_picker(out_h, out_w, "rf_model", f"Output cells of {chosen.name}")
    try:
        field = cached_model_field(
            model.name, picked.key, chosen.name, chosen.call, y, x, model, picked.image
        )
    except ValueError as err:  # e.g. a layer whose output is not one feature map
        st.warning(f"Cannot trace this layer: {err}")
        st.stop()
    with right:
        shown = overlay_field(model.crop(picked.image), field.box, field.gradient)
        st.image(
            shown,
            caption=f"{picked.label}, as {model.title} sees it",
            width=380 if presenting() else "content",
        )  # a projector: all of it in view
        y0, y1, x0, x1 = field.box
        theory = chosen.receptive_field or "not defined"
        if y1 > y0:
            st.success(
                f"Cell ({y}, {x}) of {chosen.name} depends on rows {y0}-{y1 - 1} and "
                f"columns {x0}-{x1 - 1} of this image: {y1 - y0} x {x1 - x0} pixels "
                f"(classic receptive field: {theory}, jump {chosen.jump or '-'})."
            )
        else:
            st.info(
                "The gradient of this cell is zero everywhere: every path to it passes a "
                "switched-off unit (e.g. a ReLU at zero) for this image. Try another cell."
            )
