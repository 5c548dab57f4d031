"""CNN arithmetic: the shape, parameter count and receptive field after each layer of a stack.

The output sizes are PyTorch's own formulas (``torch.nn`` docs for each module; pooling
follows ATen's ``pooling_output_shape``, including ceil mode's rule that the last window
must start inside the input or its left padding). Everything PyTorch refuses raises
:class:`~core.arithmetic.layers.GeometryError` naming the row, the parameter and the
reason in plain words. The property test in ``tests/test_geometry.py`` compares
thousands of random stacks with PyTorch's modules.

The receptive field of each row is stepped with :mod:`core.arithmetic.fields`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.arithmetic.fields import (
    INPUT_FIELD,
    Field,
    per_axis,
    resized_field,
    transposed_field,
    window_field,
)
from core.arithmetic.formatting import format_pair, format_shape
from core.arithmetic.layers import (
    AXES,
    GeometryError,
    Layer,
    LayerLike,
    Shape,
    parse_input_shape,
    parse_layer,
)


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
    field: Field | None


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

    @property
    def final_shape(self) -> Shape:
        """What comes out of the last valid row (the input when no row is valid)."""
        return self.results[-1].output_shape if self.results else self.input_shape


def _axis_word(pair: Sequence[Any], axis: int) -> str:
    """``" (width)"`` when the two values of a pair differ (so the message says which)."""
    return f" ({AXES[axis]})" if pair[0] != pair[1] else ""


def _at_least(layer: Layer, row: int, name: str, minimum: int) -> None:
    """Refuse a parameter below ``minimum`` (1 for sizes, 0 for paddings)."""
    value = getattr(layer, name)
    if value is None or isinstance(value, str):
        return
    pair = value if isinstance(value, tuple) else (value, value)
    for axis, v in enumerate(pair):
        if v < minimum:
            bound = "must be at least 1" if minimum == 1 else "cannot be negative"
            raise GeometryError(row, layer.op, name, f"{name} {v}{_axis_word(pair, axis)} {bound}")


def _conv_params(layer: Layer, in_channels: int) -> int:
    """Weights and biases of a conv2d row on ``in_channels`` input channels."""
    kh, kw = layer.kernel
    out = layer.out_channels or 0
    g = layer.n_groups
    weights = out * (in_channels // g) * kh * kw
    return weights + (out if layer.has_bias else 0)


def _apply_flat(layer: Layer, shape: Shape, row: int) -> tuple[Shape, int, None]:
    """A flatten or linear row: the shape and parameters (no receptive field any more)."""
    op = layer.op
    if op == "flatten":
        return (math.prod(shape),), 0, None
    if len(shape) != 1:
        raise GeometryError(
            row,
            op,
            None,
            f"linear needs a flat input but gets {format_shape(shape)}: "
            "add a flatten row before it",
        )
    out = layer.out_features or 0
    if out < 1:
        raise GeometryError(row, op, "out_features", f"out_features {out} must be at least 1")
    params = shape[0] * out + (out if layer.has_bias else 0)
    return (out,), params, None


def _apply_upsample(
    layer: Layer, channels: int, sizes: tuple[int, int], field: Field, row: int
) -> tuple[Shape, int, Field]:
    """A nearest-neighbour upsample row."""
    op = layer.op
    for axis, scale in enumerate(layer.scales):
        if scale <= 0:
            raise GeometryError(
                row,
                op,
                "scale_factor",
                f"scale_factor {scale:g}{_axis_word(layer.scales, axis)} must be positive",
            )
    out_sizes = (math.floor(sizes[0] * layer.scales[0]), math.floor(sizes[1] * layer.scales[1]))
    for axis, n in enumerate(out_sizes):
        if n < 1:
            raise GeometryError(
                row,
                op,
                "scale_factor",
                f"scale_factor {layer.scales[axis]:g} turns {AXES[axis]} {sizes[axis]} "
                f"into {n}: the output must be at least 1",
            )
    return (channels, *out_sizes), 0, per_axis(resized_field, field, sizes, out_sizes)


def _channels_and_params(layer: Layer, channels: int, row: int) -> tuple[int, int]:
    """Check a conv / transposed conv / pooling row's channels and padding.

    Returns:
        ``(output channels, parameters)``.
    """
    op = layer.op
    kernel, stride, pads = layer.kernel, layer.strides, layer.pads()
    if op not in ("conv2d", "convtranspose2d"):
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
        return channels, 0
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
            f"{format_pair(stride)})",
        )
    if op == "conv2d":
        return out_channels, _conv_params(layer, channels)
    kh, kw = kernel
    params = channels * (out_channels // groups) * kh * kw
    params += out_channels if layer.has_bias else 0
    return out_channels, params


def _axis_output(layer: Layer, axis: int, n: int, row: int) -> int:
    """Output cells along one axis of a conv / transposed conv / pooling row."""
    op = layer.op
    k, s, d = layer.kernel[axis], layer.strides[axis], layer.dilations[axis]
    before, after = layer.pads()[axis]
    extent = d * (k - 1) + 1  # the dilated kernel's footprint
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
        return out
    if op == "conv2d":
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
        return (padded - extent) // s + 1
    # pooling: ATen's pooling_output_shape
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
    return out


def _apply(
    layer: Layer, shape: Shape, field: Field | None, row: int
) -> tuple[Shape, int, Field | None]:
    """One row: check it against PyTorch's rules and compute what comes out."""
    op = layer.op
    if op in ("flatten", "linear"):
        return _apply_flat(layer, shape, row)
    if len(shape) != 3:
        raise GeometryError(
            row,
            op,
            None,
            f"{op} needs a C x H x W input but gets the flat ({shape[0]},) "
            "(rows after a flatten can only be linear or flatten)",
        )
    channels, height, width = shape  # (C, H, W)
    sizes = (height, width)
    assert field is not None
    for name in ("kernel_size", "stride", "dilation", "out_channels", "groups"):
        _at_least(layer, row, name, 1)
    for name in ("padding", "output_padding"):
        _at_least(layer, row, name, 0)
    if op == "upsample":
        return _apply_upsample(layer, channels, sizes, field, row)

    new_channels, params = _channels_and_params(layer, channels, row)
    out_sizes = (_axis_output(layer, 0, height, row), _axis_output(layer, 1, width, row))
    before = (layer.pads()[0][0], layer.pads()[1][0])  # (top, left)
    step = transposed_field if op == "convtranspose2d" else window_field
    new_field = per_axis(step, field, layer.kernel, layer.strides, before, layer.dilations)
    return (new_channels, *out_sizes), params, new_field  # (C', H', W')


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
        shape = parse_input_shape(input_shape)
    except GeometryError as err:
        return StackReport(tuple(input_shape), results, err)
    field: Field | None = (INPUT_FIELD, INPUT_FIELD)
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


def total_params(report: StackReport) -> int:
    """Sum of the parameters of the valid rows."""
    return sum(r.params for r in report.results)


def final_shape_text(report: StackReport) -> str:
    """What the stack outputs, in words, true also when a row is invalid.

    :attr:`StackReport.final_shape` falls back to the input when no row is valid, so it
    must not be shown as "the final shape" then (issue 25).

    Args:
        report: :func:`analyze_stack` of a stack.

    Returns:
        E.g. ``"Final shape: 16 x 5 x 5"``, or ``"Final shape: not reached: row 3 is
        invalid. The last valid row, row 2, gives 6 x 14 x 14."``.
    """
    error = report.error
    if error is None:
        if not report.results:
            return "Final shape: no rows, so the input itself"
        return f"Final shape: {format_shape(report.final_shape)}"
    if error.row is None:
        return "Final shape: not reached: the input shape is invalid."
    if not report.results:
        return f"Final shape: not reached: row {error.row} is invalid, so no row has an output yet."
    last = report.results[-1]
    return (
        f"Final shape: not reached: row {error.row} is invalid. The last valid row, "
        f"row {last.row}, gives {format_shape(last.output_shape)}."
    )
