"""Perceptron playground: train a small MLP live and watch its initialisation at work."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.playground import (
    ACTIVATIONS,
    DATASETS,
    INITS,
    PlaygroundConfig,
    Trainer,
    build_trainer,
    decision_surface,
    parse_hidden,
    what_to_try,
)
from ui.playground.panels import neuron_options, neuron_panel, on_graph_select
from ui.playground.plots import (
    fit_figure,
    gradient_history_figure,
    layer_table,
    layers_figure,
    loss_figure,
    network_figure,
    parse_neuron_id,
    surface_figure,
)
from ui.widgets import fitted_columns

LEARNING_RATES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
BATCH_SIZES = [1, 4, 8, 16, 32, 64, 128, 256]
SPEEDS = [1, 2, 5, 10, 20, 50]
REFRESH_SECONDS = 1.0  # the live view reruns this often while training runs
STEP_BUDGET_SECONDS = 0.25  # at most this much training per refresh

state = st.session_state
st.title("Perceptron playground")
st.caption(
    "Build a small fully connected network, pick how its weights start and which "
    "activation it uses, and watch it train one mini-batch at a time: saturation, dead "
    "units, vanishing and exploding gradients show up in the distributions below."
)


def read_controls() -> tuple[PlaygroundConfig | None, float, int, int]:
    """Sidebar controls -> (run configuration or None if invalid, lr, batch size, speed)."""
    bar = st.sidebar
    bar.header("Network and data")
    dataset = bar.selectbox(
        "Data", list(DATASETS), index=2, format_func=lambda k: DATASETS[k].title, key="pg_data"
    )
    bar.caption(DATASETS[dataset].description)
    n_inputs, n_outputs = 2, 1
    if DATASETS[dataset].task == "regression":
        left, right = bar.columns(2)
        n_inputs = int(left.number_input("Inputs", 1, 32, 10, key="pg_inputs"))
        n_outputs = int(right.number_input("Outputs", 1, 4, 1, key="pg_outputs"))
    hidden_text = bar.text_input(
        "Hidden layers (units per layer)",
        "8, 8",
        key="pg_hidden",
        help="Comma-separated widths, e.g. '16, 16, 16'; empty = no hidden layer. "
        "Up to 6 layers of up to 32 units.",
    )
    activation = bar.selectbox(
        "Activation", list(ACTIVATIONS), 1, lambda k: ACTIVATIONS[k].title, key="pg_act"
    )
    init = bar.selectbox("Initialisation", list(INITS), 5, lambda k: INITS[k].title, key="pg_init")
    lr = bar.select_slider("Learning rate", LEARNING_RATES, value=0.1, key="pg_lr")
    batch = bar.select_slider("Batch size", BATCH_SIZES, value=32, key="pg_batch")
    with bar.expander("Examples, noise, seed, budget"):
        n_samples = int(st.number_input("Examples", 20, 2000, 400, step=20, key="pg_samples"))
        noise = float(st.slider("Noise", 0.0, 1.0, 0.1, 0.05, key="pg_noise"))
        seed = int(st.number_input("Seed", 0, 1_000_000, 0, key="pg_seed"))
        max_steps = int(
            st.number_input("Steps until finished", 10, 100_000, 2000, 100, key="pg_max_steps")
        )
        speed = st.select_slider("Steps per refresh while running", SPEEDS, 10, key="pg_speed")
    try:
        hidden = parse_hidden(hidden_text)
    except ValueError as err:
        bar.error(f"{err}. Keeping the previous network.")
        return None, lr, batch, speed
    config = PlaygroundConfig(
        dataset, hidden, activation, init, seed, n_samples, noise, n_inputs, n_outputs, max_steps
    )
    return config, lr, batch, speed


def new_trainer(config: PlaygroundConfig, lr: float, batch: int) -> None:
    """A fresh run (paused at step 0) with the current batch already inspected."""
    trainer = build_trainer(config, lr, batch)
    trainer.inspect()
    state.pg_trainer, state.pg_config, state.pg_running = trainer, config, False
    state.pg_run_id = state.get("pg_run_id", 0) + 1


def set_running(running: bool) -> None:
    state.pg_running = running


def on_step() -> None:
    state.pg_running = False
    state.pg_trainer.step()


def on_reset() -> None:
    old: Trainer = state.pg_trainer
    new_trainer(state.pg_config, old.lr, old.batch_size)


config, lr, batch, speed = read_controls()
if config is not None and (state.get("pg_config") != config or "pg_trainer" not in state):
    new_trainer(config, lr, batch)
if "pg_trainer" not in state:
    st.stop()
trainer: Trainer = state.pg_trainer
trainer.set_lr(lr)
trainer.set_batch_size(batch)
spec = trainer.spec

with st.container(border=True):
    st.markdown(f"**What to try: {INITS[spec.init].title} + {ACTIVATIONS[spec.activation].title}**")
    for tip in what_to_try(spec.init, spec.activation):
        st.markdown(f"- {tip}")
    paper = INITS[spec.init].paper
    st.caption(
        f"{INITS[spec.init].title}: {INITS[spec.init].definition}"
        + (f" ([paper]({paper}))" if paper else "")
        + f" Activation: {ACTIVATIONS[spec.activation].formula}. Biases start at 0."
    )

running, finished = state.pg_running, trainer.finished
Button = tuple[str, Callable[..., None], tuple[bool, ...], bool, str]
buttons: list[Button] = [  # label, callback, its arguments, disabled, icon
    ("Start", set_running, (True,), running or finished, "play_arrow"),
    ("Pause", set_running, (False,), not running, "pause"),
    ("One step", on_step, (), finished, "skip_next"),
    ("Reset", on_reset, (), False, "restart_alt"),
]
for column, (label, callback, args, disabled, icon) in zip(st.columns(4), buttons, strict=True):
    column.button(label, on_click=callback, args=args, disabled=disabled, icon=f":material/{icon}:")


def live_view(speed: int) -> None:
    """Everything that changes while training; reruns on its own timer while running."""
    trainer: Trainer = state.pg_trainer
    running = state.pg_running
    if running:
        trainer.run(speed, seconds=STEP_BUDGET_SECONDS)
        if trainer.finished:
            state.pg_running = False
            st.rerun()
    if trainer.finished:
        st.badge(f"Finished: {trainer.finished_reason}", icon=":material/flag:", color="gray")
    elif running:
        st.badge("Running", icon=":material/play_arrow:", color="green")
    else:
        st.badge("Paused", icon=":material/pause:", color="orange")
    record = trainer.last if trainer.last is not None else trainer.inspect()
    last = trainer.history[-1] if trainer.history else None
    metrics = st.columns(4)
    metrics[0].metric("Step", trainer.step_count)
    metrics[1].metric("Batch loss", f"{record.batch_loss:.4g}")
    metrics[2].metric("Training loss", f"{last.train_loss:.4g}" if last else "-")
    accuracy = last.accuracy if last else None
    metrics[3].metric("Accuracy", f"{accuracy:.1%}" if accuracy is not None else "-")

    options = neuron_options(trainer)
    selected = parse_neuron_id(state.pg_neuron)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Network")
        st.plotly_chart(
            network_figure(trainer.model, record, selected),
            key="pg_graph",
            on_select=on_graph_select,
            selection_mode="points",
        )
        st.caption("Red = positive weight, blue = negative, width = |weight|. Click a neuron.")
    with right:
        data = trainer.data
        if data.task == "classification":
            st.subheader("Decision surface")
            surface = decision_surface(trainer.model, data.x, resolution=60)
            st.plotly_chart(
                surface_figure(surface, data.x.numpy(), data.y.numpy()), key="pg_surface"
            )
        else:
            st.subheader("Prediction vs target")
            prediction = trainer.predict()[:, 0]
            st.plotly_chart(fit_figure(prediction, data.y[:, 0].numpy()), key="pg_fit")

    left, right = st.columns(2)
    with left:
        st.subheader("Loss per step")
        if trainer.history:
            st.plotly_chart(loss_figure(trainer.history), key="pg_loss")
        else:
            st.info("No step yet: press Start or One step.")
    with right:
        st.subheader("Gradient reaching each layer")
        if trainer.history:
            st.plotly_chart(
                gradient_history_figure(trainer.history, trainer.model.layer_names()),
                key="pg_grad_history",
            )
        else:
            st.info("The gradient sizes per layer appear here once training starts.")

    st.subheader("Layers on the latest batch")
    st.plotly_chart(layers_figure(record), key="pg_layers_fig")
    st.caption(
        "Top: activations; bottom: log10 |dLoss/d pre-activation| (all layers on the same "
        "axes). Saturated = within 0.02 of the activation's asymptote; dead = a unit whose "
        "activation has zero slope on every example of the batch."
    )
    table = layer_table(record)
    saturated = "- : the layer's activation has no asymptote (ReLU), or it is the output"
    st.dataframe(table, hide_index=True,
                 column_config=fitted_columns(table, {"% saturated": saturated}))  # fmt: skip
    st.subheader("One neuron")
    neuron_panel(trainer, running, options)


st.fragment(run_every=REFRESH_SECONDS if running else None)(live_view)(speed)
