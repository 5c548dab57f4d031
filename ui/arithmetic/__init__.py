"""The CNN-arithmetic pages' Streamlit layer: the shared layer stack in session state
(:mod:`~ui.arithmetic.stack_editor`), a clickable cell grid
(:mod:`~ui.arithmetic.cell_picker`), cached core calls (:mod:`~ui.arithmetic.cache`) and
the result tables (:mod:`~ui.arithmetic.tables`).

Everything computed lives in :mod:`core.arithmetic`; this package only keeps state,
caches and renders. The pages in ``views/`` import what they show from here.
"""

from ui.arithmetic.cache import (
    cached_frame_png,
    cached_gif,
    cached_layer_table,
    cached_model_field,
    layer_key,
)
from ui.arithmetic.cell_picker import cell_picker
from ui.arithmetic.stack_editor import (
    BASE_KEY,
    DEFAULT_PRESET,
    EDITOR_COLUMNS,
    INPUT_KEY,
    INPUT_WIDGETS,
    STACK_KEY,
    VERSION_KEY,
    editor_key,
    frame_rows,
    init_stack,
    input_shape_inputs,
    load_preset,
    replace_stack,
    rows_frame,
    stack_bindings,
    stack_editor,
    stack_in_state,
)
from ui.arithmetic.tables import field_table, layer_frame, results_table

__all__ = [
    "BASE_KEY",
    "DEFAULT_PRESET",
    "EDITOR_COLUMNS",
    "INPUT_KEY",
    "INPUT_WIDGETS",
    "STACK_KEY",
    "VERSION_KEY",
    "cached_frame_png",
    "cached_gif",
    "cached_layer_table",
    "cached_model_field",
    "cell_picker",
    "editor_key",
    "field_table",
    "frame_rows",
    "init_stack",
    "input_shape_inputs",
    "layer_frame",
    "layer_key",
    "load_preset",
    "replace_stack",
    "results_table",
    "rows_frame",
    "stack_bindings",
    "stack_editor",
    "stack_in_state",
]
