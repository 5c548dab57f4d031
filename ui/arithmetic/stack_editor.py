"""The calculator's layer stack in session state: presets, the input shape and the editor.

The stack (a list of row dicts, as :func:`core.arithmetic.parse_layer` reads them) and
the input ``(C, H, W)`` are shared by the geometry calculator and the receptive-field
page, so both see the same network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from core.arithmetic import (
    DEFAULT_PRESET,
    GEOMETRY_FIELDS,
    LAYER_FIELDS,
    OPS,
    PRESETS,
    GeometryError,
    parse_layer,
)
from ui.state import Bound, Session

STACK_KEY = "arith_stack"  # list of row dicts, shared by the calculator and RF pages
INPUT_KEY = "arith_input"  # (C, H, W)
VERSION_KEY = "arith_stack_version"  # bumped when the table is replaced from code
BASE_KEY = "arith_stack_base"  # the rows the current editor widget started from
INPUT_WIDGETS = ("arith_c", "arith_h", "arith_w")

# data_editor columns: one per Layer field (the same names core.arithmetic parses)
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


def _record(row: dict[str, Any], number: int) -> dict[str, Any]:
    """A row as the editor shows it: normalised when it parses, else as it was typed (a
    row the user is still writing, or one a link shares to show why it fails)."""
    try:
        return parse_layer(row, number).to_row()
    except GeometryError:
        return {name: row.get(name) for name in LAYER_FIELDS}


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Row dicts -> the editor's DataFrame (text cells for pairs, nullable numbers)."""
    records = [_record(row, i) for i, row in enumerate(rows, start=1)]
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
    """The editor's DataFrame -> row dicts for core.arithmetic (empty cells kept empty)."""
    return [
        {key: (None if _empty(value) else value) for key, value in record.items()}
        for record in frame.to_dict("records")
    ]


def _empty(value: Any) -> bool:
    """Whether an editor cell is empty (None, NaN or pandas' NA)."""
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
    channels, height, width = (
        int(col.number_input(label, 1, 4096, key=widget, step=1))
        for col, label, widget in zip(
            cols, ("Channels C", "Height H", "Width W"), INPUT_WIDGETS, strict=True
        )
    )
    shape = (channels, height, width)
    st.session_state[INPUT_KEY] = shape
    return shape


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


def stack_in_state() -> tuple[tuple[int, int, int], list[dict[str, Any]]]:
    """The shared input shape and rows (after :func:`init_stack`), for pages that read them."""
    channels, height, width = (int(v) for v in st.session_state[INPUT_KEY])
    return (channels, height, width), st.session_state[STACK_KEY]


def _put_input(session: Session, shape: tuple[int, int, int]) -> None:
    session[INPUT_KEY] = shape
    for widget, value in zip(INPUT_WIDGETS, shape, strict=True):
        session[widget] = value


def _get_input(session: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The input boxes' values (this run's, before the page reads them), else the kept
    shape."""
    if all(widget in session for widget in INPUT_WIDGETS):
        return tuple(int(session[widget]) for widget in INPUT_WIDGETS)
    return session.get(INPUT_KEY)


def _put_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    session[STACK_KEY] = rows
    session[VERSION_KEY] = session.get(VERSION_KEY, 0) + 1  # the editor restarts from them


def stack_bindings(when: Callable[[Mapping[str, Any]], bool] | None = None) -> tuple[Bound, Bound]:
    """The stack's input and rows in a page's URL (``input=3x32x32&layers=...``); a
    link replaces the table. Call :func:`init_stack` first.

    Args:
        when: Write them only when this holds for the session (None: always).
    """
    by_name = {f.name: f for f in GEOMETRY_FIELDS}
    return (
        Bound(by_name["input"], INPUT_KEY, when, _get_input, _put_input),
        Bound(by_name["layers"], STACK_KEY, when, put=_put_rows),
    )
