"""How readable a tile is: the contrast it paints between a map's strongest and weakest
pixels, in RGB levels (issue 22; ``bench/readability.py`` and the golden tiles use it).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

STRONG_SHARE = 10.0  # % of pixels: an unsigned map's strongest (by value)
STRONG_SIGNED_SHARE = 5.0  # % of pixels: a signed map's strongest (by |value|)


def _l1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).sum())


def contrast_levels(picture: Image.Image, heatmap: np.ndarray, signed: bool) -> dict[str, float]:
    """How well a tile tells a map's strongest pixels from its weakest (issue 22).

    In RGB levels: the sum over R, G and B of the absolute difference between the mean
    colour the tile paints on the map's strongest pixels and on its weakest half (the
    half with the smallest ``|map|``), 0-765. Strongest: the top :data:`STRONG_SHARE` %
    of an unsigned map; for a signed map, the top :data:`STRONG_SIGNED_SHARE` % of
    ``|map|``, positive or negative, each sign's mean colour compared apart (red and blue
    are not averaged into purple), weighted by its pixels.

    Args:
        picture: The rendered tile (any size: averaged down to the map's resolution).
        heatmap: The raw map ``(H, W)``.
        signed: How the map is drawn.

    Returns:
        ``{"levels": ...}``, and for a signed map also, for each sign among the
        strongest pixels, ``"for"`` / ``"against"``; and, stricter, each sign's own top
        :data:`STRONG_SIGNED_SHARE` % of its pixels against the weakest half,
        ``"for_own"`` / ``"against_own"`` (a sign with no pixel is left out).
    """
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    rows, columns = h.shape
    small = picture.convert("RGB").resize((columns, rows), Image.Resampling.BOX)
    rgb = np.asarray(small, dtype=np.float64).reshape(-1, 3)  # (H * W, 3)
    flat = h.reshape(-1)
    magnitude = np.abs(flat)
    weak = rgb[magnitude <= np.percentile(magnitude, 50)].mean(axis=0)
    if not signed:
        strong = magnitude >= np.percentile(magnitude, 100 - STRONG_SHARE)
        return {"levels": _l1(rgb[strong].mean(axis=0), weak)}
    strong = (magnitude >= np.percentile(magnitude, 100 - STRONG_SIGNED_SHARE)) & (magnitude > 0)
    result: dict[str, float] = {}
    total = 0.0
    for name, side in (("for", flat > 0), ("against", flat < 0)):
        chosen = strong & side
        if chosen.any():
            result[name] = _l1(rgb[chosen].mean(axis=0), weak)
            total += result[name] * int(chosen.sum())
        if side.any():
            own = side & (magnitude >= np.percentile(magnitude[side], 100 - STRONG_SIGNED_SHARE))
            result[f"{name}_own"] = _l1(rgb[own].mean(axis=0), weak)
    result["levels"] = total / max(1, int(strong.sum()))
    return result
