"""A layer stack's rows: the ops, their parameters, and the one parser of table rows.

A *stack* is a list of layers applied in order to an input ``(C, H, W)``. Each layer is
a :class:`Layer` (or a plain dict with the same keys, e.g. a row of the page's table),
naming a PyTorch module (``op``) and that module's own parameters:

============== ===================================================================
op             parameters (PyTorch's names and defaults)
============== ===================================================================
conv2d         out_channels*, kernel_size*, stride=1, padding=0 (or "same"/"valid"),
               dilation=1, groups=1, bias=True
convtranspose2d out_channels*, kernel_size*, stride=1, padding=0, output_padding=0,
               dilation=1, groups=1, bias=True
maxpool2d      kernel_size*, stride=kernel_size, padding=0, dilation=1, ceil_mode=False
avgpool2d      kernel_size*, stride=kernel_size, padding=0, ceil_mode=False
upsample       scale_factor* (nearest neighbour)
flatten        (none) -- (C, H, W) becomes (C*H*W,)
linear         out_features*, bias=True -- needs a flat input
============== ===================================================================

(* = required). Every spatial parameter is an int or an ``(h, w)`` pair; the table's
text cells may also say ``"3x5"``, ``"3,5"`` or ``"(3, 5)"``. :func:`parse_layer` is the
only parser: the page, the core and the tests all go through it. Everything it refuses
raises :class:`GeometryError` naming the row, the parameter and the reason in plain words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, NoReturn, Union

import numpy as np
import pandas as pd

from core.arithmetic.formatting import format_pair

Pair = tuple[int, int]
Shape = tuple[int, ...]
LayerLike = Union["Layer", Mapping[str, Any]]

AXES = ("height", "width")

OPS: tuple[str, ...] = (
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "convtranspose2d",
    "upsample",
    "flatten",
    "linear",
)

# The torch class each op stands for (for messages and the layer table).
TORCH_NAMES: dict[str, str] = {
    "conv2d": "Conv2d",
    "maxpool2d": "MaxPool2d",
    "avgpool2d": "AvgPool2d",
    "convtranspose2d": "ConvTranspose2d",
    "upsample": "Upsample",
    "flatten": "Flatten",
    "linear": "Linear",
}

# Which parameters each op takes. A parameter an op does not take may still be present
# (a table row whose op was changed) as long as it is empty or has the neutral value
# below; anything else is flagged, because it would silently do nothing.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "conv2d": ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"),
    "convtranspose2d": (
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "output_padding",
        "dilation",
        "groups",
        "bias",
    ),
    "maxpool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avgpool2d": ("kernel_size", "stride", "padding", "ceil_mode"),
    "upsample": ("scale_factor",),
    "flatten": (),
    "linear": ("out_features", "bias"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "conv2d": ("out_channels", "kernel_size"),
    "convtranspose2d": ("out_channels", "kernel_size"),
    "maxpool2d": ("kernel_size",),
    "avgpool2d": ("kernel_size",),
    "upsample": ("scale_factor",),
    "flatten": (),
    "linear": ("out_features",),
}
_NEUTRAL: dict[str, Any] = {
    "stride": (1, 1),
    "padding": (0, 0),
    "dilation": (1, 1),
    "output_padding": (0, 0),
    "groups": 1,
    "ceil_mode": False,
}
SAME_VALID = ("same", "valid")  # conv2d's padding words
_PAIR_PARAMETERS = ("kernel_size", "stride", "padding", "dilation", "output_padding")
_INT_PARAMETERS = ("out_channels", "groups", "out_features")
_BOOL_PARAMETERS = ("ceil_mode", "bias")


class GeometryError(ValueError):
    """An impossible layer: the message names the row, the op, the parameter and why.

    Attributes:
        row: 1-based row of the stack, or None for the input shape itself.
        op: The row's op (None when the op itself is missing or unknown).
        parameter: The offending parameter (None when it is the layer as a whole).
        reason: The reason in plain words, without the row prefix.
    """

    def __init__(self, row: int | None, op: str | None, parameter: str | None, reason: str):
        self.row = row
        self.op = op
        self.parameter = parameter
        self.reason = reason
        where = "input" if row is None else f"row {row}" + (f" ({op})" if op else "")
        super().__init__(f"{where}: {reason}")


# ----------------------------------------------------------------------------- parsing


def _is_missing(value: Any) -> bool:
    """None, NaN, pandas' NA or a blank string: an empty table cell."""
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, list | tuple | np.ndarray):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def whole_number(value: Any, fail: Callable[[], NoReturn]) -> int:
    """An integer from an int, an integral float or a numeric string; else ``fail()``."""
    if isinstance(value, bool | np.bool_):
        fail()
    if isinstance(value, int | np.integer):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        fail()
    if not math.isfinite(number) or number != int(number):
        fail()
    return int(number)


_SPLIT = re.compile(r"[x×*,;\s]+")


def _pair_items(value: Any) -> list[Any] | None:
    """The 1 or 2 items of a spatial value, or None when it is not shaped like one."""
    if isinstance(value, str):
        text = value.strip().strip("()[]").strip()
        items: list[Any] = [t for t in _SPLIT.split(text) if t]
    elif isinstance(value, list | tuple | np.ndarray):
        items = list(value)
    else:
        items = [value]
    return items if len(items) in (1, 2) else None


def _parse_int_pair(value: Any, name: str, row: int, op: str) -> Pair:
    """``3``, ``(3, 5)`` or ``"3x5"`` -> ``(h, w)`` whole numbers."""

    def fail() -> NoReturn:
        raise GeometryError(
            row, op, name, f"{name} {value!r} is not a whole number or a pair like 3x5"
        )

    items = _pair_items(value)
    if items is None:
        fail()
    numbers = [whole_number(v, fail) for v in items]
    return (numbers[0], numbers[-1])


def _parse_float_pair(value: Any, name: str, row: int, op: str) -> tuple[float, float]:
    """``2``, ``(2, 1.5)`` or ``"2x1.5"`` -> ``(h, w)`` finite numbers."""

    def fail() -> NoReturn:
        raise GeometryError(row, op, name, f"{name} {value!r} is not a number or a pair like 2x1.5")

    items = _pair_items(value)
    if items is None:
        fail()
    numbers: list[float] = []
    for v in items:
        if isinstance(v, bool | np.bool_):
            fail()
        try:
            number = float(v)
        except (TypeError, ValueError):
            fail()
        if not math.isfinite(number):
            fail()
        numbers.append(number)
    return (numbers[0], numbers[-1])


def _parse_bool(value: Any, name: str, row: int, op: str) -> bool:
    """A checkbox cell: a bool, 0/1, or the words true/false/yes/no."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise GeometryError(row, op, name, f"{name} {value!r} should be true or false")


@dataclass(frozen=True)
class Layer:
    """One row of a stack: a PyTorch op and the parameters the user gave.

    Fields left as None take PyTorch's defaults (see the module docstring). Build one
    with :func:`parse_layer` (from a dict or table row) or directly with normalised
    values (pairs as tuples).
    """

    op: str
    out_channels: int | None = None
    kernel_size: Pair | None = None
    stride: Pair | None = None
    padding: Pair | str | None = None
    dilation: Pair | None = None
    output_padding: Pair | None = None
    groups: int | None = None
    ceil_mode: bool | None = None
    scale_factor: tuple[float, float] | None = None
    out_features: int | None = None
    bias: bool | None = None

    # ---- effective values (PyTorch's defaults filled in)

    @property
    def kernel(self) -> Pair:
        """Kernel size (h, w); (1, 1) for ops without one."""
        return self.kernel_size or (1, 1)

    @property
    def strides(self) -> Pair:
        """Stride (h, w); pooling defaults to the kernel size."""
        if self.stride is not None:
            return self.stride
        return self.kernel if self.op in ("maxpool2d", "avgpool2d") else (1, 1)

    @property
    def dilations(self) -> Pair:
        """Dilation (h, w)."""
        return self.dilation or (1, 1)

    @property
    def output_paddings(self) -> Pair:
        """Output padding (h, w) of a transposed convolution."""
        return self.output_padding or (0, 0)

    @property
    def scales(self) -> tuple[float, float]:
        """Upsampling scale factor (h, w)."""
        return self.scale_factor or (1.0, 1.0)

    @property
    def n_groups(self) -> int:
        """Convolution groups."""
        return self.groups or 1

    @property
    def has_bias(self) -> bool:
        """Whether the layer has a bias (conv and linear layers)."""
        return True if self.bias is None else self.bias

    def pads(self) -> tuple[Pair, Pair]:
        """Padding before and after, per axis: ``((top, bottom), (left, right))``.

        ``"same"`` pads like PyTorch: ``dilation * (kernel - 1)`` in total, the odd
        pixel on the bottom/right; ``"valid"`` pads nothing.
        """
        if self.padding == "valid" or self.padding is None:
            return ((0, 0), (0, 0))
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilations, self.kernel, strict=True)]
            return ((totals[0] // 2, totals[0] - totals[0] // 2),) + (
                (totals[1] // 2, totals[1] - totals[1] // 2),
            )
        assert isinstance(self.padding, tuple)
        return ((self.padding[0], self.padding[0]), (self.padding[1], self.padding[1]))

    def to_row(self) -> dict[str, Any]:
        """The layer as a table row: pairs written ``"3"`` or ``"3x5"``, None if omitted."""
        row: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = format_pair(value)
            row[f.name] = value
        return row

    def describe(self) -> str:
        """A short human description, e.g. ``"conv2d 64, k 3, s 2, p 1"``."""
        parts = [self.op]
        if self.out_channels is not None:
            parts.append(str(self.out_channels))
        if self.out_features is not None:
            parts.append(str(self.out_features))
        for name, short in (
            ("kernel_size", "k"),
            ("stride", "s"),
            ("padding", "p"),
            ("dilation", "d"),
            ("output_padding", "op"),
            ("scale_factor", "x"),
        ):
            value = getattr(self, name)
            if value is not None:
                shown = format_pair(value) if isinstance(value, tuple) else value
                parts.append(f"{short} {shown}")
        if self.ceil_mode:
            parts.append("ceil")
        return ", ".join(parts)


LAYER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Layer))


def parse_layer(layer: LayerLike, row: int = 1) -> Layer:
    """Read one layer from a dict (a table row) or pass a :class:`Layer` through.

    Args:
        layer: ``{"op": "conv2d", "out_channels": 8, "kernel_size": "3x5", ...}``;
            empty cells (None, NaN, "") mean "PyTorch's default".
        row: 1-based row number, for error messages.

    Returns:
        The normalised :class:`Layer` (pairs as tuples, ops lower case).

    Raises:
        GeometryError: unknown op or parameter, unreadable value, a required parameter
            missing, or a parameter this op does not take.
    """
    if isinstance(layer, Layer):
        values = {name: getattr(layer, name) for name in LAYER_FIELDS}
    else:
        values = dict(layer)
    raw_op = values.pop("op", None)
    if _is_missing(raw_op):
        raise GeometryError(row, None, "op", f"no op: choose one of {', '.join(OPS)}")
    op = str(raw_op).strip().lower().replace("_", "")
    if op not in OPS:
        raise GeometryError(
            row, None, "op", f"unknown op {raw_op!r}: choose one of {', '.join(OPS)}"
        )
    parsed: dict[str, Any] = {}
    for name, value in values.items():
        if name not in LAYER_FIELDS:
            raise GeometryError(row, op, name, f"unknown parameter {name!r}")
        if _is_missing(value):
            continue
        if name in _PAIR_PARAMETERS:
            if name == "padding" and isinstance(value, str) and value.strip().lower() in SAME_VALID:
                parsed[name] = value.strip().lower()
                continue
            parsed[name] = _parse_int_pair(value, name, row, op)
        elif name in _INT_PARAMETERS:

            def fail(name: str = name, value: Any = value) -> NoReturn:
                raise GeometryError(row, op, name, f"{name} {value!r} is not a whole number")

            parsed[name] = whole_number(value, fail)
        elif name in _BOOL_PARAMETERS:
            parsed[name] = _parse_bool(value, name, row, op)
        else:  # scale_factor
            parsed[name] = _parse_float_pair(value, name, row, op)
    takes = PARAMETERS[op]
    for name, value in parsed.items():
        if name in takes or name == "bias" or _NEUTRAL.get(name, object()) == value:
            continue  # bias on a weightless op changes nothing: ignored
        shown = format_pair(value) if isinstance(value, tuple) else value
        raise GeometryError(
            row,
            op,
            name,
            f"{op} has no {name} (torch's {TORCH_NAMES[op]} takes "
            f"{', '.join(takes) or 'no parameters'}); clear the {name} {shown}",
        )
    for name in REQUIRED[op]:
        if name not in parsed:
            raise GeometryError(row, op, name, f"{name} is required for {op}")
    if parsed.get("padding") in SAME_VALID and op != "conv2d":
        raise GeometryError(
            row, op, "padding", f"padding {parsed['padding']!r} exists only for conv2d"
        )
    return Layer(op=op, **parsed)


def parse_layers(layers: Iterable[LayerLike]) -> list[Layer]:
    """:func:`parse_layer` on every row (numbered from 1)."""
    return [parse_layer(layer, i) for i, layer in enumerate(layers, start=1)]


def parse_input_shape(shape: Sequence[Any]) -> Shape:
    """Read a stack's input ``(C, H, W)``: three whole numbers, each at least 1.

    Args:
        shape: ``(C, H, W)`` as ints, integral floats or numeric strings.

    Returns:
        The shape as ints.

    Raises:
        GeometryError: (row None) not three values, or one not a whole number >= 1.
    """
    if len(shape) != 3:
        raise GeometryError(None, None, "shape", f"the input must be C x H x W, got {shape!r}")
    out = []
    for name, value in zip(("channels", "height", "width"), shape, strict=True):

        def fail(name: str = name, value: Any = value) -> NoReturn:
            raise GeometryError(None, None, name, f"{name} {value!r} is not a whole number")

        number = whole_number(value, fail)
        if number < 1:
            raise GeometryError(None, None, name, f"{name} {number} must be at least 1")
        out.append(number)
    return tuple(out)
