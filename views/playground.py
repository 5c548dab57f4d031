"""Perceptron playground: train a small MLP live and watch its initialisation at work."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.playground import (
    ACTIVATIONS,
    INITS,
    PlaygroundConfig,
    Trainer,
    build_trainer,
    decision_surface,
    what_to_try,
)
from ui.playground.controls import playground_state, read_controls
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
from ui.present import intro, presenting
from ui.state import declare
from ui.widgets import fitted_columns

REFRESH_SECONDS = 1.0  # the live view reruns this often while training runs
STEP_BUDGET_SECONDS = 0.25  # at most this much training per refresh

state = st.session_state
st.title("Perceptron playground")
intro(
    "Build a small fully connected network, pick how its weights start and which "
    "activation it uses, and watch it train one mini-batch at a time: saturation, dead "
    "units, vanishing and exploding gradients show up in the distributions below.",
    caption=True,
)
declare(playground_state())  # ?data=xor&hidden=16,16&act=relu&init=he&lr=0.03


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

pair = f"What to try: {INITS[spec.init].title} + {ACTIVATIONS[spec.activation].title}"
with st.expander(pair) if presenting() else st.container(border=True):  # a projector: folded
    if not presenting():
        st.markdown(f"**{pair}**")
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
    present = presenting()  # a projector: the graph, the data and the loss in one row
    columns = st.columns([3, 2, 2] if present else [3, 2])
    left, right = columns[:2]
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

    loss_area, right = (columns[2], st.container()) if present else st.columns(2)
    with loss_area:
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
