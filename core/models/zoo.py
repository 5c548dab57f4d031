"""torchvision's model zoo: weights from torchvision's weights API (downloaded on first
use into torch's hub cache), with a clear message when they cannot be fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

from core.models.registry import ImageModel, ModelSpec, ModelUnavailable, register

# name -> (title, default CAM layer: the last convolutional block, one-line summary)
_TORCHVISION_ZOO: dict[str, tuple[str, str, str]] = {
    "resnet18": ("ResNet-18", "layer4", "11.7 M parameters, residual network (2015)."),
    "resnet50": ("ResNet-50", "layer4", "25.6 M parameters, bottleneck residual network."),
    "vgg16": ("VGG-16", "features.29", "138 M parameters, plain 3x3 conv stack (2014)."),
    "mobilenet_v2": ("MobileNetV2", "features.18", "3.5 M parameters, inverted residuals."),
    "mobilenet_v3_large": (
        "MobileNetV3-Large",
        "features.16",
        "5.5 M parameters, hard-swish and squeeze-excitation.",
    ),
    "efficientnet_b0": ("EfficientNet-B0", "features.8", "5.3 M parameters, SiLU and SE blocks."),
    "inception_v3": ("Inception-V3", "Mixed_7c", "27 M parameters, 299 x 299 input."),
    "alexnet": ("AlexNet", "features.11", "61 M parameters, the 2012 original."),
}


def _torchvision_weights(name: str) -> torchvision.models.WeightsEnum:
    return torchvision.models.get_model_weights(name).DEFAULT


def _torchvision_weights_file(name: str) -> Path:
    url = _torchvision_weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _make_torchvision_builder(
    name: str, title: str, target_layer: str
) -> Callable[[bool], ImageModel]:
    def build(pretrained: bool) -> ImageModel:
        weights = _torchvision_weights(name)
        extra = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
        net = torchvision.models.get_model(name, weights=None, **extra)
        if pretrained:
            try:
                state = weights.get_state_dict(progress=False, check_hash=True)
            except Exception as err:  # URLError, HTTPError, hash mismatch, disk full...
                target = _torchvision_weights_file(name)
                raise ModelUnavailable(
                    f"{title} needs its pretrained weights ({weights.url}), and they could "
                    f"not be downloaded: {err}. Connect to the internet once (they are then "
                    f"kept in {target.parent}), or copy the file there by hand as "
                    f"{target.name}. The embedded EfficientNet-Lite0 works offline."
                ) from err
            net.load_state_dict({k: v for k, v in state.items() if not k.startswith("AuxLogits.")})
        preset = weights.transforms()
        return ImageModel(
            name=name,
            title=title,
            net=net,
            labels=list(weights.meta["categories"]),
            input_size=(preset.crop_size[0], preset.crop_size[0]),
            resize_size=preset.resize_size[0],
            mean=tuple(preset.mean),
            std=tuple(preset.std),
            interpolation=preset.interpolation,
            target_layer=target_layer,
            pretrained=pretrained,
        )

    return build


for _name, (_title, _layer, _summary) in _TORCHVISION_ZOO.items():
    register(
        ModelSpec(
            name=_name,
            title=_title,
            build=_make_torchvision_builder(_name, _title, _layer),
            offline=False,
            weights_file=_torchvision_weights_file(_name),
            summary=_summary,
        )
    )
