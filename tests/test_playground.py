"""Perceptron playground core: initialisations, recording, known training behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.common.hooks import count_hooks
from core.playground import (
    ACTIVATION_TIPS,
    ACTIVATIONS,
    COMBINATION_TIPS,
    DATASETS,
    INIT_TIPS,
    INITS,
    MLP,
    NetSpec,
    PlaygroundConfig,
    Trainer,
    build_trainer,
    decision_surface,
    init_weights,
    make_dataset,
    neuron_weights,
    parse_hidden,
    record_batch,
    set_neuron_weights,
    what_to_try,
)

SHAPES = [(64, 256), (256, 64), (200, 200), (30, 500)]  # (fan_out, fan_in)

# The definitions, written out independently of the implementation: (kind, scale(fan_in,
# fan_out)), scale = std for normal distributions and the bound a of U(-a, a).
DEFINITIONS = {
    "he": ("normal", lambda fi, fo: math.sqrt(2 / fi)),
    "uniform": ("uniform", lambda fi, fo: 1 / math.sqrt(fi)),
    "normal": ("normal", lambda fi, fo: 1.0),
    "lecun": ("normal", lambda fi, fo: math.sqrt(1 / fi)),
    "xavier": ("uniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    "small": ("uniform", lambda fi, fo: 0.01 * math.sqrt(6 / (fi + fo))),
    "large": ("uniform", lambda fi, fo: 100 * math.sqrt(6 / (fi + fo))),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("init", list(DEFINITIONS))
def test_init_statistics_match_definition(init, shape):
    fan_out, fan_in = shape
    weight = torch.empty(shape, dtype=torch.float64)
    init_weights(weight, init, torch.Generator().manual_seed(1))
    w = weight.numpy().ravel()
    n = w.size
    kind, scale = DEFINITIONS[init]
    a = scale(fan_in, fan_out)
    std = a if kind == "normal" else a / math.sqrt(3)
    # mean within 5 standard errors; std within 5 standard errors of a sample std
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    assert abs(w.std() - std) < 5 * std / math.sqrt(2 * n)
    beyond_two_sigma = float((np.abs(w) > 2 * std).mean())
    if kind == "uniform":
        assert np.abs(w).max() <= a * (1 + 1e-12)
        assert np.abs(w).max() > 0.99 * a  # the bound is reached, not a narrower law
        assert beyond_two_sigma == 0.0  # a uniform law has nothing beyond sqrt(3) sigma
    else:
        assert abs(beyond_two_sigma - 0.0455) < 0.01  # Gaussian tail, not a uniform law


def test_every_init_is_defined_and_tested():
    assert set(INITS) == set(DEFINITIONS) | {"zero"}
    for spec in INITS.values():
        assert spec.title
        assert spec.definition


@pytest.mark.parametrize("init", list(INITS))
def test_biases_start_at_zero_and_zero_init_is_zero(init):
    model = MLP(NetSpec(5, (7, 3), 2, "relu", init), seed=3)
    for layer in model.layers:
        assert torch.count_nonzero(layer.bias) == 0
        if init == "zero":
            assert torch.count_nonzero(layer.weight) == 0
        else:
            assert torch.count_nonzero(layer.weight) == layer.weight.numel()


def test_same_seed_same_weights_other_seed_other_weights():
    spec = NetSpec(4, (6,), 1, "tanh", "he")
    a, b, c = MLP(spec, 0), MLP(spec, 0), MLP(spec, 1)
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_modules_match_their_formula(name):
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    module = ACTIVATIONS[name].make(1).double()
    expected = {
        "sigmoid": 1 / (1 + torch.exp(-x)),
        "tanh": torch.tanh(x),
        "relu": x.clamp(min=0),
        "leaky_relu": torch.where(x > 0, x, 0.01 * x),
        "prelu": torch.where(x > 0, x, 0.25 * x),
        "elu": torch.where(x > 0, x, torch.exp(x) - 1),
        "swish": x / (1 + torch.exp(-x)),
    }[name]
    torch.testing.assert_close(module(x[:, None])[:, 0], expected)


# ------------------------------------------------------------------ recording = truth


def _reference_forward(model: MLP, x: torch.Tensor):
    """An independent forward pass with functional ops (no forward_layers)."""
    pre, post = [], []
    h = x
    for i, linear in enumerate(model.layers):
        z = h @ linear.weight.T + linear.bias
        pre.append(z)
        if i < len(model.activations):
            h = model.activations[i](z)
            post.append(h)
    return pre, post


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_recorded_gradients_equal_autograd_float64(activation):
    data = make_dataset("regression", 64, seed=2, n_inputs=5, n_outputs=2)
    spec = NetSpec(5, (6, 4), 2, activation, "xavier")
    trainer = Trainer(spec, data, lr=0.1, batch_size=16, seed=4, dtype=torch.float64)
    trainer.run(3)  # not only at initialisation
    record = trainer.inspect()
    x = torch.as_tensor(record.inputs)
    rows = torch.cat([torch.nonzero((data.x.double() == r).all(dim=1)) for r in x]).ravel()
    y = data.y.double()[rows]
    pre, post = _reference_forward(trainer.model, x)
    loss = F.mse_loss(pre[-1], y)
    params = [layer.weight for layer in trainer.model.layers]
    grads = torch.autograd.grad(loss, [*pre, *post, *params])
    n = len(pre)
    assert record.batch_loss == pytest.approx(float(loss.detach()), rel=1e-12)
    for i, layer in enumerate(record.layers):
        np.testing.assert_allclose(layer.pre, pre[i].detach().numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.grad_pre, grads[i].numpy(), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(layer.weight_grad, grads[2 * n - 1 + i], rtol=1e-10, atol=1e-15)
        if i < n - 1:
            np.testing.assert_allclose(layer.post, post[i].detach().numpy(), rtol=1e-12)
            np.testing.assert_allclose(
                layer.grad_post, grads[n + i].numpy(), rtol=1e-10, atol=1e-15
            )


def test_gradient_at_a_neuron_matches_finite_differences():
    """Sum over the batch of dL/d pre = dL/d bias, checked by central differences."""
    data = make_dataset("circles", 40, seed=0)
    trainer = Trainer(NetSpec(2, (5,), 1, "tanh", "he"), data, batch_size=40, dtype=torch.float64)
    record = trainer.inspect()
    model, eps = trainer.model, 1e-6
    x, y = data.x.double(), data.y.double()
    for neuron in range(5):
        bias = model.layers[0].bias
        with torch.no_grad():
            bias[neuron] += eps
            up = float(F.binary_cross_entropy_with_logits(model(x), y))
            bias[neuron] -= 2 * eps
            down = float(F.binary_cross_entropy_with_logits(model(x), y))
            bias[neuron] += eps
        numeric = (up - down) / (2 * eps)
        assert record.layers[0].grad_pre[:, neuron].sum() == pytest.approx(numeric, abs=1e-8)


def test_recording_does_not_change_training():
    """The trainer ends at exactly the weights of a bare loss.backward() SGD loop."""
    data = make_dataset("xor", 50, seed=1)
    spec = NetSpec(2, (6, 6), 1, "prelu", "he")  # PReLU: activation parameters train too
    trainer = Trainer(spec, data, lr=0.2, batch_size=50, seed=5, dtype=torch.float64)
    bare = MLP(spec, seed=5).double()
    optimizer = torch.optim.SGD(bare.parameters(), lr=0.2)
    for _ in range(15):
        trainer.step()
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(bare(data.x.double()), data.y.double()).backward()
        optimizer.step()
    for ours, theirs in zip(trainer.model.parameters(), bare.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
    assert count_hooks(trainer.model) == 0


def test_batches_cover_an_epoch_without_repetition():
    data = make_dataset("blobs", 20, seed=0)
    trainer = Trainer(NetSpec(2, (3,), 1), data, batch_size=5, seed=0)
    seen = [tuple(map(tuple, trainer.step().inputs)) for _ in range(4)]
    rows = {row for batch in seen for row in batch}
    assert len(rows) == 20


def test_inspect_does_not_update_or_consume():
    data = make_dataset("blobs", 40, seed=0)
    trainer = Trainer(NetSpec(2, (3,), 1), data, batch_size=8)
    before = [p.clone() for p in trainer.model.parameters()]
    first, second = trainer.inspect(), trainer.inspect()
    assert np.array_equal(first.inputs, second.inputs)
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    stepped = trainer.step()
    assert np.array_equal(stepped.inputs, first.inputs)
    assert stepped.updated
    assert trainer.step_count == 1
    assert not first.updated


# ------------------------------------------------------------ known behaviour as tests


def test_sigmoid_with_large_init_saturates():
    data = make_dataset("circles", 200, seed=0)
    trainer = Trainer(NetSpec(2, (8, 8), 1, "sigmoid", "large"), data, batch_size=200)
    record = trainer.inspect()
    for layer in record.layers[:-1]:
        near_0_or_1 = (layer.post < 0.02) | (layer.post > 0.98)
        assert near_0_or_1.mean() > 0.8
        assert layer.stats.frac_saturated == pytest.approx(near_0_or_1.mean())
    # the same network with Xavier weights is not saturated
    calm = Trainer(NetSpec(2, (8, 8), 1, "sigmoid", "xavier"), data, batch_size=200).inspect()
    assert all(layer.stats.frac_saturated < 0.05 for layer in calm.layers[:-1])


def test_relu_with_zero_init_does_not_learn():
    data = make_dataset("circles", 200, seed=0)
    stuck = Trainer(NetSpec(2, (8, 8), 1, "relu", "zero"), data, lr=0.1, batch_size=32)
    stuck.run(300)
    for layer in stuck.model.layers[:-1]:
        assert torch.count_nonzero(layer.weight) == 0
    assert torch.count_nonzero(stuck.model.layers[-1].weight) == 0
    assert all(s.frac_dead == 1.0 for s in stuck.history[-1].layers[:-1])
    assert stuck.history[-1].train_loss >= math.log(2) - 1e-3  # no better than a coin
    # the same network with He weights does learn
    learns = Trainer(NetSpec(2, (8, 8), 1, "relu", "he"), data, lr=0.1, batch_size=32)
    learns.run(300)
    assert learns.history[-1].train_loss < 0.3
    assert learns.history[-1].accuracy > 0.9


def test_xavier_tanh_keeps_activation_spread_over_five_layers():
    data = make_dataset("regression", 1024, seed=0, n_inputs=32)
    for seed in range(3):
        spec = NetSpec(32, (32,) * 5, 1, "tanh", "xavier")
        record = Trainer(spec, data, batch_size=1024, seed=seed).inspect()
        stds = [layer.stats.act_std for layer in record.layers[:-1]]
        assert all(0.75 < b / a < 1.05 for a, b in zip(stds, stds[1:], strict=False)), stds
        assert stds[-1] / stds[0] > 0.4, stds
        # the plain uniform heuristic, by contrast, loses most of the signal
        spec = NetSpec(32, (32,) * 5, 1, "tanh", "uniform")
        record = Trainer(spec, data, batch_size=1024, seed=seed).inspect()
        stds = [layer.stats.act_std for layer in record.layers[:-1]]
        assert stds[-1] / stds[0] < 0.15, stds


def test_zero_init_sigmoid_units_stay_identical():
    data = make_dataset("xor", 100, seed=0)
    trainer = Trainer(NetSpec(2, (4,), 1, "sigmoid", "zero"), data, lr=0.5, batch_size=20)
    trainer.run(50)
    hidden = trainer.model.layers[0].weight
    output = trainer.model.layers[1].weight
    assert torch.count_nonzero(output) == output.numel()  # the output layer learnt
    assert torch.count_nonzero(hidden) == hidden.numel()  # so did the hidden layer...
    assert torch.equal(hidden, hidden[:1].expand_as(hidden))  # ...all units alike


def test_small_init_vanishes_and_large_relu_explodes():
    data = make_dataset("regression", 256, seed=0, n_inputs=16)

    def first_layer_grad(init: str) -> float:
        spec = NetSpec(16, (16,) * 4, 1, "relu", init)
        return Trainer(spec, data, batch_size=256).inspect().layers[0].stats.grad_rms

    he = first_layer_grad("he")
    assert first_layer_grad("small") < 1e-6 * he
    assert first_layer_grad("large") > 1e6 * he


def test_dead_units_are_counted():
    data = make_dataset("blobs", 50, seed=0)
    trainer = Trainer(NetSpec(2, (4,), 1, "relu", "he"), data, batch_size=50)
    set_neuron_weights(trainer.model, 0, 2, [0.0, 0.0], bias=-1.0)  # always negative
    record = trainer.inspect()
    assert record.layers[0].stats.frac_dead == pytest.approx(0.25)
    assert np.all(record.layers[0].grad_pre[:, 2] == 0)


def test_training_finishes_at_budget_and_on_divergence():
    data = make_dataset("blobs", 40, seed=0)
    trainer = Trainer(NetSpec(2, (3,), 1), data, max_steps=5)
    assert trainer.run(100) == 5
    assert trainer.finished
    assert "5 steps" in trainer.finished_reason
    assert trainer.step() is None
    assert trainer.step_count == 5

    data = make_dataset("regression", 64, seed=0, n_inputs=8)
    wild = Trainer(NetSpec(8, (16, 16), 1, "relu", "large"), data, lr=3.0, batch_size=64)
    wild.run(50)
    assert wild.finished_reason.startswith("diverged")
    assert wild.step_count < 50


# ------------------------------------------------------------------ hand-edited weights


def test_set_neuron_weights_takes_effect_on_next_step():
    data = make_dataset("blobs", 32, seed=0)
    trainer = Trainer(NetSpec(2, (3,), 1, "tanh"), data, lr=0.1, batch_size=32)
    version = trainer.version
    trainer.set_neuron(0, 1, [0.5, -2.0], bias=0.25)
    weights, bias = neuron_weights(trainer.model, 0, 1)
    np.testing.assert_array_equal(weights, np.float32([0.5, -2.0]))
    assert bias == 0.25
    assert trainer.version == version + 1
    record = trainer.step()
    x = torch.as_tensor(record.inputs)
    np.testing.assert_allclose(
        record.layers[0].pre[:, 1], (x @ torch.tensor([0.5, -2.0]) + 0.25).numpy(), rtol=1e-6
    )
    expected = np.float32([0.5, -2.0]) - 0.1 * record.layers[0].weight_grad[1]
    np.testing.assert_allclose(trainer.model.layers[0].weight[1].detach(), expected, rtol=1e-6)


def test_set_neuron_weights_rejects_bad_input():
    model = MLP(NetSpec(2, (3,), 1))
    with pytest.raises(ValueError, match="expected 2 weights"):
        set_neuron_weights(model, 0, 0, [1.0])
    with pytest.raises(ValueError, match="finite"):
        set_neuron_weights(model, 0, 0, [1.0, math.nan])
    with pytest.raises(ValueError, match="finite"):
        set_neuron_weights(model, 0, 0, bias=math.inf)
    with pytest.raises(IndexError):
        set_neuron_weights(model, 0, 3, [1.0, 1.0])


# -------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name", list(DATASETS))
def test_datasets_are_seeded_and_shaped(name):
    a = make_dataset(name, 101, seed=3, n_inputs=4, n_outputs=2)
    b = make_dataset(name, 101, seed=3, n_inputs=4, n_outputs=2)
    c = make_dataset(name, 101, seed=4, n_inputs=4, n_outputs=2)
    assert torch.equal(a.x, b.x)
    assert torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    if DATASETS[name].task == "classification":
        assert a.x.shape == (101, 2)
        assert a.y.shape == (101, 1)
        assert set(a.y.unique().tolist()) == {0.0, 1.0}
    else:
        assert a.x.shape == (101, 4)
        assert a.y.shape == (101, 2)


def test_dataset_labels_follow_their_rule():
    xor = make_dataset("xor", 400, seed=0, noise=0.0)
    assert torch.equal(xor.y[:, 0], (xor.x[:, 0] * xor.x[:, 1] > 0).float())
    circles = make_dataset("circles", 400, seed=0, noise=0.0)
    radius = circles.x.norm(dim=1)
    assert torch.all(radius[circles.y[:, 0] == 1] <= 1.0 + 1e-6)
    assert torch.all(radius[circles.y[:, 0] == 0] >= 1.4 - 1e-6)
    blobs = make_dataset("blobs", 2000, seed=0, noise=0.0)
    for label, centre in ((0, -1.0), (1, 1.0)):
        mean = blobs.x[blobs.y[:, 0] == label].mean(dim=0)
        torch.testing.assert_close(mean, torch.full((2,), centre), atol=0.05, rtol=0)
    spiral = make_dataset("spiral", 400, seed=0, noise=0.0)
    assert float(spiral.x.norm(dim=1).max()) <= 2.0 + 1e-6
    assert float(spiral.y.mean()) == 0.5


def test_regression_targets_are_linear_plus_noise():
    data = make_dataset("regression", 2000, seed=0, noise=0.1, n_inputs=6)
    x = torch.cat([data.x, torch.ones(2000, 1)], dim=1).double()
    solution = torch.linalg.lstsq(x, data.y.double()).solution
    residual = data.y.double() - x @ solution
    assert float(residual.std()) == pytest.approx(0.1, rel=0.1)
    assert float(data.x.std()) == pytest.approx(1.0, rel=0.05)


# ------------------------------------------------------------------------------ misc


def test_decision_surface_is_the_model_probability():
    data = make_dataset("circles", 100, seed=0)
    model = MLP(NetSpec(2, (4,), 1, "tanh", "he"), seed=0)
    surface = decision_surface(model, data.x, resolution=11, margin=0.5)
    assert surface.probability.shape == (11, 11)
    assert surface.xs[0] == pytest.approx(float(data.x[:, 0].min()) - 0.5, abs=1e-5)
    point = torch.tensor([[surface.xs[3], surface.ys[7]]], dtype=torch.float32)
    expected = float(torch.sigmoid(model(point)).detach())
    assert surface.probability[7, 3] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="2 inputs and 1 output"):
        decision_surface(MLP(NetSpec(3, (2,), 1)), torch.zeros(5, 3))


def test_what_to_try_covers_every_combination():
    assert set(INIT_TIPS) == set(INITS)
    assert set(ACTIVATION_TIPS) == set(ACTIVATIONS)
    assert all(i in INITS and a in ACTIVATIONS for i, a in COMBINATION_TIPS)
    for init in INITS:
        for activation in ACTIVATIONS:
            tips = what_to_try(init, activation)
            assert tips[-2:] == [INIT_TIPS[init], ACTIVATION_TIPS[activation]]
    assert what_to_try("zero", "relu")[0] == COMBINATION_TIPS[("zero", "relu")]


@pytest.mark.parametrize(
    ("text", "expected"), [("16, 16", (16, 16)), ("4 8", (4, 8)), ("", ()), (" 3,", (3,))]
)
def test_parse_hidden_accepts(text, expected):
    assert parse_hidden(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("a, 3", "whole numbers"), ("0", "at least 1"), ("1,1,1,1,1,1,1", "at most 6"),
     ("100", "at most 32")],
)  # fmt: skip
def test_parse_hidden_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_hidden(text)


def test_build_trainer_fits_dataset_shapes():
    trainer = build_trainer(PlaygroundConfig(dataset="regression", n_inputs=3, n_outputs=2), 0.1, 8)
    assert trainer.spec.widths == (3, 8, 8, 2)
    trainer = build_trainer(PlaygroundConfig(dataset="spiral", hidden=()), 0.1, 8)
    assert trainer.spec.widths == (2, 1)
    with pytest.raises(ValueError, match="inputs"):
        Trainer(NetSpec(3, (2,), 1), make_dataset("blobs", 10))


def test_run_stops_when_time_is_up():
    trainer = Trainer(NetSpec(2, (3,), 1), make_dataset("blobs", 40, seed=0))
    assert trainer.run(10, seconds=0.0) == 0
    assert trainer.run(3, seconds=60.0) == 3


def test_uniform_init_has_the_bound_of_torch_linear_default():
    """'uniform' is PyTorch's own nn.Linear default for the weights (bound 1/sqrt(fan_in))."""
    torch.manual_seed(0)
    reference = torch.nn.Linear(256, 64).weight.detach()
    ours = torch.empty(64, 256)
    init_weights(ours, "uniform", torch.Generator().manual_seed(0))
    for weight in (reference, ours):
        assert float(weight.abs().max()) <= 1 / 16 + 1e-7
        assert float(weight.abs().max()) > 0.99 / 16
    assert float(ours.std()) == pytest.approx(float(reference.std()), rel=0.03)


def test_predict_is_the_model_on_the_training_set():
    data = make_dataset("regression", 30, seed=0, n_inputs=3, n_outputs=2)
    trainer = Trainer(NetSpec(3, (4,), 2, "elu"), data)
    np.testing.assert_allclose(trainer.predict(), trainer.model(data.x).detach().numpy())


def test_record_batch_gives_the_backward_gradients_and_changes_nothing():
    data = make_dataset("circles", 30, seed=2)
    model = MLP(NetSpec(2, (4, 3), 1, "prelu", "he"), seed=3).double()
    x, y = data.x.double(), data.y.double()
    before = [p.clone() for p in model.parameters()]
    record, grads = record_batch(model, "classification", x, y, step=7)
    assert (record.step, record.updated, len(record.layers)) == (7, False, 3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    F.binary_cross_entropy_with_logits(model(x), y).backward()
    for grad, param in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(grad, param.grad, rtol=1e-12, atol=1e-14)


def test_linears_are_the_layers_in_order():
    model = MLP(NetSpec(3, (5, 4), 2))
    shapes = [(layer.in_features, layer.out_features) for layer in model.linears()]
    assert shapes == [(3, 5), (5, 4), (4, 2)]
    assert all(a is b for a, b in zip(model.linears(), model.layers, strict=True))
