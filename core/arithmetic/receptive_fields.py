"""Which input pixels one output cell depends on: on a layer stack and on a real network.

Two ways, for two kinds of networks:

- :func:`receptive_field` -- a stack of :mod:`core.arithmetic.layers` rows. Exact and fast:
  per axis, for every cell of every layer, the first and last input pixel it reads,
  propagated layer by layer through the windows each op actually uses (conv and pooling
  windows with stride, padding, dilation and ceil mode; transposed convolutions'
  scattered taps; nearest-neighbour upsampling's source indices, taken from PyTorch
  itself). Padding is not input, so boxes are clipped to the image and gaps left by
  dilation are skipped at the edges. The tests check it against the box of non-zero
  input gradients.
- :func:`model_receptive_field` -- any ``nn.Module`` (residual branches, concatenations,
  squeeze-excitation...): the gradient of the chosen cell (summed over channels) with
  respect to the input. Its non-zero support is the region the cell depends on *for
  this input*; its magnitude is the effective receptive field (Luo et al. 2016,
  "Understanding the Effective Receptive Field in Deep CNNs",
  https://arxiv.org/abs/1701.04128). Units a ReLU switched off pass no gradient, so the
  region can be smaller than the theoretical one.

Both return half-open boxes ``(y0, y1, x0, x1)``: rows ``y0..y1-1``, columns
``x0..x1-1``. A cell whose window lies entirely in padding depends on no input pixel:
its box is empty, ``(0, 0, 0, 0)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from core.arithmetic.layers import AXES, Layer, LayerLike
from core.arithmetic.shapes import LayerResult, analyze_stack
from core.common.hooks import layer_output

Box = tuple[int, int, int, int]
EMPTY_BOX: Box = (0, 0, 0, 0)
MAX_TAPS = 4_000_000  # per axis and layer: output cells x kernel taps traced exactly
_NONE = np.iinfo(np.int64).max  # "no input pixel" marker for a cell's first pixel


@dataclass(frozen=True)
class AxisSpans:
    """First and last input pixel (inclusive) of every cell of one layer, along one axis.

    Attributes:
        first: ``(n,)`` int64; a huge value when the cell reads no input pixel.
        last: ``(n,)`` int64; -1 when the cell reads no input pixel.
    """

    first: np.ndarray
    last: np.ndarray

    def span(self, index: int) -> tuple[int, int]:
        """Half-open ``(start, stop)`` of cell ``index``; ``(0, 0)`` when empty."""
        if self.last[index] < 0:
            return (0, 0)
        return (int(self.first[index]), int(self.last[index]) + 1)

    def largest(self) -> int:
        """The widest field of any cell, in input pixels."""
        widths = np.where(self.last >= 0, self.last - self.first + 1, 0)
        return int(widths.max()) if widths.size else 0


def _nearest_sources(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Source index of each output of nearest upsampling, straight from PyTorch.

    PyTorch rounds ``dst * (1 / scale)`` in single precision; asking it directly keeps
    every edge case identical.
    """
    index = torch.arange(n_in, dtype=torch.float64).view(1, 1, n_in, 1)
    out = F.interpolate(index, scale_factor=(scale, 1.0), mode="nearest")  # (1, 1, n_out, 1)
    sources = out.view(-1).numpy().astype(np.int64)
    assert sources.shape == (n_out,)
    return sources


def _taps(layer: Layer, axis: int, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Which cells of the previous layer each output cell reads.

    Returns:
        ``(taps, valid)``, both ``(n_out, k)``: previous-layer indices and whether each
        tap lands on a real cell (not padding, not a gap of a transposed convolution).
    """
    out = np.arange(n_out, dtype=np.int64)[:, None]  # (n_out, 1)
    if layer.op == "upsample":
        taps = _nearest_sources(n_in, n_out, layer.scales[axis])[:, None]
    else:
        k, s, d = layer.kernel[axis], layer.strides[axis], layer.dilations[axis]
        before = layer.pads()[axis][0]
        offsets = np.arange(k, dtype=np.int64)[None, :] * d  # (1, k)
        if layer.op == "convtranspose2d":
            # input i reaches output o through tap t when o = i*s - before + t*d
            numerator = out + before - offsets  # (n_out, k)
            valid = numerator % s == 0
            taps = numerator // s
            return taps, valid & (taps >= 0) & (taps < n_in)
        taps = out * s - before + offsets  # (n_out, k) windows, padding outside [0, n_in)
    return taps, (taps >= 0) & (taps < n_in)


def _step(spans: AxisSpans, layer: Layer, axis: int, n_out: int) -> AxisSpans:
    """One layer: a cell reads the union of the fields of the cells under its taps."""
    n_in = spans.first.shape[0]
    taps, valid = _taps(layer, axis, n_in, n_out)
    clipped = np.clip(taps, 0, n_in - 1)
    first = np.where(valid, spans.first[clipped], _NONE).min(axis=1)  # (n_out,)
    last = np.where(valid, spans.last[clipped], -1).max(axis=1)
    return AxisSpans(first, last)


def _input_shape(input_hw: Sequence[int], layers: list[LayerLike]) -> tuple[int, int, int]:
    """(C, H, W) from (H, W) or (C, H, W).

    With only (H, W), the channel count is chosen so that every ``groups`` divides it
    (channels do not change which pixels a cell reads).
    """
    if len(input_hw) == 3:
        return (int(input_hw[0]), int(input_hw[1]), int(input_hw[2]))
    channels = 1
    for raw in layers:
        groups = raw.groups if isinstance(raw, Layer) else raw.get("groups")
        if groups is None:
            continue
        try:
            channels = math.lcm(channels, int(groups))
        except (TypeError, ValueError):
            continue
    return (channels, int(input_hw[0]), int(input_hw[1]))


def _input_spans(n: int) -> AxisSpans:
    """The input layer along one axis of ``n`` pixels: each pixel sees itself."""
    return AxisSpans(np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64))


def _too_large(result: LayerResult) -> bool:
    """Whether tracing a row cell by cell would exceed ``MAX_TAPS`` on an axis."""
    taps = result.layer.kernel[0] * result.layer.kernel[1]
    return max(result.output_shape[1:]) * taps > MAX_TAPS


def field_spans(
    layers: Iterable[LayerLike], input_hw: Sequence[int]
) -> list[tuple[AxisSpans, AxisSpans] | None]:
    """Per layer, per axis, the exact input span of every output cell.

    Args:
        layers: The stack (dicts or :class:`~core.arithmetic.layers.Layer`).
        input_hw: ``(H, W)`` or ``(C, H, W)``.

    Returns:
        One ``(height spans, width spans)`` per valid row, None for rows whose output is
        flat (flatten, linear) or too large to trace (more than ``MAX_TAPS`` output cells
        x taps on an axis), and for everything after them. Stops at the first invalid
        row.
    """
    layers = list(layers)
    shape = _input_shape(input_hw, layers)
    report = analyze_stack(shape, layers)
    current: tuple[AxisSpans, AxisSpans] | None = (
        _input_spans(shape[1]),
        _input_spans(shape[2]),
    )
    out: list[tuple[AxisSpans, AxisSpans] | None] = []
    for result in report.results:
        if current is None or len(result.output_shape) != 3 or _too_large(result):
            current = None
        else:
            current = (
                _step(current[0], result.layer, 0, result.output_shape[1]),
                _step(current[1], result.layer, 1, result.output_shape[2]),
            )
        out.append(current)
    return out


def receptive_field(
    layers: list[LayerLike], input_hw: Sequence[int], layer_index: int, y: int, x: int
) -> Box:
    """The input pixels output cell ``(y, x)`` of layer ``layer_index`` depends on.

    Args:
        layers: The stack (dicts or :class:`~core.arithmetic.layers.Layer`).
        input_hw: ``(H, W)`` or ``(C, H, W)`` of the input.
        layer_index: 0-based row whose output cell is asked about.
        y: Row of the cell in that layer's output.
        x: Column of the cell.

    Returns:
        Half-open ``(y0, y1, x0, x1)``, clipped to the input; ``(0, 0, 0, 0)`` when the
        cell only sees padding.

    Raises:
        GeometryError: the stack is invalid at or before ``layer_index``.
        ValueError: the layer's output is flat, or the cell is outside it.
    """
    layers = list(layers)
    if not 0 <= layer_index < len(layers):
        raise ValueError(f"layer_index {layer_index} is not a row of this {len(layers)}-row stack")
    shape = _input_shape(input_hw, layers)
    report = analyze_stack(shape, layers[: layer_index + 1])
    if report.error is not None:
        raise report.error
    spans = field_spans(layers[: layer_index + 1], shape)[layer_index]
    result = report.results[layer_index]
    if spans is None and len(result.output_shape) != 3:
        raise ValueError(
            f"row {layer_index + 1} ({result.layer.op}) has a flat output: no cells to point at"
        )
    if spans is None:
        raise ValueError(
            f"row {layer_index + 1} or a row before it is too large to trace cell by cell "
            f"(over {MAX_TAPS:,} output cells x kernel taps on one axis)"
        )
    _, height, width = result.output_shape
    if not (0 <= y < height and 0 <= x < width):
        raise ValueError(f"cell ({y}, {x}) is outside the {height} x {width} output")
    (y0, y1), (x0, x1) = spans[0].span(y), spans[1].span(x)
    if y1 == y0 or x1 == x0:
        return EMPTY_BOX
    return (y0, y1, x0, x1)


def _empty_taps(
    layer: Layer, axis: int, n_in: int, n_out: int, index: int, before: AxisSpans | None
) -> tuple[list[str], int | None]:
    """What the taps of output ``index`` along one axis land on, when none reads input.

    Returns:
        ``(kinds, previous)``: the kinds of non-input cells under the taps, in words
        (padding; zeros a transposed convolution inserts), and one previous-row cell
        under a tap that reads no input itself (None when no tap lands on a real cell).
    """
    taps, valid = _taps(layer, axis, n_in, n_out)
    taps, valid = taps[index], valid[index]  # (k,)
    kinds: list[str] = []
    if layer.op == "convtranspose2d":
        before_pad = layer.pads()[axis][0]
        offsets = np.arange(layer.kernel[axis]) * layer.dilations[axis]
        numerator = index + before_pad - offsets  # (k,): input position x stride
        stride = layer.strides[axis]
        # a tap between two real input cells lands on an inserted zero; one beyond the
        # first or last cell lands on the padding (output_padding included)
        between = (numerator % stride != 0) & (numerator >= 0) & (numerator // stride < n_in - 1)
        if between.any():
            kinds.append(
                f"zeros the transposed convolution inserts between input cells "
                f"(stride {layer.strides[axis]})"
            )
        if (~valid & ~between).any():
            kinds.append("the padding around the input")
    elif (~valid).any():
        kinds.append("padding")
    previous = None
    if before is not None:
        real = taps[valid]
        empty = real[before.last[real] < 0] if real.size else real
        previous = int(empty[0]) if empty.size else None
    return kinds, previous


def empty_field_reason(
    layers: list[LayerLike], input_hw: Sequence[int], layer_index: int, y: int, x: int
) -> str:
    """Why output cell ``(y, x)`` of row ``layer_index`` reads no input pixel.

    :func:`receptive_field` returns an empty box for such a cell; this says what its
    kernel falls on instead: padding, the zeros a transposed convolution inserts between
    input cells (which are no padding: issue 25), or cells of the row before that read
    no input themselves (followed down to the row where it starts).

    Args:
        layers: The stack.
        input_hw: ``(H, W)`` or ``(C, H, W)``.
        layer_index: 0-based row of the cell.
        y: Its row.
        x: Its column.

    Returns:
        A phrase, e.g. ``"along the width its kernel falls only on zeros the transposed
        convolution inserts between input cells (stride 3)"``; "" when the cell does read
        input.
    """
    layers = list(layers)
    shape = _input_shape(input_hw, layers)
    report = analyze_stack(shape, layers[: layer_index + 1])
    spans = field_spans(layers[: layer_index + 1], shape)
    top = spans[layer_index] if layer_index < len(spans) else None
    empty_axes = [] if top is None else [a for a in (0, 1) if top[a].last[(y, x)[a]] < 0]
    if not empty_axes:
        return ""
    axis = empty_axes[0]  # one empty axis is enough for an empty box; follow it down
    index, row, parts = (y, x)[axis], layer_index, []
    while True:
        result = report.results[row]
        below = spans[row - 1] if row > 0 else None
        kinds, previous = _empty_taps(
            result.layer, axis, result.input_shape[1 + axis], result.output_shape[1 + axis],
            index, None if below is None else below[axis],
        )  # fmt: skip
        subject = f"along the {AXES[axis]} its kernel" if row == layer_index else "whose kernel"
        if previous is None:
            parts.append(f"{subject} falls only on {' and '.join(kinds)}")
            return "".join(parts)
        mixed = ", ".join(kinds) + " and " if kinds else ""
        parts.append(
            f"{subject} falls only on {mixed}cells of row {row} "
            f"({report.results[row - 1].layer.op}) that read no input themselves, "
        )
        index, row = previous, row - 1


def largest_fields(
    layers: Iterable[LayerLike], input_hw: Sequence[int]
) -> list[tuple[int, int] | None]:
    """Per row, the widest exact field of any of its cells in this input, ``(h, w)``.

    Unlike the classic size (which counts padding as pixels), this never exceeds the
    input. None for flat rows.
    """
    return [
        None if spans is None else (spans[0].largest(), spans[1].largest())
        for spans in field_spans(layers, input_hw)
    ]


# ------------------------------------------------------------------ real networks


@dataclass(frozen=True)
class ModelField:
    """Where one cell of a real network's layer looks in its input.

    Attributes:
        box: Half-open ``(y0, y1, x0, x1)`` of the non-zero input gradient, or
            ``(0, 0, 0, 0)`` when the gradient is zero everywhere.
        gradient: ``(H, W)`` absolute gradient of the cell (summed over the layer's
            channels) with respect to the input, summed over colour channels.
        layer_shape: ``(C, H, W)`` of the layer's output.
    """

    box: Box
    gradient: np.ndarray
    layer_shape: tuple[int, int, int]


def nonzero_box(values: np.ndarray) -> Box:
    """Half-open bounding box of the non-zero entries of a 2-D array."""
    rows = np.flatnonzero(values.any(axis=1))
    cols = np.flatnonzero(values.any(axis=0))
    if rows.size == 0:
        return EMPTY_BOX
    return (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


def model_receptive_field(
    net: nn.Module, inputs: torch.Tensor, layer: str, y: int, x: int, call: int = 0
) -> ModelField:
    """The input region output cell ``(y, x)`` of ``layer`` depends on, by gradients.

    Works for any architecture (residual additions, concatenations, gating): whatever
    path connects the input to the cell carries gradient. The network's parameters are
    not touched (they may be frozen); only the input gets a gradient.

    Args:
        net: The network, in eval mode.
        inputs: ``(1, C, H, W)`` preprocessed input.
        layer: Module name; its output must be ``(1, C', H', W')``.
        y: Row of the cell in the layer's output.
        x: Column of the cell.
        call: Which call of a module used several times per forward pass.

    Returns:
        A :class:`ModelField`.

    Raises:
        ValueError: the layer's output is not a feature map, or the cell is outside it.
    """
    image = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        output = layer_output(net, image, layer, call)
        if output.dim() != 4:
            raise ValueError(
                f"{layer!r} outputs {tuple(output.shape)}, not a (1, C, H, W) feature map"
            )
        _, channels, height, width = output.shape
        if not (0 <= y < height and 0 <= x < width):
            raise ValueError(f"cell ({y}, {x}) is outside the {height} x {width} output")
        (grad,) = torch.autograd.grad(output[0, :, y, x].sum(), image, allow_unused=True)
    if grad is None:  # the layer does not depend on the input at all
        magnitude = np.zeros(tuple(inputs.shape[2:]), dtype=np.float32)
    else:
        magnitude = grad[0].abs().sum(0).numpy()  # (C, H, W) -> (H, W)
    return ModelField(nonzero_box(magnitude), magnitude, (channels, height, width))


def overlay_field(
    image: Image.Image,
    box: Box,
    gradient: np.ndarray | None = None,
    min_side: int = 320,
    colour: tuple[int, int, int] = (255, 200, 0),
) -> Image.Image:
    """Draw a receptive field over an image: the box, and optionally the gradient as heat.

    Small images (a 7 x 7 input) are enlarged with nearest-neighbour resampling first so
    that single pixels stay visible as squares.

    Args:
        image: The input the box refers to, ``H x W`` pixels.
        box: Half-open ``(y0, y1, x0, x1)`` in that image's pixels.
        gradient: Optional ``(H, W)`` non-negative map, drawn in red with opacity
            growing with its square root (so weak but non-zero pixels still show).
        min_side: Enlarge until the shorter side is at least this (integer factor).
        colour: Outline colour.

    Returns:
        A new RGB image.
    """
    base = image.convert("RGB")
    width, height = base.size
    scale = max(1, -(-min_side // max(1, min(width, height))))
    if gradient is not None:
        peak = float(gradient.max())
        heat = np.sqrt(gradient / peak) if peak > 0 else np.zeros_like(gradient)
        alpha = (heat * 0.75)[..., None]  # (H, W, 1)
        red = np.array([230, 30, 30], dtype=np.float32)
        pixels = np.asarray(base, dtype=np.float32) * (1 - alpha) + red * alpha
        base = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    if scale > 1:
        base = base.resize((width * scale, height * scale), Image.Resampling.NEAREST)
    y0, y1, x0, x1 = box
    if y1 > y0 and x1 > x0:
        line = max(2, scale // 4, min(base.size) // 150)
        ImageDraw.Draw(base).rectangle(
            (x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1), outline=colour, width=line
        )
    return base
