""" "How was this number computed": pick a cell of a feature map (click it, or type its
channel, row and column) and see every operation from the input numbers to its value,
with the network's own numbers. Used by "Inside the network" (under the feature maps)
and by the digits lab (activations).

Everything shown comes from :func:`core.inside.explain_cell`, cached per network,
image, layer and cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st
import torch
from torch import nn

from core import inside
from core.common import LRUCache
from core.common.scheduler import Progress
from core.inside import (
    ActivationStep,
    BatchNormStep,
    CellExplanation,
    CombineStep,
    ConvolutionStep,
    FeatureMaps,
    PoolStep,
    Step,
)
from core.inside.cell_steps import number
from ui.inside.cell_plots import (
    add_tile_clicks,
    channel_figure,
    contributions_figure,
    pool_figure,
    products_figure,
)
from ui.inside.plots import GAP, maps_figure, tile
from ui.inside.subject import Subject
from ui.state import check_choice
from ui.work import run_work

CELL_COST = 0.3  # seconds: two recorded forward passes of a photo model, one thread

NO_BAR = {"displayModeBar": False}
TILE_COLUMNS = 8  # maps_figure's columns


@dataclass(frozen=True)
class CellSource:
    """A network and one input to explain cells of.

    Attributes:
        name: Cache key of the network. image_key: Cache key of the input.
        net: The shared network (never mutated). x: ``(1, C, H, W)`` its input.
        input_note: What the input's numbers are, e.g. "pixels in [0, 1]".
    """

    name: str
    image_key: str
    net: nn.Module
    x: torch.Tensor
    input_note: str


@st.cache_resource
def _cells() -> LRUCache[CellExplanation]:
    """Explained cells, shared by every session (a few kB to ~0.1 MB each)."""
    return LRUCache(max_entries=64, max_bytes=16 * 2**20)


def cached_cell(
    name: str, image_key: str, layer: str, channel: int, row: int, col: int,
    net: nn.Module, x: torch.Tensor,
) -> CellExplanation:  # fmt: skip
    """:func:`core.inside.explain_cell` (row or column -1: the channel's largest value), on
    the server's scheduler (two recorded passes: heavy work, fair to a class)."""

    def explain(_progress: Progress) -> CellExplanation:
        if row < 0 or col < 0:
            return inside.explain_cell(net, x, layer, channel)
        return inside.explain_cell(net, x, layer, channel, row, col)

    key = ("cell", name, image_key, layer, channel, row, col)
    return run_work("cell", key, explain, CELL_COST, "Following the cell back", _cells())


def _keys(key: str) -> tuple[str, str, str]:
    return f"{key}_channel", f"{key}_row", f"{key}_col"


def select_cell(key: str, channel: int, row: int, col: int) -> None:
    """Make ``(channel, row, col)`` the cell the section ``key`` explains (a callback)."""
    channel_key, row_key, col_key = _keys(key)
    st.session_state[channel_key] = int(channel)
    st.session_state[row_key] = int(row)
    st.session_state[col_key] = int(col)


def feature_map_chart(maps: FeatureMaps, top: int, chart_key: str, cell_key: str) -> int:
    """The tiled feature maps (:func:`ui.inside.plots.maps_figure`) with clickable
    cells: a click picks the cell the section ``cell_key`` explains.

    Returns:
        The click stride (1: every cell; k: every k-th row and column of large maps).
    """
    channels = maps.order[:top]
    figure = maps_figure(maps.maps, channels, maps.means, TILE_COLUMNS)
    _, index = tile(maps.maps, TILE_COLUMNS)
    stride = add_tile_clicks(figure, index, channels, maps.means, maps.maps, GAP)
    height, width = maps.maps.shape[1:]

    def take_click() -> None:
        points = st.session_state[chart_key].selection.points
        if points:
            x, y = int(round(points[0]["x"])), int(round(points[0]["y"]))
            if index[y, x] >= 0:
                channel = channels[index[y, x]]
                select_cell(cell_key, channel, y % (height + GAP), x % (width + GAP))

    st.plotly_chart(
        figure, key=chart_key, on_select=take_click, selection_mode="points", config=NO_BAR
    )
    return stride


def input_note(mean: tuple[float, ...], std: tuple[float, ...]) -> str:
    """What a network's input numbers are, from its normalisation."""
    if all(m == 0 for m in mean) and all(s == 1 for s in std):
        return "pixels in [0, 1]"
    return "pixels in [0, 1] normalised: (pixel - mean) / std, per colour channel"


def cell_source(subject: Subject) -> CellSource:
    """The :class:`CellSource` of "Inside the network"'s subject (which has an image)."""
    if subject.x is None:
        raise ValueError("no image to explain")
    note = input_note(subject.spec.mean, subject.spec.std)
    return CellSource(subject.name, subject.image_key or "", subject.net, subject.x, note)


def cell_section(
    source: CellSource, layer: str, shape: tuple[int, int, int], key: str, default_channel: int,
    maps_above: bool = True,
) -> None:  # fmt: skip
    """Explain one cell of ``layer``: pick it, see its map and every step to its value.

    Args:
        source: The network and its input.
        layer: The module whose output is explained.
        shape: ``(C, H, W)`` of its output.
        key: Widget key prefix (``select_cell`` with the same key picks the cell).
        default_channel: The channel picked when the layer changes.
        maps_above: The page shows clickable maps of the layer above the section.
    """
    channels, height, width = shape
    channel_key, row_key, col_key = _keys(key)
    scope = st.session_state.get(f"{key}_scope")
    if scope != (source.name, layer):
        st.session_state[f"{key}_scope"] = (source.name, layer)
        if scope != (source.name, None):  # None: a link's cell, for the layer shown first
            select_cell(key, default_channel, -1, -1)
    check_choice(channel_key, range(channels), "channel")
    check_choice(row_key, range(-1, height), "cell row")  # -1: the strongest cell
    check_choice(col_key, range(-1, width), "cell column")
    if not 0 <= st.session_state.get(channel_key, -1) < channels:
        st.session_state[channel_key] = default_channel
    channel = int(st.session_state[channel_key])
    strongest: CellExplanation | None = None
    try:
        if not (0 <= st.session_state.get(row_key, -1) < height
                and 0 <= st.session_state.get(col_key, -1) < width):  # fmt: skip
            strongest = _explain(source, layer, channel, -1, -1)  # the channel's largest value
            st.session_state[row_key], st.session_state[col_key] = strongest.cell[1:]
        st.markdown("#### How was this number computed?")
        where = "a cell of the maps above, or of the channel below" if maps_above else (
            "a cell of the channel's map below")  # fmt: skip
        st.caption(
            f"Click {where}, or type its channel, row and column: every operation from the "
            "numbers it reads to its value, with the network's own numbers (recomputed here "
            "in float64)."
        )
        left, right = st.columns([2, 3], gap="medium")
        with left:
            inputs = st.columns(3)
            inputs[0].number_input("Channel", 0, channels - 1, key=channel_key)
            inputs[1].number_input("Row", 0, height - 1, key=row_key)
            inputs[2].number_input("Column", 0, width - 1, key=col_key)
            cell = (int(st.session_state[channel_key]), int(st.session_state[row_key]),
                    int(st.session_state[col_key]))  # fmt: skip
            if strongest is not None and strongest.cell == cell:
                explanation = strongest
            else:
                explanation = _explain(source, layer, *cell)
            _channel_map(explanation, key)
        with right:
            _summary(explanation)
    except (KeyError, ValueError, RuntimeError) as err:
        st.error(f"This cell cannot be explained: {err}")
        return
    _details(explanation, source.input_note)


def _explain(source: CellSource, layer: str, channel: int, row: int, col: int) -> CellExplanation:
    return cached_cell(
        source.name, source.image_key, layer, channel, row, col, source.net, source.x
    )


def _channel_map(explanation: CellExplanation, key: str) -> None:
    """The explained channel, clickable; a click picks another cell of it."""
    channel, row, col = explanation.cell
    chart_key = f"{key}_map"

    def take_click() -> None:
        points = st.session_state[chart_key].selection.points
        if points:
            select_cell(key, channel, int(round(points[0]["y"])), int(round(points[0]["x"])))

    title = f"{explanation.layer}, channel {channel} (framed: row {row}, column {col})"
    st.plotly_chart(
        channel_figure(explanation.plane, (row, col), title), key=chart_key,
        on_select=take_click, selection_mode="points", config=NO_BAR,
    )  # fmt: skip


TITLES = {
    "convolution": "Convolution", "batch norm": "Batch norm", "max pool": "Max pool",
    "average pool": "Average pool", "sum": "Sum", "difference": "Difference",
    "product": "Product", "padding": "Padding", "concatenation": "Concatenation",
    "copy": "Copy", "not covered": "Not covered",
}  # fmt: skip


def _title(step: Step) -> str:
    return step.function if isinstance(step, ActivationStep) else TITLES.get(step.kind, step.kind)


def _summary(explanation: CellExplanation) -> None:
    """The cell's value and the steps that made it, one line each."""
    channel, row, col = explanation.cell
    st.metric(
        f"{explanation.layer}: channel {channel}, row {row}, column {col}",
        number(explanation.network, 6),
        help="The network's own value of this cell (float32), as the feature maps show it.",
    )
    lines = []
    for i, step in enumerate(explanation.steps, 1):
        value = "not recomputed" if step.value is None else number(step.value, 5)
        lines.append(f"{i}. **{_title(step)}** in `{step.site.where}`: {value}")
    st.markdown("\n".join(lines))
    if explanation.made_by:
        st.caption(f"{explanation.layer} returns the output of {explanation.made_by}.")
    if explanation.value is None:
        st.warning(
            f"The last step is not recomputed here; the network's value is "
            f"{number(explanation.network, 6)}."
        )
    else:
        difference = explanation.difference or 0.0
        st.success(
            f"Recomputed: **{number(explanation.value, 7)}**; the network's own value: "
            f"**{number(explanation.network, 7)}** (difference {difference:.1e}: the network "
            "rounds every operation to float32)."
        )
    for note in explanation.notes:
        st.caption(note)


def _details(explanation: CellExplanation, note: str) -> None:
    """One tab per step, with its numbers."""
    steps = explanation.steps
    tabs = st.tabs([f"{i}. {_title(step)}" for i, step in enumerate(steps, 1)])
    for tab, step in zip(tabs, steps, strict=True):
        with tab:
            if isinstance(step, ConvolutionStep):
                _convolution(step, note)
            elif isinstance(step, BatchNormStep):
                _batch_norm(step)
            elif isinstance(step, PoolStep):
                _pool(step, note)
            elif isinstance(step, CombineStep):
                _combine(step)
            elif step.value is None:
                st.warning(f"{step.formula}. The network's value here: {number(step.network, 6)}.")
            else:
                st.markdown(f"`{step.site.where}`: {step.formula}")
                _network_line(step)


def _network_line(step: Step) -> None:
    st.caption(f"The network's value of this step: {number(step.network, 7)}.")


def _source(source: str, note: str) -> str:
    """A window's source, saying what the network's input numbers are."""
    start = "the network's input"
    return source.replace(start, f"{start} ({note})", 1) if source.startswith(start) else source


def _convolution(step: ConvolutionStep, note: str) -> None:
    window = step.window
    count = len(window.channels)
    kh, kw = step.weights.shape[1:]
    first, last = int(window.channels[0]), int(window.channels[-1])
    if step.groups == 1:
        reads = f"all {count} input channels" if count > 1 else "its one input channel"
    elif count == 1:
        reads = (
            f"only input channel {first} (depthwise: groups = {step.groups}, one input "
            "channel each)"
        )
    else:
        reads = f"only input channels {first}-{last} (its group of {step.groups} groups)"
    stride = "" if step.stride == (1, 1) else f", stride {step.stride[0]}"
    dilation = "" if step.dilation == (1, 1) else f", dilation {step.dilation[0]}"
    padded = (
        f"; {int(window.padding.sum())} of its cells lie on zero padding"
        if window.padding.any()
        else ""
    )
    st.markdown(
        f"`{step.site.where}`, output channel {step.site.cell[0]}, reads a {kh} x {kw} window "
        f"of **{_source(window.source, note)}**, {reads}{stride}{dilation}{padded}; it multiplies "
        f"each number by its weight in `{step.weight_name}` and adds the {step.products.size:,} "
        "products."
    )
    channels = window.channels
    if kh * kw == 1:
        left, right = st.columns([3, 2])
        left.plotly_chart(contributions_figure(step.products[:, 0, 0], channels,
                          "input x weight, per input channel (largest 16)"),
                          config=NO_BAR)  # fmt: skip
        order = np.argsort(-np.abs(step.products[:, 0, 0]), kind="stable")[:8]
        right.dataframe(pd.DataFrame({
            "channel": channels[order], "input": step.window.values[order, 0, 0],
            "weight": step.weights[order, 0, 0], "product": step.products[order, 0, 0],
        }), hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4g")
                                            for c in ("input", "weight", "product")})  # fmt: skip
    else:
        order = np.argsort(-np.abs(step.partial_sums), kind="stable")
        shown = order[: 1 if count == 1 else 2]
        if count > 1:
            left, right = st.columns([2, 3])
            left.plotly_chart(contributions_figure(step.partial_sums, channels,
                              "each input channel's products, summed (largest 16)"),
                              config=NO_BAR)  # fmt: skip
            where = right
            where.caption(f"The {len(shown)} input channels whose products add up to the most "
                          "(by size), in full:")  # fmt: skip
        else:
            where = st.container()
        for k in shown:
            where.plotly_chart(products_figure(step, int(k)), width="content", config=NO_BAR)
        st.caption(
            "Grey: the input numbers (darker: larger); blue negative, white 0, red positive: "
            'weights and products. "pad": the window lies outside the input (zero padding).'
        )
    st.markdown(_sum_text(step))
    _network_line(step)


def _sum_text(step: ConvolutionStep) -> str:
    """The sum written out: every product when few, else per channel."""
    products = step.products.ravel()
    if products.size <= 12:
        terms = " + ".join(f"({number(float(p), 3)})" for p in products)
    else:
        partial = step.partial_sums
        order = np.argsort(-np.abs(partial), kind="stable")
        parts = [f"ch {step.window.channels[i]}: {number(float(partial[i]), 3)}" for i in order[:4]]
        if len(order) > 4:
            rest = float(partial[order[4:]].sum())
            parts.append(f"{len(order) - 4} other channel{'s' if len(order) > 5 else ''}: "
                         f"{number(rest, 3)}")  # fmt: skip
        terms = " + ".join(parts)
    text = f"**Sum** = {terms} = **{number(step.total, 5)}**"
    if step.bias is not None:
        text += f"; **+ bias** {number(step.bias, 4)} = **{number(step.value or 0.0, 5)}**"
    else:
        text += " (no bias: a batch norm follows)"
    return text


def _batch_norm(step: BatchNormStep) -> None:
    st.markdown(f"`{step.site.where}` normalises channel {step.site.cell[0]} with the running "
                "statistics it learned in training, then scales and shifts it:")  # fmt: skip
    names = ("input x", "mean μ", "variance σ²", "ε", "γ (weight)", "β (bias)")
    values = (step.x, step.mean, step.var, step.eps, step.gamma, step.beta)
    for column, name, value in zip(st.columns(6), names, values, strict=True):
        column.metric(name, number(value, 5))
    st.latex(
        rf"\frac{{x - \mu}}{{\sqrt{{\sigma^2 + \varepsilon}}}} \cdot \gamma + \beta = "
        rf"\frac{{{number(step.x)} - ({number(step.mean)})}}{{\sqrt{{{number(step.var)} + "
        rf"{number(step.eps)}}}}} \cdot {number(step.gamma)} + ({number(step.beta)}) = "
        rf"{number(step.normalised)} \cdot {number(step.gamma)} + ({number(step.beta)}) = "
        rf"{number(step.value or 0.0, 5)}"
    )
    _network_line(step)


def _pool(step: PoolStep, note: str) -> None:
    window = step.window
    kind = "largest" if step.kind == "max pool" else "average"
    st.markdown(f"`{step.site.where}` takes the {kind} of a {window.values.shape[1]} x "
                f"{window.values.shape[2]} window of **{_source(window.source, note)}**, "
                f"channel {window.channels[0]}: {step.formula}.")  # fmt: skip
    st.plotly_chart(pool_figure(step), width="content", config=NO_BAR)
    if step.kind == "max pool":
        st.caption("Framed in green: the largest value, the one handed on. \"pad\": outside "
                   "the input (a max pool ignores it).")  # fmt: skip
    _network_line(step)


def _combine(step: CombineStep) -> None:
    st.markdown(f"In `{step.site.where}`: not a layer but a line of its code, an element-wise "
                f"{step.kind} of two tensors at this cell:")  # fmt: skip
    for i, operand in enumerate(step.operands):
        role = " (followed back in the steps before)" if i == step.followed else ""
        per_channel = " (one number per channel)" if operand.shape[2:] == (1, 1) else ""
        st.markdown(f"- {'ab'[i]} = **{number(operand.value, 5)}**: {operand.source}"
                    f"{per_channel}{role}")  # fmt: skip
    st.markdown(f"a {step.symbol} b = {step.formula}")
    _network_line(step)
