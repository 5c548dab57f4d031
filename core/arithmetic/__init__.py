"""CNN arithmetic: shapes, parameters and receptive fields of layer stacks and real networks.

``from core.arithmetic import analyze_stack, output_shapes, GeometryError, Layer, PRESETS,
receptive_field, layer_table, plan_animation, format_pair, ...``. The modules:

- :mod:`~core.arithmetic.layers`: the ops, :class:`Layer` and the one parser of table rows;
- :mod:`~core.arithmetic.shapes`: :func:`analyze_stack`, each row's shape, parameters and
  classic receptive field, with PyTorch's rules;
- :mod:`~core.arithmetic.fields`: the receptive-field recurrences (size, jump, start),
  shared by the stack calculator and the layer table;
- :mod:`~core.arithmetic.torch_code`: the PyTorch modules and source code of a stack;
- :mod:`~core.arithmetic.presets`: classic stacks (LeNet-5, AlexNet, ...);
- :mod:`~core.arithmetic.receptive_fields`: the exact input box of one cell, on a stack
  (arithmetic) or on any network (gradients);
- :mod:`~core.arithmetic.tables` and :mod:`~core.arithmetic.field_tracker`: the
  layer table of any network, with receptive fields followed along the data;
- :mod:`~core.arithmetic.animation` (the plan) and
  :mod:`~core.arithmetic.animation_frames` (the frames and GIF): a kernel sliding over
  its input;
- :mod:`~core.arithmetic.formatting`: how pairs and shapes are written;
- :mod:`~core.arithmetic.share`: the pages' state in their URLs (a stack as text).

Imports only :mod:`core.common` and :mod:`core.models` of ``core``.
"""

from core.arithmetic.animation import (
    ANIMATED_OPS,
    MAX_FRAMES,
    AnimationPlan,
    AxisPlan,
    output_size_formula,
    plan_animation,
    readable_input_size,
)
from core.arithmetic.animation_frames import (
    FrameLayout,
    animation_gif,
    frame_layout,
    frames_as_array,
    render_frame,
    render_frames,
    to_gif,
)
from core.arithmetic.field_tracker import FieldTracker
from core.arithmetic.fields import GLOBAL, INPUT_FIELD, AxisField, Field, transposed_span
from core.arithmetic.formatting import format_number, format_pair, format_shape
from core.arithmetic.layers import (
    AXES,
    LAYER_FIELDS,
    OPS,
    PARAMETERS,
    REQUIRED,
    TORCH_NAMES,
    GeometryError,
    Layer,
    LayerLike,
    Pair,
    Shape,
    parse_input_shape,
    parse_layer,
    parse_layers,
)
from core.arithmetic.presets import DEFAULT_PRESET, PRESETS, Preset
from core.arithmetic.receptive_fields import (
    EMPTY_BOX,
    MAX_TAPS,
    AxisSpans,
    Box,
    ModelField,
    empty_field_reason,
    field_spans,
    largest_fields,
    model_receptive_field,
    nonzero_box,
    overlay_field,
    receptive_field,
)
from core.arithmetic.shapes import (
    LayerResult,
    StackReport,
    analyze_stack,
    final_shape_text,
    output_shapes,
    total_params,
)
from core.arithmetic.share import (
    CONVOLUTION_FIELDS,
    GEOMETRY_FIELDS,
    NETWORKS,
    RECEPTIVE_FIELD_FIELDS,
    SPEEDS,
    VIEWS,
    layer_call_text,
    parse_stack_text,
    stack_text,
)
from core.arithmetic.tables import (
    COLUMNS,
    LayerRow,
    TableSummary,
    layer_table,
    leaf_layers,
    model_layer_table,
    row_record,
    rows_to_records,
    summarize_table,
    to_csv,
)
from core.arithmetic.torch_code import module_code, pytorch_code, torch_module, torch_stack
from core.common.hooks import layer_output

__all__ = [
    "stack_text",
    "parse_stack_text",
    "layer_call_text",
    "VIEWS",
    "SPEEDS",
    "RECEPTIVE_FIELD_FIELDS",
    "NETWORKS",
    "GEOMETRY_FIELDS",
    "CONVOLUTION_FIELDS",
    "ANIMATED_OPS",
    "AXES",
    "COLUMNS",
    "EMPTY_BOX",
    "GLOBAL",
    "INPUT_FIELD",
    "LAYER_FIELDS",
    "MAX_FRAMES",
    "MAX_TAPS",
    "OPS",
    "PARAMETERS",
    "DEFAULT_PRESET",
    "PRESETS",
    "REQUIRED",
    "TORCH_NAMES",
    "AnimationPlan",
    "AxisField",
    "AxisPlan",
    "AxisSpans",
    "Box",
    "Field",
    "FieldTracker",
    "FrameLayout",
    "GeometryError",
    "Layer",
    "LayerLike",
    "LayerResult",
    "LayerRow",
    "ModelField",
    "Pair",
    "Preset",
    "Shape",
    "StackReport",
    "TableSummary",
    "analyze_stack",
    "animation_gif",
    "empty_field_reason",
    "field_spans",
    "final_shape_text",
    "format_number",
    "format_pair",
    "format_shape",
    "frame_layout",
    "frames_as_array",
    "largest_fields",
    "layer_output",
    "layer_table",
    "leaf_layers",
    "model_layer_table",
    "model_receptive_field",
    "module_code",
    "nonzero_box",
    "output_shapes",
    "output_size_formula",
    "overlay_field",
    "parse_input_shape",
    "parse_layer",
    "parse_layers",
    "plan_animation",
    "pytorch_code",
    "readable_input_size",
    "receptive_field",
    "render_frame",
    "render_frames",
    "row_record",
    "rows_to_records",
    "summarize_table",
    "to_csv",
    "to_gif",
    "torch_module",
    "torch_stack",
    "total_params",
    "transposed_span",
]
