"""Stack arithmetic against PyTorch's own modules: shapes, errors, parameters, receptive fields."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from torch import nn

from core.arithmetic import (
    GeometryError,
    Layer,
    analyze_stack,
    final_shape_text,
    format_pair,
    format_shape,
    module_code,
    output_shapes,
    parse_layer,
    pytorch_code,
    torch_module,
)
from tests.strategies import DETERMINISTIC, Ranges, Stack, layer_stacks

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# hypothesis takes about 4 ms an example here: these keep each property test to seconds
MATCH_EXAMPLES = 2000  # about 500 valid and 1,500 invalid stacks
PARAMETER_EXAMPLES = 340  # about 300 valid rows


# ----------------------------------------------------------------- random stacks

# rows as typed in the calculator, often impossible (conv2d drawn most, flatten least)
TABLE_STACKS = layer_stacks(
    ops=("conv2d",) * 5 + ("maxpool2d",) * 3 + ("avgpool2d",) * 3 + ("convtranspose2d",) * 4
    + ("upsample",) * 2 + ("flatten",),
    layers=(1, 6),
    channels=(1, 2, 3, 6),
    sides=(1, 20),
    ranges=Ranges(kernel=(1, 5), padding=(0, 3)),
    table_rows=True,
)  # fmt: skip


def _torch_run(shape: tuple[int, int, int], layers: list[dict[str, Any]]):
    """Run the stack through real PyTorch modules.

    Returns:
        (shapes after each row, 1-based row where torch raised or None).
    """
    x = torch.zeros(1, *shape)
    shapes = []
    for row, layer in enumerate(layers, start=1):
        try:
            module = torch_module(layer, x.shape[1])
            x = module(x)
        except (RuntimeError, ValueError):
            return shapes, row
        if x.numel() == 0 or min(x.shape) < 1:
            return shapes, row
        shapes.append(tuple(x.shape[1:]))
    return shapes, None


def test_random_stacks_match_torch() -> None:
    """>= 400 valid random stacks give torch's shapes; >= 1,000 invalid ones fail where torch
    fails (hypothesis favours the edges: sizes 1, kernels that barely fit, ...)."""
    counts = {"valid": 0, "invalid": 0}

    @settings(DETERMINISTIC, max_examples=MATCH_EXAMPLES)
    @given(TABLE_STACKS)
    def check(stack: Stack) -> None:
        shape, layers = stack
        torch_shapes, torch_row = _torch_run(shape, layers)
        report = analyze_stack(shape, layers)
        ours = [r.output_shape for r in report.results]
        our_row = report.error.row if report.error else None
        assert (ours, our_row) == (torch_shapes, torch_row), (
            f"{shape} {layers}: ours {ours} row {our_row}, "
            f"torch {torch_shapes} row {torch_row} ({report.error})"
        )
        counts["valid" if report.error is None else "invalid"] += 1

    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # padding="same" with even kernels warns
        check()
    assert counts["valid"] >= 400
    assert counts["invalid"] >= 1000


def test_corner_cases_match_torch() -> None:
    """Hand-picked corners: ceil mode's last window, dilated pooling, transposed conv."""
    cases = [
        # ceil mode: a last window starting in the right padding is dropped
        (
            (1, 6, 6),
            [{"op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}],
        ),
        ((1, 5, 5), [{"op": "avgpool2d", "kernel_size": 2, "stride": 2, "ceil_mode": True}]),
        (
            (1, 7, 8),
            [{"op": "maxpool2d", "kernel_size": 3, "stride": 3, "padding": 1, "ceil_mode": True}],
        ),
        (
            (1, 9, 11),
            [
                {
                    "op": "maxpool2d",
                    "kernel_size": (3, 2),
                    "dilation": (2, 3),
                    "stride": (1, 2),
                    "padding": (1, 1),
                }
            ],
        ),
        (
            (2, 4, 5),
            [
                {
                    "op": "convtranspose2d",
                    "out_channels": 3,
                    "kernel_size": (3, 2),
                    "stride": (2, 3),
                    "padding": (1, 0),
                    "output_padding": (1, 2),
                    "dilation": (2, 1),
                }
            ],
        ),
        (
            (2, 3, 3),
            [
                {
                    "op": "convtranspose2d",
                    "out_channels": 2,
                    "kernel_size": 3,
                    "stride": 1,
                    "dilation": 2,
                    "output_padding": 1,
                }
            ],
        ),
        (
            (3, 7, 6),
            [
                {
                    "op": "conv2d",
                    "out_channels": 4,
                    "kernel_size": (2, 4),
                    "padding": "same",
                    "dilation": (1, 3),
                }
            ],
        ),
        ((3, 5, 7), [{"op": "upsample", "scale_factor": (1.5, 2.7)}]),
        ((3, 33, 20), [{"op": "upsample", "scale_factor": 0.6}]),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for shape, layers in cases:
            expected, row = _torch_run(shape, layers)
            assert row is None
            assert output_shapes(shape, layers) == expected, layers


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [
                {"op": "conv2d", "out_channels": 4, "kernel_size": 3},
                {"op": "avgpool2d", "kernel_size": 2},
                {"op": "maxpool2d", "kernel_size": 3, "padding": 2},
            ],
            "row 3 (maxpool2d): padding 2 is more than half the kernel 3",
        ),
        (
            [{"op": "conv2d", "out_channels": 4, "kernel_size": 0}],
            "row 1 (conv2d): kernel_size 0 must be at least 1",
        ),
        (
            [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": "1x0"}],
            "row 1 (conv2d): stride 0 (width) must be at least 1",
        ),
        (
            [{"op": "conv2d", "out_channels": 4, "kernel_size": 9}],
            "row 1 (conv2d): kernel 9 is larger than the padded input: height 8 + padding 0 = 8",
        ),
        (
            [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "dilation": 4}],
            "row 1 (conv2d): kernel 3 (dilated to 9) is larger than the padded input",
        ),
        (
            [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "groups": 2}],
            "row 1 (conv2d): groups 2 does not divide the 3 input channels",
        ),
        (
            [{"op": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"}],
            "row 1 (conv2d): padding 'same' needs stride 1",
        ),
        (
            [
                {
                    "op": "convtranspose2d",
                    "out_channels": 2,
                    "kernel_size": 3,
                    "stride": 2,
                    "output_padding": 2,
                }
            ],
            "row 1 (convtranspose2d): output_padding 2 must be smaller than the stride 2 or "
            "the dilation 1",
        ),
        (
            [{"op": "convtranspose2d", "out_channels": 2, "kernel_size": 1, "padding": 5}],
            "row 1 (convtranspose2d): output height would be -2",
        ),
        (
            [{"op": "maxpool2d", "kernel_size": 2, "stride": 2}] * 4,
            "row 4 (maxpool2d): output height would be 0",
        ),
        (
            [{"op": "upsample", "scale_factor": 0.1}],
            "row 1 (upsample): scale_factor 0.1 turns height 8 into 0",
        ),
        (
            [{"op": "upsample", "scale_factor": 0}],
            "row 1 (upsample): scale_factor 0 must be positive",
        ),
        (
            [{"op": "flatten"}, {"op": "conv2d", "out_channels": 2, "kernel_size": 1}],
            "row 2 (conv2d): conv2d needs a C x H x W input but gets the flat (192,)",
        ),
        (
            [{"op": "linear", "out_features": 2}],
            "row 1 (linear): linear needs a flat input but gets 3 x 8 x 8",
        ),
        (
            [{"op": "conv2d", "kernel_size": 3}],
            "row 1 (conv2d): out_channels is required for conv2d",
        ),
        (
            [{"op": "maxpool2d", "kernel_size": 2, "out_channels": 5}],
            "row 1 (maxpool2d): maxpool2d has no out_channels",
        ),
        (
            [{"op": "avgpool2d", "kernel_size": 2, "dilation": 2}],
            "row 1 (avgpool2d): avgpool2d has no dilation",
        ),
        ([{"op": "conv3d", "kernel_size": 2}], "row 1: unknown op 'conv3d'"),
        (
            [{"op": "conv2d", "out_channels": 2, "kernel_size": "3.5"}],
            "row 1 (conv2d): kernel_size '3.5' is not a whole number",
        ),
        (
            [{"op": "conv2d", "out_channels": 2, "kernal_size": 3}],
            "row 1 (conv2d): unknown parameter 'kernal_size'",
        ),
    ],
)
def test_error_messages_name_row_parameter_and_reason(layers, message) -> None:
    with pytest.raises(GeometryError) as info:
        output_shapes((3, 8, 8), layers)
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.row is not None


def test_error_attributes_and_rows_after_error_not_computed() -> None:
    layers = [
        {"op": "conv2d", "out_channels": 4, "kernel_size": 3},
        {"op": "maxpool2d", "kernel_size": 3, "padding": 2},
        {"op": "conv2d", "out_channels": 4, "kernel_size": 3},
    ]
    report = analyze_stack((3, 16, 16), layers)
    assert len(report.results) == 1
    err = report.error
    assert (err.row, err.op, err.parameter) == (2, "maxpool2d", "padding")
    assert isinstance(err, ValueError)


def test_bad_input_shape() -> None:
    with pytest.raises(GeometryError, match="input: height 0 must be at least 1"):
        output_shapes((3, 0, 5), [])


def test_empty_cells_and_neutral_values_are_ignored() -> None:
    """A table row keeps blank (NaN/None/"") cells and neutral ones of other ops."""
    row = {
        "op": "maxpool2d",
        "kernel_size": "2",
        "stride": None,
        "padding": float("nan"),
        "out_channels": None,
        "groups": 1,
        "ceil_mode": False,
        "output_padding": "",
        "scale_factor": None,
        "bias": True,
        "dilation": "1",
        "out_features": float("nan"),
    }
    assert output_shapes((3, 8, 8), [row]) == [(3, 4, 4)]
    assert parse_layer(row) == Layer(
        "maxpool2d", kernel_size=(2, 2), dilation=(1, 1), ceil_mode=False, groups=1, bias=True
    )


def test_layer_round_trips_through_a_table_row() -> None:
    layer = parse_layer(
        {
            "op": "ConvTranspose2d",
            "out_channels": 8.0,
            "kernel_size": "(3, 5)",
            "stride": [2, 1],
            "output_padding": "1x0",
        }
    )
    assert layer == Layer(
        "convtranspose2d", out_channels=8, kernel_size=(3, 5), stride=(2, 1), output_padding=(1, 0)
    )
    assert parse_layer(layer.to_row()) == layer
    assert layer.to_row()["kernel_size"] == "3x5"


def test_parameter_counts_match_torch() -> None:
    checked: list[int] = []

    @settings(DETERMINISTIC, max_examples=PARAMETER_EXAMPLES)
    @given(TABLE_STACKS)
    def check(stack: Stack) -> None:
        shape, layers = stack
        report = analyze_stack(shape, layers)
        for result in report.results:
            module = torch_module(result.layer, result.input_shape[0])
            assert result.params == sum(p.numel() for p in module.parameters())
            checked.append(result.row)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check()
    assert len(checked) >= 300


LENET5 = [
    {"op": "conv2d", "out_channels": 6, "kernel_size": 5},
    {"op": "avgpool2d", "kernel_size": 2},
    {"op": "conv2d", "out_channels": 16, "kernel_size": 5},
    {"op": "avgpool2d", "kernel_size": 2},
    {"op": "flatten"},
    {"op": "linear", "out_features": 120},
    {"op": "linear", "out_features": 84},
    {"op": "linear", "out_features": 10},
]


def test_lenet5_by_hand() -> None:
    """LeNet-5 on 1x32x32: the textbook shapes and its 61,706 parameters."""
    report = analyze_stack((1, 32, 32), LENET5)
    shapes = [r.output_shape for r in report.results]
    assert shapes == [
        (6, 28, 28),
        (6, 14, 14),
        (16, 10, 10),
        (16, 5, 5),
        (400,),
        (120,),
        (84,),
        (10,),
    ]
    assert sum(r.params for r in report.results) == 61706
    # receptive field of the last conv: 5 + (2-1)*1 + (5-1)*2 = 14, jump 2; pool: 16, jump 4
    field = report.results[3].field
    assert (field[0].size, field[0].jump, field[0].start) == (16, 4, 7.5)


def _vgg16_features() -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    for channels, repeats in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        conv = {"op": "conv2d", "out_channels": channels, "kernel_size": 3, "padding": 1}
        layers += [conv] * repeats + [{"op": "maxpool2d", "kernel_size": 2}]
    return layers


def test_vgg16_receptive_field_is_the_known_212() -> None:
    """VGG-16's pool5 field is 212 pixels with jump 32 (Araujo et al. 2019, table 1
    lists 212 for VGG-16); the shapes and 14.7 M parameters match torchvision."""
    import torchvision

    report = analyze_stack((3, 224, 224), _vgg16_features())
    last = report.results[-1]
    assert last.output_shape == (512, 7, 7)
    assert (last.field[0].size, last.field[0].jump) == (212, 32)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    assert sum(r.params for r in report.results) == sum(p.numel() for p in features.parameters())


def test_classic_field_matches_start_formula_for_conv() -> None:
    """k=3, p=1 keeps centres on pixel centres (start 0); k=3, p=0 starts at 1."""
    report = analyze_stack(
        (1, 10, 10),
        [
            {"op": "conv2d", "out_channels": 1, "kernel_size": 3, "padding": 1},
            {"op": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 2},
        ],
    )
    first, second = (r.field[0] for r in report.results)
    assert (first.size, first.jump, first.start) == (3, 1, 0)
    assert (second.size, second.jump, second.start) == (5, 2, 1)


def test_pytorch_code_builds_the_same_shapes() -> None:
    layers = LENET5[:4] + [
        {"op": "upsample", "scale_factor": (2, 1.5)},
        {"op": "conv2d", "out_channels": 4, "kernel_size": "3x1", "padding": "same"},
        {"op": "flatten"},
        {"op": "linear", "out_features": 3, "bias": False},
    ]
    namespace: dict[str, Any] = {}
    exec(pytorch_code((1, 32, 32), layers), namespace)
    net: nn.Sequential = namespace["net"]
    shapes = []
    x = torch.zeros(1, 1, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in net:
            x = module(x)
            shapes.append(tuple(x.shape[1:]))
    assert shapes == output_shapes((1, 32, 32), layers)
    assert module_code(LENET5[0], 1) == "nn.Conv2d(1, 6, kernel_size=5)"


def test_pairs_and_shapes_are_written_one_way() -> None:
    """The one formatter of pairs and shapes (rows, layer table, pages)."""
    assert format_pair((3, 3)) == "3"
    assert format_pair((3, 5)) == "3x5"
    assert format_pair((2.0, 1.5)) == "2x1.5"
    assert format_pair((7.5, 7.5)) == "7.5"
    assert format_pair((0.5, 0.5), decimals=2) == "0.50"
    assert format_shape((6, 28, 28)) == "6 x 28 x 28"
    assert format_shape((64, 56, 56), "x") == "64x56x56"
    assert format_shape((400,)) == "400"
    report = analyze_stack((1, 32, 32), LENET5)
    assert report.final_shape == (10,)
    assert analyze_stack((1, 8, 8), []).final_shape == (1, 8, 8)


def test_final_shape_and_code_say_where_an_invalid_row_stops_them() -> None:
    """Issue 25: with row 1 invalid, "Final shape" showed the input and the code was an
    empty ``nn.Sequential()`` with nothing saying why."""
    broken = [{"op": "conv2d", "out_channels": 6, "kernel_size": 0}, *LENET5[1:]]
    report = analyze_stack((1, 32, 32), broken)
    text = final_shape_text(report)
    assert text == "Final shape: not reached: row 1 is invalid, so no row has an output yet."
    assert "1 x 32 x 32" not in text
    code = pytorch_code((1, 32, 32), broken)
    assert "# stopped at row 1, which is invalid: kernel_size 0 must be at least 1" in code
    assert "# rows 1-8 left out until it is fixed" in code
    # a later row: the last valid output, and the code up to it (still runnable)
    later = [*LENET5[:2], {"op": "conv2d", "out_channels": 16, "kernel_size": 50}]
    report = analyze_stack((1, 32, 32), later)
    assert final_shape_text(report) == (
        "Final shape: not reached: row 3 is invalid. The last valid row, row 2, gives 6 x 14 x 14."
    )
    namespace: dict[str, Any] = {}
    exec(pytorch_code((1, 32, 32), later), namespace)
    assert len(namespace["net"]) == 2
    assert "# row 3 left out until it is fixed" in pytorch_code((1, 32, 32), later)
    assert final_shape_text(analyze_stack((1, 32, 32), LENET5)) == "Final shape: 10"
