"""A map as a file: the tile at the photo's resolution, its title and its colour bar
(the page's PNG download, the command line, the HTML report and the evidence bundle).

The picture itself is :func:`core.attribution.display.render`'s, as on the page.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.attribution.display import (
    DEFAULT_DISPLAY,
    ColourScale,
    DisplaySettings,
    MapKind,
    bar_colours,
    colour_scale,
    render,
)
from core.common.images import font as pillow_font

EXPORT_MIN_SIDE = 512  # exported tiles: at least this many pixels on the shorter side...
EXPORT_MAX_SIDE = 1024  # ...the photo's own resolution up to this


def export_side(native_side: float) -> int:
    """Pixels on the shorter side of an exported tile: the photo's own resolution of
    the region the model sees, at least :data:`EXPORT_MIN_SIDE` (a slide) and at most
    :data:`EXPORT_MAX_SIDE`."""
    return int(min(EXPORT_MAX_SIDE, max(EXPORT_MIN_SIDE, round(native_side))))


class Cropper(Protocol):
    """What an export needs of a model (an :class:`~core.models.ImageModel` is one)."""

    def crop(self, img: Image.Image, side: int | None = None) -> Image.Image:
        """The region the network sees, ``side`` pixels on its shorter side."""

    def crop_side(self, img: Image.Image) -> float:
        """The photo's own pixels on the shorter side of that region."""


def export_tile(
    model: Cropper,
    image: Image.Image,
    heatmap: np.ndarray,
    kind: MapKind,
    settings: DisplaySettings = DEFAULT_DISPLAY,
    scale: ColourScale | None = None,
    title: str = "",
    side: int | None = None,
) -> Image.Image:
    """A tile as a file (the page's PNG download, the command line, the HTML report and
    the evidence bundle): the map over the photo at the photo's resolution
    (:func:`export_side`), its title and its colour bar.

    Args:
        model: The model the map explains (its crop).
        image: The photo, as decoded (not cropped).
        heatmap: Raw float map ``(H, W)``.
        kind: The map's kind (its method).
        settings: Opacity, colour map, top-x%.
        scale: The colour scale; default the map's own.
        title: Above the picture (the method's name, say).
        side: Pixels on the picture's shorter side; default :func:`export_side`.

    Returns:
        RGB image.
    """
    crop = model.crop(image, side or export_side(model.crop_side(image)))
    scale = scale or colour_scale(heatmap, kind, settings.cmap)
    picture = render(crop, heatmap, kind, settings, scale)
    return with_colour_bar(picture, scale, settings.opacity, title)


def _fitting_labels(
    scale: ColourScale, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int, gap: int
) -> list[str]:
    """The colour bar's labels: 5, or fewer when long numbers would touch."""
    for count in (5, 3, 2):
        labels = scale.ticks(count)[1]
        step = width / (count - 1)
        sizes = [font.getlength(label) for label in labels]
        # The ends are aligned to the bar's ends, the others centred on their tick.
        room = [sizes[0], *[z / 2 for z in sizes[1:-1]]]
        if all(
            room[i] + (sizes[i + 1] if i + 1 == count - 1 else sizes[i + 1] / 2) + gap <= step
            for i in range(count - 1)
        ):
            return labels
    return scale.ticks(2)[1]


def with_colour_bar(
    picture: Image.Image,
    scale: ColourScale,
    opacity: float = DEFAULT_DISPLAY.opacity,
    title: str = "",
) -> Image.Image:
    """A tile for a file: a title above the picture, its colour bar below it (five
    numbers and the unit), all in proportion to the picture's width.

    Args:
        picture: A rendered tile (:func:`render`).
        scale: Its colour scale.
        opacity: The opacity it was drawn with (a signed map's bar shows it).
        title: What the map is (e.g. the method's name); none when empty.

    Returns:
        RGB image, ``picture``'s width, taller by the title and the bar.
    """
    width, height = picture.size
    text = max(12, round(width / 28))  # font size in pixels
    pad = text // 2
    font = pillow_font(text)
    ink, grey = (20, 20, 20), (90, 90, 90)
    title_h = text + 2 * pad if title else 0
    bar_h = max(8, round(text * 0.9))
    bar_w = width - 6 * pad
    bottom = pad + bar_h + pad // 2 + text + pad // 2 + text + pad
    canvas = Image.new("RGB", (width, title_h + height + bottom), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, pad), title, fill=ink, font=font)
    canvas.paste(picture.convert("RGB"), (0, title_h))
    row = bar_colours(scale, opacity, bar_w)  # (bar_w, 3)
    left, top = 3 * pad, title_h + height + pad
    canvas.paste(Image.fromarray(np.repeat(row[None], bar_h, axis=0), "RGB"), (left, top))
    draw.rectangle((left - 1, top - 1, left + bar_w, top + bar_h), outline=grey)
    labels = _fitting_labels(scale, font, bar_w, pad)
    for i, label in enumerate(labels):
        x = left + round(i * (bar_w - 1) / (len(labels) - 1))
        anchor = "la" if i == 0 else ("ra" if i == len(labels) - 1 else "ma")
        draw.line((x, top + bar_h, x, top + bar_h + pad // 2), fill=grey)
        draw.text((x, top + bar_h + pad // 2), label, fill=ink, font=font, anchor=anchor)
    caption = scale.bar_title + (": red = for the class, blue = against" if scale.signed else "")
    where = (width // 2, top + bar_h + pad + text)
    draw.text(where, caption, fill=(60, 60, 60), font=font, anchor="ma")
    return canvas
