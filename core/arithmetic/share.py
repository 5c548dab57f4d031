"""The CNN-arithmetic pages' state in their URLs: a layer stack and its input as text,
and the fields of the geometry calculator, the convolution animation and the receptive
field page (read and written by :mod:`core.common.query`).

A stack is written in URL-safe characters only, so a link stays readable:
``conv2d_o6_k5~avgpool2d_k2~flatten~linear_f10``: rows joined by ``~``, each row its op
and then one cell a token, a letter for the parameter (:data:`ALIASES`: ``o``
out_channels, ``k`` kernel_size, ``s`` stride, ``p`` padding, ``d`` dilation, ``a``
output_padding, ``g`` groups, ``c`` ceil_mode, ``x`` scale_factor, ``f`` out_features,
``b`` bias) followed by its value (``k3x5``, ``psame``, ``c1``). A row PyTorch would
refuse is written as typed, so a teacher can share a stack with a row that does not
work ("why not?"); the page says why, as for a row typed in its table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from core.arithmetic.animation import ANIMATED_OPS, MAX_FRAMES
from core.arithmetic.formatting import format_number, format_pair
from core.arithmetic.layers import OPS, GeometryError, LayerLike, parse_input_shape, parse_layer
from core.arithmetic.presets import DEFAULT_PRESET, PRESETS
from core.common.query import (
    QueryField,
    bool_field,
    choice_field,
    int_field,
    pair_field,
    parse_bool,
    parse_int,
    parse_module_name,
    shown,
    text_field,
)
from core.common.samples import SAMPLE_FIELD
from core.models import MODEL_FIELD

ROWS, CELLS = "~", "_"
ALIASES = {
    "o": "out_channels",
    "k": "kernel_size",
    "s": "stride",
    "p": "padding",
    "d": "dilation",
    "a": "output_padding",
    "g": "groups",
    "c": "ceil_mode",
    "x": "scale_factor",
    "f": "out_features",
    "b": "bias",
}
MAX_ROWS = 64
MAX_SIDE = 4096  # the calculator's input boxes go up to this
_INTS = ("out_channels", "groups", "out_features")
_BOOLS = ("ceil_mode", "bias")
_CELL = re.compile(r"[A-Za-z0-9.+-]{1,32}")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:  # NaN
        return True
    return isinstance(value, str) and not value.strip() or str(value) == "<NA>"


def _cell_text(value: Any) -> str:
    """A table cell as URL-safe text: ``3x5`` for pairs, ``1``/``0`` for flags."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "1" if value else "0"
    if isinstance(value, tuple | list):
        return format_pair([float(v) for v in value]) if len(value) == 2 else "x".join(
            format_number(float(v)) for v in value
        )  # fmt: skip
    if isinstance(value, int | float):
        return format_number(float(value))
    text = re.sub(r"[x×*,;\s]+", "x", str(value).strip().strip("()[]").strip())
    return re.sub(r"[^A-Za-z0-9.+-]", "", text)


def stack_text(rows: Sequence[LayerLike]) -> str:
    """A stack as one URL-safe text (see the module docstring); rows without an op
    (a row just added to the table) are left out.

    Args:
        rows: Row dicts as the calculator's table holds them (or Layers).
    """
    written = []
    for number, row in enumerate(rows, start=1):
        try:
            cells = parse_layer(row, number).to_row()
        except GeometryError:  # a row PyTorch refuses (a Layer never does): as typed
            cells = dict(row) if isinstance(row, Mapping) else {}
        if _missing(cells.get("op")):
            continue
        tokens = [re.sub(r"[^a-z0-9]", "", str(cells["op"]).lower())]
        for alias, name in ALIASES.items():
            value = cells.get(name)
            if not _missing(value) and (text := _cell_text(value)):
                tokens.append(alias + text)
        written.append(CELLS.join(tokens))
    return ROWS.join(written)


def parse_stack_text(text: str) -> list[dict[str, Any]]:
    """The rows a stack text stands for (the calculator's table rows).

    Raises:
        ValueError: more than :data:`MAX_ROWS` rows, an unknown op or letter, a letter
            given twice, an empty or unreadable value (the row and the reason in words).
    """
    if not text.strip():
        return []
    parts = text.strip().split(ROWS)
    if len(parts) > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows, got {len(parts)}")
    rows: list[dict[str, Any]] = []
    for number, part in enumerate(parts, start=1):
        op, *tokens = part.split(CELLS)
        op = op.strip().lower()
        if op not in OPS:
            raise ValueError(f"row {number}: unknown op {shown(op)!r} (one of {', '.join(OPS)})")
        row: dict[str, Any] = {"op": op}
        for token in tokens:
            alias, value = token[:1], token[1:]
            name = ALIASES.get(alias)
            if name is None:
                raise ValueError(
                    f"row {number}: unknown setting {shown(alias)!r} (one of {', '.join(ALIASES)})"
                )
            if name in row:
                raise ValueError(f"row {number}: {name} is given twice")
            if not _CELL.fullmatch(value):
                raise ValueError(f"row {number}: {name} {shown(value)!r} is not a value")
            if name in _INTS:
                row[name] = parse_int(value, 0, 1_000_000, f"row {number}: {name}")
            elif name in _BOOLS:
                row[name] = parse_bool(value, f"row {number}: {name}")
            else:
                row[name] = value
        rows.append(row)
    return rows


def input_text(shape: Sequence[int]) -> str:
    """``(3, 32, 32)`` -> ``"3x32x32"``."""
    return "x".join(str(int(v)) for v in shape)


def parse_input_text(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` -> ``(3, 32, 32)``: three whole numbers from 1 to :data:`MAX_SIDE`.

    Raises:
        ValueError: not three whole numbers, or one out of range.
    """
    parts = re.split(r"\s*[x×*,]\s*", text.strip())
    if len(parts) != 3:
        raise ValueError(f"the input must be C x H x W, like 3x32x32; got {shown(text)!r}")
    names = ("channels C", "height H", "width W")
    numbers = [parse_int(p, 1, MAX_SIDE, name) for p, name in zip(parts, names, strict=True)]
    channels, height, width = parse_input_shape(numbers)
    return channels, height, width


_PRESET = PRESETS[DEFAULT_PRESET]
# The geometry calculator: its input and its table (the receptive-field page reads them).
GEOMETRY_FIELDS: tuple[QueryField, ...] = (
    text_field("input", _PRESET.input_shape, parse_input_text, input_text, "input shape"),
    text_field(
        "layers", [dict(r) for r in _PRESET.layers], parse_stack_text, stack_text, "layer stack"
    ),  # fmt: skip
)

SPEEDS = (200, 350, 500, 800, 1200)  # ms per frame
VIEWS = {"play": "Play", "step": "Step through"}
# The convolution animation: the operation, its per-axis settings, the speed and the view.
CONVOLUTION_FIELDS: tuple[QueryField, ...] = (
    choice_field("op", "conv2d", ANIMATED_OPS, label="operation"),
    bool_field("square", True, "same value for height and width"),
    pair_field("in", (5, 5), 1, 12, "input size"),
    pair_field("k", (3, 3), 1, 5, "kernel"),
    pair_field("s", (1, 1), 1, 3, "stride"),
    pair_field("p", (1, 1), 0, 3, "padding"),
    pair_field("d", (1, 1), 1, 3, "dilation"),
    pair_field("outpad", (0, 0), 0, 2, "output padding"),
    bool_field("ceil", False, "ceil_mode"),
    choice_field("speed", 500, SPEEDS, label="frame time (ms)"),
    choice_field("view", "Play", VIEWS),
    int_field("frame", 1, 1, MAX_FRAMES),
)


def layer_call_text(where: tuple[str, int]) -> str:
    """A module and its call: ``"layer2.1"``, or ``"layer2.1@2"`` for its 2nd call."""
    name, call = where
    return name if call == 1 else f"{name}@{call}"


def parse_layer_call(text: str) -> tuple[str, int]:
    """``"layer2.1"`` -> ``("layer2.1", 1)``; ``"layer2.1@2"`` -> ``("layer2.1", 2)``.
    Whether the network has it is checked by the page.

    Raises:
        ValueError: not a module name (letters, digits, ``._-``), or a bad call number.
    """
    name, at, call = text.strip().partition("@")
    return parse_module_name(name), parse_int(call, 1, 10_000, "the call") if at else 1


NETWORKS = {"stack": "Calculator's stack", "network": "Real network"}
# The receptive field: the network, its layer (a row of the stack, or a module) and cell.
RECEPTIVE_FIELD_FIELDS: tuple[QueryField, ...] = (
    choice_field("network", "Calculator's stack", NETWORKS),
    *GEOMETRY_FIELDS,
    int_field("row", None, 1, MAX_ROWS, "row of the stack"),
    MODEL_FIELD,
    SAMPLE_FIELD,
    text_field("layer", None, parse_layer_call, layer_call_text, "layer"),
    bool_field("every_layer", False, "show every layer"),
    int_field("y", None, 0, MAX_SIDE, "cell row"),
    int_field("x", None, 0, MAX_SIDE, "cell column"),
)
