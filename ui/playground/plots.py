"""Plotly figures for the perceptron playground (rendering only; the numbers come from core).

Colour convention (as everywhere in the app): red = positive, blue = negative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.playground import MLP, DecisionSurface, StepRecord, StepSummary

POSITIVE = "#d62728"
NEGATIVE = "#1f77b4"
NEUTRAL = "#9e9e9e"
NOT_FINITE = "#000000"
WIDTH_BINS = 6  # edges are drawn in this many line widths per sign (one trace each)
MAX_EDGES = 1500  # beyond this, only the strongest edges are drawn
GRAD_FLOOR = 1e-12  # |gradient| below this counts as exactly zero on the log axis
MIN_ACTIVATION_SPAN = 1.0  # activation histograms span at least this much
MIN_DECADES = 2.0  # log10 |gradient| histograms span at least two decades
SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def neuron_id(layer: int, neuron: int) -> str:
    """The id of a neuron in the graph's ``customdata`` and the page's select box."""
    return f"{layer}:{neuron}"


def parse_neuron_id(value: str) -> tuple[int, int] | None:
    """``"1:3"`` -> ``(1, 3)``; anything else (an input node, an edge) -> None."""
    try:
        layer, neuron = (int(part) for part in str(value).split(":"))
    except ValueError:
        return None
    return layer, neuron


def _tight_layout(
    fig: go.Figure, height: int, top: int = 30, legend_y: float | None = None, **layout: Any
) -> go.Figure:
    """The layout every playground figure shares: its height and narrow margins.

    Args:
        fig: The figure (changed in place).
        height: Height in pixels.
        top: Top margin in pixels (room for subplot titles or a legend).
        legend_y: Where a horizontal legend sits above the plot (None = Plotly's default).
        **layout: Any other ``fig.update_layout`` settings.

    Returns:
        ``fig``.
    """
    if legend_y is not None:
        layout["legend"] = {"orientation": "h", "y": legend_y}
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": top, "b": 10}, **layout)
    return fig


def _positions(widths: tuple[int, ...]) -> list[np.ndarray]:
    """y coordinate of every unit, per layer (layer ``l`` sits at x = ``l``)."""
    tallest = max(widths)
    # unit 1 at the top, each layer centred on 0, short layers spread out a little
    return [((w - 1) / 2 - np.arange(w)) * (tallest / max(w, 1)) ** 0.5 for w in widths]


def network_figure(
    model: MLP, record: StepRecord | None, selected: tuple[int, int] | None = None
) -> go.Figure:
    """The network as a graph: a node per unit, an edge per weight.

    Edge colour = sign of the weight, width = |weight| relative to the largest one.
    Node colour = the unit's mean activation on the latest batch; hovering a node
    shows its bias and statistics. Hidden and output nodes carry their
    :func:`neuron_id` as ``customdata`` (clicking one selects it on the page).

    Args:
        model: The network.
        record: The latest batch record (node colours and hover), or None.
        selected: ``(layer, neuron)`` to highlight.
    """
    widths = model.spec.widths
    ys = _positions(widths)
    linears = model.linears()
    weights = [layer.weight.detach().cpu().double().numpy() for layer in linears]
    finite = [np.abs(w[np.isfinite(w)]) for w in weights]
    biggest = max((float(a.max()) for a in finite if a.size), default=0.0)
    fig = go.Figure()

    # edges: (layer, out, in) triples, strongest first when there are too many
    edges = [
        (li, o, i, float(w[o, i]))
        for li, w in enumerate(weights)
        for o in range(w.shape[0])
        for i in range(w.shape[1])
    ]
    if len(edges) > MAX_EDGES:
        edges = sorted(edges, key=lambda e: -abs(e[3]) if math.isfinite(e[3]) else -math.inf)
        edges = edges[:MAX_EDGES]
    # one trace per (colour, width bin): [x0, x1, None, ...] polylines
    groups: dict[tuple[str, int], tuple[list[float | None], list[float | None]]] = {}
    for li, o, i, w in edges:
        if w == 0:
            colour, bin_ = NEUTRAL, 0
        elif not math.isfinite(w):  # a diverged network: draw it, thick and black
            colour, bin_ = NOT_FINITE, WIDTH_BINS - 1
        else:
            colour = POSITIVE if w > 0 else NEGATIVE
            bin_ = min(int(abs(w) / biggest * WIDTH_BINS), WIDTH_BINS - 1)
        xs, yy = groups.setdefault((colour, bin_), ([], []))
        xs += [li, li + 1, None]
        yy += [float(ys[li][i]), float(ys[li + 1][o]), None]
    for (colour, bin_), (xs, yy) in groups.items():
        strength = (bin_ + 0.5) / WIDTH_BINS
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=yy,
                mode="lines",
                line={
                    "color": colour,
                    "width": 0.5 if colour == NEUTRAL else 0.5 + 5.5 * strength,
                    "dash": "dot" if colour == NEUTRAL else "solid",
                },
                opacity=0.35 + 0.5 * strength,
                hoverinfo="skip",
                showlegend=False,
            )
        )

    # input nodes
    fig.add_trace(
        go.Scatter(
            x=[0] * widths[0],
            y=ys[0],
            mode="markers+text",
            marker={"size": 16, "color": "#eeeeee", "line": {"color": "#555", "width": 1}},
            text=[f"x{i + 1}" for i in range(widths[0])],
            textposition="middle left",
            customdata=[""] * widths[0],
            hovertemplate="input x%{pointNumber}<extra></extra>",
            showlegend=False,
        )
    )
    # hidden and output nodes
    node_x: list[int] = []
    node_y: list[float] = []
    node_colour: list[float] = []
    ids: list[str] = []
    hover: list[str] = []
    names = model.layer_names()
    for li, layer in enumerate(linears):
        bias = layer.bias.detach().cpu().double().numpy()
        for n in range(layer.out_features):
            node_x.append(li + 1)
            node_y.append(float(ys[li + 1][n]))
            ids.append(neuron_id(li, n))
            text = f"{names[li]}, neuron {n + 1}<br>bias {bias[n]:.3g}"
            if record is not None:
                rec = record.layers[li]
                mean = float(rec.post[:, n].mean())
                grad = float(np.sqrt((rec.grad_pre[:, n] ** 2).mean()))
                node_colour.append(mean)
                text += f"<br>mean activation {mean:.3g}<br>gradient RMS {grad:.3g}"
            else:
                node_colour.append(0.0)
            hover.append(text)
    # One colour scale for every node, set by the hidden units: the output's mean (a
    # regression target of 40, say) made every hidden node white (issue 25). Outputs
    # beyond it take the end colour; their value is in the hover.
    hidden = [abs(c) for c, x in zip(node_colour, node_x, strict=True) if x < len(widths) - 1]
    finite = [c for c in (hidden or [abs(c) for c in node_colour]) if math.isfinite(c)]
    limit = max(finite, default=0.0) or 1.0
    fig.add_trace(
        go.Scatter(
            x=node_x,
            y=node_y,
            mode="markers",
            marker={
                "size": 20,
                "color": node_colour,
                "colorscale": "RdBu_r",
                "cmin": -limit,
                "cmax": limit,
                "line": {"color": "#333", "width": 1},
                "colorbar": {
                    "title": "mean act." if not hidden else "mean act.<br>(hidden)",
                    "thickness": 10,
                },
            },
            customdata=ids,
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
        )
    )
    if selected is not None and selected[0] < len(linears):
        li, n = selected
        if n < linears[li].out_features:
            fig.add_trace(
                go.Scatter(
                    x=[li + 1],
                    y=[float(ys[li + 1][n])],
                    mode="markers",
                    marker={
                        "size": 30,
                        "color": "rgba(0,0,0,0)",
                        "line": {"color": "#ff9800", "width": 4},
                    },
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    return _tight_layout(
        fig,
        height=max(320, 28 * max(widths) + 80),
        xaxis={
            "tickvals": list(range(len(widths))),
            "ticktext": ["input", *names],
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={"visible": False},
        dragmode=False,
    )


def loss_figure(history: list[StepSummary]) -> go.Figure:
    """Batch loss (thin) and whole-training-set loss (thick) per step."""
    steps = [h.step for h in history]
    curves = [  # legend, loss per step, line width, colour
        ("mini-batch (before update)", [h.batch_loss for h in history], 1, "#90a4ae"),
        ("training set (after update)", [h.train_loss for h in history], 2.5, "#e65100"),
    ]
    fig = go.Figure()
    for name, losses, width, colour in curves:
        fig.add_trace(
            go.Scatter(x=steps, y=losses, name=name, line={"width": width, "color": colour})
        )
    return _tight_layout(fig, 300, legend_y=1.12, xaxis_title="step", yaxis_title="loss")


def _span(low: float, high: float, minimum: float) -> tuple[float, float]:
    """An axis range holding ``low..high`` and at least ``minimum`` wide, centred.

    All-equal values (zero initialisation) gave a range of a few thousandths and axes
    labelled -1.8065 and -1.806 (issue 25): a spread that is not there.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return (-minimum / 2, minimum / 2)
    if high - low >= minimum:
        return (low, high)
    centre = (low + high) / 2
    return (centre - minimum / 2, centre + minimum / 2)


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Ticks of a log axis from ``low`` to ``high`` (> 0), written with their exponent.

    Plotly's own labels on a log axis read "2 ... 9, 0.01" or "100µ, 1p": a student reads
    0.002 as 2 (issue 25). Every decade is labelled ``10⁻³``; a range under two decades
    also gets 2 and 5 times each decade (``2·10⁻³``).

    Returns:
        ``(values, labels)`` for ``tickvals`` and ``ticktext``.
    """
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    steps = (1, 2, 5) if last - first <= 2 else (1,)
    values, labels = [], []
    for exponent in range(first, last + 1):
        for mantissa in steps:
            value = mantissa * 10.0**exponent
            if low <= value <= high:
                values.append(value)
                power = f"10{str(exponent).translate(SUPERSCRIPTS)}"
                labels.append(power if mantissa == 1 else f"{mantissa}·{power}")
    return values, labels


def _log_abs(values: np.ndarray) -> tuple[np.ndarray, float]:
    """log10 |values| of the non-zero entries, and the fraction of (near) exact zeros."""
    flat = np.abs(values.ravel())
    nonzero = flat[flat > GRAD_FLOOR]
    return np.log10(nonzero), 1.0 - nonzero.size / max(flat.size, 1)


def _histogram_bars(
    values: np.ndarray, value_range: tuple[float, float], colour: str, label: str
) -> go.Bar:
    """A 40-bin histogram on a fixed range, as bars (so every layer shares its x axis)."""
    counts, edges = np.histogram(np.ravel(values), bins=40, range=value_range)
    return go.Bar(
        x=(edges[:-1] + edges[1:]) / 2,
        y=counts,
        marker_color=colour,
        showlegend=False,
        hovertemplate=label + ": %{y}<extra></extra>",
    )


def layers_figure(record: StepRecord) -> go.Figure:
    """Per-layer activation histograms (top) and log10 |gradient| histograms (bottom).

    All layers share the x range of each row, so a distribution that collapses
    (vanishing), spreads (exploding) or piles up at an asymptote (saturation) stands
    out at a glance.
    """
    layers = record.layers
    titles = []
    for rec in layers:
        parts = [rec.name]
        if rec.stats.frac_saturated is not None:
            parts.append(f"{rec.stats.frac_saturated:.0%} saturated")
        if rec.name != "output":
            parts.append(f"{rec.stats.frac_dead:.0%} dead")
        titles.append("<br>".join(parts))
    fig = make_subplots(
        rows=2,
        cols=len(layers),
        subplot_titles=titles + [""] * len(layers),
        vertical_spacing=0.18,
        horizontal_spacing=0.03,
    )
    acts = np.concatenate([r.post.ravel() for r in layers])
    lo, hi = _span(float(np.nanmin(acts)), float(np.nanmax(acts)), MIN_ACTIVATION_SPAN)
    logs = [_log_abs(r.grad_pre) for r in layers]
    everything = np.concatenate([g for g, _ in logs]) if logs else np.array([])
    glo, ghi = (
        (float(everything.min()), float(everything.max())) if everything.size else (-12.0, 0.0)
    )
    glo, ghi = _span(glo, ghi, MIN_DECADES)
    for col, (rec, (log_grad, zero_frac)) in enumerate(zip(layers, logs, strict=True), start=1):
        activations = _histogram_bars(rec.post, (lo, hi), "#5c6bc0", "activation %{x:.3g}")
        gradients = _histogram_bars(log_grad, (glo, ghi), "#26a69a", "log10|grad| %{x:.2f}")
        fig.add_trace(activations, row=1, col=col)
        fig.add_trace(gradients, row=2, col=col)
        fig.update_xaxes(range=[lo, hi], row=1, col=col)
        fig.update_xaxes(
            range=[glo, ghi],
            row=2,
            col=col,
            dtick=1 if ghi - glo <= 12 else 2,  # whole decades: -3 is 10^-3
            title_text=f"{zero_frac:.0%} exactly 0" if zero_frac else None,
        )
        fig.update_yaxes(showticklabels=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, row=2, col=col)
    fig.update_yaxes(title_text="activations", row=1, col=1)
    fig.update_yaxes(title_text="log10 |dL/d pre|", row=2, col=1)
    return _tight_layout(fig, 460, top=60, bargap=0, font={"size": 11})


def gradient_history_figure(history: list[StepSummary], names: list[str]) -> go.Figure:
    """RMS of the gradient arriving at each layer, per step (log scale).

    A gradient of exactly 0 has no place on a log axis: it leaves a gap, and a layer
    whose gradient is 0 at every step says so in the legend (it was drawn on a floor of
    10^-12, labelled "1p", issue 25).
    """
    fig = go.Figure()
    steps = [h.step for h in history]
    shown: list[float] = []
    for i, name in enumerate(names):
        values = [h.layers[i].grad_rms for h in history]
        kept = [v if v > GRAD_FLOOR and math.isfinite(v) else None for v in values]
        shown += [v for v in kept if v is not None]
        label = name if any(v is not None for v in kept) else f"{name}: exactly 0"
        fig.add_trace(go.Scatter(x=steps, y=kept, name=label, mode="lines+markers",
                                 marker={"size": 3}))  # fmt: skip
    log_axis: dict[str, Any] = {"type": "log", "title": "RMS dL/d pre"}
    if shown:
        low, high = min(shown), max(shown)
        low, high = (low / 3, high * 3) if high / low < 10 else (low, high)
        values, labels = log_ticks(low, high)
        log_axis.update(tickvals=values, ticktext=labels, range=[math.log10(low), math.log10(high)])
    return _tight_layout(fig, 300, legend_y=1.12, xaxis_title="step", yaxis=log_axis)


def neuron_figure(record: StepRecord, layer: int, neuron: int) -> go.Figure:
    """One neuron on the batch: its input before and after the activation, its gradient."""
    rec = record.layers[layer]
    panels = [
        ("input before activation (pre)", rec.pre[:, neuron], "#5c6bc0"),
        ("after activation (post)", rec.post[:, neuron], "#8e24aa"),
        ("gradient arriving, dL/d pre", rec.grad_pre[:, neuron], "#26a69a"),
        ("dL/d post", rec.grad_post[:, neuron], "#9ccc65"),
    ]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels])
    for col, (_title, values, colour) in enumerate(panels, start=1):
        fig.add_trace(
            go.Histogram(x=values, nbinsx=30, marker_color=colour, showlegend=False),
            row=1,
            col=col,
        )
    return _tight_layout(fig, 260, top=40, bargap=0.02, font={"size": 11})


def surface_figure(surface: DecisionSurface, x: np.ndarray, y: np.ndarray) -> go.Figure:
    """P(class 1) as a heat map with the training points on top."""
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=surface.xs,
            y=surface.ys,
            z=surface.probability,
            zmin=0,
            zmax=1,
            colorscale="RdBu_r",
            opacity=0.75,
            colorbar={"title": "P(class 1)", "thickness": 10},
            hovertemplate="(%{x:.2f}, %{y:.2f}): %{z:.2f}<extra></extra>",
        )
    )
    for label, colour in ((0, NEGATIVE), (1, POSITIVE)):
        mask = y.ravel() == label
        fig.add_trace(
            go.Scatter(
                x=x[mask, 0],
                y=x[mask, 1],
                mode="markers",
                name=f"class {label}",
                marker={"color": colour, "size": 5, "line": {"color": "white", "width": 0.5}},
            )
        )
    return _tight_layout(fig, 360, legend_y=1.1, yaxis={"scaleanchor": "x"})


def fit_figure(prediction: np.ndarray, target: np.ndarray) -> go.Figure:
    """Regression: prediction against target for the first output, with the y = x line."""
    lo = float(min(prediction.min(), target.min()))
    hi = float(max(prediction.max(), target.max()))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfect", line={"dash": "dot"})
    )
    fig.add_trace(
        go.Scatter(x=target, y=prediction, mode="markers", name="examples", marker={"size": 4})
    )
    return _tight_layout(fig, 360, legend_y=1.1, xaxis_title="target y1", yaxis_title="prediction")


NOT_DEFINED = "-"  # a cell whose statistic does not exist (no asymptote to saturate at)


def number_text(value: float) -> str:
    """A statistic as the table shows it: 3 significant digits, powers of ten written
    out (``2.1e-10``, not ``0.0000000002``), exact zeros as ``0``."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


def layer_table(record: StepRecord) -> pd.DataFrame:
    """Per-layer statistics of the latest batch, one row per layer, as text.

    Every cell is written (:func:`number_text`); a statistic a layer does not have is
    :data:`NOT_DEFINED`, never a literal "None" (issue 25).
    """
    rows = []
    for rec in record.layers:
        s = rec.stats
        saturated = NOT_DEFINED if s.frac_saturated is None else f"{100 * s.frac_saturated:.0f}"
        rows.append(
            {
                "layer": rec.name,
                "activation mean": number_text(s.act_mean),
                "activation std": number_text(s.act_std),
                "% saturated": saturated,
                "% dead units": f"{100 * s.frac_dead:.0f}",
                "gradient RMS": number_text(s.grad_rms),
                "max |gradient|": number_text(s.grad_abs_max),
                "weight RMS": number_text(s.weight_rms),
                "weight-gradient RMS": number_text(s.weight_grad_rms),
            }
        )
    return pd.DataFrame(rows)
