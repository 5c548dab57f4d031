"""Layer tables: golden files, parameter totals, hooks, reused modules, receptive fields."""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path

import pytest
import torch
import torchvision
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from core.arithmetic import (
    FieldTracker,
    analyze_stack,
    layer_table,
    leaf_layers,
    model_layer_table,
    summarize_table,
    to_csv,
    torch_stack,
)
from core.common.hooks import count_hooks
from core.models import load_model
from tests.strategies import DETERMINISTIC, Ranges, Stack, layer_stacks

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "regenerate_layer_table_golden", ROOT / "scripts" / "regenerate_layer_table_golden.py"
)
golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(golden)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0", pretrained=False)


@pytest.fixture(scope="module")
def resnet18():
    return load_model("resnet18", pretrained=False)


@pytest.fixture(scope="module")
def lite0_rows(lite0):
    before = count_hooks(lite0.net)
    rows = model_layer_table(lite0)
    assert count_hooks(lite0.net) == before == 0
    return rows


@pytest.fixture(scope="module")
def resnet18_rows(resnet18):
    before = count_hooks(resnet18.net)
    rows = model_layer_table(resnet18)
    assert count_hooks(resnet18.net) == before == 0
    return rows


@pytest.mark.parametrize("name", sorted(golden.GOLDEN_MODELS))
def test_layer_table_matches_golden_file(name, request) -> None:
    """Exact match; regenerate with `python scripts/regenerate_layer_table_golden.py`."""
    fixture = {"efficientnet_lite0": "lite0_rows", "resnet18": "resnet18_rows"}[name]
    rows = request.getfixturevalue(fixture)
    assert to_csv(rows) == golden.golden_path(name).read_text()


def test_parameters_add_up_and_shapes_chain(lite0, resnet18, lite0_rows, resnet18_rows) -> None:
    for model, rows in ((lite0, lite0_rows), (resnet18, resnet18_rows)):
        assert sum(r.params for r in rows) == sum(p.numel() for p in model.net.parameters())
        assert rows[0].input_shape == (3, 224, 224)
        assert rows[-1].output_shape == (1000,)
        assert [r.index for r in rows] == list(range(1, len(rows) + 1))


def test_static_same_padding_conv_is_one_row_with_its_pad(lite0, lite0_rows) -> None:
    rows = {(r.name, r.call): r for r in lite0_rows}
    stem = rows[("stem.0", 1)]
    assert stem.type == "Conv2dStaticSamePadding"
    assert (stem.kernel_size, stem.stride, stem.padding) == ("3", "2", "(0, 1, 0, 1)")
    assert stem.output_shape == (32, 112, 112)
    assert not any(name.endswith("static_padding") for name, _ in rows)
    assert "stem.0" in leaf_layers(lite0.net)


def test_reused_module_gets_one_row_per_call(lite0_rows) -> None:
    rows = [r for r in lite0_rows if r.name == "blocks.1._swish"]
    assert [r.call for r in rows] == [1, 2]
    assert rows[0].output_shape == (96, 112, 112)
    assert rows[1].output_shape == (96, 56, 56)


def test_resnet18_receptive_fields(resnet18_rows) -> None:
    """435 px for ResNet-18 (a known value), grown along the residual path, not call order."""
    rows = {(r.name, r.call): r for r in resnet18_rows}
    assert (rows[("conv1", 1)].receptive_field, rows[("conv1", 1)].jump) == ("7", "2")
    assert rows[("maxpool", 1)].receptive_field == "11"
    # the 1x1 stride-2 shortcut runs after conv2 but must not shift the main path's jump
    assert rows[("layer2.0.downsample.0", 1)].jump == "8"
    assert rows[("layer2.0.relu", 2)].jump == "8"
    assert (rows[("layer4.1.relu", 2)].receptive_field, rows[("layer4.1.relu", 2)].jump) == (
        "435",
        "32",
    )
    assert rows[("avgpool", 1)].receptive_field == "global"
    assert rows[("fc", 1)].receptive_field == ""


def test_vgg16_receptive_field_matches_geometry() -> None:
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"]).eval()
    rows = layer_table(features, (3, 224, 224))
    assert rows[-1].receptive_field == "212"
    assert rows[-1].jump == "32"


# exact rows on a 2 x 24 x 24 input; integer upsampling, small paddings and dilations
TRACKED_STACKS = layer_stacks(
    channels=(2,),
    sides=(24, 24),
    ranges=Ranges(padding=(0, 1), dilation=(1, 2), output_padding=(0, 0)),
    upsample_scales=st.sampled_from([2, 3]),
)
TRACKER_EXAMPLES = 150


@settings(DETERMINISTIC, max_examples=TRACKER_EXAMPLES)
@given(TRACKED_STACKS)
def test_tracker_equals_classic_arithmetic_on_random_stacks(stack: Stack) -> None:
    """Fields followed through torch's real ops equal core.arithmetic's formulas."""
    shape, layers = stack
    report = analyze_stack(shape, layers)
    assume(report.error is None)
    net = torch_stack(shape, layers).eval()
    tracker = FieldTracker()
    x = torch.zeros(1, *shape)
    with torch.inference_mode(), tracker:
        tracker.watch(x)
        y = net(x)
    field = tracker.field(y)
    expected = report.results[-1].field
    for axis in range(2):
        assert math.isclose(field[axis].size, expected[axis].size), layers
        assert math.isclose(field[axis].jump, expected[axis].jump), layers
        assert math.isclose(field[axis].start, expected[axis].start), layers


def test_summary_takes_the_largest_receptive_field_not_the_last() -> None:
    """A row run late can see less than an earlier one (here a 1x1 branch after a 7x7
    conv): the summary names the largest field, skips global (and undefined) ones and
    counts parameters."""

    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wide = nn.Conv2d(1, 1, 7)  # 49 + 1 parameters
            self.pool = nn.AdaptiveAvgPool2d(1)  # global
            self.gate = nn.Conv2d(1, 1, 1)  # 2 parameters, on the global 1 x 1 map
            self.narrow = nn.Conv2d(1, 1, 1, bias=False)  # 1 parameter
            self.unused = nn.Linear(2, 2)  # 6 parameters, never called

        def forward(self, x):
            return self.gate(self.pool(self.wide(x))).flatten() + self.narrow(x).mean()

    net = Branches()
    rows = layer_table(net, (1, 16, 16))
    assert [r.name for r in rows] == ["wide", "pool", "gate", "narrow"]
    assert (rows[0].receptive_field, rows[1].receptive_field) == ("7", "global")
    assert rows[-1].receptive_field == "1"
    summary = summarize_table(rows, net)
    assert summary.largest_field == (7, 7)
    assert summary.largest_field_row is rows[0]
    assert (summary.calls, summary.params, summary.model_params) == (4, 53, 59)
    assert summary.uncalled_params == 6
    assert summarize_table([], net).largest_field is None


def test_union_of_branches_padding_and_unknown_ops() -> None:
    a = nn.Conv2d(1, 1, 5, padding=2)  # 5 px centred on each pixel
    b = nn.Conv2d(1, 1, 2)  # 2 px, centre half a pixel right/down
    x = torch.zeros(1, 1, 9, 9)
    tracker = FieldTracker()
    with torch.inference_mode(), tracker:
        tracker.watch(x)
        branch_a = a(x)[:, :, :8, :8]  # channel/spatial slice: size changes -> unknown
        total = torch.relu(a(x)[:, :, :-1, :-1] + 0)  # also a slice: unknown
        summed = torch.relu(a(x)) + torch.nn.functional.pad(b(x), (0, 1, 0, 1))
        shifted = torch.nn.functional.pad(x, (3, 0, 2, 0))
        pooled = x.mean((2, 3), keepdim=True)
        gated = a(x) * torch.sigmoid(pooled)
    assert tracker.field(branch_a) is None
    assert tracker.field(total) is None
    height, width = tracker.field(summed)
    # union of [-2, 2] and [0, 1] = [-2, 2]: 5 px centred on 0, jump 1
    assert (height.size, height.jump, height.start) == (5, 1, 0)
    height, width = tracker.field(shifted)
    assert (height.start, width.start) == (-2, -3)
    assert tracker.field(pooled)[0].size == math.inf
    assert tracker.field(gated)[0].size == math.inf  # squeeze-excitation: global


def test_hooks_removed_even_when_forward_fails() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x).view(7, -1)  # wrong shape: raises

    net = Broken()
    with pytest.raises(RuntimeError):
        layer_table(net, (3, 8, 8))
    assert count_hooks(net) == 0


def test_other_threads_do_not_add_rows(resnet18) -> None:
    """A cached model is shared: another session's forward pass must not leak in."""
    expected = len(layer_table(resnet18.net, (3, 32, 32)))
    stop = threading.Event()

    def other_session() -> None:
        x = torch.zeros(1, 3, 32, 32)
        with torch.inference_mode():
            while not stop.is_set():
                resnet18.net(x)

    thread = threading.Thread(target=other_session)
    thread.start()
    try:
        for _ in range(3):
            assert len(layer_table(resnet18.net, (3, 32, 32))) == expected
    finally:
        stop.set()
        thread.join()
    assert count_hooks(resnet18.net) == 0
