"""Heatmap display, in one place: normalisation, colour maps, overlays and top-x% masks.

Pure numpy and PIL (no Streamlit), shared by every page that draws a heatmap.

Typical use::

    picture = render(image, heatmap, signed=True, opacity=0.5, top_percent=20)

Conventions:

- A *signed* map (Integrated Gradients, LRP, occlusion, LIME) is scaled symmetrically
  to [-1, 1] and drawn with the diverging map ``"red_blue"``: red for the class, blue
  against it, transparent at zero.
- An *unsigned* map (saliency, Grad-CAM, ...) is scaled to [0, 1] and drawn with a
  sequential map (``"inferno"`` by default).
- Scaling divides by a high percentile (99.5 by default) rather than the maximum, so a
  few extreme pixels do not wash out the rest; values beyond it are clipped.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Colour maps as anchor colours (RGB 0-255) spaced evenly over [0, 1]. Sequential maps
# follow matplotlib's (inferno, viridis: van der Walt & Smith, CC0); the diverging map
# is ColorBrewer's RdBu, reversed so that positive = red.
_ANCHORS: dict[str, list[tuple[int, int, int]]] = {
    "inferno": [
        (0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99),
        (212, 72, 66), (245, 125, 21), (250, 193, 39), (252, 255, 164),
    ],
    "viridis": [
        (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
        (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
    ],
    "jet": [(0, 0, 128), (0, 0, 255), (0, 128, 255), (0, 255, 255), (128, 255, 128),
            (255, 255, 0), (255, 128, 0), (255, 0, 0), (128, 0, 0)],
    "hot": [(10, 0, 0), (128, 0, 0), (255, 0, 0), (255, 128, 0), (255, 255, 0), (255, 255, 255)],
    "gray": [(0, 0, 0), (255, 255, 255)],
    "red_blue": [
        (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (247, 247, 247),
        (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
    ],
}  # fmt: skip

SEQUENTIAL_MAPS: tuple[str, ...] = ("inferno", "viridis", "jet", "hot", "gray")
DIVERGING_MAPS: tuple[str, ...] = ("red_blue",)
DEFAULT_PERCENTILE = 99.5


def _lookup_table(name: str) -> np.ndarray:
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)  # (n, 3)
    positions = np.linspace(0, 1, len(anchors))
    grid = np.linspace(0, 1, 256)
    return np.stack([np.interp(grid, positions, anchors[:, c]) for c in range(3)], axis=1)


_TABLES: dict[str, np.ndarray] = {name: _lookup_table(name) for name in _ANCHORS}


def default_cmap(signed: bool) -> str:
    """``"red_blue"`` for signed maps, ``"inferno"`` otherwise."""
    return "red_blue" if signed else "inferno"


def normalize(
    heatmap: np.ndarray, signed: bool, percentile: float = DEFAULT_PERCENTILE
) -> np.ndarray:
    """Scale a map for display.

    Args:
        heatmap: Float array ``(H, W)``.
        signed: True: symmetric scaling to [-1, 1] (0 stays 0). False: [0, 1], from 0
            (or from the low percentile when the map has negative values).
        percentile: Values at or beyond this percentile of the magnitude map to +-1.

    Returns:
        Float32 array of the same shape (all zeros for a constant-zero map).
    """
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    if signed:
        scale = np.percentile(np.abs(h), percentile)
        scale = scale if scale > 0 else np.abs(h).max()
        if scale <= 0:
            return np.zeros(h.shape, dtype=np.float32)
        return np.clip(h / scale, -1, 1).astype(np.float32)
    low = 0.0 if h.min() >= 0 else float(np.percentile(h, 100 - percentile))
    high = float(np.percentile(h, percentile))
    if high <= low:
        high = float(h.max())
    if high <= low:
        return np.zeros(h.shape, dtype=np.float32)
    return np.clip((h - low) / (high - low), 0, 1).astype(np.float32)


def colorize(values: np.ndarray, cmap: str, signed: bool) -> np.ndarray:
    """Colours for normalised values.

    Args:
        values: Output of :func:`normalize`: [-1, 1] if ``signed``, else [0, 1].
        cmap: A name from :data:`SEQUENTIAL_MAPS` or :data:`DIVERGING_MAPS`.
        signed: How ``values`` are scaled.

    Returns:
        uint8 RGB array ``(H, W, 3)``.

    Raises:
        KeyError: unknown colour map.
    """
    if cmap not in _TABLES:
        raise KeyError(f"unknown colour map {cmap!r}; have: {', '.join(_TABLES)}")
    unit = (values + 1) / 2 if signed else values  # -> [0, 1]
    index = np.clip(np.round(unit * 255), 0, 255).astype(np.int64)
    return _TABLES[cmap][index].round().astype(np.uint8)


def top_mask(heatmap: np.ndarray, percent: float, signed: bool) -> np.ndarray:
    """The ``percent`` % most important pixels.

    Args:
        heatmap: Float map ``(H, W)``.
        percent: Share of pixels to keep, 0-100.
        signed: True ranks by value (evidence *for* the class first); False by value of
            an unsigned map (the same thing for non-negative maps).

    Returns:
        Boolean ``(H, W)``; ties at the threshold are kept, zeros never are.
    """
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    if percent <= 0:
        return np.zeros(h.shape, dtype=bool)
    threshold = np.percentile(h, 100 - min(percent, 100))
    mask = h >= threshold
    return mask & (h > 0) if signed or h.min() >= 0 else mask


def _resize(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float map to PIL ``size`` (W, H) by bilinear interpolation."""
    if values.shape[::-1] == tuple(size):
        return values
    resized = Image.fromarray(values.astype(np.float32), mode="F").resize(
        size, Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.float32)


def overlay(
    image: Image.Image,
    values: np.ndarray,
    signed: bool,
    cmap: str | None = None,
    opacity: float = 0.5,
    mask: np.ndarray | None = None,
    dim: float = 0.35,
) -> Image.Image:
    """Draw normalised values over an image.

    Args:
        image: The picture the map belongs to (any size; the map is resized to it).
        values: Output of :func:`normalize`.
        signed: How ``values`` are scaled. Signed maps are drawn with an opacity
            growing with ``sqrt(|value|)`` (zero = transparent); unsigned ones uniformly.
        cmap: Colour map; default :func:`default_cmap`.
        opacity: 0 = only the image, 1 = only the heatmap.
        mask: Optional boolean ``(H, W)`` (map resolution): outside it the image is
            dimmed and no heat is drawn.
        dim: Brightness kept outside the mask.

    Returns:
        RGB image of ``image``'s size.
    """
    base = np.asarray(image.convert("RGB"), dtype=np.float32)  # (H, W, 3)
    size = image.size
    v = _resize(np.asarray(values, dtype=np.float32), size)
    colours = colorize(v, cmap or default_cmap(signed), signed).astype(np.float32)
    # Signed maps: opacity grows with sqrt|value| so that weak evidence stays visible.
    alpha = float(np.clip(opacity, 0, 1)) * (np.sqrt(np.abs(v)) if signed else np.ones_like(v))
    alpha = alpha[..., None]  # (H, W, 1)
    if mask is not None:
        inside = _resize(mask.astype(np.float32), size)[..., None] >= 0.5
        alpha = np.where(inside, alpha, 0.0)
        base = np.where(inside, base, base * dim)
    out = base * (1 - alpha) + colours * alpha
    return Image.fromarray(np.clip(out.round(), 0, 255).astype(np.uint8), mode="RGB")


def render(
    image: Image.Image,
    heatmap: np.ndarray,
    signed: bool,
    cmap: str | None = None,
    opacity: float = 0.5,
    top_percent: float | None = None,
    percentile: float = DEFAULT_PERCENTILE,
) -> Image.Image:
    """Normalise, colour and overlay a raw heatmap in one call.

    Args:
        image: The picture the map belongs to.
        heatmap: Raw float map ``(H, W)``.
        signed: The map's sign is meaningful (red for, blue against).
        cmap: Colour map; default red_blue for signed maps, inferno otherwise.
        opacity: Heatmap opacity, 0-1.
        top_percent: Keep only this share of pixels (the most important), 0-100.
        percentile: Normalisation percentile.

    Returns:
        RGB image of ``image``'s size.
    """
    values = normalize(heatmap, signed, percentile)
    mask = top_mask(heatmap, top_percent, signed) if top_percent is not None else None
    return overlay(image, values, signed, cmap, opacity, mask)


def heatmap_image(heatmap: np.ndarray, signed: bool, cmap: str | None = None) -> Image.Image:
    """The map alone as an RGB image (no underlying photo), e.g. for 28 x 28 digits."""
    values = normalize(heatmap, signed)
    return Image.fromarray(colorize(values, cmap or default_cmap(signed), signed), mode="RGB")
