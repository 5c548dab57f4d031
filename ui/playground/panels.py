"""Streamlit panels of the perceptron playground: neuron selection and the weight editor.

The trainer lives in ``st.session_state.pg_trainer`` (one per session); the selected
neuron in ``st.session_state.pg_neuron`` (a :func:`ui.playground.plots.neuron_id`).
"""

from __future__ import annotations

import math

import streamlit as st

from core.playground import Trainer, neuron_weights
from ui.playground.plots import neuron_figure, neuron_id, parse_neuron_id

state = st.session_state


def on_graph_select() -> None:
    """Clicking a neuron in the graph selects it in the select box."""
    event = state.get("pg_graph") or {}
    for point in event.get("selection", {}).get("points", []):
        picked = parse_neuron_id(point.get("customdata", ""))
        if picked is not None:
            state.pg_neuron = neuron_id(*picked)
            return


def on_weight_edit(layer: int, neuron: int, index: int, key: str) -> None:
    """Write one edited weight (index -1 = bias) into the network; used from the next step."""
    trainer: Trainer = state.pg_trainer
    value = state.get(key)
    if value is None or not math.isfinite(value):
        return
    if index < 0:
        trainer.set_neuron(layer, neuron, bias=float(value))
    else:
        weights, _ = neuron_weights(trainer.model, layer, neuron)
        weights[index] = value
        trainer.set_neuron(layer, neuron, weights=weights.tolist())
    trainer.inspect()


def neuron_options(trainer: Trainer) -> list[str]:
    """Every hidden and output unit; keeps the current choice valid for this network."""
    options = [
        neuron_id(li, n)
        for li, layer in enumerate(trainer.model.linears())
        for n in range(layer.out_features)
    ]
    if state.get("pg_neuron") not in options:
        state.pg_neuron = options[0]
    return options


def neuron_panel(trainer: Trainer, running: bool, options: list[str]) -> None:
    """Select box, histograms and weight editor for one neuron."""
    names = trainer.model.layer_names()

    def label(value: str) -> str:
        li, n = parse_neuron_id(value) or (0, 0)
        return f"{names[li]}, neuron {n + 1}"

    picked = st.selectbox(
        "Neuron (or click one in the graph)", options, format_func=label, key="pg_neuron"
    )
    li, n = parse_neuron_id(picked) or (0, 0)
    if trainer.last is not None:  # the page inspects a batch before showing this panel
        st.plotly_chart(neuron_figure(trainer.last, li, n), key="pg_neuron_fig")
    st.caption(
        "On the latest batch. The gradient arriving at a neuron is dLoss/d(pre-activation): "
        "how much the loss would change if this neuron's input moved, per example."
    )
    weights, bias = neuron_weights(trainer.model, li, n)
    if not (all(math.isfinite(w) for w in weights) and math.isfinite(bias)):
        st.warning("This neuron's weights are no longer finite numbers: press Reset.")
        return
    sources = (
        [f"x{j + 1}" for j in range(len(weights))]
        if li == 0
        else [f"{names[li - 1]} #{j + 1}" for j in range(len(weights))]
    )
    if running:
        st.markdown("**Incoming weights** (pause to edit them)")
        st.dataframe({"from": [*sources, "bias"], "weight": [*weights, bias]}, hide_index=True)
        return
    st.markdown("**Incoming weights**: edit one, it is used from the next step")
    prefix = f"pg_w_{state.pg_run_id}_{trainer.version}_{li}_{n}"
    grid = st.columns(4)
    for j, (source, value) in enumerate([*zip(sources, weights, strict=True), ("bias", bias)]):
        index = j if j < len(weights) else -1
        key = f"{prefix}_{index}"
        grid[j % 4].number_input(
            f"from {source}" if index >= 0 else "bias",
            value=float(value),
            step=0.05,
            format="%.4f",
            key=key,
            on_change=on_weight_edit,
            args=(li, n, index, key),
        )
