"""CNN arithmetic: the shape, parameter count and receptive field after each layer of a stack.

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
only parser: the page, the core and the tests all go through it.

The output sizes are PyTorch's own formulas (``torch.nn`` docs for each module; pooling
follows ATen's ``pooling_output_shape``, including ceil mode's rule that the last window
must start inside the input or its left padding). Everything PyTorch refuses raises
:class:`GeometryError` naming the row, the parameter and the reason in plain words. The
property test in ``tests/test_geometry.py`` compares thousands of random stacks with
PyTorch's modules.

Receptive fields use the classic arithmetic (Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019,
https://distill.pub/2019/computing-receptive-fields/): per axis, the receptive field
size ``r``, the jump ``j`` (distance in input pixels between neighbouring cells) and the
start (input coordinate of the centre of the first cell's field, pixel centres at
0, 1, 2, ...). Padding is treated like real pixels, so ``r`` may exceed the input; the
exact clipped box of one cell is :func:`core.receptive_field.receptive_field`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Union

import numpy as np
import pandas as pd
from torch import nn

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


def _whole(value: Any, fail: Any) -> int:
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
    def fail() -> None:
        raise GeometryError(
            row, op, name, f"{name} {value!r} is not a whole number or a pair like 3x5"
        )

    items = _pair_items(value)
    if items is None:
        fail()
    numbers = [_whole(v, fail) for v in items]  # type: ignore[union-attr]
    return (numbers[0], numbers[-1])


def _parse_float_pair(value: Any, name: str, row: int, op: str) -> tuple[float, float]:
    def fail() -> None:
        raise GeometryError(row, op, name, f"{name} {value!r} is not a number or a pair like 2x1.5")

    items = _pair_items(value)
    if items is None:
        fail()
    numbers: list[float] = []
    for v in items:  # type: ignore[union-attr]
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
                value = _format_pair(value)
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
                shown = _format_pair(value) if isinstance(value, tuple) else value
                parts.append(f"{short} {shown}")
        if self.ceil_mode:
            parts.append("ceil")
        return ", ".join(parts)


LAYER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Layer))


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _format_pair(pair: tuple[Any, Any]) -> str:
    a, b = (_format_number(v) for v in pair)
    return a if a == b else f"{a}x{b}"


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
            if (
                name == "padding"
                and isinstance(value, str)
                and value.strip().lower()
                in (
                    "same",
                    "valid",
                )
            ):
                parsed[name] = value.strip().lower()
                continue
            parsed[name] = _parse_int_pair(value, name, row, op)
        elif name in _INT_PARAMETERS:

            def fail(name: str = name, value: Any = value) -> None:
                raise GeometryError(row, op, name, f"{name} {value!r} is not a whole number")

            parsed[name] = _whole(value, fail)
        elif name in _BOOL_PARAMETERS:
            parsed[name] = _parse_bool(value, name, row, op)
        else:  # scale_factor
            parsed[name] = _parse_float_pair(value, name, row, op)
    takes = PARAMETERS[op]
    for name, value in parsed.items():
        if name in takes or name == "bias" or _NEUTRAL.get(name, object()) == value:
            continue  # bias on a weightless op changes nothing: ignored
        shown = _format_pair(value) if isinstance(value, tuple) else value
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
    if parsed.get("padding") in ("same", "valid") and op != "conv2d":
        raise GeometryError(
            row, op, "padding", f"padding {parsed['padding']!r} exists only for conv2d"
        )
    return Layer(op=op, **parsed)


def parse_layers(layers: Iterable[LayerLike]) -> list[Layer]:
    """:func:`parse_layer` on every row (numbered from 1)."""
    return [parse_layer(layer, i) for i, layer in enumerate(layers, start=1)]


# -------------------------------------------------------------------------- arithmetic


@dataclass(frozen=True)
class AxisField:
    """Classic receptive-field state along one axis.

    Attributes:
        size: Receptive field size ``r`` in input pixels (padding counted as pixels).
        jump: Input pixels between the centres of neighbouring cells' fields.
        start: Input coordinate of the centre of the first cell's field.
    """

    size: float
    jump: float
    start: float


INPUT_FIELD = AxisField(1.0, 1.0, 0.0)


@dataclass(frozen=True)
class LayerResult:
    """What one valid row does.

    Attributes:
        row: 1-based row number.
        layer: The parsed layer.
        input_shape: ``(C, H, W)`` or ``(N,)`` going in.
        output_shape: ``(C, H, W)`` or ``(N,)`` coming out.
        params: Number of learnable parameters (weights and biases).
        field: Per axis (height, width) receptive field; None once the input is flat.
    """

    row: int
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    params: int
    field: tuple[AxisField, AxisField] | None


@dataclass(frozen=True)
class StackReport:
    """Every valid row up to the first invalid one, and that row's error.

    Attributes:
        input_shape: The stack's input.
        results: One :class:`LayerResult` per row before the first invalid one.
        error: The first invalid row's error (rows after it are not computed), or None.
    """

    input_shape: Shape
    results: list[LayerResult]
    error: GeometryError | None


def _axis_word(pair: Sequence[Any], axis: int) -> str:
    return f" ({AXES[axis]})" if pair[0] != pair[1] else ""


def _check_input(shape: Sequence[Any]) -> Shape:
    if len(shape) != 3:
        raise GeometryError(None, None, "shape", f"the input must be C x H x W, got {shape!r}")
    out = []
    for name, value in zip(("channels", "height", "width"), shape, strict=True):

        def fail(name: str = name, value: Any = value) -> None:
            raise GeometryError(None, None, name, f"{name} {value!r} is not a whole number")

        number = _whole(value, fail)
        if number < 1:
            raise GeometryError(None, None, name, f"{name} {number} must be at least 1")
        out.append(number)
    return tuple(out)


def _at_least(layer: Layer, row: int, name: str, minimum: int) -> None:
    value = getattr(layer, name)
    if value is None or isinstance(value, str):
        return
    pair = value if isinstance(value, tuple) else (value, value)
    for axis, v in enumerate(pair):
        if v < minimum:
            bound = "must be at least 1" if minimum == 1 else "cannot be negative"
            raise GeometryError(row, layer.op, name, f"{name} {v}{_axis_word(pair, axis)} {bound}")


def _conv_params(layer: Layer, in_channels: int) -> int:
    kh, kw = layer.kernel
    out = layer.out_channels or 0
    g = layer.n_groups
    weights = out * (in_channels // g) * kh * kw
    return weights + (out if layer.has_bias else 0)


def transposed_span(kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Most input cells (end to end) one transposed-convolution output cell reads.

    Output ``o`` reads input ``i`` through tap ``t`` when ``o = i*stride - padding +
    t*dilation``; the set depends only on ``o mod stride``.
    """
    span = 1
    for residue in range(stride):
        taps = [t for t in range(kernel) if (residue + padding - t * dilation) % stride == 0]
        if taps:
            span = max(span, (taps[-1] - taps[0]) * dilation // stride + 1)
    return span


def _apply(
    layer: Layer, shape: Shape, field: tuple[AxisField, AxisField] | None, row: int
) -> tuple[Shape, int, tuple[AxisField, AxisField] | None]:
    """One row: check it against PyTorch's rules and compute what comes out."""
    op = layer.op
    if op == "flatten":
        return (math.prod(shape),), 0, None
    if op == "linear":
        if len(shape) != 1:
            raise GeometryError(
                row,
                op,
                None,
                f"linear needs a flat input but gets {' x '.join(map(str, shape))}: "
                "add a flatten row before it",
            )
        out = layer.out_features or 0
        if out < 1:
            raise GeometryError(row, op, "out_features", f"out_features {out} must be at least 1")
        params = shape[0] * out + (out if layer.has_bias else 0)
        return (out,), params, None
    if len(shape) != 3:
        raise GeometryError(
            row,
            op,
            None,
            f"{op} needs a C x H x W input but gets the flat ({shape[0]},) "
            "(rows after a flatten can only be linear or flatten)",
        )
    channels, height, width = shape
    sizes = (height, width)
    assert field is not None
    for name in ("kernel_size", "stride", "dilation", "out_channels", "groups"):
        _at_least(layer, row, name, 1)
    for name in ("padding", "output_padding"):
        _at_least(layer, row, name, 0)

    if op == "upsample":
        for axis, scale in enumerate(layer.scales):
            if scale <= 0:
                raise GeometryError(
                    row,
                    op,
                    "scale_factor",
                    f"scale_factor {scale:g}{_axis_word(layer.scales, axis)} must be positive",
                )
        out_sizes = tuple(math.floor(n * s) for n, s in zip(sizes, layer.scales, strict=True))
        for axis, n in enumerate(out_sizes):
            if n < 1:
                raise GeometryError(
                    row,
                    op,
                    "scale_factor",
                    f"scale_factor {layer.scales[axis]:g} turns {AXES[axis]} {sizes[axis]} "
                    f"into {n}: the output must be at least 1",
                )
        # nearest neighbour: each cell copies one input cell; cells get closer by the
        # actual size ratio (the requested scale, up to flooring)
        new_field = tuple(
            AxisField(f.size, f.jump * n / m, f.start)
            for f, n, m in zip(field, sizes, out_sizes, strict=True)
        )
        return (channels, *out_sizes), 0, new_field  # type: ignore[return-value]

    kernel, stride, dilation = layer.kernel, layer.strides, layer.dilations
    pads = layer.pads()
    params = 0
    if op in ("conv2d", "convtranspose2d"):
        groups = layer.n_groups
        out_channels = layer.out_channels or 0
        if channels % groups:
            raise GeometryError(
                row, op, "groups", f"groups {groups} does not divide the {channels} input channels"
            )
        if out_channels % groups:
            raise GeometryError(
                row,
                op,
                "groups",
                f"groups {groups} does not divide out_channels {out_channels}",
            )
        if op == "conv2d" and layer.padding == "same" and stride != (1, 1):
            raise GeometryError(
                row,
                op,
                "padding",
                f"padding 'same' needs stride 1 (torch does not support it with stride "
                f"{_format_pair(stride)})",
            )
        if op == "conv2d":
            params = _conv_params(layer, channels)
        else:
            kh, kw = kernel
            params = channels * (out_channels // groups) * kh * kw
            params += out_channels if layer.has_bias else 0
        new_channels = out_channels
    else:
        new_channels = channels
        # name the axis when padding or kernel differ between height and width
        square = (0, 0) if kernel[0] == kernel[1] and pads[0] == pads[1] else (0, 1)
        for axis in range(2):
            pad = pads[axis][0]
            if pad > kernel[axis] // 2:
                raise GeometryError(
                    row,
                    op,
                    "padding",
                    f"padding {pad}{_axis_word(square, axis)} is more than half the kernel "
                    f"{kernel[axis]}",
                )

    out_sizes_list: list[int] = []
    new_field_list: list[AxisField] = []
    for axis in range(2):
        n, k, s, d = sizes[axis], kernel[axis], stride[axis], dilation[axis]
        before, after = pads[axis]
        extent = d * (k - 1) + 1  # the dilated kernel's footprint
        f = field[axis]
        if op == "convtranspose2d":
            op_pad = layer.output_paddings[axis]
            if op_pad >= s and op_pad >= d:
                raise GeometryError(
                    row,
                    op,
                    "output_padding",
                    f"output_padding {op_pad}{_axis_word(layer.output_paddings, axis)} must be "
                    f"smaller than the stride {s} or the dilation {d}",
                )
            out = (n - 1) * s - before - after + extent + op_pad
            if out < 1:
                raise GeometryError(
                    row,
                    op,
                    "padding",
                    f"output {AXES[axis]} would be {out}: ({n} - 1) x stride {s} - 2 x padding "
                    f"{before} + dilation {d} x (kernel {k} - 1) + output_padding {op_pad} + 1 "
                    "must be at least 1",
                )
            span = transposed_span(k, s, before, d)
            new_field_list.append(
                AxisField(
                    f.size + (span - 1) * f.jump,
                    f.jump / s,
                    f.start + f.jump * (before - (extent - 1) / 2) / s,
                )
            )
        elif op == "conv2d":
            padded = n + before + after
            if padded < extent:
                dilated = f" (dilated to {extent})" if d > 1 else ""
                raise GeometryError(
                    row,
                    op,
                    "kernel_size",
                    f"kernel {k}{dilated} is larger than the padded input: {AXES[axis]} {n} + "
                    f"padding {before + after} = {padded}",
                )
            out = (padded - extent) // s + 1
            new_field_list.append(_conv_field(f, extent, s, before))
        else:  # pooling: ATen's pooling_output_shape
            ceil_mode = bool(layer.ceil_mode)
            numerator = n + 2 * before - extent + (s - 1 if ceil_mode else 0)
            out = numerator // s + 1
            if ceil_mode and (out - 1) * s >= n + before:
                out -= 1  # the last window would start in the right padding
            if out < 1:
                raise GeometryError(
                    row,
                    op,
                    "kernel_size",
                    f"output {AXES[axis]} would be {out}: the "
                    f"{'dilated ' if d > 1 else ''}kernel {extent} does not fit in "
                    f"{AXES[axis]} {n} + padding {2 * before}",
                )
            new_field_list.append(_conv_field(f, extent, s, before))
        out_sizes_list.append(out)
    out_field = (new_field_list[0], new_field_list[1])
    return (new_channels, out_sizes_list[0], out_sizes_list[1]), params, out_field


def _conv_field(f: AxisField, extent: int, stride: int, pad_before: int) -> AxisField:
    """Araujo et al. (2019), eqs. for r, j and the centre of the first field."""
    return AxisField(
        f.size + (extent - 1) * f.jump,
        f.jump * stride,
        f.start + ((extent - 1) / 2 - pad_before) * f.jump,
    )


def analyze_stack(input_shape: Sequence[int], layers: Iterable[LayerLike]) -> StackReport:
    """Every row's shape, parameters and receptive field, up to the first invalid row.

    Never raises :class:`GeometryError`: the first one is returned in ``error`` and the
    rows after it are not computed (the page shows the reason on that row).

    Args:
        input_shape: ``(C, H, W)``.
        layers: The rows (dicts or :class:`Layer`).

    Returns:
        A :class:`StackReport`.
    """
    results: list[LayerResult] = []
    try:
        shape = _check_input(input_shape)
    except GeometryError as err:
        return StackReport(tuple(input_shape), results, err)
    field: tuple[AxisField, AxisField] | None = (INPUT_FIELD, INPUT_FIELD)
    for row, raw in enumerate(layers, start=1):
        try:
            layer = parse_layer(raw, row)
            out_shape, params, new_field = _apply(layer, shape, field, row)
        except GeometryError as err:
            return StackReport(tuple(input_shape), results, err)
        results.append(LayerResult(row, layer, shape, out_shape, params, new_field))
        shape, field = out_shape, new_field
    return StackReport(tuple(input_shape), results, None)


def output_shapes(input_shape: tuple[int, int, int], layers: list[LayerLike]) -> list[Shape]:
    """The shape after each layer, exactly as PyTorch's modules would produce it.

    Args:
        input_shape: ``(C, H, W)`` (no batch dimension).
        layers: Dicts or :class:`Layer` objects, applied in order.

    Returns:
        One shape per layer: ``(C, H, W)``, or ``(N,)`` after a flatten.

    Raises:
        GeometryError: the first impossible row, with the reason.
    """
    report = analyze_stack(input_shape, layers)
    if report.error is not None:
        raise report.error
    return [r.output_shape for r in report.results]


# ------------------------------------------------------------------ torch equivalents


def torch_module(layer: LayerLike, in_size: int) -> nn.Module:
    """The PyTorch module a row stands for.

    Args:
        layer: The row.
        in_size: Input channels (spatial input) or features (flat input).

    Returns:
        A freshly built module (random weights; only the shapes matter).
    """
    layer = parse_layer(layer)
    op = layer.op
    padding: Any = layer.padding if isinstance(layer.padding, str) else (layer.padding or (0, 0))
    if op == "conv2d":
        return nn.Conv2d(
            in_size,
            layer.out_channels or 0,
            layer.kernel,
            layer.strides,
            padding,
            layer.dilations,
            layer.n_groups,
            layer.has_bias,
        )
    if op == "convtranspose2d":
        return nn.ConvTranspose2d(
            in_size,
            layer.out_channels or 0,
            layer.kernel,
            layer.strides,
            padding,
            layer.output_paddings,
            layer.n_groups,
            layer.has_bias,
            layer.dilations,
        )
    if op == "maxpool2d":
        return nn.MaxPool2d(
            layer.kernel, layer.strides, padding, layer.dilations, ceil_mode=bool(layer.ceil_mode)
        )
    if op == "avgpool2d":
        return nn.AvgPool2d(layer.kernel, layer.strides, padding, ceil_mode=bool(layer.ceil_mode))
    if op == "upsample":
        return nn.Upsample(scale_factor=layer.scales, mode="nearest")
    if op == "flatten":
        return nn.Flatten()
    return nn.Linear(in_size, layer.out_features or 0, layer.has_bias)


def torch_stack(input_shape: Sequence[int], layers: Iterable[LayerLike]) -> nn.Sequential:
    """The stack as an ``nn.Sequential`` of fresh PyTorch modules.

    Args:
        input_shape: ``(C, H, W)``.
        layers: The rows; only the valid ones before the first invalid row are built.

    Returns:
        The modules, in order (random weights; only the shapes matter).
    """
    report = analyze_stack(input_shape, layers)
    return nn.Sequential(*(torch_module(r.layer, r.input_shape[0]) for r in report.results))


def _code_value(value: Any) -> str:
    if isinstance(value, tuple):
        a, b = value
        return repr(a) if a == b else f"({a!r}, {b!r})"
    return repr(value)


def module_code(layer: LayerLike, in_size: int) -> str:
    """The PyTorch constructor call for one row, e.g. ``nn.Conv2d(3, 8, kernel_size=3)``.

    Only the parameters the row gives are written (the rest are PyTorch's defaults).

    Args:
        layer: The row.
        in_size: Input channels (spatial input) or features (flat input).
    """
    layer = parse_layer(layer)
    name = TORCH_NAMES[layer.op]
    args: list[str] = []
    if layer.op in ("conv2d", "convtranspose2d"):
        args += [str(in_size), str(layer.out_channels)]
    elif layer.op == "linear":
        args += [str(in_size), str(layer.out_features)]
    for parameter in PARAMETERS[layer.op]:
        if parameter in ("out_channels", "out_features"):
            continue
        value = getattr(layer, parameter)
        if value is not None:
            args.append(f"{parameter}={_code_value(value)}")
    if layer.op == "upsample":
        args.append("mode='nearest'")
    return f"nn.{name}({', '.join(args)})"


def pytorch_code(input_shape: Sequence[int], layers: Iterable[LayerLike]) -> str:
    """The valid rows as PyTorch code (``nn.Sequential(...)``), for the page to show.

    Args:
        input_shape: ``(C, H, W)``.
        layers: The rows; code stops before the first invalid one.

    Returns:
        Python source text.
    """
    report = analyze_stack(input_shape, layers)
    lines = ["import torch.nn as nn", "", "net = nn.Sequential("]
    for result in report.results:
        shape = " x ".join(map(str, result.output_shape))
        lines.append(f"    {module_code(result.layer, result.input_shape[0])},  # -> {shape}")
    lines.append(")")
    return "\n".join(lines)


def total_params(report: StackReport) -> int:
    """Sum of the parameters of the valid rows."""
    return sum(r.params for r in report.results)


# ------------------------------------------------------------------------- presets


def _conv(out: int, kernel: Any, **more: Any) -> dict[str, Any]:
    return {"op": "conv2d", "out_channels": out, "kernel_size": kernel, **more}


@dataclass(frozen=True)
class Preset:
    """A classic stack for the calculator.

    Attributes:
        input_shape: ``(C, H, W)`` it was designed for.
        layers: The rows.
        note: One line about where it comes from.
    """

    input_shape: tuple[int, int, int]
    layers: tuple[dict[str, Any], ...]
    note: str


PRESETS: dict[str, Preset] = {
    "LeNet-5": Preset(
        (1, 32, 32),
        (
            _conv(6, 5),
            {"op": "avgpool2d", "kernel_size": 2},
            _conv(16, 5),
            {"op": "avgpool2d", "kernel_size": 2},
            {"op": "flatten"},
            {"op": "linear", "out_features": 120},
            {"op": "linear", "out_features": 84},
            {"op": "linear", "out_features": 10},
        ),
        "LeCun et al. 1998, with average pooling for subsampling: 61,706 parameters.",
    ),
    "AlexNet": Preset(
        (3, 224, 224),
        (
            _conv(64, 11, stride=4, padding=2),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2},
            _conv(192, 5, padding=2),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2},
            _conv(384, 3, padding=1),
            _conv(256, 3, padding=1),
            _conv(256, 3, padding=1),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2},
            {"op": "flatten"},
            {"op": "linear", "out_features": 4096},
            {"op": "linear", "out_features": 4096},
            {"op": "linear", "out_features": 1000},
        ),
        "torchvision's AlexNet (Krizhevsky et al. 2012, one-GPU variant): 61.1 M parameters.",
    ),
    "VGG block": Preset(
        (3, 224, 224),
        (
            _conv(64, 3, padding=1),
            _conv(64, 3, padding=1),
            {"op": "maxpool2d", "kernel_size": 2, "stride": 2},
        ),
        "Simonyan & Zisserman 2014: 3x3 convs keep the size, a 2x2 pool halves it.",
    ),
    "U-Net encoder/decoder pair": Preset(
        (1, 572, 572),
        (
            _conv(64, 3),
            _conv(64, 3),
            {"op": "maxpool2d", "kernel_size": 2, "stride": 2},
            _conv(128, 3),
            _conv(128, 3),
            {"op": "convtranspose2d", "out_channels": 64, "kernel_size": 2, "stride": 2},
            _conv(64, 3),
            _conv(64, 3),
        ),
        "Ronneberger et al. 2015, first level: 572 -> 568 -> 284 -> 280 -> 560 -> 556 "
        "(the skip connection's crop-and-concatenate is not part of a plain stack).",
    ),
    "Non-square corner cases": Preset(
        (3, 20, 33),
        (
            _conv(8, (3, 5), stride=(1, 2), padding=(1, 2), dilation=(2, 1)),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
            _conv(8, (1, 3), padding="same", groups=8),
            {
                "op": "convtranspose2d",
                "out_channels": 4,
                "kernel_size": (3, 2),
                "stride": (2, 3),
                "padding": (1, 0),
                "output_padding": (1, 2),
            },
            {"op": "upsample", "scale_factor": (1.5, 0.5)},
        ),
        "Per-axis kernels, strides and dilation, ceil mode, depthwise 'same', "
        "a transposed conv with output padding and a fractional upsample.",
    ),
}
