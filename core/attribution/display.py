"""Heatmap display, in one place: scaling, colour maps, overlays, colour bars' colours,
the value read-out. A tile as a file (with its title and colour bar) is
:mod:`core.attribution.export`; how readable a tile is, :mod:`core.attribution.readability`.

Pure numpy and PIL (no Streamlit), shared by every page, the command line and the
reports, so that a map looks the same wherever it is drawn.

Typical use::

    method = METHODS["integrated_gradients"]
    scale = colour_scale(heatmap, method)  # what the colours mean (numbers, unit)
    picture = render(crop, heatmap, method, DisplaySettings(), scale)
    slide = export.with_colour_bar(picture, scale, title="Integrated Gradients")

How a map is scaled is declared by its method (a :class:`MapKind`: ``signed``,
``scaling``, ``unit``; see :class:`core.attribution.base.Method`) and decided here:

- ``"robust"`` (the default: smooth maps such as CAMs, and any method that says
  nothing): colours span 0 to the 99th percentile of ``|map|``;
- ``"heavy_tailed"`` (gradients, Integrated Gradients, LRP): to the 97th percentile, so
  that a few extreme pixels no longer leave the rest of the map transparent;
- ``"band"`` (unsigned maps living in a narrow band far from zero: RISE's
  probabilities): from the 1st to the 99th percentile of the map, so that its structure
  is not one even wash; the colour bar's numbers say how narrow the band is.
- A *signed* map is always symmetric around zero: ``[-L, L]``, ``L`` the clipping
  percentile of ``|map|`` (``"robust"`` or ``"heavy_tailed"``); zero is clear.

Values beyond a scale's ends take the end colours (the colour bar marks them ``>=``).

Overlays: an unsigned map is blended uniformly over the colour photo with a sequential
colour map (``"inferno"`` by default), as in Grad-CAM's paper. A signed map is drawn over
the photo in *grey*, its brightness stretched into a light band (:data:`CONTEXT_BAND`)
whatever the photo (red, dark, bright, busy), in saturated reds and blues (the outer half
of ColorBrewer's RdBu, darker with the value) with an opacity of ``sqrt(opacity *
|value|)``: zero is clear, mid values still show, and red and blue never compete with the
photo's own colours. Map pixels are enlarged with hard edges (nearest neighbour): a
gradient's single-pixel speckles keep their colour instead of being blurred away.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol, TypeVar

import numpy as np
from PIL import Image

from core.common.lru import LRUCache

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

K = TypeVar("K", bound=Hashable)
MapScaling = Literal["robust", "heavy_tailed", "band"]
SCALINGS: tuple[MapScaling, ...] = ("robust", "heavy_tailed", "band")
DEFAULT_UNIT = "arbitrary units"

# Percentile of |map| at the end of the colour bar (symmetric: both ends when signed).
CLIP_PERCENTILES: dict[MapScaling, float] = {"robust": 99.5, "heavy_tailed": 97.0}
BAND_PERCENTILES = (1.0, 99.0)  # of the map: both ends of the colour bar (band maps)

CONTEXT_BAND = (105.0, 235.0)  # grey levels the photo under a signed map is stretched to
SIGNED_START = 0.5  # signed colours: from this far out on RdBu's halves (0 = white) to 1

HOVER_CELLS = 56  # the page's value read-out: about this many cells on the longer side


# --------------------------------------------------------------------------- kinds


class MapKind(Protocol):
    """What display needs to know about a map: a :class:`~core.attribution.base.Method`
    is one (its class attributes), and so is a :class:`MapStyle`."""

    @property
    def signed(self) -> bool:
        """Meaningful signs: red for, blue against the class, symmetric around zero."""

    @property
    def scaling(self) -> MapScaling:
        """``"robust"`` or ``"band"`` (see the module's docstring)."""

    @property
    def unit(self) -> str:
        """What a value is, for colour bars and read-outs, e.g. ``"|gradient|"``."""


@dataclass(frozen=True)
class MapStyle:
    """A :class:`MapKind` built by hand (a digit's maps drawn in red and blue, tests).

    Attributes:
        signed: Symmetric around zero, red for and blue against.
        scaling: ``"robust"`` or ``"band"``.
        unit: What a value is.
    """

    signed: bool
    scaling: MapScaling = "robust"
    unit: str = DEFAULT_UNIT

    @classmethod
    def of(cls, kind: MapKind, signed: bool | None = None) -> MapStyle:
        """A kind's style, optionally drawn signed (or not) whatever it declares."""
        return cls(kind.signed if signed is None else signed, kind.scaling, kind.unit)


@dataclass(frozen=True)
class DisplaySettings:
    """How the user wants maps drawn (the page's sidebar; its defaults everywhere else).

    Attributes:
        opacity: Heatmap opacity, 0 (photo only) to 1 (map only). Signed maps reach
            ``sqrt(opacity)`` at full strength: they are clear at zero, so they can be
            drawn stronger where they speak without hiding the photo.
        cmap: Colour map of unsigned maps (one of :data:`SEQUENTIAL_MAPS`); signed maps
            always use ``"red_blue"``.
        top_percent: Show only this share of the pixels (the most important), 0-100;
            None shows all.
    """

    opacity: float = 0.55
    cmap: str = "inferno"
    top_percent: float | None = None


DEFAULT_DISPLAY = DisplaySettings()


# --------------------------------------------------------------------------- scales


def _significant(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}"


@dataclass(frozen=True)
class ColourScale:
    """What a tile's colours mean: the values at both ends of its colour bar.

    Attributes:
        low: The value drawn with the colour map's first colour (``-high`` when signed).
        high: The value drawn with its last colour.
        signed: Symmetric around zero; zero is clear.
        unit: What a value is, e.g. ``"logit change"``.
        cmap: The colour map.
        data_min: The map's smallest value (values below ``low`` take its colour).
        data_max: The map's largest value (values above ``high`` take its colour).
    """

    low: float
    high: float
    signed: bool
    unit: str
    cmap: str
    data_min: float = 0.0
    data_max: float = 0.0

    @property
    def clipped_low(self) -> bool:
        """Some pixels lie below ``low`` (drawn with the first colour)."""
        return self.data_min < self.low

    @property
    def clipped_high(self) -> bool:
        """Some pixels lie above ``high`` (drawn with the last colour)."""
        return self.data_max > self.high

    def normalize(self, heatmap: np.ndarray) -> np.ndarray:
        """Values -> [-1, 1] (signed) or [0, 1], clipped at the scale's ends.

        Args:
            heatmap: Raw float map ``(H, W)``; NaN counts as zero.

        Returns:
            Float32 array of the same shape (all zeros for an empty scale).
        """
        h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
        if self.high <= self.low:
            return np.zeros(h.shape, dtype=np.float32)
        if self.signed:
            return np.clip(h / self.high, -1, 1).astype(np.float32)
        return np.clip((h - self.low) / (self.high - self.low), 0, 1).astype(np.float32)

    @property
    def exponent(self) -> int:
        """The power of ten the colour bar's numbers are given in: 0 for ordinary
        magnitudes, a multiple of 3 for tiny or huge ones (LRP's 1e-6, say)."""
        peak = max(abs(self.low), abs(self.high))
        if peak == 0 or 1e-2 <= peak < 1e4:
            return 0
        return 3 * math.floor(math.log10(peak) / 3)

    @property
    def bar_title(self) -> str:
        """The colour bar's title: the unit, with the power of ten of its numbers."""
        return f"{self.unit} (x 1e{self.exponent})" if self.exponent else self.unit

    def ticks(self, count: int = 5) -> tuple[list[float], list[str]]:
        """``count`` evenly spaced values from ``low`` to ``high`` and their labels for a
        colour bar (3 significant digits, in units of ``10 ** exponent``; the clipped ends
        marked ``<=`` / ``>=``)."""
        values = [float(v) for v in np.linspace(self.low, self.high, count)]
        texts = [_significant(v / 10**self.exponent) for v in values]
        if self.signed and count % 2:
            texts[count // 2] = "0"
        if self.clipped_low:
            texts[0] = "<=" + texts[0]
        if self.clipped_high:
            texts[-1] = ">=" + texts[-1]
        return values, texts

    def describe(self) -> str:
        """One line for a caption, e.g. ``"Colours: 0 to 0.0132 |gradient| (higher
        values drawn as 0.0132)"``."""
        low, high = _significant(self.low), _significant(self.high)
        clipped = [
            f"lower values drawn as {low}" if self.clipped_low else "",
            f"higher values drawn as {high}" if self.clipped_high else "",
        ]
        notes = "; ".join(c for c in clipped if c)
        text = f"Colours: {low} to {high} {self.unit}"
        return f"{text} ({notes})" if notes else text


def default_cmap(signed: bool) -> str:
    """``"red_blue"`` for signed maps, ``"inferno"`` otherwise."""
    return "red_blue" if signed else "inferno"


def _check_cmap(cmap: str) -> None:
    if cmap not in _ANCHORS:
        raise KeyError(f"unknown colour map {cmap!r}; have: {', '.join(_ANCHORS)}")


def colour_scale(heatmap: np.ndarray, kind: MapKind, cmap: str | None = None) -> ColourScale:
    """The colour scale a map is drawn with, as its kind declares (see the module's
    docstring): percentile clipping, a low-to-high percentile band, or symmetric.

    Args:
        heatmap: Raw float map ``(H, W)``.
        kind: The map's kind (a method, or a :class:`MapStyle`).
        cmap: Colour map of an unsigned map (default inferno); signed maps use red_blue.

    Returns:
        The scale (``low == high`` only for a constant map).
    """
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    chosen = default_cmap(True) if kind.signed else (cmap or default_cmap(False))
    _check_cmap(chosen)
    data = {"data_min": float(h.min()), "data_max": float(h.max())}
    clip = CLIP_PERCENTILES.get(kind.scaling, CLIP_PERCENTILES["robust"])
    if kind.signed:
        magnitude = np.abs(h)
        limit = float(np.percentile(magnitude, clip))
        limit = limit if limit > 0 else float(magnitude.max())
        return ColourScale(-limit, limit, True, kind.unit, chosen, **data)
    if kind.scaling == "band":
        low, high = (float(v) for v in np.percentile(h, BAND_PERCENTILES))
    else:
        low = 0.0 if h.min() >= 0 else float(np.percentile(h, 100 - clip))
        high = float(np.percentile(h, clip))
    if high <= low:  # a near-constant map: its whole range (or nothing to show)
        low, high = data["data_min"], data["data_max"]
    return ColourScale(low, high, False, kind.unit, chosen, **data)


def shared_scales(scales: Mapping[K, ColourScale]) -> dict[K, ColourScale]:
    """Each map's scale widened to span every map of the same unit, sign and colour map
    (the "same scale" option), so that equal colours mean equal values across tiles.

    Args:
        scales: Key (a method's name, say) -> the map's own scale.

    Returns:
        Key -> its scale on its group's range (its own when alone in its group).
    """
    groups: dict[tuple[str, bool, str], list[K]] = {}
    for key, scale in scales.items():
        groups.setdefault((scale.unit, scale.signed, scale.cmap), []).append(key)
    shared: dict[K, ColourScale] = {}
    for keys in groups.values():
        low = min(scales[k].low for k in keys)
        high = max(scales[k].high for k in keys)
        shared.update((k, replace(scales[k], low=low, high=high)) for k in keys)
    return shared


# --------------------------------------------------------------------------- pixels


def _lookup_table(name: str) -> np.ndarray:
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)  # (n, 3)
    positions = np.linspace(0, 1, len(anchors))
    grid = np.linspace(0, 1, 256)
    return np.stack([np.interp(grid, positions, anchors[:, c]) for c in range(3)], axis=1)


_TABLES: dict[str, np.ndarray] = {name: _lookup_table(name) for name in _ANCHORS}


def colorize(values: np.ndarray, cmap: str, signed: bool) -> np.ndarray:
    """Colours for normalised values, straight from the colour map.

    Args:
        values: Output of :meth:`ColourScale.normalize`: [-1, 1] if ``signed``, else [0, 1].
        cmap: A name from :data:`SEQUENTIAL_MAPS` or :data:`DIVERGING_MAPS`.
        signed: How ``values`` are scaled.

    Returns:
        uint8 RGB array ``(H, W, 3)``.

    Raises:
        KeyError: unknown colour map.
    """
    _check_cmap(cmap)
    unit = (values + 1) / 2 if signed else values  # -> [0, 1]
    index = np.clip(np.round(unit * 255), 0, 255).astype(np.int64)
    return _TABLES[cmap][index].round().astype(np.uint8)


def paint(
    values: np.ndarray, signed: bool, cmap: str, opacity: float
) -> tuple[np.ndarray, np.ndarray]:
    """The colour and the opacity an overlay paints for normalised values.

    Unsigned: the colour map's colour, with ``opacity`` everywhere. Signed: the outer
    half of the diverging map (from :data:`SIGNED_START` on each side, darker with
    ``|value|``), with an opacity of ``sqrt(opacity * |value|)``: clear at zero, 71% of
    the full opacity at half the scale.

    Args:
        values: Normalised values (any shape).
        signed: How ``values`` are scaled.
        cmap: The colour map.
        opacity: The user's opacity, 0-1.

    Returns:
        ``(colours, alpha)``: float ``(..., 3)`` in 0-255 and float ``(...)`` in 0-1.
    """
    _check_cmap(cmap)
    strength = float(np.clip(opacity, 0, 1))
    v = np.asarray(values, dtype=np.float32)
    if not signed:
        index = np.clip(np.round(v * 255), 0, 255).astype(np.int64)
        return _TABLES[cmap][index], np.full(v.shape, strength, dtype=np.float32)
    magnitude = np.abs(v)
    position = 0.5 + 0.5 * np.sign(v) * (SIGNED_START + (1 - SIGNED_START) * magnitude)
    index = np.clip(np.round(position * 255), 0, 255).astype(np.int64)
    return _TABLES[cmap][index], np.sqrt(strength * magnitude)


def bar_colours(scale: ColourScale, opacity: float, count: int = 256) -> np.ndarray:
    """The colour bar: what the overlay paints from ``low`` to ``high``.

    Unsigned maps: the colour map itself. Signed maps: their colour and opacity over the
    middle grey of :data:`CONTEXT_BAND` (what a grey photo shows), so that the bar's
    middle is the photo's grey, as the clear zero of the tiles.

    Args:
        scale: The colour scale.
        opacity: The user's opacity, 0-1.
        count: Colours along the bar.

    Returns:
        uint8 ``(count, 3)``.
    """
    values = np.linspace(-1 if scale.signed else 0, 1, count, dtype=np.float32)
    colours, alpha = paint(values, scale.signed, scale.cmap, opacity)
    if scale.signed:
        grey = sum(CONTEXT_BAND) / 2
        colours = grey * (1 - alpha[:, None]) + colours * alpha[:, None]
    return np.clip(np.round(colours), 0, 255).astype(np.uint8)


def colour_stops(scale: ColourScale, opacity: float, count: int = 33) -> list[list[object]]:
    """:func:`bar_colours` as a Plotly ``colorscale``: ``[[0.0, "rgb(r,g,b)"], ...]``."""
    colours = bar_colours(scale, opacity, count)
    positions = np.linspace(0, 1, count)
    return [
        [float(p), f"rgb({r},{g},{b})"] for p, (r, g, b) in zip(positions, colours, strict=True)
    ]


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


@functools.lru_cache(maxsize=64)
def _nearest(source: int, target: int) -> np.ndarray:
    """For each of ``target`` pixels, the one of ``source`` that PIL's nearest-neighbour
    resize takes (read from PIL itself, so enlarging an array matches it exactly)."""
    line = Image.fromarray(np.arange(source, dtype=np.float32)[None, :], mode="F")
    taken = np.asarray(line.resize((target, 1), Image.Resampling.NEAREST))[0]
    return taken.round().astype(np.intp)


def _enlarge(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Map values ``(H, W, ...)`` to PIL ``size`` (W, H), each map pixel a hard-edged
    block (nearest neighbour): a single-pixel speckle keeps its full colour."""
    rows, columns = values.shape[:2]
    if (columns, rows) == tuple(size):
        return values
    return values[_nearest(rows, size[1])][:, _nearest(columns, size[0])]


def grey_context(image: Image.Image) -> np.ndarray:
    """The photo under a signed map: grey, its brightness stretched into
    :data:`CONTEXT_BAND` (its 2nd to 98th percentile), whatever its colours and exposure.

    A red photo no longer hides red evidence, a dark one is lifted, a bright one is
    toned down, and a busy one keeps its shapes at a contrast the map's colours beat.

    Args:
        image: Any PIL image.

    Returns:
        Float32 ``(H, W, 3)`` grey levels (read-only: shared by every map on the photo).
    """
    # A panel draws many signed maps over one photo, again at every display change:
    # the percentiles are computed once per photo (hashing its pixels is ~5x cheaper).
    pixels = image.tobytes()
    key = (image.mode, image.size, hashlib.blake2b(pixels, digest_size=16).digest())
    return _GREY_CONTEXTS.get_or_compute(key, lambda: _grey_context(image))


_GREY_CONTEXTS: LRUCache[np.ndarray] = LRUCache(max_entries=8)  # ~2.4 MB each at 448 px


def _grey_context(image: Image.Image) -> np.ndarray:
    luminance = np.asarray(image.convert("L"), dtype=np.float32)  # (H, W)
    low, high = np.percentile(luminance, (2, 98))
    spread = float(high - low)
    unit = (luminance - low) / spread if spread > 1 else np.full_like(luminance, 0.5)
    bottom, top = CONTEXT_BAND
    grey = bottom + (top - bottom) * np.clip(unit, 0, 1)
    context = np.repeat(grey[..., None], 3, axis=2)
    context.flags.writeable = False
    return context


def overlay(
    image: Image.Image,
    values: np.ndarray,
    signed: bool,
    cmap: str | None = None,
    opacity: float = 0.55,
    mask: np.ndarray | None = None,
    dim: float = 0.35,
) -> Image.Image:
    """Draw normalised values over an image.

    Args:
        image: The picture the map belongs to (any size; the map is enlarged to it).
        values: Output of :meth:`ColourScale.normalize`.
        signed: How ``values`` are scaled. Signed maps are drawn over the photo in grey
            (:func:`grey_context`); unsigned ones over the colour photo (see
            :func:`paint` for the colours and opacities).
        cmap: Colour map; default :func:`default_cmap`.
        opacity: 0 = only the image, 1 = only the heatmap (signed: at full strength).
        mask: Optional boolean ``(H, W)`` (map resolution): outside it the image is
            dimmed and no heat is drawn.
        dim: Brightness kept outside the mask.

    Returns:
        RGB image of ``image``'s size.
    """
    size = image.size
    base = grey_context(image) if signed else np.asarray(image.convert("RGB"), dtype=np.float32)
    # Painted and weighed at the map's resolution, then enlarged: the same values as
    # painting the enlarged map (nearest neighbour copies values), for a quarter of the
    # work at 2x; each display change repaints every tile (issue 21).
    colours, alpha = paint(np.asarray(values, dtype=np.float32), signed,
                           cmap or default_cmap(signed), opacity)  # fmt: skip
    if mask is not None:
        alpha = np.where(mask, alpha, np.float32(0.0))
        inside = _enlarge(np.asarray(mask, dtype=bool), size)[..., None]  # (H, W, 1)
        base = np.where(inside, base, base * dim)
    # float32 throughout: half float64's time; about one pixel in 30,000 lands one level away.
    out = _enlarge((colours * alpha[..., None]).astype(np.float32), size)  # (H, W, 3)
    out += base * _enlarge(1 - alpha, size)[..., None]
    np.clip(out.round(out=out), 0, 255, out=out)
    return Image.fromarray(out.astype(np.uint8), mode="RGB")


def render(
    image: Image.Image,
    heatmap: np.ndarray,
    kind: MapKind,
    settings: DisplaySettings = DEFAULT_DISPLAY,
    scale: ColourScale | None = None,
) -> Image.Image:
    """A raw map over its photo, the way every page, the command line and the reports
    draw it.

    Args:
        image: The picture the map belongs to (any size: the map is enlarged to it).
        heatmap: Raw float map ``(H, W)``.
        kind: The map's kind (its method, or a :class:`MapStyle`).
        settings: Opacity, colour map, top-x% mask.
        scale: The colour scale (a shared one, say); default :func:`colour_scale`.

    Returns:
        RGB image of ``image``'s size.
    """
    scale = scale or colour_scale(heatmap, kind, settings.cmap)
    values = scale.normalize(heatmap)
    top = settings.top_percent
    mask = top_mask(heatmap, top, scale.signed) if top is not None and top < 100 else None
    return overlay(image, values, scale.signed, scale.cmap, settings.opacity, mask)


def heatmap_image(heatmap: np.ndarray, kind: MapKind, cmap: str | None = None) -> Image.Image:
    """The map alone as an RGB image (no underlying photo): the colour map's colours."""
    scale = colour_scale(heatmap, kind, cmap)
    return Image.fromarray(colorize(scale.normalize(heatmap), scale.cmap, scale.signed), "RGB")


# --------------------------------------------------------------------------- values


def hover_grid(heatmap: np.ndarray, cells: int = HOVER_CELLS) -> tuple[np.ndarray, int]:
    """A coarse grid of a map's raw values, for a value read-out under the pointer.

    Args:
        heatmap: Raw float map ``(H, W)``.
        cells: About this many cells along the longer side.

    Returns:
        ``(grid, cell)``: the mean of each ``cell x cell`` block of pixels, float32
        ``(ceil(H / cell), ceil(W / cell))`` (edge blocks average the pixels they have),
        and ``cell`` in map pixels.
    """
    h = np.asarray(heatmap, dtype=np.float32)
    cell = max(1, math.ceil(max(h.shape) / cells))
    rows, columns = math.ceil(h.shape[0] / cell), math.ceil(h.shape[1] / cell)
    padded = np.full((rows * cell, columns * cell), np.nan, dtype=np.float32)
    padded[: h.shape[0], : h.shape[1]] = h
    # (rows * cell, columns * cell) -> (rows, cell, columns, cell) -> mean over the cells
    blocks = padded.reshape(rows, cell, columns, cell)
    return np.nanmean(blocks, axis=(1, 3)).astype(np.float32), cell
