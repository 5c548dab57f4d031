"""Convolution animations, the drawing: frames of an animation plan, and the GIF.

Pure numpy/PIL (no LaTeX, ImageMagick or matplotlib). Each frame shows, on the left,
the input grid with its padding (and, for a transposed convolution, the zeros inserted
between input cells), the kernel's taps for the current output cell (dilation leaves
gaps between them) and the window's outline; on the right, the output grid filling
in, the current cell highlighted. Frames come out in row-major order of the output, so
there are exactly ``H_out * W_out`` of them. The layout of the taps is
:func:`core.arithmetic.animation.plan_animation`'s.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from core.arithmetic.animation import (
    INPUT,
    OUTSIDE,
    PADDING,
    ZERO,
    AnimationPlan,
    plan_animation,
)
from core.arithmetic.formatting import format_pair
from core.arithmetic.layers import TORCH_NAMES, LayerLike
from core.common.images import font

_COLOURS = {
    INPUT: (219, 234, 254),  # pale blue
    PADDING: (229, 231, 235),  # grey
    ZERO: (254, 249, 195),  # pale yellow: inserted zeros
    OUTSIDE: (255, 255, 255),
}
_TAP_ON_INPUT = (37, 99, 235)
_TAP_ON_EMPTY = (147, 197, 253)
_WINDOW = (30, 58, 138)
_DONE = (187, 247, 208)
_CURRENT = (22, 163, 74)
_PENDING = (255, 255, 255)
_LINE = (156, 163, 175)
_TEXT = (17, 24, 39)
_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class FrameLayout:
    """Pixel geometry of the frames: cell size and where the two grids start.

    Attributes:
        cell: Side of one grid cell in pixels.
        margin: Outer margin.
        header: Height of the title area.
        gap: Space between the input and output grids.
        in_origin: Top-left pixel of the input grid (its coordinate ``lo``).
        out_origin: Top-left pixel of the output grid.
        size: ``(width, height)`` of every frame.
    """

    cell: int
    margin: int
    header: int
    gap: int
    in_origin: tuple[int, int]
    out_origin: tuple[int, int]
    size: tuple[int, int]


def frame_layout(plan: AnimationPlan, max_width: int = 720) -> FrameLayout:
    """Where everything is drawn (frames of one plan share it)."""
    cols_in = plan.axes[1].hi - plan.axes[1].lo + 1
    rows_in = plan.axes[0].hi - plan.axes[0].lo + 1
    rows_out, cols_out = plan.output_hw
    margin, gap = 12, 40
    cell = (max_width - 2 * margin - gap) // max(cols_in + cols_out, 1)
    cell = int(np.clip(cell, 8, 40))
    header = 46
    width = 2 * margin + gap + cell * (cols_in + cols_out)
    height = header + margin + cell * max(rows_in, rows_out) + 30
    in_origin = (margin, header)
    out_origin = (margin + cell * cols_in + gap, header)
    return FrameLayout(cell, margin, header, gap, in_origin, out_origin, (max(width, 360), height))


def _title(plan: AnimationPlan) -> str:
    """The frame's heading: the layer, its sizes and every non-default parameter."""
    layer = plan.layer
    pads = layer.pads()
    padding = format_pair([pads[0][0], pads[1][0]])
    if pads[0][0] != pads[0][1] or pads[1][0] != pads[1][1]:
        padding = f"{pads[0][0]},{pads[0][1]} x {pads[1][0]},{pads[1][1]}"
    parts = [
        f"kernel {format_pair(layer.kernel)}",
        f"stride {format_pair(layer.strides)}",
        f"padding {padding}",
    ]
    if layer.dilations != (1, 1):
        parts.append(f"dilation {format_pair(layer.dilations)}")
    if layer.op == "convtranspose2d" and layer.output_paddings != (0, 0):
        parts.append(f"output_padding {format_pair(layer.output_paddings)}")
    if layer.ceil_mode:
        parts.append("ceil_mode")
    h, w = plan.input_hw
    oh, ow = plan.output_hw
    return f"{TORCH_NAMES[layer.op]}: {h}x{w} -> {oh}x{ow}   " + ", ".join(parts)


def _background(plan: AnimationPlan, layout: FrameLayout) -> Image.Image:
    image = Image.new("RGB", layout.size, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((layout.margin, 6), _title(plan), fill=_TEXT, font=font(13))
    legend = "input" if plan.layer.op != "convtranspose2d" else "input (yellow: inserted zeros)"
    draw.text((layout.in_origin[0], 26), f"{legend}, grey: padding", fill=_TEXT, font=font(11))
    draw.text((layout.out_origin[0], 26), "output", fill=_TEXT, font=font(11))
    c = layout.cell
    rows, cols = plan.axes
    for gy in range(len(rows.kinds)):
        for gx in range(len(cols.kinds)):
            kind = _grid_kind(plan, gy, gx)
            x0, y0 = layout.in_origin[0] + gx * c, layout.in_origin[1] + gy * c
            outline = _LINE if kind != OUTSIDE else (229, 231, 235)
            draw.rectangle((x0, y0, x0 + c - 1, y0 + c - 1), fill=_COLOURS[kind], outline=outline)
    out_h, out_w = plan.output_hw
    for oy in range(out_h):
        for ox in range(out_w):
            x0, y0 = layout.out_origin[0] + ox * c, layout.out_origin[1] + oy * c
            draw.rectangle((x0, y0, x0 + c - 1, y0 + c - 1), fill=_PENDING, outline=_LINE)
    return image


def _grid_kind(plan: AnimationPlan, gy: int, gx: int) -> str:
    """Kind of input-grid cell ``(gy, gx)``: the stronger of its row's and column's."""
    kinds = {plan.axes[0].kinds[gy], plan.axes[1].kinds[gx]}
    return next(k for k in (OUTSIDE, PADDING, ZERO, INPUT) if k in kinds)


def _mark_done(plan: AnimationPlan, layout: FrameLayout, image: Image.Image, index: int) -> None:
    """Colour output cell ``index`` as written."""
    c = layout.cell
    dy, dx = plan.cell(index)
    x0, y0 = layout.out_origin[0] + dx * c, layout.out_origin[1] + dy * c
    ImageDraw.Draw(image).rectangle((x0, y0, x0 + c - 1, y0 + c - 1), fill=_DONE, outline=_LINE)


def _draw_frame(
    plan: AnimationPlan, layout: FrameLayout, written: Image.Image, index: int
) -> Image.Image:
    """Frame ``index`` on top of ``written`` (the background with cells < index done)."""
    image = written.copy()
    draw = ImageDraw.Draw(image)
    c = layout.cell
    y, x = plan.cell(index)
    x0, y0 = layout.out_origin[0] + x * c, layout.out_origin[1] + y * c
    draw.rectangle((x0, y0, x0 + c - 1, y0 + c - 1), fill=_CURRENT, outline=_WINDOW, width=2)
    # the taps of this output cell
    rows, cols = plan.axes
    tap_rows = [int(t) - rows.lo for t in rows.taps[y]]
    tap_cols = [int(t) - cols.lo for t in cols.taps[x]]
    inset = max(2, c // 6)
    for gy in tap_rows:
        for gx in tap_cols:
            colour = _TAP_ON_INPUT if _grid_kind(plan, gy, gx) == INPUT else _TAP_ON_EMPTY
            px, py = layout.in_origin[0] + gx * c, layout.in_origin[1] + gy * c
            draw.rectangle((px + inset, py + inset, px + c - 1 - inset, py + c - 1 - inset), colour)
    left = layout.in_origin[0] + min(tap_cols) * c
    top = layout.in_origin[1] + min(tap_rows) * c
    right = layout.in_origin[0] + (max(tap_cols) + 1) * c - 1
    bottom = layout.in_origin[1] + (max(tap_rows) + 1) * c - 1
    draw.rectangle((left, top, right, bottom), outline=_WINDOW, width=2)
    # a line from the window to the row of the output cell it writes (stops at the grid)
    grid_right = layout.in_origin[0] + (cols.hi - cols.lo + 1) * c
    target = (layout.out_origin[0] - 4, y0 + c // 2)
    draw.line((right, (top + bottom) // 2, grid_right + 4, target[1], *target), _WINDOW, 1)
    in_rows, in_cols = plan.input_cells(index)
    reads = (
        f"rows {_span(in_rows)}, cols {_span(in_cols)}" if in_rows and in_cols else "padding only"
    )
    caption = f"frame {index + 1}/{plan.n_frames}: output ({y}, {x}) reads input {reads}"
    draw.text((layout.margin, layout.size[1] - 24), caption, fill=_TEXT, font=font(12))
    return image


def _span(cells: list[int]) -> str:
    if len(cells) == 1:
        return str(cells[0])
    contiguous = cells == list(range(cells[0], cells[-1] + 1))
    return f"{cells[0]}-{cells[-1]}" if contiguous else ",".join(map(str, cells))


def render_frames(plan: AnimationPlan, max_width: int = 720) -> list[Image.Image]:
    """Every frame, in output row-major order.

    Args:
        plan: From :func:`plan_animation`.
        max_width: Target image width in pixels (cells shrink to fit, 8-40 px).

    Returns:
        ``plan.n_frames`` RGB images of identical size.
    """
    layout = frame_layout(plan, max_width)
    written = _background(plan, layout)
    frames = []
    for index in range(plan.n_frames):
        frames.append(_draw_frame(plan, layout, written, index))
        _mark_done(plan, layout, written, index)
    return frames


def render_frame(plan: AnimationPlan, index: int, max_width: int = 720) -> Image.Image:
    """One frame (``0 <= index < plan.n_frames``)."""
    if not 0 <= index < plan.n_frames:
        raise IndexError(f"frame {index} of {plan.n_frames}")
    layout = frame_layout(plan, max_width)
    written = _background(plan, layout)
    for done in range(index):
        _mark_done(plan, layout, written, done)
    return _draw_frame(plan, layout, written, index)


def _palette() -> Image.Image:
    """The GIF palette: every flat colour of the drawings exactly, plus a grey ramp for
    the anti-aliased text (an adaptive palette would blur white into near-white)."""
    flat = [
        _BACKGROUND, *_COLOURS.values(), _TAP_ON_INPUT, _TAP_ON_EMPTY, _WINDOW, _DONE,
        _CURRENT, _PENDING, _LINE, _TEXT, (229, 231, 235),
    ]  # fmt: skip
    ramp = [
        tuple(int(round(t + (255 - t) * i / 31)) for t in _TEXT)  # text colour -> white
        for i in range(32)
    ]
    colours = list(dict.fromkeys(flat + ramp))
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for colour in colours for v in colour] + [0] * (768 - 3 * len(colours)))
    return palette


def to_gif(frames: Sequence[Image.Image], ms_per_frame: int = 500) -> bytes:
    """Frames as a looping animated GIF.

    Args:
        frames: Equal-size RGB images.
        ms_per_frame: Display time of each frame.

    Returns:
        The GIF file's bytes.
    """
    if not frames:
        raise ValueError("no frames")
    quantized_palette = _palette()
    quantized = [f.quantize(palette=quantized_palette, dither=Image.Dither.NONE) for f in frames]
    buffer = io.BytesIO()
    quantized[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=quantized[1:],
        duration=ms_per_frame,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return buffer.getvalue()


def animation_gif(
    layer: LayerLike, input_hw: Sequence[int], ms_per_frame: int = 500, max_width: int = 720
) -> bytes:
    """Plan, draw and encode in one call."""
    return to_gif(render_frames(plan_animation(layer, input_hw), max_width), ms_per_frame)


def frames_as_array(frames: Sequence[Image.Image]) -> np.ndarray:
    """Frames stacked as ``(n, H, W, 3)`` uint8 (for tests and custom players)."""
    return np.stack([np.asarray(f) for f in frames])
