"""Classic stacks for the geometry calculator: LeNet-5, AlexNet, a VGG block, U-Net, corners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _conv(out: int, kernel: Any, **more: Any) -> dict[str, Any]:
    """A conv2d row with ``out`` channels and a ``kernel`` (int or pair)."""
    return {"op": "conv2d", "out_channels": out, "kernel_size": kernel, **more}


DEFAULT_PRESET = "LeNet-5"  # the calculator's stack until the user loads or edits one


@dataclass(frozen=True)
class Preset:
    """A classic stack for the calculator.

    Attributes:
        input_shape: ``(C, H, W)`` it was designed for.
        layers: The rows.
        note: One line about where it comes from.
    """

    input_shape: tuple[int, int, int]
    layers: tuple[dict[str, Any], ...]
    note: str


PRESETS: dict[str, Preset] = {
    "LeNet-5": Preset(
        (1, 32, 32),
        (
            _conv(6, 5),
            {"op": "avgpool2d", "kernel_size": 2},
            _conv(16, 5),
            {"op": "avgpool2d", "kernel_size": 2},
            {"op": "flatten"},
            {"op": "linear", "out_features": 120},
            {"op": "linear", "out_features": 84},
            {"op": "linear", "out_features": 10},
        ),
        "LeCun et al. 1998, with average pooling for subsampling: 61,706 parameters.",
    ),
    "AlexNet": Preset(
        (3, 224, 224),
        (
            _conv(64, 11, stride=4, padding=2),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2},
            _conv(192, 5, padding=2),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2},
            _conv(384, 3, padding=1),
            _conv(256, 3, padding=1),
            _conv(256, 3, padding=1),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2},
            {"op": "flatten"},
            {"op": "linear", "out_features": 4096},
            {"op": "linear", "out_features": 4096},
            {"op": "linear", "out_features": 1000},
        ),
        "torchvision's AlexNet (Krizhevsky et al. 2012, one-GPU variant): 61.1 M parameters.",
    ),
    "VGG block": Preset(
        (3, 224, 224),
        (
            _conv(64, 3, padding=1),
            _conv(64, 3, padding=1),
            {"op": "maxpool2d", "kernel_size": 2, "stride": 2},
        ),
        "Simonyan & Zisserman 2014: 3x3 convs keep the size, a 2x2 pool halves it.",
    ),
    "U-Net encoder/decoder pair": Preset(
        (1, 572, 572),
        (
            _conv(64, 3),
            _conv(64, 3),
            {"op": "maxpool2d", "kernel_size": 2, "stride": 2},
            _conv(128, 3),
            _conv(128, 3),
            {"op": "convtranspose2d", "out_channels": 64, "kernel_size": 2, "stride": 2},
            _conv(64, 3),
            _conv(64, 3),
        ),
        "Ronneberger et al. 2015, first level: 572 -> 568 -> 284 -> 280 -> 560 -> 556 "
        "(the skip connection's crop-and-concatenate is not part of a plain stack).",
    ),
    "Non-square corner cases": Preset(
        (3, 20, 33),
        (
            _conv(8, (3, 5), stride=(1, 2), padding=(1, 2), dilation=(2, 1)),
            {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
            _conv(8, (1, 3), padding="same", groups=8),
            {
                "op": "convtranspose2d",
                "out_channels": 4,
                "kernel_size": (3, 2),
                "stride": (2, 3),
                "padding": (1, 0),
                "output_padding": (1, 2),
            },
            {"op": "upsample", "scale_factor": (1.5, 0.5)},
        ),
        "Per-axis kernels, strides and dilation, ceil mode, depthwise 'same', "
        "a transposed conv with output padding and a fractional upsample.",
    ),
}
