"""Pictures for the digits lab (rendering only; the numbers come from core.digits).

Colour convention (as everywhere in the app): red = positive / for, blue = negative /
against.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont
from plotly.subplots import make_subplots

from core.attribution.display import (
    ColourScale,
    DisplaySettings,
    MapKind,
    MapStyle,
    colour_scale,
    render,
)
from core.digits import TrainingRecord

HIGHLIGHT = np.array([214, 39, 40], np.uint8)  # red frame around decisive channels
GRID = np.array([60, 60, 60], np.uint8)
DIVERGING = "RdBu_r"  # blue (negative) - white (0) - red (positive)
DIGIT_PICTURE = 280  # pixels: the lab's pictures of a digit (10 screen pixels per pixel)


def pixels(image: np.ndarray, scale: int = 1) -> np.ndarray:
    """A grayscale image in [0, 1] as uint8, optionally enlarged with hard pixel edges.

    The page shows small images enlarged by the browser with ``image-rendering:
    pixelated`` (see ``ui.digits.panels.pixelated_images``), which is far cheaper than
    encoding big PNGs on the server; ``scale`` > 1 enlarges here instead.

    Args:
        image: ``(H, W)`` float in [0, 1].
        scale: Screen pixels per image pixel.

    Returns:
        ``(H * scale, W * scale)`` uint8.
    """
    grey = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return grey.repeat(scale, axis=0).repeat(scale, axis=1)


LABEL_BAND = 13  # image pixels above each map for its channel number
LABEL_INK = np.array([240, 240, 240], np.float32)


@functools.lru_cache(maxsize=256)
def channel_label(number: int, width: int) -> np.ndarray:
    """The band above a map with its channel number, ``#14``, centred.

    Returns:
        ``(LABEL_BAND, width)`` float32 in [0, 1]: how much ink each pixel has
        (antialiased: thresholded, a 6 and an 8 looked alike at this size).
    """
    band = Image.new("L", (width, LABEL_BAND), 0)
    draw = ImageDraw.Draw(band)
    text = f"#{number}"
    font = ImageFont.load_default(size=LABEL_BAND - 1)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    position = ((width - (right - left)) // 2 - left, (LABEL_BAND - (bottom - top)) // 2 - top)
    draw.text(position, text, fill=255, font=font)
    return np.asarray(band, np.float32) / 255.0


@functools.lru_cache(maxsize=16)
def label_bands(channels: int, width: int) -> np.ndarray:
    """The numbered bands of ``channels`` maps, drawn once per grid size.

    Returns:
        ``(channels, LABEL_BAND, width, 3)`` uint8: :data:`LABEL_INK` over :data:`GRID`.
    """
    ink = np.stack([channel_label(c, width) for c in range(channels)])[..., None]  # (C, b, w, 1)
    bands = np.round(ink * LABEL_INK + (1 - ink) * GRID.astype(np.float32)).astype(np.uint8)
    bands.setflags(write=False)
    return bands


def tile_channels(
    maps: np.ndarray, highlight: list[int], columns: int = 8, scale: int = 1, frame: int = 1
) -> np.ndarray:
    """Feature maps side by side, grey levels scaled to the layer's maximum, each with
    its channel number above it (the captions name channels: "#14, #20").

    Args:
        maps: ``(C, H, W)`` non-negative activations.
        highlight: Channels to frame in red (the decisive ones).
        columns: Maps per row.
        scale: Image pixels per activation.
        frame: Frame width around each map, in image pixels (red when highlighted).

    Returns:
        RGB uint8 image of the grid: cells of ``LABEL_BAND + H * scale + 2 * frame``
        rows, numbered left to right, then top to bottom.
    """
    channels, height, width = maps.shape
    rows = math.ceil(channels / columns)
    peak = float(maps.max()) or 1.0
    grey = np.round(np.clip(maps / peak, 0, 1) * 255).astype(np.uint8)  # (C, H, W)
    big = grey.repeat(scale, axis=1).repeat(scale, axis=2)  # (C, H*s, W*s)
    cell_h, cell_w = LABEL_BAND + height * scale + 2 * frame, width * scale + 2 * frame
    cells = np.empty((rows * columns, cell_h, cell_w, 3), np.uint8)
    cells[:] = GRID
    cells[[c for c in highlight if c < channels], LABEL_BAND:] = HIGHLIGHT
    cells[:channels, LABEL_BAND + frame : -frame, frame:-frame] = big[..., None]
    cells[:channels, :LABEL_BAND] = label_bands(channels, cell_w)
    # (rows * columns, h, w, 3) -> (rows, h, columns, w, 3) -> (rows * h, columns * w, 3)
    grid = cells.reshape(rows, columns, cell_h, cell_w, 3).transpose(0, 2, 1, 3, 4)
    return grid.reshape(rows * cell_h, columns * cell_w, 3)


def probability_figure(probs: np.ndarray, title: str = "", height: int = 260) -> go.Figure:
    """The 10 class probabilities as bars, the top class in red."""
    top = int(np.argmax(probs))
    colours = ["#d62728" if d == top else "#9e9e9e" for d in range(len(probs))]
    figure = go.Figure(
        go.Bar(
            x=[str(d) for d in range(len(probs))],
            y=probs,
            marker_color=colours,
            text=[f"{p:.0%}" if p >= 0.01 else "" for p in probs],
            textposition="outside",
            hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title or None,
        height=height,
        margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
        yaxis={"range": [0, 1.15], "tickformat": ".0%"},
        xaxis={"title": "digit", "type": "category"},
    )
    return figure


def signed_figure(
    image: np.ndarray,
    title: str,
    height: int = 230,
    limit: float | None = None,
    unit: str = "",
) -> go.Figure:
    """A signed map in diverging colours, symmetric around 0 (red > 0, blue < 0), its
    colour bar under it (so the picture takes the column's whole width).

    Args:
        image: ``(H, W)``.
        title: Figure title.
        height: In pixels.
        limit: Colour-scale half range (default: the largest absolute value).
        unit: The colour bar's title (what a value is).
    """
    limit = float(np.abs(image).max()) if limit is None else limit
    figure = go.Figure(
        go.Heatmap(
            z=image[::-1],
            colorscale=DIVERGING,
            zmid=0,
            zmin=-(limit or 1),
            zmax=limit or 1,
            hovertemplate="row %{customdata}<br>value %{z:.3f}<extra></extra>",
            customdata=np.repeat(np.arange(image.shape[0])[::-1, None], image.shape[1], 1),
            colorbar={"thickness": 10, "orientation": "h", "len": 0.8, "y": -0.02,
                      "yanchor": "top", "title": {"text": unit, "side": "bottom"}},
        )
    )  # fmt: skip
    figure.update_layout(
        title=title,
        height=height,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        xaxis={"visible": False, "constrain": "domain"},
        yaxis={"visible": False, "scaleanchor": "x"},
    )
    return figure


def units_figure(
    values: np.ndarray, highlight: list[int], title: str, unit: str = "unit"
) -> go.Figure:
    """A dense layer's units as bars (red = the decisive ones).

    Args:
        values: ``(N,)`` one value per unit.
        highlight: Units drawn in red.
        title: Figure title (what the values are).
        unit: What one bar is: ``"unit"`` of a hidden layer, ``"digit"`` for the logits
            (then every bar gets its label: Plotly's automatic ticks skipped every other
            digit, issue 25).
    """
    colours = ["#d62728" if i in highlight else "#9e9e9e" for i in range(len(values))]
    figure = go.Figure(go.Bar(x=np.arange(len(values)), y=values, marker_color=colours))
    xaxis: dict[str, object] = {"title": unit}
    if len(values) <= 20:
        xaxis.update(tickmode="array", tickvals=list(range(len(values))))
    figure.update_layout(
        title=title,
        height=200,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis=xaxis,
        bargap=0.1,
    )
    return figure


def kernels_figure(kernels: np.ndarray) -> go.Figure:
    """First-layer kernels ``(K, h, w)`` in a row, one shared diverging colour scale."""
    count, height, width = kernels.shape
    gap = np.full((height, 1), np.nan)
    row = np.concatenate([np.concatenate([k, gap], 1) for k in kernels], 1)[:, :-1]
    limit = float(np.nanmax(np.abs(row))) or 1.0
    figure = go.Figure(
        go.Heatmap(
            z=row[::-1],
            colorscale=DIVERGING,
            zmid=0,
            zmin=-limit,
            zmax=limit,
            colorbar={"thickness": 10},
            hoverongaps=False,
        )
    )
    figure.update_layout(
        height=170,
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        xaxis={"visible": False, "constrain": "domain"},
        yaxis={"visible": False, "scaleanchor": "x"},
    )
    return figure


def curves_figure(record: TrainingRecord) -> go.Figure:
    """Training loss and held-out accuracy against epochs."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "held-out accuracy"))
    figure.add_trace(
        go.Scatter(x=record.epochs, y=record.loss, mode="lines+markers", name="loss"), 1, 1
    )
    figure.add_trace(
        go.Scatter(x=record.epochs, y=record.accuracy, mode="lines+markers", name="accuracy"),
        1,
        2,
    )
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    figure.update_layout(height=260, showlegend=False, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def heatmap_on_digit(
    heatmap: np.ndarray, digit: np.ndarray, kind: MapKind, opacity: float
) -> tuple[Image.Image, ColourScale]:
    """An attribution map over the digit (grey ink on light paper), as a 280 px picture.

    Scaling, colours and overlay come from :mod:`core.attribution.display` (the app's
    one place for them), always drawn as a signed map: red for, blue against, clear paper
    at zero. A non-negative map (saliency) therefore shows only shades of red; an opaque
    sequential map would hide the paper.

    Args:
        heatmap: ``(28, 28)`` raw map.
        digit: ``(28, 28)`` the digit it explains, ink = 1.
        kind: The map's method (its scaling and unit).
        opacity: Heatmap opacity, 0-1.

    Returns:
        The RGB picture (:data:`DIGIT_PICTURE` px, each digit pixel a hard-edged block)
        and its colour scale.
    """
    style = MapStyle.of(kind, signed=True)
    scale = colour_scale(heatmap, style)
    # Grey ink (not black), so that colour on the strokes (LRP's, mostly) stays visible.
    paper = Image.fromarray(pixels(1.0 - 0.45 * digit, DIGIT_PICTURE // digit.shape[1]), "L")
    return render(paper, heatmap, style, DisplaySettings(opacity), scale), scale
