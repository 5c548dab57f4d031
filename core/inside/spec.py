"""What a network's input looks like: channels, normalisation and the colour of "nothing".

Every function of :mod:`core.inside` optimises or reads images in display space (pixels
in [0, 1], ``(B, C, H, W)``) and feeds the network ``(x - mean) / std``; an
:class:`InputSpec` says how. :func:`input_spec` builds it for an ImageNet
:class:`~core.models.ImageModel`; the digit CNN's (one channel, ink = 1, no
normalisation) is :data:`DIGITS_INPUT`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.models import ImageModel


@dataclass(frozen=True)
class InputSpec:
    """How display-space images become a network's input.

    Attributes:
        channels: 3 (RGB) or 1 (grey).
        mean: Per-channel mean subtracted from pixels in [0, 1].
        std: Per-channel standard deviation divided by after that.
        size: The ``(H, W)`` the network is trained on.
        background: The pixel value of an empty image (grey 0.5 for photos, black 0 for
            MNIST digits): what transformations pad with.
        noise: ``(low, high)`` of the uniform noise a visualisation starts from.
    """

    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: tuple[int, int]
    background: float = 0.5
    noise: tuple[float, float] = (0.4, 0.6)

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` pixels in [0, 1] -> the network's input, same shape."""
        mean = torch.tensor(self.mean, dtype=image.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype).view(1, -1, 1, 1)
        return (image - mean) / std


def input_spec(model: ImageModel) -> InputSpec:
    """The :class:`InputSpec` of a photo classifier (its channels, mean and std).

    Args:
        model: A registered model.

    Returns:
        The model's channels, normalisation and input size, grey background.
    """
    return InputSpec(channels=model.channels, mean=model.mean, std=model.std, size=model.input_size)


# The digit CNN of core.digits: (B, 1, 28, 28) in [0, 1], ink = 1, fed as is. Its
# visualisations start, like the digits lab always did, from noise in [0, 0.2].
DIGITS_INPUT = InputSpec(
    channels=1, mean=(0.0,), std=(1.0,), size=(28, 28), background=0.0, noise=(0.0, 0.2)
)
