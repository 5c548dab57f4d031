"""A network's blocks (core.common.blocks): what the pages list first and what the sanity
cascade randomises."""

from __future__ import annotations

import torchvision
from torch import nn

from core.common.blocks import block_outputs, network_units
from core.digits import digit_net
from core.evaluation import cascade_blocks
from ui.common import default_model


def test_block_outputs_of_the_embedded_model_and_the_digit_cnn() -> None:
    lite0 = default_model().net
    blocks = block_outputs(lite0)
    assert blocks[:3] == ["stem", "blocks.0", "blocks.1"]
    assert blocks[16:18] == ["blocks.15", "head"]
    assert not any("bn" in name for name in blocks)  # no BatchNorm listed (issue 25)
    # the digit CNN is one Sequential: each conv joins the ReLU after it
    assert block_outputs(digit_net())[:3] == ["relu1", "relu2", "pool1"]


def test_a_batch_norm_and_a_relu_join_the_block_before_them() -> None:
    resnet = torchvision.models.resnet18(weights=None)
    assert block_outputs(resnet)[:6] == ["relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    vgg = torchvision.models.vgg11(weights=None)
    # conv + ReLU pairs give the ReLU; pools stand alone
    assert block_outputs(vgg)[:4] == ["features.1", "features.2", "features.4", "features.5"]
    tiny = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Conv2d(2, 2, 3),
                         nn.Dropout(), nn.Conv2d(2, 2, 1))  # fmt: skip
    assert block_outputs(tiny) == ["2", "4", "5"]


def test_the_cascade_randomises_the_units_with_parameters_from_the_top() -> None:
    lite0 = default_model().net
    expected = [name for name, unit in network_units(lite0) if list(unit.parameters())]
    assert cascade_blocks(lite0) == expected[::-1]
    assert cascade_blocks(digit_net()) == ["fc2", "fc1", "conv4", "conv3", "conv2", "conv1"]
