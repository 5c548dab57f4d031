"""The perceptron playground page (AppTest) and its figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.playground import MLP, NetSpec, Trainer, make_dataset, neuron_weights
from ui.playground.plots import (
    GRAD_FLOOR,
    MIN_ACTIVATION_SPAN,
    MIN_DECADES,
    gradient_history_figure,
    layer_table,
    layers_figure,
    log_ticks,
    network_figure,
    neuron_figure,
    parse_neuron_id,
)
from ui.widgets import text_width

PAGE = str(Path(__file__).resolve().parents[1] / "views" / "playground.py")


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def badge_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_start_step_pause_edit_reset(app):
    at = app
    trainer: Trainer = at.session_state["pg_trainer"]
    initial_weight = neuron_weights(trainer.model, 0, 0)[0][0]
    assert metric(at, "Step") == "0"
    assert "Paused" in badge_text(at)
    assert not at.session_state["pg_running"]

    # start: the live view trains on every run while running
    button(at, "Start").click().run()
    assert at.session_state["pg_running"]
    assert "Running" in badge_text(at)
    first = int(metric(at, "Step"))
    assert first > 0
    at.run()  # what the fragment timer does
    second = int(metric(at, "Step"))
    assert second > first
    assert trainer.history[-1].train_loss > 0
    assert metric(at, "Training loss") != "-"

    # pause: the step counter stops
    button(at, "Pause").click().run()
    assert not at.session_state["pg_running"]
    assert "Paused" in badge_text(at)
    paused = int(metric(at, "Step"))
    at.run()
    assert int(metric(at, "Step")) == paused

    # one step: exactly one more, with a new loss recorded
    losses = len(trainer.history)
    button(at, "One step").click().run()
    assert int(metric(at, "Step")) == paused + 1
    assert len(trainer.history) == losses + 1

    # edit a weight of the selected neuron (hidden 1, neuron 1, weight from x1)
    field = next(n for n in at.number_input if n.label == "from x1")
    field.set_value(1.2345).run()
    assert not at.exception, at.exception
    assert neuron_weights(trainer.model, 0, 0)[0][0] == pytest.approx(1.2345)
    assert int(metric(at, "Step")) == paused + 1  # editing is not a step
    bias_field = next(n for n in at.number_input if n.label == "bias")
    bias_field.set_value(-0.5).run()
    assert neuron_weights(trainer.model, 0, 0)[1] == pytest.approx(-0.5)
    # the edit shows at once in the neuron's recorded pre-activations (next batch)
    x = trainer.last.inputs
    w2 = neuron_weights(trainer.model, 0, 0)[0][1]
    np.testing.assert_allclose(
        trainer.last.layers[0].pre[:, 0], x[:, 0] * 1.2345 + x[:, 1] * w2 - 0.5, rtol=1e-5
    )

    # reset: back to step 0 with the initial weights
    button(at, "Reset").click().run()
    fresh: Trainer = at.session_state["pg_trainer"]
    assert fresh is not trainer
    assert metric(at, "Step") == "0"
    assert "Paused" in badge_text(at)
    weights, bias = neuron_weights(fresh.model, 0, 0)
    assert weights[0] == initial_weight
    assert bias == 0.0


def test_edited_weight_is_what_the_next_step_uses(app):
    at = app
    next(n for n in at.number_input if n.label == "from x1").set_value(2.0).run()
    next(n for n in at.number_input if n.label == "from x2").set_value(-3.0).run()
    next(n for n in at.number_input if n.label == "bias").set_value(0.5).run()
    button(at, "One step").click().run()
    trainer: Trainer = at.session_state["pg_trainer"]
    x = trainer.last.inputs  # (B, 2), the batch of the step just taken
    np.testing.assert_allclose(
        trainer.last.layers[0].pre[:, 0], x @ np.float32([2.0, -3.0]) + 0.5, rtol=1e-5
    )


def test_finishes_at_the_step_budget(app):
    at = app
    at.number_input(key="pg_max_steps").set_value(10).run()
    at.select_slider(key="pg_speed").set_value(50).run()
    button(at, "Start").click().run()
    at.run()
    assert "Finished" in badge_text(at)
    assert metric(at, "Step") == "10"
    assert not at.session_state["pg_running"]
    assert button(at, "Start").disabled
    assert button(at, "One step").disabled


def test_bad_architecture_keeps_the_previous_network(app):
    at = app
    before = at.session_state["pg_trainer"]
    at.text_input(key="pg_hidden").set_value("8, x").run()
    assert any("whole numbers" in e.value for e in at.error)
    assert at.session_state["pg_trainer"] is before
    at.text_input(key="pg_hidden").set_value("4, 4, 4").run()
    assert not at.error
    assert at.session_state["pg_trainer"].spec.widths == (2, 4, 4, 4, 1)


def test_changing_init_and_activation_rebuilds_and_updates_tips(app):
    at = app
    at.selectbox(key="pg_init").set_value("large").run()
    at.selectbox(key="pg_act").set_value("sigmoid").run()
    trainer: Trainer = at.session_state["pg_trainer"]
    assert (trainer.spec.init, trainer.spec.activation) == ("large", "sigmoid")
    text = " ".join(m.value for m in at.markdown)
    assert "What to try: Large (Xavier x 100) + Sigmoid" in text
    assert "within 0.02 of 0 or 1" in text
    table = at.dataframe[0].value
    assert (table.loc[table["layer"] == "hidden 1", "% saturated"].astype(float) > 50).all()


def test_regression_data_shows_inputs_outputs_and_fit(app):
    at = app
    at.selectbox(key="pg_data").set_value("regression").run()
    at.number_input(key="pg_inputs").set_value(4).run()
    at.number_input(key="pg_outputs").set_value(2).run()
    assert not at.exception
    assert at.session_state["pg_trainer"].spec.widths == (4, 8, 8, 2)
    assert any(s.value == "Prediction vs target" for s in at.subheader)
    assert metric(at, "Accuracy") == "-"


def test_neuron_select_box_lists_every_unit(app):
    at = app
    box = at.selectbox(key="pg_neuron")
    assert len(box.options) == 8 + 8 + 1
    box.set_value("1:3").run()
    labels = {n.label for n in at.number_input if n.label.startswith("from ")}
    assert labels == {f"from hidden 1 #{j}" for j in range(1, 9)}


# ------------------------------------------------------------------------- figures


def test_network_figure_edges_and_nodes():
    model = MLP(NetSpec(3, (4,), 2, "tanh", "he"), seed=0)
    with torch.no_grad():
        model.layers[0].weight[0, 0] = 0.0
    fig = network_figure(model, None, selected=(0, 1))
    ids = [c for trace in fig.data if trace.customdata is not None for c in trace.customdata]
    assert sorted(i for i in ids if i) == sorted(
        [f"0:{n}" for n in range(4)] + [f"1:{n}" for n in range(2)]
    )
    segments = sum(
        sum(1 for v in trace.x if v is None) for trace in fig.data if trace.mode == "lines"
    )
    assert segments == 3 * 4 + 4 * 2  # one segment per weight, the zero one included
    colours = {trace.line.color for trace in fig.data if trace.mode == "lines"}
    assert colours <= {"#d62728", "#1f77b4", "#9e9e9e"}
    assert "#9e9e9e" in colours


def test_layer_figures_and_table_from_a_record():
    data = make_dataset("blobs", 40, seed=0)
    trainer = Trainer(NetSpec(2, (5, 3), 1, "relu", "zero"), data, batch_size=10)
    record = trainer.inspect()
    fig = layers_figure(record)
    assert len(fig.data) == 2 * 3
    assert "100% dead" in fig.layout.annotations[0].text
    assert len(neuron_figure(record, 1, 2).data) == 4
    table = layer_table(record)
    assert list(table["layer"]) == ["hidden 1", "hidden 2", "output"]
    assert list(table["% dead units"]) == ["100", "100", "0"]


def test_parse_neuron_id():
    assert parse_neuron_id("2:5") == (2, 5)
    assert parse_neuron_id("") is None
    assert parse_neuron_id("x1") is None


def test_a_diverging_run_finishes_with_a_message(app):
    at = app
    at.selectbox(key="pg_data").set_value("regression").run()
    at.selectbox(key="pg_init").set_value("large").run()
    at.selectbox(key="pg_act").set_value("relu").run()
    at.select_slider(key="pg_lr").set_value(3.0).run()
    for _ in range(3):
        if not button(at, "One step").disabled:
            button(at, "One step").click().run()
    assert not at.exception, at.exception
    assert "diverged" in badge_text(at)
    assert button(at, "Start").disabled


def test_network_figure_draws_non_finite_weights():
    model = MLP(NetSpec(2, (3,), 1, "relu", "he"), seed=0)
    with torch.no_grad():
        model.layers[0].weight[0, 0] = float("nan")
        model.layers[1].weight[0, 1] = float("inf")
    fig = network_figure(model, None)
    assert "#000000" in {trace.line.color for trace in fig.data if trace.mode == "lines"}


# ------------------------------------------------------------- issue 25: readable numbers


def test_log_axis_labels_carry_their_exponent():
    """A student read "2" on a log axis as 2 where it meant 0.002."""
    values, labels = log_ticks(0.0015, 0.03)
    assert dict(zip(values, labels, strict=True)) == {
        0.002: "2·10⁻³", 0.005: "5·10⁻³", 0.01: "10⁻²", 0.02: "2·10⁻²",
    }  # fmt: skip
    values, labels = log_ticks(1e-9, 1.0)  # many decades: one label each
    assert labels == ["10⁻⁹", "10⁻⁸", "10⁻⁷", "10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹",
                      "10⁰"]  # fmt: skip
    assert all(label.startswith(("10", "2·10", "5·10")) for label in labels)


def _zero_init_record_and_history():
    data = make_dataset("circles", 64, seed=0)
    trainer = Trainer(NetSpec(2, (8, 8), 1, "tanh", "zero"), data, batch_size=32)
    for _ in range(3):
        trainer.step()
    return trainer, trainer.inspect()


def test_zero_gradients_leave_gaps_not_a_floor():
    """Zero initialisation: the hidden layers' gradients are exactly 0, once drawn at a
    floor of 1e-12 labelled "1p"."""
    trainer, _ = _zero_init_record_and_history()
    figure = gradient_history_figure(trainer.history, trainer.model.layer_names())
    hidden, output = figure.data[0], figure.data[-1]
    assert hidden.name == "hidden 1: exactly 0"
    assert all(y is None for y in hidden.y)
    assert all(y is not None and y > GRAD_FLOOR for y in output.y)
    assert all(not text.endswith("p") for text in figure.layout.yaxis.ticktext)
    low, high = figure.layout.yaxis.range
    assert low > -12  # no axis reaching down to the old floor


def test_histograms_of_equal_values_keep_a_readable_range():
    """All-equal values gave axes from -1.8065 to -1.806: a spread that is not there."""
    _, record = _zero_init_record_and_history()
    figure = layers_figure(record)
    ranges = [figure.layout[f"xaxis{i if i > 1 else ''}"].range for i in range(1, 7)]
    activations, gradients = ranges[:3], ranges[3:]
    assert all(high - low >= MIN_ACTIVATION_SPAN for low, high in activations)
    assert all(high - low >= MIN_DECADES for low, high in gradients)
    assert figure.layout.xaxis4.dtick == 1  # whole decades


def test_the_layer_table_has_no_none_and_no_long_decimals():
    _, record = _zero_init_record_and_history()
    table = layer_table(record)
    cells = [str(v) for v in table.to_numpy().ravel()]
    assert "None" not in cells
    assert "nan" not in cells
    assert not any(c.startswith("0.0000") for c in cells)  # 2.33e-10, not 0.0000000002
    assert table.loc[table["layer"] == "output", "% saturated"].item() == "-"


def test_hidden_nodes_set_the_colour_scale_not_the_output():
    """A large output mean made every hidden node white."""
    data = make_dataset("regression", 64, seed=0, n_inputs=2, n_outputs=1)
    trainer = Trainer(NetSpec(2, (4,), 1, "tanh", "xavier"), data, batch_size=32)
    with torch.no_grad():
        trainer.model.linears()[-1].bias.fill_(40.0)
    record = trainer.inspect()
    hidden_means = np.abs(record.layers[0].post.mean(0))
    figure = network_figure(trainer.model, record)
    nodes = next(t for t in figure.data if t.marker.colorscale is not None)
    assert nodes.marker.cmax == pytest.approx(float(hidden_means.max()))
    assert nodes.marker.cmax < 5  # the output's mean (about 40) does not set it
    assert max(nodes.marker.color) > 30  # the output keeps its value (hover, end colour)


def test_zero_init_page_shows_no_none(app):
    at = app
    at.selectbox(key="pg_init").set_value("zero").run()
    for _ in range(2):
        button(at, "One step").click().run()
    assert not at.exception
    table = at.dataframe[0]
    cells = [str(v) for v in table.value.to_numpy().ravel()]
    assert "None" not in cells
    # every header whole ("weight-gradie" was cut at 1280 px): widths from the text
    widths = {n: c["width"] for n, c in json.loads(table.proto.columns).items() if "width" in c}
    for column in table.value.columns:
        longest = max([column, *map(str, table.value[column])], key=len)
        assert widths[column] >= text_width(longest), column
