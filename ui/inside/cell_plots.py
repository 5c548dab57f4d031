"""Figures of "how was this number computed" (rendering only; the numbers come from
:func:`core.inside.explain_cell` and :func:`core.inside.softmax_at`).

Plotly reports no clicks on a heatmap, so every clickable map carries a transparent
scatter point on each cell (WebGL beyond a few thousand): a click selects that point.
Colours: input numbers in grey levels, weights and products blue (negative) - white
(0) - red (positive), as everywhere in the app.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.inside import ConvolutionStep, PoolStep, SoftmaxView
from core.inside.cell_steps import number

DIVERGING = "RdBu_r"  # blue (negative) - white (0) - red (positive)
CHOSEN = "#16a34a"  # the frame of the explained cell
MAX_CLICK_POINTS = 40_000  # transparent points on a tiled chart; more: every k-th cell


def click_layer(
    rows: np.ndarray, cols: np.ndarray, text: list[str] | None = None
) -> go.Scatter | go.Scattergl:
    """Transparent points at ``(rows, cols)`` (data coordinates) that make cells
    clickable and give their hover text."""
    trace = go.Scatter if len(rows) <= 2500 else go.Scattergl
    return trace(
        x=cols, y=rows, mode="markers", text=text, name="cells",
        marker={"opacity": 0, "size": 8, "symbol": "square"},
        hovertemplate="%{text}<extra></extra>" if text is not None else "row %{y}, column %{x}"
        "<extra></extra>",
    )  # fmt: skip


def click_stride(cells: int) -> int:
    """Every ``k``-th row and column gets a click point so a chart has at most
    :data:`MAX_CLICK_POINTS` of them."""
    return max(1, math.ceil(math.sqrt(cells / MAX_CLICK_POINTS)))


def add_tile_clicks(
    figure: go.Figure, index: np.ndarray, channels: np.ndarray, means: np.ndarray,
    maps: np.ndarray, gap: int,
) -> int:  # fmt: skip
    """Make a tiled feature-maps chart clickable (see :func:`ui.inside.plots.tile`).

    Args:
        figure: The chart (one heatmap of the tiles); its heatmap's own hover is turned
            off, the points show channel, row, column and value instead.
        index: Per grid pixel, the tile index (-1 in the gaps).
        channels: Per tile, its channel.
        means: Per channel (by index), its mean.
        maps: ``(K, h, w)`` the tiles' values.
        gap: Pixels between tiles.

    Returns:
        The stride: 1 when every cell is clickable, ``k`` when every k-th row and column.
    """
    height, width = maps.shape[1:]
    stride = click_stride(int((index >= 0).sum()))
    grid_rows, grid_cols = np.nonzero(index >= 0)
    row = grid_rows % (height + gap)
    col = grid_cols % (width + gap)
    keep = (row % stride == stride // 2) & (col % stride == stride // 2)
    grid_rows, grid_cols, row, col = grid_rows[keep], grid_cols[keep], row[keep], col[keep]
    tile = index[grid_rows, grid_cols]
    text = [
        f"channel {channels[k]} (mean {means[channels[k]]:.3f})<br>row {r}, column {c}: "
        f"{maps[k, r, c]:.4g}"
        for k, r, c in zip(tile, row, col, strict=True)
    ]
    figure.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
    figure.add_trace(click_layer(grid_rows, grid_cols, text))
    figure.update_layout(clickmode="event+select", dragmode=False, showlegend=False)
    return stride


def channel_figure(
    plane: np.ndarray, cell: tuple[int, int], title: str, height: int = 260
) -> go.Figure:
    """One channel's map, every cell clickable, the explained cell framed in green.

    Args:
        plane: ``(H, W)`` the channel's values.
        cell: ``(row, column)`` explained.
        title: Above the map.
        height: Pixels.
    """
    rows, cols = np.indices(plane.shape)
    text = [f"row {r}, column {c}<br>value {v:.4g}" for r, c, v in
            zip(rows.ravel(), cols.ravel(), plane.ravel(), strict=True)]  # fmt: skip
    figure = go.Figure(
        go.Heatmap(z=plane, colorscale="Viridis", hoverinfo="skip",
                   colorbar={"title": {"text": "value", "side": "right"}, "thickness": 10})
    )  # fmt: skip
    figure.add_trace(click_layer(rows.ravel(), cols.ravel(), text))
    row, col = cell
    figure.add_shape(
        type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5,
        line={"color": CHOSEN, "width": 3},
    )  # fmt: skip
    figure.update_layout(
        title={"text": title, "font": {"size": 13}}, height=height, showlegend=False,
        margin={"l": 0, "r": 0, "t": 30, "b": 0}, clickmode="event+select", dragmode=False,
    )  # fmt: skip
    height_cells, width_cells = plane.shape
    figure.update_yaxes(range=[height_cells - 0.5, -0.5], scaleanchor="x", constrain="domain",
                        title={"text": "row", "standoff": 2})  # fmt: skip
    figure.update_xaxes(range=[-0.5, width_cells - 0.5], constrain="domain",
                        title={"text": "column", "standoff": 2})  # fmt: skip
    return figure


def _annotated(
    figure: go.Figure, values: np.ndarray, position: int, colorscale: str, diverging: bool,
    padding: np.ndarray | None = None, highlight: tuple[int, int] | None = None,
) -> None:  # fmt: skip
    """One annotated grid: colour and the number in each cell ("pad" on padding)."""
    shown = values.astype(float).copy()
    labels = np.vectorize(lambda v: number(float(v), 3))(shown).astype(object)
    if padding is not None:
        labels[padding] = "pad"
    limit = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
    colour = {"zmid": 0, "zmin": -limit, "zmax": limit} if diverging else {}
    figure.add_trace(
        go.Heatmap(
            z=shown, text=labels, texttemplate="%{text}", textfont={"size": 11},
            colorscale=colorscale, showscale=False, hoverinfo="skip", xgap=1, ygap=1, **colour,
        ),
        row=1, col=position,
    )  # fmt: skip
    if highlight is not None:
        i, j = highlight
        figure.add_shape(
            type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
            line={"color": CHOSEN, "width": 3}, row=1, col=position,
        )  # fmt: skip


def _grid_layout(figure: go.Figure, kernel: tuple[int, ...], panels: float) -> go.Figure:
    """Square cells of 26-44 pixels, no axes, rows downwards."""
    side = max(26, min(44, 260 // max(kernel)))  # pixels per cell
    figure.update_layout(
        height=int(side * kernel[0] + 56), width=int(panels * max(side * kernel[1] + 30, 150)),
        margin={"l": 0, "r": 0, "t": 48, "b": 0},
    )  # fmt: skip
    figure.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    figure.update_xaxes(visible=False)
    figure.update_annotations(font={"size": 12})
    return figure


def products_figure(step: ConvolutionStep, k: int) -> go.Figure:
    """Input channel ``k`` of a convolution's window: its numbers, the kernel's weights,
    and their products, side by side (CNN Explainer's picture)."""
    window = step.window
    channel = int(window.channels[k])
    figure = make_subplots(
        1, 3, horizontal_spacing=0.06,
        subplot_titles=(
            f"input channel {channel}<br>rows {_span(window.rows)}, cols {_span(window.cols)}",
            f"kernel weights<br>{step.weight_name.rpartition('.')[2]}[{k}]",
            f"products<br>sum {number(float(step.partial_sums[k]))}",
        ),
    )  # fmt: skip
    _annotated(figure, window.values[k], 1, "Greys", False, window.padding)
    _annotated(figure, step.weights[k], 2, DIVERGING, True)
    _annotated(figure, step.products[k], 3, DIVERGING, True, window.padding)
    return _grid_layout(figure, step.weights.shape[1:], 3)


def _span(values: np.ndarray) -> str:
    """``"3-5"``, or ``"4"`` for one value."""
    return f"{values[0]}-{values[-1]}" if len(values) > 1 else f"{values[0]}"


def pool_figure(step: PoolStep) -> go.Figure:
    """A pooling window's numbers; the maximum framed in green."""
    window = step.window
    title = f"channel {window.channels[0]}<br>rows {_span(window.rows)}, cols {_span(window.cols)}"
    figure = make_subplots(1, 1, subplot_titles=(title,))
    _annotated(figure, window.values[0], 1, "Greys", False, window.padding, step.chosen)
    return _grid_layout(figure, window.values.shape[1:], 1.6)


def contributions_figure(
    values: np.ndarray, channels: np.ndarray, title: str, top: int = 16
) -> go.Figure:
    """The largest (by size) per-channel contributions as horizontal bars, the rest
    summed in one bar; red adds, blue takes away."""
    order = np.argsort(-np.abs(values), kind="stable")
    shown = order[:top]
    labels = [f"ch {channels[i]}" for i in shown]
    numbers = [float(values[i]) for i in shown]
    if len(order) > top:
        labels.append(f"{len(order) - top} others")
        numbers.append(float(values[order[top:]].sum()))
    colours = ["#d62728" if v >= 0 else "#1f77b4" for v in numbers]
    figure = go.Figure(
        go.Bar(
            x=numbers, y=labels, orientation="h", marker_color=colours,
            text=[number(v, 3) for v in numbers], textposition="outside",
            textfont={"size": 11}, cliponaxis=False,
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
        )
    )  # fmt: skip
    low, high = min(0.0, *numbers), max(0.0, *numbers)
    room = 0.2 * (high - low or 1.0)  # for the numbers beside the bars
    figure.update_layout(
        title={"text": title, "font": {"size": 13}}, height=min(420, 60 + 18 * len(labels)),
        margin={"l": 0, "r": 0, "t": 30, "b": 0}, xaxis_title="contribution to the sum",
        xaxis_range=[low - (room if low < 0 else 0), high + room],
        uniformtext={"minsize": 10, "mode": "show"},
    )  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    return figure


def softmax_figure(
    view: SoftmaxView, reference: SoftmaxView, labels: list[str], shown: np.ndarray
) -> go.Figure:
    """The ``shown`` classes' probabilities at the chosen T (blue) and, when T is not 1,
    at T = 1 (grey); each class labelled with its logit z."""
    names = [f"{labels[i]} (z = {number(float(view.logits[i]), 3)})" for i in shown]
    figure = go.Figure()
    if view.temperature != 1:
        figure.add_bar(
            y=names, x=reference.probabilities[shown], orientation="h", name="T = 1",
            marker_color="#bdbdbd", hovertemplate="%{y}: %{x:.2%} at T = 1<extra></extra>",
        )  # fmt: skip
    figure.add_bar(
        y=names, x=view.probabilities[shown], orientation="h",
        name=f"T = {number(view.temperature, 3)}", marker_color="#1f77b4",
        text=[f"{p:.1%}" for p in view.probabilities[shown]], textposition="outside",
        textfont={"size": 11}, cliponaxis=False,
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    )  # fmt: skip
    figure.update_layout(
        height=70 + (26 if view.temperature != 1 else 20) * len(names), barmode="group",
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        xaxis={"title": "probability", "tickformat": ".0%", "range": [0, 1.12]},
        legend={"orientation": "h", "y": -0.25}, showlegend=view.temperature != 1,
        uniformtext={"minsize": 10, "mode": "show"},
    )  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    return figure
