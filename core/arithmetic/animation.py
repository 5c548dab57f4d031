"""Convolution animations, the plan: where the kernel's taps land for every output cell.

An animation shows the kernel sliding over the padded input, one frame per output cell
(drawn by :mod:`core.arithmetic.animation_frames`). This module lays it out: per axis,
the grid of input, padding and inserted-zero cells and the taps of each output cell;
it also picks a readable input size and writes PyTorch's output-size formula.

A transposed convolution is drawn as the equivalent direct convolution (Dumoulin &
Visin, "A guide to convolution arithmetic for deep learning", 2016,
https://arxiv.org/abs/1603.07285, section 4): ``stride - 1`` zeros between input cells,
``dilation * (kernel - 1) - padding`` cells of padding around (plus ``output_padding``
at the bottom/right; a negative amount crops), then a stride-1 convolution with the same
dilation. Max pooling's ceil mode can add a last window that hangs past the padding:
those cells are drawn as "outside".

Every per-axis parameter may differ between height and width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.arithmetic.layers import GeometryError, Layer, LayerLike, parse_layer
from core.arithmetic.shapes import LayerResult, analyze_stack

ANIMATED_OPS = ("conv2d", "convtranspose2d", "maxpool2d", "avgpool2d")
MAX_FRAMES = 400  # one frame per output cell: more would be unwatchable and memory-hungry
MAX_SEARCH = 512  # largest input side readable_input_size tries

# cell kinds on the input grid
INPUT, PADDING, ZERO, OUTSIDE = "input", "padding", "zero", "outside"


@dataclass(frozen=True)
class AxisPlan:
    """Where the kernel's taps land along one axis.

    Attributes:
        n_in: Input cells.
        n_out: Output cells.
        lo: First grid coordinate drawn (negative = padding before the input).
        hi: Last grid coordinate drawn (inclusive).
        taps: ``(n_out, k)`` grid coordinates of the taps of each output cell.
        kinds: Kind of each grid coordinate ``lo..hi`` (input/padding/zero/outside).
        sources: Input index of each grid coordinate, -1 where there is none.
    """

    n_in: int
    n_out: int
    lo: int
    hi: int
    taps: np.ndarray
    kinds: tuple[str, ...]
    sources: tuple[int, ...]


def _axis_plan(layer: Layer, axis: int, n_in: int, n_out: int) -> AxisPlan:
    k, s, d = layer.kernel[axis], layer.strides[axis], layer.dilations[axis]
    before, after = layer.pads()[axis]
    out = np.arange(n_out)[:, None]
    offsets = np.arange(k)[None, :] * d
    if layer.op == "convtranspose2d":
        # direct form: input i sits at u = i*s; output o reads u = o + p - d(k-1) + t*d
        margin = d * (k - 1) - before
        taps = out - margin + offsets  # (n_out, k)
        last_input = (n_in - 1) * s
        pad_lo, pad_hi = -margin, last_input + margin + layer.output_paddings[axis]
        lo = min(0, int(taps.min()))
        hi = max(last_input, int(taps.max()))
        kinds, sources = [], []
        for u in range(lo, hi + 1):
            if 0 <= u <= last_input and u % s == 0:
                kinds.append(INPUT)
                sources.append(u // s)
            elif 0 <= u <= last_input:
                kinds.append(ZERO)
                sources.append(-1)
            else:
                kinds.append(PADDING if pad_lo <= u <= pad_hi else OUTSIDE)
                sources.append(-1)
    else:
        taps = out * s - before + offsets
        lo = -before
        hi = max(n_in - 1 + after, int(taps.max()))
        kinds, sources = [], []
        for u in range(lo, hi + 1):
            if 0 <= u < n_in:
                kinds.append(INPUT)
                sources.append(u)
            else:
                kinds.append(PADDING if u < n_in + after else OUTSIDE)
                sources.append(-1)
    return AxisPlan(n_in, n_out, lo, hi, taps, tuple(kinds), tuple(sources))


@dataclass(frozen=True)
class AnimationPlan:
    """Everything needed to draw every frame of one layer's animation.

    Attributes:
        layer: The animated layer.
        input_hw: ``(H, W)`` of its input.
        output_hw: ``(H_out, W_out)``.
        axes: Height and width :class:`AxisPlan`.
    """

    layer: Layer
    input_hw: tuple[int, int]
    output_hw: tuple[int, int]
    axes: tuple[AxisPlan, AxisPlan]

    @property
    def n_frames(self) -> int:
        """One frame per output cell."""
        return self.output_hw[0] * self.output_hw[1]

    def cell(self, index: int) -> tuple[int, int]:
        """Output cell ``(y, x)`` written in frame ``index`` (row-major)."""
        return divmod(index, self.output_hw[1])

    def input_cells(self, index: int) -> tuple[list[int], list[int]]:
        """Input rows and columns (indices into the real input) read in frame ``index``."""
        y, x = self.cell(index)
        found = []
        for axis, o in ((0, y), (1, x)):
            plan = self.axes[axis]
            cells = sorted(
                {plan.sources[t - plan.lo] for t in plan.taps[o] if plan.sources[t - plan.lo] >= 0}
            )
            found.append(cells)
        return found[0], found[1]


def _one_row(layer: Layer, input_hw: Sequence[int]) -> LayerResult:
    """The layer alone on an ``(H, W)`` input (with as many channels as its groups).

    Raises:
        GeometryError: the layer is impossible on this input.
    """
    report = analyze_stack((layer.n_groups, int(input_hw[0]), int(input_hw[1])), [layer])
    if report.error is not None:
        raise report.error
    return report.results[0]


def plan_animation(layer: LayerLike, input_hw: Sequence[int]) -> AnimationPlan:
    """Check a layer on an input size and lay out its animation.

    Args:
        layer: A conv2d, convtranspose2d, maxpool2d or avgpool2d row.
        input_hw: ``(H, W)``.

    Returns:
        The :class:`AnimationPlan`.

    Raises:
        GeometryError: the layer is impossible on this input.
        ValueError: the op has no kernel to animate, or the output has more than
            ``MAX_FRAMES`` cells.
    """
    parsed = parse_layer(layer)
    if parsed.op not in ANIMATED_OPS:
        raise ValueError(f"{parsed.op} has no kernel to animate (choose {', '.join(ANIMATED_OPS)})")
    _, out_h, out_w = _one_row(parsed, input_hw).output_shape
    if out_h * out_w > MAX_FRAMES:
        raise ValueError(
            f"the output is {out_h} x {out_w} = {out_h * out_w} cells: more than {MAX_FRAMES} "
            "frames; animate a smaller input"
        )
    in_h, in_w = int(input_hw[0]), int(input_hw[1])
    axes = (_axis_plan(parsed, 0, in_h, out_h), _axis_plan(parsed, 1, in_w, out_w))
    return AnimationPlan(parsed, (in_h, in_w), (out_h, out_w), axes)


def readable_input_size(
    layer: LayerLike,
    input_hw: Sequence[int],
    cap: int = 9,
    min_output: int = 3,
    max_output: int = 12,
) -> tuple[int, int]:
    """An input size small enough to watch, on which the layer still works.

    Per axis: start from the smallest input that gives ``min_output`` output cells (or
    as many as the real input gives, if fewer), then grow it up to ``cap`` while the
    output stays within ``max_output`` cells (a transposed convolution grows its
    input). A big feature map is thus animated on a small corner with the same kernel,
    stride, padding and dilation.

    Args:
        layer: The row to animate.
        input_hw: Its real ``(H, W)`` (the layer must be valid on it).
        cap: Preferred largest input side.
        min_output: Output cells wanted per axis.
        max_output: Largest output side wanted.

    Returns:
        ``(H, W)`` to animate on.

    Raises:
        GeometryError: the layer is invalid on ``input_hw``.
        ValueError: no input up to ``MAX_SEARCH`` cells per axis gives enough output.
    """
    parsed = parse_layer(layer)
    actual = [int(v) for v in input_hw]
    full = _one_row(parsed, actual)

    def output(axis: int, size: int) -> int | None:
        probe = list(actual)
        probe[axis] = size
        try:
            return _one_row(parsed, probe).output_shape[1 + axis]
        except GeometryError:
            return None

    sizes = []
    for axis in range(2):
        wanted = min(min_output, full.output_shape[1 + axis])
        search = range(1, min(actual[axis], MAX_SEARCH) + 1)
        size = next((n for n in search if (output(axis, n) or 0) >= wanted), None)
        if size is None:
            raise ValueError(f"the kernel needs more than {MAX_SEARCH} input cells per axis")
        while size < min(cap, actual[axis]) and (output(axis, size + 1) or 0) <= max_output:
            size += 1
        sizes.append(size)
    return (sizes[0], sizes[1])


# ------------------------------------------------------------------------ formulas


def output_size_formula(layer: LayerLike, input_hw: Sequence[int]) -> list[str]:
    """PyTorch's output-size formula per axis, numbers filled in, as LaTeX.

    Args:
        layer: A conv2d, convtranspose2d, maxpool2d or avgpool2d row.
        input_hw: ``(H, W)``.

    Returns:
        Two LaTeX strings (height, width), e.g.
        ``H_{out} = \\left\\lfloor\\frac{5 + 2\\cdot1 - ...}{2}\\right\\rfloor + 1 = 3``.

    Raises:
        GeometryError: the layer is impossible on this input.
    """
    parsed = parse_layer(layer)
    output_hw = _one_row(parsed, input_hw).output_shape[1:]
    lines = []
    for axis, symbol in ((0, "H"), (1, "W")):
        n = int(input_hw[axis])
        k, s, d = parsed.kernel[axis], parsed.strides[axis], parsed.dilations[axis]
        before, after = parsed.pads()[axis]
        result = output_hw[axis]
        pad_text = f"2\\cdot{before}" if before == after else f"{before} + {after}"
        if parsed.op == "convtranspose2d":
            out_pad = parsed.output_paddings[axis]
            lines.append(
                f"{symbol}_{{out}} = ({n} - 1)\\cdot{s} - 2\\cdot{before} + {d}\\cdot({k}-1)"
                f" + {out_pad} + 1 = {result}"
            )
            continue
        numerator = f"{n} + {pad_text} - {d}\\cdot({k}-1) - 1"
        if parsed.op in ("maxpool2d", "avgpool2d") and parsed.ceil_mode:
            line = f"{symbol}_{{out}} = \\left\\lceil\\frac{{{numerator}}}{{{s}}}\\right\\rceil + 1"
            plain = -(-(n + before + after - d * (k - 1) - 1) // s) + 1
            if plain != result:
                line += f" - 1 = {result}\\ \\text{{(last window would start in the padding)}}"
            else:
                line += f" = {result}"
        else:
            line = (
                f"{symbol}_{{out}} = \\left\\lfloor\\frac{{{numerator}}}{{{s}}}"
                f"\\right\\rfloor + 1 = {result}"
            )
        lines.append(line)
    return lines
