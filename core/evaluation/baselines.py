"""Baseline maps that every method's faithfulness is compared with.

A map is only as good as it beats maps that know nothing about the model:

- :func:`random_smooth_map`: random values on a 7 x 7 grid, upsampled bilinearly, so it
  is as smooth as a CAM. A *pixel-wise* random map is no fair baseline: deleting pixels
  scattered over the whole image destroys texture everywhere, and on a deletion curve it
  beats every real map (measured here on every sample photo: lower deletion AUC than
  Grad-CAM);
- :func:`reversed_map`: the method's own map, least important first (a faithful map's
  reverse should be much worse on both curves);
- :func:`edge_map`: an image-only map (Sobel edge magnitude, scikit-image), which ignores
  the model entirely.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

GRID = 7


def random_smooth_map(size: tuple[int, int], seed: int = 0, grid: int = GRID) -> np.ndarray:
    """Uniform random values on a ``grid x grid`` grid, upsampled bilinearly to ``size``.

    Args:
        size: ``(H, W)``.
        seed: Random seed (the same seed gives the same map).
        grid: Cells per side.

    Returns:
        Float32 ``(H, W)`` in [0, 1].
    """
    generator = torch.Generator().manual_seed(seed)
    cells = torch.rand((1, 1, grid, grid), generator=generator)
    up = F.interpolate(cells, size=size, mode="bilinear", align_corners=False)
    return up[0, 0].numpy().astype(np.float32)


def reversed_map(heatmap: np.ndarray) -> np.ndarray:
    """The map with its order reversed (least important first)."""
    return (-np.asarray(heatmap, dtype=np.float32)).astype(np.float32)


def edge_map(image: Image.Image) -> np.ndarray:
    """Sobel edge magnitude of the image's grey levels (scikit-image): an image-only map.

    Args:
        image: The picture the model sees (e.g. ``model.crop(photo)``).

    Returns:
        Float32 ``(H, W)`` at the image's size.
    """
    from skimage.filters import sobel  # imported on first use

    grey = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    return sobel(grey).astype(np.float32)
