"""Figures of "Inside the network": tiled feature maps and kernels (one trace each, with
hover), objective curves, the embedding scatter, snapshot animations."""

from __future__ import annotations

import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from core.inside import Kernels

GAP = 1  # pixels between tiles
COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


def tile(tiles: np.ndarray, columns: int, fill: float = np.nan) -> tuple[np.ndarray, np.ndarray]:
    """Tiles ``(K, h, w[, 3])`` in a grid with gaps.

    Returns:
        ``(grid, index)``: the grid ``(rows * (h + gap), columns * (w + gap)[, 3])`` and,
        per grid pixel, the tile index (-1 in the gaps).
    """
    count, height, width = tiles.shape[:3]
    rows = math.ceil(count / columns)
    shape = (rows * (height + GAP) - GAP, columns * (width + GAP) - GAP, *tiles.shape[3:])
    grid = np.full(shape, fill, np.float32)
    index = np.full(shape[:2], -1, np.int64)
    for k in range(count):
        top, left = (k // columns) * (height + GAP), (k % columns) * (width + GAP)
        grid[top : top + height, left : left + width] = tiles[k]
        index[top : top + height, left : left + width] = k
    return grid, index


def maps_figure(
    maps: np.ndarray, channels: np.ndarray, means: np.ndarray, columns: int = 8
) -> go.Figure:
    """Feature maps ``(K, h, w)`` as one heatmap (shared grey scale); hover shows the
    channel, its mean and the value."""
    grid, index = tile(maps, columns)
    channel = np.where(index >= 0, channels[np.maximum(index, 0)], -1)
    mean = np.where(index >= 0, means[channel.clip(0)], np.nan)
    figure = go.Figure(
        go.Heatmap(
            z=grid, colorscale="Viridis", customdata=np.stack([channel, mean], -1),
            hovertemplate="channel %{customdata[0]}<br>mean %{customdata[1]:.3f}"
            "<br>value %{z:.3f}<extra></extra>",
            colorbar={"title": "activation", "thickness": 12},
        )
    )  # fmt: skip
    return _image_layout(figure, grid.shape[:2])


def kernels_figure(kernels: Kernels, columns: int = 16) -> go.Figure:
    """Kernels as RGB or grey tiles (0.5 = zero weight); hover shows the kernel, the
    weight and the kernel's norm."""
    tiles = kernels.tiles if kernels.rgb else np.stack([kernels.tiles] * 3, -1)
    grid, index = tile(tiles, columns, fill=1.0)
    weight = (grid - 0.5) * 2 * kernels.scale  # the signed weight (mean of RGB for hover)
    text = [
        [
            "" if k < 0 else f"kernel {k}<br>weight {w:+.3f}<br>norm {kernels.norms[k]:.3f}"
            for k, w in zip(row_index, row_weight.mean(-1), strict=True)
        ]
        for row_index, row_weight in zip(index, weight, strict=True)
    ]
    figure = go.Figure(go.Image(z=(grid * 255).round(), hovertext=text, hoverinfo="text"))
    return _image_layout(figure, grid.shape[:2])


PAGE_WIDTH = 800  # pixels of a chart across the main column


def _image_layout(figure: go.Figure, shape: tuple[int, ...]) -> go.Figure:
    """Hidden axes, rows downwards, square pixels, as tall as the page's width allows."""
    height = max(120, int(min(PAGE_WIDTH * shape[0] / max(shape[1], 1), 900)))
    figure.update_layout(
        height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0},
        xaxis={"visible": False}, yaxis={"visible": False, "autorange": "reversed",
                                          "scaleanchor": "x"},
    )  # fmt: skip
    return figure


def curve_figure(curves: dict[str, np.ndarray], title: str) -> go.Figure:
    """One objective-per-step line per run."""
    figure = go.Figure()
    for name, values in curves.items():
        steps = np.arange(1, len(values) + 1)
        figure.add_scatter(x=steps, y=values, mode="lines", name=name)
    figure.update_layout(
        height=260, margin={"l": 0, "r": 0, "t": 30, "b": 0}, title=title,
        xaxis_title="step", yaxis_title="objective", showlegend=len(curves) > 1,
    )  # fmt: skip
    return figure


def gif(frames: np.ndarray, milliseconds: int = 150, size: int = 256) -> bytes:
    """Snapshots ``(S, H, W, C)`` uint8 as a looping GIF (enlarged to ``size``)."""
    pictures = [_picture(frame).resize((size, size), Image.Resampling.NEAREST) for frame in frames]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer, format="GIF", save_all=True, append_images=pictures[1:],
        duration=[milliseconds] * (len(pictures) - 1) + [milliseconds * 8], loop=0,
    )  # fmt: skip
    return buffer.getvalue()


def _picture(frame: np.ndarray) -> Image.Image:
    return Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` in [0, 1] -> uint8 (grey kept 2-D)."""
    image = (np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)
    return image[..., 0] if image.shape[-1] == 1 else image


MAX_RASTER = 500  # larger sets: hover shows each image, no raster of them all (bytes)


def _thumbnail_raster(
    figure: go.Figure, points: np.ndarray, thumbnails: np.ndarray,
    classes: np.ndarray | None, canvas: int,
) -> np.ndarray:  # fmt: skip
    """Paste every thumbnail at its point into one image under the points; returns the
    padding (in data units) that keeps the border thumbnails inside the axes."""
    low, high = points.min(0), points.max(0)
    span = np.maximum(high - low, 1e-6)
    side = thumbnails.shape[1]
    # thumbnails a little smaller than the mean spacing of the points, 12-220 px
    cell = int(np.clip(canvas / math.sqrt(len(points)) * 0.9, 12, 220))
    scale = (canvas - cell) / span
    background = Image.new("RGB", (canvas, canvas), "white")
    for point, thumb in zip(points, thumbnails, strict=True):
        picture = Image.fromarray(thumb)
        if side != cell:
            picture = picture.resize((cell, cell), Image.Resampling.BILINEAR)
        if classes is not None:  # MNIST: dark ink on white paper
            picture = Image.fromarray(255 - np.asarray(picture))
        x, y = ((point - low) * scale).astype(int)
        background.paste(picture, (int(x), int(canvas - cell - y)))
    pad = span * cell / 2 / (canvas - cell)
    figure.add_layout_image(
        source=background, xref="x", yref="y", x=low[0] - pad[0], y=high[1] + pad[1],
        sizex=span[0] + 2 * pad[0], sizey=span[1] + 2 * pad[1], sizing="stretch",
        layer="below", opacity=0.9,
    )  # fmt: skip
    return pad


def embedding_figure(
    points: np.ndarray,
    captions: list[str],
    thumbnails: np.ndarray,
    classes: np.ndarray | None,
    user: np.ndarray | None,
    user_label: str,
    canvas: int = 1600,
) -> go.Figure:
    """The embedding: a point per image (coloured by class when known), for sets of up to
    :data:`MAX_RASTER` images over one raster of every thumbnail at its position (zoom
    in to see them); the user's image is a red star. Hover shows the caption.

    Args:
        points: ``(N, 2)``.
        captions: One per point.
        thumbnails: ``(N, h, w, 3)`` uint8.
        classes: ``(N,)`` or None.
        user: ``(2,)`` position of the user's image, or None.
        user_label: Its caption.
        canvas: Side of the thumbnail raster, in pixels.
    """
    low, high = points.min(0), points.max(0)
    span = np.maximum(high - low, 1e-6)
    figure = go.Figure()
    pad = span * 0.04
    if len(points) <= MAX_RASTER:
        pad = _thumbnail_raster(figure, points, thumbnails, classes, canvas)
    x_range = [low[0] - pad[0], high[0] + pad[0]]
    y_range = [low[1] - pad[1], high[1] + pad[1]]
    groups = range(10) if classes is not None else [None]
    for group in groups:
        member = np.ones(len(points), bool) if classes is None else np.asarray(classes == group)
        figure.add_scattergl(
            x=points[member, 0], y=points[member, 1], mode="markers",
            marker={"size": 5 if classes is not None else 10, "opacity": 0.55,
                    "color": COLOURS[group] if group is not None else "#1f77b4"},
            name=str(group) if group is not None else "images",
            text=[c for c, m in zip(captions, member, strict=True) if m],
            customdata=np.flatnonzero(member), hovertemplate="%{text}<extra></extra>",
        )  # fmt: skip
    if user is not None:
        figure.add_scatter(
            x=[user[0]], y=[user[1]], mode="markers", name=user_label,
            marker={"symbol": "star", "size": 18, "color": "red", "line": {"width": 1}},
            hovertemplate=f"{user_label}<extra></extra>",
        )  # fmt: skip
    figure.update_layout(
        height=640, margin={"l": 0, "r": 0, "t": 10, "b": 0}, dragmode="zoom",
        xaxis={"range": x_range, "visible": False},
        yaxis={"range": y_range, "visible": False, "scaleanchor": "x"},
        legend={"itemsizing": "constant"},
    )  # fmt: skip
    return figure
