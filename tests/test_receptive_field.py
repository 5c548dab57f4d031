"""Receptive fields equal the box of non-zero input gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from core.arithmetic import (
    EMPTY_BOX,
    GeometryError,
    analyze_stack,
    empty_field_reason,
    field_spans,
    largest_fields,
    layer_output,
    model_receptive_field,
    nonzero_box,
    parse_layer,
    receptive_field,
    torch_module,
)
from core.common.hooks import count_hooks
from tests.strategies import DETERMINISTIC, Ranges, Stack, layer_stacks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _SumPool(nn.Module):
    """Max pooling's windows with every element passing gradient.

    A max pool sends gradient only to each window's maximum, but the output *depends on*
    every element of the window. This sums the same windows (same kernel, stride,
    padding and dilation; ceil mode's extra last window via extra zero padding on the
    bottom/right), so its gradient support is the true dependency.
    """

    def __init__(self, pool: nn.MaxPool2d, channels: int, out_hw: tuple[int, int]) -> None:
        super().__init__()
        self.pool, self.channels, self.out_hw = pool, channels, out_hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pool
        kernel, stride = nn.modules.utils._pair(p.kernel_size), nn.modules.utils._pair(p.stride)
        pad, dil = nn.modules.utils._pair(p.padding), nn.modules.utils._pair(p.dilation)
        extra = []
        for axis in (1, 0):  # F.pad order: width then height
            extent = dil[axis] * (kernel[axis] - 1) + 1
            need = (self.out_hw[axis] - 1) * stride[axis] + extent
            have = x.shape[2 + axis] + 2 * pad[axis]
            extra += [pad[axis], pad[axis] + max(0, need - have)]
        weight = torch.ones(self.channels, 1, *kernel, dtype=x.dtype)
        y = F.conv2d(F.pad(x, extra), weight, stride=stride, dilation=dil, groups=self.channels)
        assert y.shape[2:] == self.out_hw
        return y


def _gradient_net(shape, layers) -> nn.Sequential:
    """The stack with positive weights, zero biases and max pools as sum pools."""
    report = analyze_stack(shape, layers)
    modules: list[nn.Module] = []
    for result in report.results:
        module = torch_module(result.layer, result.input_shape[0]).double()
        for name, param in module.named_parameters():
            with torch.no_grad():
                param.copy_(torch.rand_like(param) + 0.5 if name == "weight" else 0)
        if isinstance(module, nn.MaxPool2d):
            module = _SumPool(module, result.input_shape[0], tuple(result.output_shape[1:]))
        modules.append(module)
    return nn.Sequential(*modules)


# exact rows of every spatial op, conv2d drawn twice as often
SPATIAL_STACKS = layer_stacks(
    ops=("conv2d", "conv2d", "maxpool2d", "avgpool2d", "convtranspose2d", "upsample"),
    ranges=Ranges(output_padding=(0, 1)),
)
CELLS_PER_STACK = 10
FIELD_EXAMPLES = 200  # valid stacks: 200 x 10 cells = 2,000 boxes compared


def test_receptive_field_equals_gradient_box_on_random_stacks() -> None:
    counts = {"checked": 0, "empty": 0}

    @settings(DETERMINISTIC, max_examples=FIELD_EXAMPLES)
    @given(SPATIAL_STACKS, st.data())
    def check(stack: Stack, data: st.DataObject) -> None:
        shape, layers = stack
        report = analyze_stack(shape, layers)
        assume(report.error is None)
        torch.manual_seed(0)
        net = _gradient_net(shape, layers)
        last = len(layers) - 1
        _, height, width = report.results[last].output_shape
        cell = st.tuples(st.integers(0, height - 1), st.integers(0, width - 1))
        cells = data.draw(st.lists(cell, min_size=CELLS_PER_STACK, max_size=CELLS_PER_STACK))
        # one backward for all cells: each batch sample asks about its own cell
        x = torch.ones(len(cells), *shape, dtype=torch.float64, requires_grad=True)
        out = net(x)
        torch.stack([out[i, :, y, c].sum() for i, (y, c) in enumerate(cells)]).sum().backward()
        for i, (y, c) in enumerate(cells):
            expected = nonzero_box(x.grad[i].sum(0).numpy() != 0)
            got = receptive_field(layers, shape[1:], last, y, c)
            assert got == expected, (shape, layers, (y, c))
            counts["checked"] += 1
            counts["empty"] += got == EMPTY_BOX

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check()
    assert counts["checked"] >= 2000
    assert counts["empty"] < counts["checked"]  # mostly real boxes


def test_real_max_pool_support_is_inside_the_box() -> None:
    """With torch's own max pool the gradient reaches one pixel per window, inside the box."""
    layers = [
        {"op": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    ]
    net = nn.Sequential(*(torch_module(layer, 3) for layer in layers))
    x = torch.randn(1, 3, 10, 10, requires_grad=True)
    net(x)[0, :, 2, 4].sum().backward()
    y0, y1, x0, x1 = receptive_field(layers, (3, 10, 10), 1, 2, 4)
    support = x.grad[0].abs().sum(0).numpy() != 0
    assert support.any()
    assert not support[:y0].any()
    assert not support[y1:].any()
    assert not support[:, :x0].any()
    assert not support[:, x1:].any()


def test_hand_computed_boxes() -> None:
    conv = {"op": "conv2d", "out_channels": 1, "kernel_size": 3}
    # two 3x3 convs (no padding): cell (0, 0) reads rows 0..4
    assert receptive_field([conv, conv], (8, 8), 1, 0, 0) == (0, 5, 0, 5)
    # with padding 1, the corner cell's window hangs over the border: clipped
    padded = {**conv, "padding": 1}
    assert receptive_field([padded, padded], (8, 8), 1, 0, 0) == (0, 3, 0, 3)
    assert receptive_field([padded, padded], (8, 8), 1, 4, 7) == (2, 7, 5, 8)
    # dilation 2, padding 3, kernel 3: taps -3, -1, 1 -> only pixel 1 is real
    odd = {**conv, "dilation": 2, "padding": 3}
    assert receptive_field([odd], (8, 8), 0, 0, 0) == (1, 2, 1, 2)
    # a 1x1 kernel with padding 2: the corner cell only sees padding
    assert receptive_field([{**conv, "kernel_size": 1, "padding": 2}], (4, 4), 0, 0, 0) == EMPTY_BOX
    # non-square: kernel 1x5, stride 1x2 on 6x12
    wide = {**conv, "kernel_size": (1, 5), "stride": (1, 2)}
    assert receptive_field([wide], (6, 12), 0, 3, 2) == (3, 4, 4, 9)
    # nearest upsampling by 2 then a 3x3 conv: cell 1 reads upsampled 1..3 = input 0..1
    up = {"op": "upsample", "scale_factor": 2}
    assert receptive_field([up, conv], (5, 5), 1, 1, 1) == (0, 2, 0, 2)


def test_receptive_field_errors() -> None:
    layers = [{"op": "conv2d", "out_channels": 1, "kernel_size": 3}, {"op": "flatten"}]
    with pytest.raises(ValueError, match="flat output"):
        receptive_field(layers, (5, 5), 1, 0, 0)
    with pytest.raises(ValueError, match="outside the 3 x 3 output"):
        receptive_field(layers, (5, 5), 0, 3, 0)
    with pytest.raises(GeometryError, match="row 1"):
        receptive_field([{"op": "maxpool2d", "kernel_size": 9}], (5, 5), 0, 0, 0)


def test_largest_fields_and_spans() -> None:
    conv = {"op": "conv2d", "out_channels": 1, "kernel_size": 3, "padding": 1}
    assert largest_fields([conv, conv, {"op": "flatten"}], (1, 9, 4)) == [(3, 3), (5, 4), None]
    spans = field_spans([conv], (9, 4))[0]
    assert spans[0].span(0) == (0, 2)
    assert parse_layer(conv).pads() == ((1, 1), (1, 1))


# -------------------------------------------------------------------- real networks


class _Residual(nn.Module):
    """A tiny residual network: 3x3 branch + strided 1x1 shortcut, positive weights."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.branch = nn.Sequential(
            nn.Conv2d(2, 2, 5, stride=2, padding=2), nn.Conv2d(2, 2, 3, padding=1)
        )
        self.shortcut = nn.Conv2d(2, 2, 1, stride=2)
        for p in self.parameters():
            p.data = p.data.abs() + 0.1
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.branch(h) + self.shortcut(h)


def test_model_receptive_field_follows_residual_branches() -> None:
    net = _Residual().eval()
    x = torch.rand(1, 1, 20, 20) + 0.1
    before = count_hooks(net)
    field = model_receptive_field(net, x, "branch.1", 5, 5)
    # branch: stem 3 -> 5x5 stride 2 -> 3x3: cell 5 centres on pixel 10, field 3+4+2*2=11
    assert field.box == (5, 16, 5, 16)
    assert field.layer_shape == (2, 10, 10)
    assert field.gradient.shape == (20, 20)
    assert count_hooks(net) == before
    assert all(not p.requires_grad for p in net.parameters())


def test_model_receptive_field_on_a_stack_equals_receptive_field() -> None:
    layers = [
        {"op": "conv2d", "out_channels": 2, "kernel_size": 3, "stride": 2},
        {"op": "avgpool2d", "kernel_size": 2, "padding": 1},
        {"op": "conv2d", "out_channels": 2, "kernel_size": (1, 3), "dilation": 2},
    ]
    net = _gradient_net((1, 24, 24), layers).float()
    x = torch.ones(1, 1, 24, 24)
    for y, c in [(0, 0), (2, 1), (5, 1)]:
        got = model_receptive_field(net, x, "2", y, c).box
        assert got == receptive_field(layers, (24, 24), 2, y, c)


def test_layer_output_stops_early_and_counts_calls() -> None:
    calls = []

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.ReLU()
            self.conv = nn.Conv2d(1, 1, 1)

        def forward(self, x):
            calls.append("start")
            x = self.act(x)
            x = self.act(x - 1)
            calls.append("end")
            return self.conv(x)

    net = Twice()
    x = torch.full((1, 1, 2, 2), 3.0)
    assert torch.equal(layer_output(net, x, "act", call=1), torch.full((1, 1, 2, 2), 2.0))
    assert calls == ["start"]  # stopped before the end of forward
    with pytest.raises(ValueError, match="call 3 does not exist"):
        layer_output(net, x, "act", call=2)
    with pytest.raises(KeyError):
        layer_output(net, x, "nope")
    assert count_hooks(net) == 0


def test_model_receptive_field_on_resnet18() -> None:
    """ResNet-18 (random init): a layer1 cell's gradient lies inside the theoretical box
    of conv1 -> maxpool -> conv (max pooling and ReLUs pass gradient to fewer pixels);
    a layer4 cell sees the whole 64 x 64 input."""
    from core.models import load_model

    model = load_model("resnet18", pretrained=False)
    x = torch.randn(1, 3, 64, 64)
    early = model_receptive_field(model.net, x, "layer1.0.conv1", 8, 8)
    assert early.layer_shape == (64, 16, 16)
    stem = [
        {"op": "conv2d", "out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3},
        {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
        {"op": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1},
    ]
    theory = receptive_field(stem, (3, 64, 64), 2, 8, 8)
    # cell 8 -> maxpool cells 7..9 -> conv1 cells 13..19 -> pixels 2*13-3 .. 2*19+3 = 23..41
    assert theory == (23, 42, 23, 42)
    y0, y1, x0, x1 = early.box
    assert y1 > y0
    assert x1 > x0
    assert theory[0] <= y0
    assert y1 <= theory[1]
    assert theory[2] <= x0
    assert x1 <= theory[3]
    late = model_receptive_field(model.net, x, "layer4", 1, 1)
    assert late.box == (0, 64, 0, 64)
    assert count_hooks(model.net) == 0
    assert np.isfinite(late.gradient).all()


def test_an_empty_field_says_what_the_kernel_falls_on() -> None:
    """Issue 25: a cell of inserted zeros (transposed convolution) was said to "only see
    padding". Each empty cell's reason is checked against the box being empty."""
    spread = [{"op": "convtranspose2d", "out_channels": 1, "kernel_size": 2, "stride": 3}]
    # input cell i lands on outputs 3i and 3i + 1: output 2 and 5 fall between two inputs
    for x in range(11):
        empty = receptive_field(spread, (1, 4, 4), 0, 0, x) == EMPTY_BOX
        reason = empty_field_reason(spread, (1, 4, 4), 0, 0, x)
        assert empty == (x in (2, 5, 8)), x
        if empty:
            assert reason == (
                "along the width its kernel falls only on zeros the transposed convolution "
                "inserts between input cells (stride 3)"
            )
            assert "padding" not in reason
        else:
            assert reason == ""
    # output_padding adds a last column beyond the last input cell: padding, no inserted zero
    edge = [{"op": "convtranspose2d", "out_channels": 1, "kernel_size": 1, "stride": 2,
             "output_padding": 1}]  # fmt: skip
    assert receptive_field(edge, (1, 4, 4), 0, 0, 7) == EMPTY_BOX
    assert empty_field_reason(edge, (1, 4, 4), 0, 0, 7).endswith("the padding around the input")
    # a plain convolution whose window is all padding
    padded = [{"op": "conv2d", "out_channels": 1, "kernel_size": 1, "padding": 2}]
    assert receptive_field(padded, (1, 4, 4), 0, 0, 0) == EMPTY_BOX
    assert empty_field_reason(padded, (1, 4, 4), 0, 0, 0) == (
        "along the height its kernel falls only on padding"
    )
    # followed down: a 1 x 1 conv over a cell of inserted zeros
    chain = [{"op": "convtranspose2d", "out_channels": 1, "kernel_size": 1, "stride": 2},
             {"op": "conv2d", "out_channels": 1, "kernel_size": 1}]  # fmt: skip
    assert receptive_field(chain, (1, 4, 4), 1, 0, 1) == EMPTY_BOX
    assert empty_field_reason(chain, (1, 4, 4), 1, 0, 1) == (
        "along the width its kernel falls only on cells of row 1 (convtranspose2d) that "
        "read no input themselves, whose kernel falls only on zeros the transposed "
        "convolution inserts between input cells (stride 2)"
    )
