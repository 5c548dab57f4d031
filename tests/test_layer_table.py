"""Layer tables: golden files, parameter totals, hooks, reused modules, receptive fields."""

from __future__ import annotations

import importlib.util
import math
import random
import threading
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from core.common.hooks import count_hooks
from core.geometry import analyze_stack, torch_stack
from core.layer_table import FieldTracker, layer_table, leaf_layers, model_layer_table, to_csv
from core.models import load_model

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


def test_tracker_equals_classic_arithmetic_on_random_stacks() -> None:
    """Fields followed through torch's real ops equal core.geometry's formulas."""
    rng = random.Random(5)
    compared = 0
    while compared < 150:
        layers = []
        for _ in range(rng.randint(1, 4)):
            op = rng.choice(["conv2d", "maxpool2d", "avgpool2d", "convtranspose2d", "upsample"])
            layer = {"op": op}
            if op == "upsample":
                layer["scale_factor"] = rng.choice([2, 3])
            else:
                layer["kernel_size"] = (rng.randint(1, 4), rng.randint(1, 4))
                layer["stride"] = (rng.randint(1, 3), rng.randint(1, 3))
                layer["padding"] = (rng.randint(0, 1), rng.randint(0, 1))
                if op in ("conv2d", "convtranspose2d"):
                    layer["out_channels"] = 2
                if op != "avgpool2d":
                    layer["dilation"] = (rng.randint(1, 2), rng.randint(1, 2))
            layers.append(layer)
        report = analyze_stack((2, 24, 24), layers)
        if report.error is not None:
            continue
        net = torch_stack((2, 24, 24), layers).eval()
        tracker = FieldTracker()
        x = torch.zeros(1, 2, 24, 24)
        with torch.inference_mode(), tracker:
            tracker.watch(x)
            y = net(x)
        field = tracker.field(y)
        expected = report.results[-1].field
        for axis in range(2):
            assert math.isclose(field[axis].size, expected[axis].size), layers
            assert math.isclose(field[axis].jump, expected[axis].jump), layers
            assert math.isclose(field[axis].start, expected[axis].start), layers
        compared += 1


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
