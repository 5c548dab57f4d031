"""MNIST-style preprocessing: a drawing (canvas RGBA, RGB or grayscale) -> the 28 x 28
digit the network sees, cropped, fitted into 20 x 20 and centred by centre of mass.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from core.digits.data import IMAGE_SIZE

BOX_SIZE = 20  # the digit is fitted into a 20 x 20 box of the 28 x 28, aspect kept
INK_THRESHOLD = 0.1  # ink values below this do not count as ink (anti-aliasing halo)


class EmptyDrawing(ValueError):
    """The image has no ink: there is nothing to classify."""


def ink_map(image: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, in [0, 1].

    Args:
        image: One of
            - an RGBA array ``(H, W, 4)`` as streamlit-drawable-canvas returns it. With a
              transparent background the ink is the alpha channel; with an opaque one,
              the colour distance to the background (the median border colour),
              scaled so that the strongest stroke pixel is 1;
            - an RGB array ``(H, W, 3)``: as the opaque RGBA case;
            - a 2-D grayscale array, bright ink on a dark background.
            Integer arrays are read as 0-255, float arrays as 0-1 (0-255 if above 1).

    Returns:
        ``(H, W)`` float32 in [0, 1].

    Raises:
        ValueError: not an image array of a supported shape.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got {array.shape}")
    if array.size == 0:
        raise ValueError("the image has no pixels")
    values = array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer) or values.max() > 1.0:
        values /= 255.0
    if values.ndim == 2:
        return np.clip(values, 0.0, 1.0)
    if values.shape[2] == 4:
        alpha = values[..., 3]
        if alpha.min() < 0.5:  # a transparent background: whatever is painted is ink
            return np.clip(alpha, 0.0, 1.0)
    rgb = values[..., :3]  # (H, W, 3)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])  # (2H + 2W, 3)
    background = np.median(border, axis=0)
    # Channel by channel: .max(axis=2) over a length-3 axis is ~10x slower.
    distance = np.abs(rgb[..., 0] - background[0])  # (H, W)
    for channel in (1, 2):
        np.maximum(distance, np.abs(rgb[..., channel] - background[channel]), out=distance)
    strongest = float(distance.max())
    if strongest < INK_THRESHOLD:
        return np.zeros(distance.shape, np.float32)
    return (distance / strongest).astype(np.float32)


def fit_and_centre(ink: np.ndarray) -> np.ndarray:
    """MNIST's own normalisation of an ink map.

    Crop to the ink, resize (anti-aliased, aspect kept) so that the longer side is 20
    pixels, paste into 28 x 28 so that the centre of mass lands on pixel (14, 14)
    (whole-pixel shift, as in MNIST, whose digits' centres of mass average 14.0).

    Args:
        ink: ``(H, W)`` float in [0, 1], ink = 1.

    Returns:
        ``(28, 28)`` float32 in [0, 1].

    Raises:
        EmptyDrawing: no pixel reaches :data:`INK_THRESHOLD`.
    """
    rows = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise EmptyDrawing("There is no ink in the drawing: draw a digit first.")
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    factor = BOX_SIZE / max(height, width)
    new_h = min(BOX_SIZE, max(1, round(height * factor)))
    new_w = min(BOX_SIZE, max(1, round(width * factor)))
    if (new_h, new_w) == crop.shape:
        boxed = crop.astype(np.float32)
    else:
        # PIL's BILINEAR widens its filter when shrinking: proper anti-aliasing.
        resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(
            (new_w, new_h), Image.Resampling.BILINEAR
        )
        boxed = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    com_row, com_col = ndimage.center_of_mass(boxed)
    half = IMAGE_SIZE // 2
    top = int(np.clip(round(half - com_row), 0, IMAGE_SIZE - new_h))
    left = int(np.clip(round(half - com_col), 0, IMAGE_SIZE - new_w))
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    out[top : top + new_h, left : left + new_w] = boxed
    return out


def preprocess(image: np.ndarray) -> np.ndarray:
    """Turn a drawing into the 28 x 28 the network sees, the way MNIST was made.

    Args:
        image: An RGBA canvas array ``(H, W, 4)`` (stroke on a uniform or transparent
            background), an RGB array, or a 2-D grayscale array with bright ink on
            dark. See :func:`ink_map`.

    Returns:
        ``(28, 28)`` float32 in [0, 1], ink = 1.

    Raises:
        EmptyDrawing: there is no ink.
        ValueError: not an image array.
    """
    return fit_and_centre(ink_map(image))


def as_batch(digits: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(28, 28)`` or ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` -> float tensor ``(N, 1, 28, 28)``."""
    x = torch.from_numpy(np.array(digits, dtype=np.float32))  # a copy: inputs may be read-only
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected 28 x 28 digits, got shape {tuple(x.shape)}")
    return x
