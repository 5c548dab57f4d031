"""How a feature-map cell was computed (core.inside.explain_cell) and the softmax at a
temperature (core.inside.softmax_at).

Truth comes from three places: a tiny network whose numbers are worked out by hand;
the network's own value of the cell, read by a separate hooked forward pass in the same
test (core.common.hooks.record_outputs, as the feature maps page reads it); and the
chain itself (each step's input is the value the network computed for the step before).

Tolerances. Each step is recomputed in float64 from the numbers the network itself fed
that operation, so the only difference is the network's own float32 rounding of that
one operation. For a sum of n terms (a convolution, an average) float32 guarantees
|error| <= n u sum|terms| with u = 2^-24 (Higham, "Accuracy and Stability of Numerical
Algorithms", 2002, eq. 3.5); element-wise operations (batch norm as x * scale + shift,
activations, a residual addition) are within a few ulps, 8 u (|inputs| + |result|).
:func:`bound` is that worst case, so no CPU, thread count or summation order can break
it; the real differences are far smaller (about 1e-7 relative).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as hs
from torch import nn

from core import digits
from core.common.hooks import count_hooks, record_outputs
from core.common.layout import fast_layout
from core.inside import (
    ActivationStep,
    BatchNormStep,
    CellExplanation,
    CombineStep,
    ConvolutionStep,
    PoolStep,
    Step,
    explain_cell,
    softmax_at,
)
from core.models import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

U = 2.0**-24  # float32 unit roundoff


def bound(step: Step) -> float:
    """The worst-case float32 error of the network's own computation of ``step`` from
    the inputs it was given (see the module docstring)."""
    if isinstance(step, ConvolutionStep):
        terms = float(np.abs(step.products).sum()) + abs(step.bias or 0.0)
        return (step.products.size + 2) * U * terms + 1e-12
    if isinstance(step, PoolStep):
        values = np.nan_to_num(step.window.values)
        return (values.size + 2) * U * float(np.abs(values).sum()) + 1e-12
    if isinstance(step, BatchNormStep):
        scale = abs(step.gamma) / math.sqrt(step.var + step.eps)
        inputs = abs(step.x) * scale + abs(step.mean) * scale + abs(step.beta)
        return 8 * U * (inputs + abs(step.value or 0.0)) + 1e-12
    if isinstance(step, CombineStep):
        inputs = sum(abs(o.value) for o in step.operands)
        return 8 * U * (inputs + abs(step.value or 0.0)) + 1e-12
    if isinstance(step, ActivationStep):
        return 8 * U * (abs(step.x) + abs(step.value or 0.0)) + 1e-12
    return 8 * U * abs(step.network) + 1e-12


def hooked_value(net: nn.Module, x: torch.Tensor, layer: str, cell: tuple[int, int, int]) -> float:
    """The layer's value at the cell from a separate hooked forward pass (its last call),
    as the feature-maps page reads it (channels-last input)."""
    module = dict(net.named_modules())[layer]
    with record_outputs({layer: module}) as recorded, torch.inference_mode():
        net(fast_layout(x))
    c, y, x_ = cell
    return float(recorded[layer][-1][0, c, y, x_])


def step_input(step: Step) -> float | None:
    """The value a step received from the step before (None for a window)."""
    if isinstance(step, BatchNormStep | ActivationStep):
        return step.x
    if isinstance(step, CombineStep) and step.followed is not None:
        return step.operands[step.followed].value
    return None


def check(net: nn.Module, x: torch.Tensor, layer: str, channel: int, row=None, col=None):
    """Explain a cell and check it against the network, step by step; return it."""
    hooks = count_hooks(net)
    explanation = explain_cell(net, x, layer, channel, row, col)
    assert count_hooks(net) == hooks
    network = hooked_value(net, x, layer, explanation.cell)
    assert explanation.network == pytest.approx(network, rel=1e-6, abs=1e-7)
    for before, step in zip(explanation.steps, explanation.steps[1:], strict=False):
        received = step_input(step)
        if received is not None:
            assert received == before.network, (before, step)  # the chain is the network's
    for step in explanation.steps:
        assert step.value is not None, step.formula
        assert abs(step.value - step.network) <= bound(step), (step.formula, step.network)
    last = explanation.steps[-1]
    assert explanation.value == last.value
    assert abs(explanation.value - network) <= bound(last) + 1e-6 * abs(network)
    return explanation


# --------------------------------------------------------------------------- by hand


def _tiny_net() -> nn.Sequential:
    """Conv 2 -> 1 channel, 2 x 2 kernel, padding 1, bias 0.5; batch norm (mean 0.5,
    var 3, eps 1, gamma 2, beta 1); ReLU."""
    conv = nn.Conv2d(2, 1, 2, padding=1)
    bn = nn.BatchNorm2d(1, eps=1.0)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, -1.0], [2.0, 0.5]], [[0.0, 1.0], [-1.0, 2.0]]]]))
        conv.bias.fill_(0.5)
        bn.running_mean.fill_(0.5)
        bn.running_var.fill_(3.0)
        bn.weight.fill_(2.0)
        bn.bias.fill_(1.0)
    return nn.Sequential(conv, bn, nn.ReLU()).eval()


TINY_X = torch.tensor(
    [[[[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 0.0, 1.0]],
      [[0.0, 1.0, 1.0], [2.0, 0.0, 0.0], [1.0, 1.0, 2.0]]]]
)  # fmt: skip


def test_a_hand_computed_convolution_batch_norm_and_relu():
    net = _tiny_net()
    explanation = check(net, TINY_X, "2", 0, 1, 1)
    conv, bn, relu = explanation.steps
    assert isinstance(conv, ConvolutionStep)
    assert isinstance(bn, BatchNormStep)
    assert isinstance(relu, ActivationStep)
    # window rows 0-1, columns 0-1 of both channels
    assert conv.window.rows.tolist() == [0, 1]
    assert conv.window.cols.tolist() == [0, 1]
    assert not conv.window.padding.any()
    np.testing.assert_array_equal(conv.window.values, [[[1, 2], [0, 1]], [[0, 1], [2, 0]]])
    # channel 0: 1 - 2 + 0 + 0.5 = -0.5; channel 1: 0 + 1 - 2 + 0 = -1
    np.testing.assert_array_equal(conv.products, [[[1, -2], [0, 0.5]], [[0, 1], [-2, 0]]])
    np.testing.assert_array_equal(conv.partial_sums, [-0.5, -1.0])
    assert (conv.total, conv.bias, conv.value) == (-1.5, 0.5, -1.0)
    # (-1 - 0.5) / sqrt(3 + 1) * 2 + 1 = -0.5, then ReLU
    assert (bn.x, bn.normalised, bn.value) == (-1.0, -0.75, -0.5)
    assert (relu.x, relu.value, relu.function) == (-0.5, 0.0, "ReLU")
    assert explanation.value == 0.0
    assert explanation.network == 0.0
    assert conv.formula == "sum of 8 products (2 channels × 2 × 2) = -1.5; + bias 0.5 = -1"


def test_a_hand_computed_cell_on_the_padding():
    explanation = check(_tiny_net(), TINY_X, "0", 0, 0, 0)  # the convolution alone
    (conv,) = explanation.steps
    assert conv.window.rows.tolist() == [-1, 0]
    assert conv.window.cols.tolist() == [-1, 0]
    np.testing.assert_array_equal(conv.window.padding, [[True, True], [True, False]])
    # only the bottom-right weight sees the input: 1 x 0.5 + 0 x 2, plus the bias
    assert conv.total == 0.5
    assert conv.value == 1.0
    assert explanation.plane.shape == (4, 4)


def test_the_default_cell_is_the_channels_largest_value():
    explanation = explain_cell(_tiny_net(), TINY_X, "0", 0)
    assert explanation.plane[explanation.cell[1:]] == explanation.plane.max()


# ---------------------------------------------------------------- the real networks


@pytest.fixture(scope="module")
def digit():
    return digits.as_batch(digits.mnist_subset().test_images[3])  # (1, 1, 28, 28)


@pytest.mark.parametrize(
    "layer", ["conv1", "relu1", "relu2", "pool1", "relu3", "relu4", "pool2", "pool3"]
)
def test_every_layer_of_the_digit_cnn_equals_the_network(digit, layer):
    net = digits.digit_net()
    explanation = check(net, digit, layer, 5)  # the channel's largest value
    check(net, digit, layer, 5, 0, explanation.plane.shape[1] - 1)  # a corner: padding
    kinds = [step.kind for step in explanation.steps]
    if layer.startswith("relu"):
        assert kinds == ["convolution", "activation"]
    elif layer.startswith("pool"):
        assert kinds == ["max pool"]


@pytest.fixture(scope="module")
def lite0():
    model = load_model("efficientnet_lite0")  # embedded weights: real batch-norm statistics
    torch.manual_seed(0)
    return model.net, torch.randn(1, 3, 224, 224)


def test_lite0_depthwise_convolution_batch_norm_and_relu6(lite0):
    net, x = lite0
    # blocks.1._swish runs twice; its last call follows the depthwise convolution
    explanation = check(net, x, "blocks.1._swish", 17)
    conv, bn, act = explanation.steps
    assert isinstance(conv, ConvolutionStep)
    assert conv.groups == 96
    assert conv.window.channels.tolist() == [17]  # depthwise: its own channel only
    assert conv.site.layer == "blocks.1._depthwise_conv"
    assert conv.bias is None
    assert "zero-padded by blocks.1._depthwise_conv.static_padding" in conv.window.source
    assert isinstance(bn, BatchNormStep)
    assert bn.mean != 0
    assert bn.var != 1
    assert isinstance(act, ActivationStep)
    assert act.function == "ReLU6"


def test_lite0_stem_on_the_padded_border(lite0):
    net, x = lite0
    explanation = check(net, x, "stem.2", 3, 111, 111)  # bottom-right: TF "same" padding
    conv = explanation.steps[0]
    assert isinstance(conv, ConvolutionStep)
    assert conv.window.rows.tolist() == [222, 223, 224]  # row 224 is the added zero row
    assert conv.window.cols.tolist() == [222, 223, 224]
    assert conv.window.padding[2].all()
    assert conv.window.padding[:, 2].all()
    assert not conv.window.padding[:2, :2].any()


def test_lite0_residual_block_is_a_sum_with_its_shortcut(lite0):
    net, x = lite0
    explanation = check(net, x, "blocks.2", 7)
    assert [s.kind for s in explanation.steps] == ["convolution", "batch norm", "sum"]
    total = explanation.steps[-1]
    assert isinstance(total, CombineStep)
    assert total.followed == 0
    assert total.operands[1].source.startswith("blocks.1._bn2")  # the block's input
    assert any("shortcut" in note for note in explanation.notes)


@pytest.fixture(scope="module")
def resnet18():
    model = load_model("resnet18", pretrained=False)
    torch.manual_seed(1)
    return model.net, torch.randn(1, 3, 224, 224)


@pytest.mark.parametrize(
    ("layer", "kinds"),
    [
        ("relu", ["convolution", "batch norm", "activation"]),
        ("maxpool", ["max pool"]),
        ("layer1.0", ["convolution", "batch norm", "sum", "activation"]),
        ("layer2.0", ["convolution", "batch norm", "sum", "activation"]),
        ("layer4", ["convolution", "batch norm", "sum", "activation"]),
    ],
)
def test_resnet18_in_place_relus_and_residual_additions(resnet18, layer, kinds):
    net, x = resnet18
    explanation = check(net, x, layer, 9)
    assert [s.kind for s in explanation.steps] == kinds
    if "sum" in kinds:
        conv = explanation.steps[0]
        # out += identity, then an in-place ReLU: read before either change
        assert conv.site.layer.endswith("conv2")  # the residual branch, not the shortcut
        assert explanation.steps[2].site.where.startswith("the code of layer")


def test_resnet18_max_pool_window_on_the_padding(resnet18):
    net, x = resnet18
    explanation = check(net, x, "maxpool", 4, 0, 0)
    (pool,) = explanation.steps
    assert isinstance(pool, PoolStep)
    assert pool.window.rows.tolist() == [-1, 0, 1]
    np.testing.assert_array_equal(pool.window.padding[0], [True, True, True])


class _Grouped(nn.Module):
    """A grouped convolution (8 -> 6 channels, 2 groups) and a strided, dilated
    depthwise one, then an operation the explanation does not cover (a flip) and a
    squeeze-and-excitation-like gate."""

    def __init__(self) -> None:
        super().__init__()
        self.grouped = nn.Conv2d(8, 6, 3, padding=1, groups=2)
        self.depthwise = nn.Conv2d(6, 6, 3, stride=2, padding=2, dilation=2, groups=6)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.depthwise(self.grouped(x))).flip(-1)
        gate = torch.sigmoid(y.mean((2, 3), keepdim=True))  # (1, 6, 1, 1)
        return y * gate


@pytest.fixture(scope="module")
def grouped():
    torch.manual_seed(2)
    return _Grouped().eval(), torch.randn(1, 8, 9, 9)


def test_a_grouped_convolution_reads_its_groups_channels(grouped):
    net, x = grouped
    explanation = check(net, x, "grouped", 4, 2, 3)
    (conv,) = explanation.steps
    assert conv.window.channels.tolist() == [4, 5, 6, 7]  # group 1 of 2
    with torch.no_grad():
        weight, bias = net.grouped.weight[4:5], net.grouped.bias[4:5]
        reference = F.conv2d(x[:, 4:8], weight, bias, padding=1)
    assert conv.value == pytest.approx(float(reference[0, 0, 2, 3]), abs=bound(conv))


def test_a_strided_dilated_depthwise_convolution(grouped):
    net, x = grouped
    explanation = check(net, x, "act", 2, 1, 2)
    conv, act = explanation.steps
    assert conv.window.channels.tolist() == [2]
    assert conv.window.rows.tolist() == [0, 2, 4]  # 1 x stride 2 - padding 2 + 0, 2, 4
    assert conv.window.cols.tolist() == [2, 4, 6]
    assert act.function == "SiLU (swish)"


def test_a_gate_multiplication_and_an_operation_not_covered(grouped):
    net, x = grouped
    hooks = count_hooks(net)
    # _Grouped's output: y * gate, where y was flipped, which it does not recompute
    trace_layer = _Wrapped(net)
    explanation = explain_cell(trace_layer, x, "inner", 1, 2, 2)
    assert count_hooks(net) == hooks
    flip, product = explanation.steps
    assert flip.kind == "not covered"
    assert flip.value is None
    assert "torch.flip" in flip.formula
    assert isinstance(product, CombineStep)
    assert product.kind == "product"
    assert product.followed == 0
    assert [o.shape for o in product.operands] == [(1, 6, 5, 5), (1, 6, 1, 1)]
    assert product.operands[0].value == flip.network  # the part it can show
    assert any("one number per channel" in note for note in explanation.notes)
    network = hooked_value(trace_layer, x, "inner", explanation.cell)
    assert explanation.network == pytest.approx(network, rel=1e-6)
    assert abs(product.value - network) <= bound(product)


class _Wrapped(nn.Module):
    """A module as the named layer ``inner`` of a network (its output gets a name)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


@pytest.mark.parametrize(
    ("pool", "cell", "divisor"),
    [
        (nn.AvgPool2d(3, stride=2, padding=1), (1, 0, 0), 9.0),  # padding counted
        (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (1, 0, 0), 4.0),
        (nn.AvgPool2d(3, stride=2, padding=1), (1, 3, 3), 9.0),  # row and column 7: padding
        (nn.AvgPool2d(2, ceil_mode=True), (1, 3, 0), 2.0),  # past the input: not counted
        (nn.AvgPool2d(2, divisor_override=3), (0, 1, 2), 3.0),
        (nn.AdaptiveAvgPool2d(3), (2, 1, 1), 9.0),  # 7 -> 3: rows 2-4
        (nn.MaxPool2d(3, stride=2, padding=1, dilation=2), (0, 1, 1), 1.0),
        (nn.AdaptiveMaxPool2d((2, 3)), (2, 1, 2), 1.0),
    ],
)
def test_pooling_windows(pool, cell, divisor):
    torch.manual_seed(3)
    x = torch.randn(1, 3, 7, 7)
    explanation = check(_Wrapped(pool).eval(), x, "inner", *cell)
    (step,) = explanation.steps
    assert isinstance(step, PoolStep)
    assert step.divisor == divisor
    if isinstance(pool, nn.AdaptiveAvgPool2d):
        assert step.window.rows.tolist() == [2, 3, 4]


# --------------------------------------------------------------- threads and errors


def test_threads_get_the_single_thread_answers(digit):
    net = digits.digit_net()
    cells = [("relu2", c, c, 27 - c) for c in range(6)]
    alone = [explain_cell(net, digit, *cell) for cell in cells]
    results: dict[int, CellExplanation] = {}

    def work(i: int) -> None:
        results[i] = explain_cell(net, digit, *cells[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cells))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, expected in enumerate(alone):
        got = results[i]
        assert got.value == expected.value
        assert got.network == expected.network
    assert count_hooks(net) == 0


def test_bad_requests_are_refused_with_a_reason(digit):
    net = digits.digit_net()
    with pytest.raises(KeyError, match="no layer called"):
        explain_cell(net, digit, "conv9", 0)
    with pytest.raises(ValueError, match="24 channels, not 25"):
        explain_cell(net, digit, "conv1", 24)
    with pytest.raises(ValueError, match="no row 28"):
        explain_cell(net, digit, "conv1", 0, 28, 0)
    with pytest.raises(ValueError, match="not a \\(1, C, H, W\\) feature map"):
        explain_cell(net, digit, "fc1", 0)
    assert count_hooks(net) == 0


# --------------------------------------------------------------------------- softmax


def test_softmax_at_one_is_torchs_and_temperature_flattens_or_sharpens():
    logits = np.array([2.0, 1.0, 0.1, -3.0])
    view = softmax_at(logits, 1.0)
    np.testing.assert_allclose(view.probabilities, torch.tensor(logits).softmax(0).numpy())
    assert view.order.tolist() == [0, 1, 2, 3]
    # by hand: e^(z/2 - 1) / sum
    numerators = np.exp(logits / 2 - 1)
    np.testing.assert_allclose(softmax_at(logits, 2.0).probabilities, numerators / numerators.sum())
    np.testing.assert_allclose(softmax_at(logits, 2.0).exponentials, numerators)
    assert softmax_at(logits, 1e4).entropy == pytest.approx(2.0, abs=1e-3)  # uniform: log2 4
    assert softmax_at(logits, 0.01).probabilities[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive"):
        softmax_at(logits, 0.0)
    with pytest.raises(ValueError, match="finite"):
        softmax_at(np.array([1.0, np.inf]), 1.0)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    logits=hs.lists(hs.floats(-50, 50), min_size=2, max_size=20),
    temperature=hs.floats(0.05, 20),
    shift=hs.floats(-100, 100),
)
def test_softmax_properties(logits, temperature, shift):
    z = np.array(logits)
    view = softmax_at(z, temperature)
    assert view.probabilities.sum() == pytest.approx(1.0)
    assert (view.probabilities >= 0).all()
    # the order of the classes never changes; adding a constant changes nothing
    assert (np.diff(view.probabilities[view.order]) <= 1e-12).all()
    np.testing.assert_allclose(
        softmax_at(z + shift, temperature).probabilities, view.probabilities, atol=1e-9
    )
    assert 0 <= view.entropy <= math.log2(len(z)) + 1e-9
