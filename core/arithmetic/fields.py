"""Classic receptive-field arithmetic: the recurrences every layer applies, in one place.

Receptive fields use the classic arithmetic (Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019,
https://distill.pub/2019/computing-receptive-fields/): per axis, the receptive field
size ``r``, the jump ``j`` (distance in input pixels between neighbouring cells) and the
start (input coordinate of the centre of the first cell's field, pixel centres at
0, 1, 2, ...). Padding is treated like real pixels, so ``r`` may exceed the input; the
exact clipped box of one cell is :func:`core.arithmetic.receptive_fields.receptive_field`.

Both the layer-stack calculator (:func:`core.arithmetic.shapes.analyze_stack`) and the
layer table's tracker of real networks (:class:`core.arithmetic.field_tracker.FieldTracker`)
step fields with these functions, so the two always agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


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


Field = tuple[AxisField, AxisField]  # (height, width)

INPUT_FIELD = AxisField(1.0, 1.0, 0.0)  # an input pixel sees itself
GLOBAL = AxisField(math.inf, math.inf, math.nan)  # the cell sees the whole input


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


def window_field(
    field: AxisField, kernel: int, stride: int, pad_before: int, dilation: int
) -> AxisField:
    """A sliding window (convolution, pooling): Araujo et al. (2019), eqs. for r, j and
    the centre of the first field.

    Args:
        field: The field of the window's input cells.
        kernel: Taps of the window.
        stride: Cells between neighbouring windows.
        pad_before: Padding before the first input cell (top or left).
        dilation: Cells between neighbouring taps.

    Returns:
        The field of the window's output cells.
    """
    extent = dilation * (kernel - 1) + 1  # the dilated kernel's footprint
    return AxisField(
        field.size + (extent - 1) * field.jump,
        field.jump * stride,
        field.start + ((extent - 1) / 2 - pad_before) * field.jump,
    )


def transposed_field(
    field: AxisField, kernel: int, stride: int, padding: int, dilation: int
) -> AxisField:
    """A transposed convolution: the jump shrinks by the stride, the size grows by the
    most input cells one output cell reads (:func:`transposed_span`).

    Args:
        field: The field of the input cells.
        kernel: Kernel taps.
        stride: The transposed convolution's stride (output cells per input cell).
        padding: Its padding (cropped from the output's border).
        dilation: Cells between neighbouring taps.

    Returns:
        The field of the output cells.
    """
    span = transposed_span(kernel, stride, padding, dilation)
    return AxisField(
        field.size + (span - 1) * field.jump,
        field.jump / stride,
        field.start + field.jump * (padding - dilation * (kernel - 1) / 2) / stride,
    )


def resized_field(field: AxisField, n_in: int, n_out: int) -> AxisField:
    """Nearest-neighbour resizing from ``n_in`` to ``n_out`` cells: each output cell
    copies one input cell, and cells get closer by the actual size ratio (the requested
    scale, up to flooring)."""
    return AxisField(field.size, field.jump * n_in / n_out, field.start)


def shifted_field(field: AxisField, pad_before: int) -> AxisField:
    """Explicit padding (``F.pad``): the same field, ``pad_before`` cells further on."""
    return AxisField(field.size, field.jump, field.start - pad_before * field.jump)


def per_axis(step: Callable[..., AxisField], field: Field, *pairs: Sequence[int]) -> Field:
    """One axis's recurrence on both axes.

    Args:
        step: E.g. :func:`window_field`; called as ``step(axis_field, *values)``.
        field: ``(height, width)`` fields going in.
        pairs: The step's other arguments, each as an ``(h, w)`` pair.

    Returns:
        ``(height, width)`` fields coming out.
    """
    height = step(field[0], *(pair[0] for pair in pairs))
    width = step(field[1], *(pair[1] for pair in pairs))
    return (height, width)


def union_field(fields: Sequence[Field]) -> Field | None:
    """The smallest field covering every input's field (element-wise ops).

    Args:
        fields: One ``(height, width)`` field per input of the op.

    Returns:
        Their union; ``(GLOBAL, GLOBAL)`` when one of them is global; None when the
        inputs' jumps differ (their cells are not aligned).
    """
    if any(f[0].size == math.inf or f[1].size == math.inf for f in fields):
        return (GLOBAL, GLOBAL)
    out = []
    for axis in range(2):
        axis_fields = [f[axis] for f in fields]
        jumps = {f.jump for f in axis_fields}
        if len(jumps) != 1:
            return None
        low = min(f.start - (f.size - 1) / 2 for f in axis_fields)
        high = max(f.start + (f.size - 1) / 2 for f in axis_fields)
        out.append(AxisField(high - low + 1, axis_fields[0].jump, (low + high) / 2))
    return (out[0], out[1])
