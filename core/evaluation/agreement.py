"""Do the methods agree? Rank correlation and top-pixel overlap between maps; and "your
guess": how much of each map falls in the boxes a user drew.

The top pixels are the display's (:func:`core.attribution.display.top_mask`, what "show
the top x%" draws): ties at the threshold are kept, so pixels of equal importance are
treated alike (a LIME or KernelSHAP map is constant over each superpixel: a cut through
one would pick pixels by their position), and only evidence for the class counts (a
pixel at zero or below is never "top").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.attribution.display import top_mask

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in input pixels, x1/y1 exclusive
TOP_PERCENT = 10.0


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps' pixels (0 when either is constant)."""
    from scipy.stats import spearmanr  # imported on first use

    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1 for two empty masks)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@dataclass(frozen=True)
class Agreement:
    """Pairwise agreement between maps.

    Attributes:
        names: The maps' names, in order.
        spearman: ``(n, n)`` Spearman rank correlation of the maps' values.
        top_iou: ``(n, n)`` IoU of their top-10% pixels (ties kept, positive only).
    """

    names: tuple[str, ...]
    spearman: np.ndarray
    top_iou: np.ndarray


def agreement(maps: Mapping[str, np.ndarray], percent: float = TOP_PERCENT) -> Agreement:
    """Spearman correlation and top-``percent`` IoU between every pair of maps.

    Values are compared as given: for signed maps, evidence *for* the class ranks first.

    Args:
        maps: name -> ``(H, W)`` map, all the same shape.
        percent: Share of pixels in the top masks.

    Returns:
        The :class:`Agreement` (diagonals are 1).

    Raises:
        ValueError: maps of different shapes.
    """
    names = tuple(maps)
    shapes = {np.shape(m) for m in maps.values()}
    if len(shapes) > 1:
        raise ValueError(f"the maps have different shapes: {sorted(shapes)}")
    n = len(names)
    rho, overlap = np.eye(n), np.eye(n)
    tops = {name: top_mask(maps[name], percent, signed=True) for name in names}
    for i in range(n):
        for j in range(i + 1, n):
            rho[i, j] = rho[j, i] = spearman(maps[names[i]], maps[names[j]])
            overlap[i, j] = overlap[j, i] = iou(tops[names[i]], tops[names[j]])
    return Agreement(names, rho, overlap)


def box_mask(shape: tuple[int, int], boxes: Sequence[Box]) -> np.ndarray:
    """Boolean ``(H, W)``: the union of boxes ``(x0, y0, x1, y1)`` (clipped to the map)."""
    height, width = shape
    mask = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        left, right = sorted((int(round(x0)), int(round(x1))))
        top, bottom = sorted((int(round(y0)), int(round(y1))))
        mask[max(0, top) : min(height, bottom), max(0, left) : min(width, right)] = True
    return mask


def pointing_game(heatmap: np.ndarray, boxes: Sequence[Box]) -> float:
    """Energy-based pointing game: the share of the map's positive mass inside the boxes.

    Wang et al. 2020 (Score-CAM), https://arxiv.org/abs/1910.01279, section 5.2.

    Args:
        heatmap: ``(H, W)`` map.
        boxes: ``(x0, y0, x1, y1)`` in input pixels.

    Returns:
        0..1 (0 for a map with no positive value or no box).
    """
    positive = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float64)), 0, None)
    total = positive.sum()
    if total <= 0 or not boxes:
        return 0.0
    return float(positive[box_mask(positive.shape, boxes)].sum() / total)


def box_iou(heatmap: np.ndarray, boxes: Sequence[Box], percent: float = TOP_PERCENT) -> float:
    """IoU of the map's top-``percent`` pixels with the boxes (0 when there is no box)."""
    if not boxes:
        return 0.0
    return iou(top_mask(heatmap, percent, signed=True), box_mask(np.shape(heatmap), boxes))
