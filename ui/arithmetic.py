"""Streamlit helpers shared by the CNN-arithmetic pages: the stack in session state, the
layer-table editor's columns, a clickable cell grid and cached core calls.

Everything computed lives in ``core/`` (geometry, receptive_field, animation,
layer_table); this module only keeps state, caches and renders.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.animation import animation_gif, plan_animation, render_frame
from core.geometry import LAYER_FIELDS, OPS, PRESETS, Layer, parse_layer
from core.layer_table import model_layer_table, rows_to_records
from core.models import ImageModel
from core.receptive_field import ModelField, model_receptive_field

DEFAULT_PRESET = "LeNet-5"
STACK_KEY = "arith_stack"  # list of row dicts, shared by the calculator and RF pages
INPUT_KEY = "arith_input"  # (C, H, W)
VERSION_KEY = "arith_stack_version"  # bumped when the table is replaced from code
BASE_KEY = "arith_stack_base"  # the rows the current editor widget started from
INPUT_WIDGETS = ("arith_c", "arith_h", "arith_w")

# data_editor columns: one per Layer field (the same names core.geometry parses)
EDITOR_COLUMNS: dict[str, Any] = {
    "op": st.column_config.SelectboxColumn(
        "op", options=list(OPS), required=True, help="The PyTorch module"
    ),
    "out_channels": st.column_config.NumberColumn(
        "out_channels", min_value=0, step=1, help="conv2d / convtranspose2d"
    ),
    "kernel_size": st.column_config.TextColumn("kernel_size", help="3, or 3x5 (height x width)"),
    "stride": st.column_config.TextColumn("stride", help="Blank: 1 (pooling: the kernel size)"),
    "padding": st.column_config.TextColumn("padding", help="Blank: 0; conv2d also same / valid"),
    "dilation": st.column_config.TextColumn("dilation", help="Blank: 1"),
    "output_padding": st.column_config.TextColumn("output_padding", help="convtranspose2d only"),
    "groups": st.column_config.NumberColumn("groups", min_value=0, step=1, help="Blank: 1"),
    "ceil_mode": st.column_config.CheckboxColumn("ceil_mode", help="Pooling only"),
    "scale_factor": st.column_config.TextColumn("scale_factor", help="upsample: 2, or 2x1.5"),
    "out_features": st.column_config.NumberColumn("out_features", min_value=0, step=1),
    "bias": st.column_config.CheckboxColumn("bias", help="Blank: True"),
}
assert set(EDITOR_COLUMNS) == set(LAYER_FIELDS)


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Row dicts -> the editor's DataFrame (text cells for pairs, nullable numbers)."""
    records = [parse_layer(row, i).to_row() for i, row in enumerate(rows, start=1)]
    frame = pd.DataFrame(records, columns=list(LAYER_FIELDS))
    for column in ("out_channels", "groups", "out_features"):
        frame[column] = frame[column].astype("Int64")
    for column in ("ceil_mode", "bias"):
        frame[column] = frame[column].astype("boolean")
    for column in ("kernel_size", "stride", "padding", "dilation", "output_padding"):
        frame[column] = frame[column].astype("string")
    frame["scale_factor"] = frame["scale_factor"].astype("string")
    return frame


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The editor's DataFrame -> row dicts for core.geometry (empty cells kept empty)."""
    return [
        {key: (None if _empty(value) else value) for key, value in record.items()}
        for record in frame.to_dict("records")
    ]


def _empty(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def init_stack() -> None:
    """Put the default preset in session state, once per session."""
    if STACK_KEY not in st.session_state:
        load_preset(DEFAULT_PRESET)


def load_preset(name: str) -> None:
    """Replace the stack and input with a preset (the editor restarts from it).

    Call before the input widgets are drawn in this run (e.g. from a button in the
    sidebar, drawn first).
    """
    preset = PRESETS[name]
    st.session_state[STACK_KEY] = [dict(layer) for layer in preset.layers]
    st.session_state[INPUT_KEY] = preset.input_shape
    for widget, value in zip(INPUT_WIDGETS, preset.input_shape, strict=True):
        st.session_state[widget] = value
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def input_shape_inputs() -> tuple[int, int, int]:
    """Three number inputs for C, H, W, remembered across pages."""
    for widget, value in zip(INPUT_WIDGETS, st.session_state[INPUT_KEY], strict=True):
        st.session_state.setdefault(widget, int(value))
    cols = st.columns(3)
    shape = tuple(
        int(col.number_input(label, 1, 4096, key=widget, step=1))
        for col, label, widget in zip(
            cols, ("Channels C", "Height H", "Width W"), INPUT_WIDGETS, strict=True
        )
    )
    st.session_state[INPUT_KEY] = shape
    return shape  # type: ignore[return-value]


def stack_editor() -> list[dict[str, Any]]:
    """The editable layer table; returns the current rows (also kept in session state).

    The widget starts from a fixed base table (edits are deltas on it); the base is
    refreshed only when the widget is new: first visit, back from another page (which
    drops widget state), a preset or a reorder (which bump the key).
    """
    key = editor_key()
    if key not in st.session_state or BASE_KEY not in st.session_state:
        st.session_state[BASE_KEY] = [dict(row) for row in st.session_state[STACK_KEY]]
    edited = st.data_editor(
        rows_frame(st.session_state[BASE_KEY]),
        column_config=EDITOR_COLUMNS,
        num_rows="dynamic",
        key=key,
        width="stretch",
        placeholder="",
    )
    rows = frame_rows(edited)
    st.session_state[STACK_KEY] = rows
    return rows


def replace_stack(rows: list[dict[str, Any]]) -> None:
    """Replace the rows from code (reordering): the editor restarts from them."""
    st.session_state[STACK_KEY] = rows
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def editor_key() -> str:
    """The data_editor's widget key for the current version of the table."""
    return f"arith_editor_{st.session_state.get(VERSION_KEY, 0)}"


def cell_picker(height: int, width: int, key: str, title: str) -> tuple[int, int]:
    """Pick a cell of an ``height x width`` grid: click it, or type its row and column.

    Args:
        height: Grid rows.
        width: Grid columns.
        key: Widget key prefix (the chart and the two number inputs).
        title: Chart title.

    Returns:
        ``(y, x)``, always inside the grid.
    """
    y_key, x_key = f"{key}_y", f"{key}_x"
    for state_key, limit in ((y_key, height), (x_key, width)):
        if st.session_state.get(state_key, 0) >= limit:
            st.session_state[state_key] = limit // 2
        st.session_state.setdefault(state_key, limit // 2)

    def take_click() -> None:
        points = st.session_state[f"{key}_chart"].selection.points
        if points:
            st.session_state[y_key] = int(round(points[0]["y"]))
            st.session_state[x_key] = int(round(points[0]["x"]))

    left, right = st.columns(2)
    y = left.number_input("Cell row (y)", 0, height - 1, key=y_key, step=1)
    x = right.number_input("Cell column (x)", 0, width - 1, key=x_key, step=1)
    if height * width <= 112 * 112:
        cells = [(r, c) for r in range(height) for c in range(width)]
        side = max(3, min(28, 420 // max(height, width)))
        figure = go.Figure(
            [
                # SVG for small grids (clickable points), WebGL beyond a few thousand
                (go.Scatter if len(cells) <= 2500 else go.Scattergl)(
                    x=[c for _, c in cells],
                    y=[r for r, _ in cells],
                    mode="markers",
                    marker={"symbol": "square", "size": side, "color": "#dbeafe",
                            "line": {"width": 1 if side > 6 else 0, "color": "#9ca3af"}},
                    hovertemplate="row %{y}, col %{x}<extra></extra>",
                    name="cells",
                ),
                go.Scatter(
                    x=[x],
                    y=[y],
                    mode="markers",
                    marker={"symbol": "square", "size": side, "color": "#16a34a"},
                    hoverinfo="skip",
                    name="chosen",
                ),
            ]
        )  # fmt: skip
        figure.update_layout(
            title=title,
            showlegend=False,
            height=min(560, 104 + side * height * 1.15),
            margin={"l": 10, "r": 10, "t": 64, "b": 10},
            clickmode="event+select",
            dragmode=False,
        )
        figure.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False, zeroline=False)
        figure.update_xaxes(showgrid=False, zeroline=False, side="top")
        st.plotly_chart(
            figure,
            key=f"{key}_chart",
            on_select=take_click,
            selection_mode="points",
            config={"displayModeBar": False},
        )
        st.caption("Click a cell, or type its row and column.")
    else:
        st.caption(f"{height} x {width} cells is too many to draw: type the row and column.")
    return int(y), int(x)


# ------------------------------------------------------------------------- caching


def layer_key(layer: Layer) -> str:
    """A hashable, stable text form of a layer (cache key)."""
    return json.dumps(layer.to_row(), sort_keys=True)


@st.cache_data(show_spinner="Drawing the animation...", max_entries=64)
def cached_gif(layer_json: str, input_hw: tuple[int, int], ms_per_frame: int) -> bytes:
    """GIF bytes of one layer's animation, cached on the layer and the input size."""
    return animation_gif(json.loads(layer_json), input_hw, ms_per_frame)


@st.cache_data(show_spinner=False, max_entries=256)
def cached_frame_png(layer_json: str, input_hw: tuple[int, int], index: int) -> bytes:
    """One frame as PNG bytes."""
    plan = plan_animation(json.loads(layer_json), input_hw)
    buffer = io.BytesIO()
    render_frame(plan, index).save(buffer, format="PNG")
    return buffer.getvalue()


@st.cache_data(show_spinner="Running one forward pass to list the layers...", max_entries=16)
def cached_layer_table(model_name: str, _model: ImageModel) -> pd.DataFrame:
    """The layer table of a loaded model, cached on its registry name."""
    return pd.DataFrame(rows_to_records(model_layer_table(_model)))


@st.cache_data(show_spinner="Back-propagating from the cell to the image...", max_entries=64)
def cached_model_field(
    model_name: str,
    image_key: str,
    layer: str,
    call: int,
    y: int,
    x: int,
    _model: ImageModel,
    _image: Image.Image,
) -> ModelField:
    """The gradient receptive field of one cell, cached on (model, image, layer, cell).

    Args:
        model_name: Registry name of ``_model`` (cache key).
        image_key: Hash of the image's bytes (cache key).
        layer: Module name.
        call: 1-based call of the module (as in the layer table).
        y: Cell row.
        x: Cell column.
        _model: The loaded model (not hashed).
        _image: The RGB image (not hashed).
    """
    inputs = _model.preprocess(_image)  # (1, 3, H, W)
    return model_receptive_field(_model.net, inputs, layer, y, x, call - 1)
