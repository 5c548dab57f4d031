"""The digits lab's CNN architecture (28 x 28 greyscale digits -> 10 logits).

It lives here, with the other architectures a weights file can name
(:mod:`core.models.architectures`: ``digit_cnn``), and :mod:`core.digits` builds, trains
and ships it.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

# Channels of the four convolutions and width of the hidden fully connected layer.
CHANNELS = (24, 32, 48, 64)
HIDDEN = 128


def build_digit_net(
    batch_norm: bool = False, dropout: float = 0.0, classes: int = 10, channels: int = 1
) -> nn.Sequential:
    """The digit CNN (randomly initialised).

    ``conv1`` 5x5 (24) -> ``conv2`` 3x3 (32) -> max-pool -> ``conv3`` 3x3 (48) ->
    ``conv4`` 3x3 (64) -> max-pool -> max-pool -> ``fc1`` (128) -> ``fc2`` (10 logits),
    ReLU after every convolution and ``fc1``. About 125 k parameters.

    Args:
        batch_norm: Insert BatchNorm after each convolution (training only; see
            :func:`fold_batch_norm`).
        dropout: Dropout probability before ``fc1`` and ``fc2`` (training only).
        classes: Outputs of ``fc2`` (10 digits).
        channels: Input channels (1: greyscale).

    Returns:
        The network; input ``(B, 1, 28, 28)`` in [0, 1], output logits ``(B, 10)``.
    """
    c1, c2, c3, c4 = CHANNELS
    layers: list[tuple[str, nn.Module]] = []

    def conv(index: int, cin: int, cout: int, kernel: int) -> None:
        layers.append((f"conv{index}", nn.Conv2d(cin, cout, kernel, padding=kernel // 2)))
        if batch_norm:
            layers.append((f"bn{index}", nn.BatchNorm2d(cout)))
        layers.append((f"relu{index}", nn.ReLU()))

    conv(1, channels, c1, 5)  # (B, 1, 28, 28) -> (B, 24, 28, 28)
    conv(2, c1, c2, 3)  # -> (B, 32, 28, 28)
    layers.append(("pool1", nn.MaxPool2d(2)))  # -> (B, 32, 14, 14)
    conv(3, c2, c3, 3)  # -> (B, 48, 14, 14)
    conv(4, c3, c4, 3)  # -> (B, 64, 14, 14)
    layers.append(("pool2", nn.MaxPool2d(2)))  # -> (B, 64, 7, 7)
    layers.append(("pool3", nn.MaxPool2d(2)))  # -> (B, 64, 3, 3)
    layers.append(("flatten", nn.Flatten(1)))  # -> (B, 576)
    if dropout:
        layers.append(("drop1", nn.Dropout(dropout)))
    layers.append(("fc1", nn.Linear(c4 * 9, HIDDEN)))
    layers.append(("relu5", nn.ReLU()))
    if dropout:
        layers.append(("drop2", nn.Dropout(dropout)))
    layers.append(("fc2", nn.Linear(HIDDEN, classes)))  # -> (B, 10) logits
    return nn.Sequential(OrderedDict(layers))
