"""The perceptron playground's settings: the sidebar's controls, and the page's state in
its URL (the fields: :data:`core.playground.PLAYGROUND_FIELDS`; the widget of field
``name`` has the key ``pg_<name>``)."""

from __future__ import annotations

import streamlit as st

from core.playground import (
    ACTIVATIONS,
    BATCH_SIZES,
    DATASETS,
    INITS,
    LEARNING_RATES,
    PLAYGROUND_FIELDS,
    SPEEDS,
    PlaygroundConfig,
    parse_hidden,
)
from ui.state import Bound, PageState, bind

FIELDS = {f.name: f for f in PLAYGROUND_FIELDS}


def playground_state() -> PageState:
    """The page's declaration (for :func:`ui.state.declare`): inputs and outputs are
    in the URL only for the regression set, which has them."""
    regression = {
        name: Bound(FIELDS[name], f"pg_{name}",
                    lambda s: DATASETS[s.get("pg_data", FIELDS["data"].default)].task
                    == "regression")
        for name in ("inputs", "outputs")
    }  # fmt: skip
    return PageState("playground", bind(PLAYGROUND_FIELDS, "pg_", **regression))


def read_controls() -> tuple[PlaygroundConfig | None, float, int, int]:
    """Sidebar controls -> (run configuration or None if invalid, lr, batch size, speed)."""
    bar = st.sidebar
    bar.header("Network and data")
    d = {name: f.default for name, f in FIELDS.items()}  # the defaults of the page's URL
    dataset = bar.selectbox("Data", list(DATASETS), list(DATASETS).index(d["data"]),
                            lambda k: DATASETS[k].title, key="pg_data")  # fmt: skip
    bar.caption(DATASETS[dataset].description)
    n_inputs, n_outputs = 2, 1
    if DATASETS[dataset].task == "regression":
        left, right = bar.columns(2)
        n_inputs = int(left.number_input("Inputs", 1, 32, d["inputs"], key="pg_inputs"))
        n_outputs = int(right.number_input("Outputs", 1, 4, d["outputs"], key="pg_outputs"))
    hidden_text = bar.text_input(
        "Hidden layers (units per layer)",
        d["hidden"],
        key="pg_hidden",
        help="Comma-separated widths, e.g. '16, 16, 16'; empty = no hidden layer. "
        "Up to 6 layers of up to 32 units.",
    )
    activation = bar.selectbox("Activation", list(ACTIVATIONS), list(ACTIVATIONS).index(
        d["act"]), lambda k: ACTIVATIONS[k].title, key="pg_act")  # fmt: skip
    init = bar.selectbox("Initialisation", list(INITS), list(INITS).index(d["init"]),
                         lambda k: INITS[k].title, key="pg_init")  # fmt: skip
    lr = bar.select_slider("Learning rate", LEARNING_RATES, value=d["lr"], key="pg_lr")
    batch = bar.select_slider("Batch size", BATCH_SIZES, value=d["batch"], key="pg_batch")
    with bar.expander("Examples, noise, seed, budget"):
        n_samples = int(st.number_input("Examples", 20, 2000, d["samples"], step=20,
                                        key="pg_samples"))  # fmt: skip
        noise = float(st.slider("Noise", 0.0, 1.0, d["noise"], 0.05, key="pg_noise"))
        seed = int(st.number_input("Seed", 0, 1_000_000, d["seed"], key="pg_seed"))
        max_steps = int(st.number_input("Steps until finished", 10, 100_000, d["max_steps"],
                                        100, key="pg_max_steps"))  # fmt: skip
        speed = st.select_slider("Steps per refresh while running", SPEEDS, d["speed"],
                                 key="pg_speed")  # fmt: skip
    try:
        hidden = parse_hidden(hidden_text)
    except ValueError as err:
        bar.error(f"{err}. Keeping the previous network.")
        return None, lr, batch, speed
    config = PlaygroundConfig(
        dataset, hidden, activation, init, seed, n_samples, noise, n_inputs, n_outputs, max_steps
    )
    return config, lr, batch, speed
