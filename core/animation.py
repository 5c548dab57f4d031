"""Convolution animations: the kernel sliding over the padded input, one frame per output cell.

Pure numpy/PIL (no LaTeX, ImageMagick or matplotlib). Each frame shows, on the left,
the input grid with its padding (and, for a transposed convolution, the zeros inserted
between input cells), the kernel's taps for the current output cell (dilation leaves
gaps between them) and the window's outline; on the right, the output grid filling
in, the current cell highlighted. Frames come out in row-major order of the output, so
there are exactly ``H_out * W_out`` of them.

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

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.geometry import Layer, LayerLike, analyze_stack, parse_layer

ANIMATED_OPS = ("conv2d", "convtranspose2d", "maxpool2d", "avgpool2d")
MAX_FRAMES = 400  # one frame per output cell: more would be unwatchable and memory-hungry
MAX_SEARCH = 512  # largest input side readable_input_size tries

# cell kinds on the input grid
INPUT, PADDING, ZERO, OUTSIDE = "input", "padding", "zero", "outside"

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
    channels = parsed.n_groups
    report = analyze_stack((channels, int(input_hw[0]), int(input_hw[1])), [parsed])
    if report.error is not None:
        raise report.error
    _, out_h, out_w = report.results[0].output_shape
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
    full = analyze_stack((parsed.n_groups, *actual), [parsed])
    if full.error is not None:
        raise full.error

    def output(axis: int, size: int) -> int | None:
        probe = list(actual)
        probe[axis] = size
        report = analyze_stack((parsed.n_groups, *probe), [parsed])
        return None if report.error else report.results[0].output_shape[1 + axis]

    sizes = []
    for axis in range(2):
        wanted = min(min_output, full.results[0].output_shape[1 + axis])
        search = range(1, min(actual[axis], MAX_SEARCH) + 1)
        size = next((n for n in search if (output(axis, n) or 0) >= wanted), None)
        if size is None:
            raise ValueError(f"the kernel needs more than {MAX_SEARCH} input cells per axis")
        while size < min(cap, actual[axis]) and (output(axis, size + 1) or 0) <= max_output:
            size += 1
        sizes.append(size)
    return (sizes[0], sizes[1])


# ------------------------------------------------------------------------ drawing


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


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
    layer = plan.layer
    name = {"conv2d": "Conv2d", "convtranspose2d": "ConvTranspose2d"}.get(layer.op, layer.op)
    name = {"maxpool2d": "MaxPool2d", "avgpool2d": "AvgPool2d"}.get(layer.op, name)

    def pair(values: Sequence[int]) -> str:
        return str(values[0]) if values[0] == values[1] else f"{values[0]}x{values[1]}"

    pads = layer.pads()
    padding = pair([pads[0][0], pads[1][0]])
    if pads[0][0] != pads[0][1] or pads[1][0] != pads[1][1]:
        padding = f"{pads[0][0]},{pads[0][1]} x {pads[1][0]},{pads[1][1]}"
    parts = [
        f"kernel {pair(layer.kernel)}",
        f"stride {pair(layer.strides)}",
        f"padding {padding}",
    ]
    if layer.dilations != (1, 1):
        parts.append(f"dilation {pair(layer.dilations)}")
    if layer.op == "convtranspose2d" and layer.output_paddings != (0, 0):
        parts.append(f"output_padding {pair(layer.output_paddings)}")
    if layer.ceil_mode:
        parts.append("ceil_mode")
    h, w = plan.input_hw
    oh, ow = plan.output_hw
    return f"{name}: {h}x{w} -> {oh}x{ow}   " + ", ".join(parts)


def _background(plan: AnimationPlan, layout: FrameLayout) -> Image.Image:
    image = Image.new("RGB", layout.size, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((layout.margin, 6), _title(plan), fill=_TEXT, font=_font(13))
    legend = "input" if plan.layer.op != "convtranspose2d" else "input (yellow: inserted zeros)"
    draw.text((layout.in_origin[0], 26), f"{legend}, grey: padding", fill=_TEXT, font=_font(11))
    draw.text((layout.out_origin[0], 26), "output", fill=_TEXT, font=_font(11))
    c = layout.cell
    rows, cols = plan.axes
    for gy, kind_y in enumerate(rows.kinds):
        for gx, kind_x in enumerate(cols.kinds):
            kinds = {kind_y, kind_x}
            kind = next(k for k in (OUTSIDE, PADDING, ZERO, INPUT) if k in kinds)
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
    draw.text((layout.margin, layout.size[1] - 24), caption, fill=_TEXT, font=_font(12))
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
    report = analyze_stack((parsed.n_groups, int(input_hw[0]), int(input_hw[1])), [parsed])
    if report.error is not None:
        raise report.error
    output_hw = report.results[0].output_shape[1:]
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


def frames_as_array(frames: Sequence[Image.Image]) -> np.ndarray:
    """Frames stacked as ``(n, H, W, 3)`` uint8 (for tests and custom players)."""
    return np.stack([np.asarray(f) for f in frames])
