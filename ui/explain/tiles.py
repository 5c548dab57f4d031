"""A map's tile, drawn the same way on every page: the overlay, its colour bar (numbers
and unit), the raw value under the pointer, the caption and the downloads.

A tile is a Plotly figure: the overlay (:func:`core.attribution.display.render`, as a
JPEG data URI) is the figure's picture, and a coarse grid of the map's raw values
(:func:`core.attribution.display.hover_grid`), fully transparent, lies on it for the
read-out and carries the colour bar. Figures are cached process-wide by (map key,
display settings, colour scale): a rerun with every map cached renders, encodes and
builds nothing (Streamlit only serialises the cached figure).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.attribution.display import (
    ColourScale,
    DisplaySettings,
    MapKind,
    colour_scale,
    colour_stops,
    hover_grid,
    render,
    shared_scales,
)
from core.attribution.export import export_tile
from core.common import LRUCache
from core.common.images import data_uri
from core.models import ImageModel
from core.reports import png_bytes
from ui.explain.export import tile_downloads

K = TypeVar("K", bound=Hashable)
PAGE_SCALE = 2  # the page's overlays: twice the model's input (sharp on a wide tile)
FIGURE_HEIGHT = 370  # pixels: the picture and the colour bar under it
# The overlay is sent with the figure on every rerun: a JPEG (quality 85) is a quarter
# of a PNG's bytes (27-92 kB at 448 px; its 2 x 2 colour subsampling matches the map's
# 2 x 2 pixel blocks, so the colours of single-pixel speckles survive).
JPEG, JPEG_QUALITY = "JPEG", 85
# Figures kept: a 448 x 448 overlay is ~40-120 kB as a data URI.
MAX_FIGURES, MAX_FIGURE_BYTES = 256, 48 * 2**20


@dataclass(frozen=True, eq=False)
class Photo:
    """The photo a panel's maps are drawn over, cropped as its model sees it on demand.

    Attributes:
        model: The model (its crop).
        image: The decoded photo.
        key: Hash of the photo's bytes (the cache key of everything drawn on it).
        label: Its name, for file names.
    """

    model: ImageModel
    image: Image.Image
    key: str
    label: str = "image"

    def network_crop(self) -> Image.Image:
        """The picture the network sees (``model.crop``: its input size; cached, so a
        rerun does not resize a large photo again)."""
        return _crops().get_or_compute(
            (self.model.name, self.key, None), lambda: self.model.crop(self.image)
        )

    def page_crop(self) -> Image.Image:
        """The crop tiles are drawn on: :data:`PAGE_SCALE` x the model's input (cached)."""
        side = PAGE_SCALE * min(self.model.input_size)
        return _crops().get_or_compute(
            (self.model.name, self.key, side), lambda: self.model.crop(self.image, side)
        )


@st.cache_resource
def _crops() -> LRUCache[Image.Image]:
    # The current photo's crop per model and a few more (0.6 MB each at 448 x 448).
    return LRUCache(max_entries=8)


def _figure_bytes(figure: object) -> int:
    assert isinstance(figure, go.Figure)
    images = figure.layout.images
    return (len(images[0].source) if images else 0) + 4 * 64 * 64  # URI + value grid


@st.cache_resource
def figure_cache() -> LRUCache[go.Figure]:
    """Every tile's figure in this process, shared by every session (never mutated)."""
    return LRUCache(max_entries=MAX_FIGURES, max_bytes=MAX_FIGURE_BYTES, size_of=_figure_bytes)


def map_figure(
    picture: Image.Image,
    heatmap: np.ndarray,
    scale: ColourScale,
    opacity: float,
    height: int = FIGURE_HEIGHT,
    cells: int | None = None,
    validate: bool = False,
) -> go.Figure:
    """A tile's figure: the rendered picture, its colour bar and a value read-out.

    Args:
        picture: The overlay (any size: it is stretched over the map's pixels).
        heatmap: The raw map ``(H, W)`` the picture shows.
        scale: Its colour scale (the bar's numbers and unit).
        opacity: The opacity it was drawn with (a signed map's bar shows it).
        height: Figure height in pixels.
        cells: Read-out cells along the longer side; default
            :data:`core.attribution.display.HOVER_CELLS` (a 28 x 28 digit: pass 28).
        validate: Let Plotly check every property (slow; the tests do).

    Returns:
        The figure: axes in map pixels (y down), no zoom, no mode bar needed.
    """
    grid, cell = hover_grid(heatmap) if cells is None else hover_grid(heatmap, cells)
    tick_values, tick_texts = scale.ticks(5)
    inside = 1e-6 * (scale.high - scale.low)  # Plotly drops a tick exactly at an end
    tick_values = [tick_values[0] + inside, *tick_values[1:-1], tick_values[-1] - inside]
    rows, columns = heatmap.shape
    where = (
        "x %{x}, y %{y}"
        if cell == 1
        else f"around x %{{x:.0f}}, y %{{y:.0f}} (mean of {cell} x {cell} pixels)"
    )
    values = {
        "type": "heatmap", "z": grid, "x0": (cell - 1) / 2, "dx": cell,
        "y0": (cell - 1) / 2, "dy": cell, "zmin": scale.low, "zmax": scale.high,
        "colorscale": colour_stops(scale, opacity),
        "opacity": 0,  # the picture shows the colours: this grid only reads values out
        "hovertemplate": f"{where}<br><b>%{{z:.3g}}</b> {scale.unit}<extra></extra>",
        "colorbar": {
            "orientation": "h", "thickness": 10, "len": 0.8, "y": -0.02,
            "yanchor": "top", "outlinewidth": 0, "tickvals": tick_values,
            "ticktext": tick_texts, "ticklabeloverflow": "allow",  # the ends: ">="
            "title": {"text": scale.bar_title, "side": "bottom"},
        },
    }  # fmt: skip
    picture_layer = {
        "source": data_uri(picture.convert("RGB"), JPEG, JPEG_QUALITY),
        "xref": "x", "yref": "y", "x": -0.5, "y": -0.5, "sizex": columns, "sizey": rows,
        "sizing": "stretch", "layer": "below",
    }  # fmt: skip
    layout = {
        "images": [picture_layer],
        "height": height,
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "xaxis": {"visible": False, "range": [-0.5, columns - 0.5], "fixedrange": True},
        "yaxis": {"visible": False, "range": [rows - 0.5, -0.5], "fixedrange": True,
                  "scaleanchor": "x", "constrain": "domain"},
        "plot_bgcolor": "rgba(0,0,0,0)",
        "paper_bgcolor": "rgba(0,0,0,0)",
    }  # fmt: skip
    # Without Plotly's validation: every display change rebuilds every tile's figure,
    # and validating one took ~8 ms of its ~10 (issue 21: a slider move <= 0.2 s of
    # server CPU). The suite checks that the validated figure is the same.
    return go.Figure({"data": [values], "layout": layout}, _validate=validate)


def tile_picture(
    photo: Image.Image,
    heatmap: np.ndarray,
    method: MapKind,
    settings: DisplaySettings,
    scale: ColourScale | None = None,
) -> Image.Image:
    """The overlay a tile shows: what :func:`draw_tile` puts in its figure, and what
    ``bench/readability.py`` measures."""
    return render(photo, heatmap, method, settings, scale)


@st.cache_resource
def _scales() -> LRUCache[ColourScale]:
    return LRUCache(max_entries=1024)  # a few hundred bytes each


def tile_scale(key: Hashable, heatmap: np.ndarray, kind: MapKind, cmap: str) -> ColourScale:
    """A map's own colour scale (:func:`colour_scale`), kept under its cache key: its
    percentiles took ~5% of a rerun's CPU, computed for every tile on every rerun."""
    return _scales().get_or_compute(
        (key, kind.signed, kind.scaling, kind.unit, cmap),
        lambda: colour_scale(heatmap, kind, cmap),
    )


def shared_tile_scales(
    maps: Mapping[K, tuple[MapKind, np.ndarray]], settings: DisplaySettings
) -> dict[K, ColourScale]:
    """The "same scale" option: each map's colour scale widened to every map of the
    same unit and sign (a map alone in its unit keeps its own).

    Args:
        maps: Key -> (the map's kind, i.e. its method; the raw map).
        settings: The display settings (the colour map of unsigned maps).

    Returns:
        Key -> the colour scale to draw it with.
    """
    own = {key: tile_scale(key, map_, kind, settings.cmap) for key, (kind, map_) in maps.items()}
    return shared_scales(own)


def export_png(
    photo: Photo, heatmap: np.ndarray, method: Any, settings: DisplaySettings, scale: ColourScale
) -> bytes:
    """The tile as a file: 512-1024 px (the photo's resolution), title and colour bar."""
    picture = export_tile(photo.model, photo.image, heatmap, method, settings, scale, method.title)
    return png_bytes(picture)


def draw_tile(
    slot: Any,
    key: Hashable,
    name: str,
    method: Any,
    heatmap: np.ndarray,
    photo: Photo,
    settings: DisplaySettings,
    scale: ColourScale | None = None,
    caption: str = "",
    notes: Sequence[str] = (),
    downloads: bool = True,
) -> ColourScale:
    """Draw one map's tile into ``slot`` (an ``st.empty()``, a column...).

    Args:
        slot: Where the tile goes; its content is replaced.
        key: The map's cache key (model, photo, method, parameters, class).
        name: The method's registry name (widget keys, file names).
        method: The method (a :class:`~core.attribution.base.Method`: its title, summary,
            paper and :class:`~core.attribution.display.MapKind`).
        heatmap: The raw map.
        photo: The photo it explains.
        settings: Opacity, colour map, top-x%.
        scale: A shared colour scale; default the map's own.
        caption: The first line under the picture (title, time, engine...).
        notes: Further lines (the method's notes).
        downloads: The PNG (512-1024 px, with its colour bar) and raw-map buttons.

    Returns:
        The colour scale the tile was drawn with.
    """
    scale = scale or tile_scale(key, heatmap, method, settings.cmap)

    def build() -> go.Figure:
        picture = tile_picture(photo.page_crop(), heatmap, method, settings, scale)
        return map_figure(picture, heatmap, scale, settings.opacity)

    figure = figure_cache().get_or_compute((key, settings, scale), build)
    # A tile redrawn on a shared scale in the same run needs fresh widget keys.
    tag = "_" + hashlib.blake2s(repr(scale).encode(), digest_size=4).hexdigest()
    sign = " Red = for the class, blue = against, clear = 0." if scale.signed else ""
    # The colour bar says what the colours mean; its ">=" / "<=" ends mark clipped values.
    with slot.container():
        st.plotly_chart(
            figure, key=f"tile_{name}{tag}", config={"displayModeBar": False}, on_select="ignore"
        )
        if caption:
            st.caption(caption)
        st.caption(f"{method.summary}{sign} [Paper]({method.paper})")
        for note in notes:
            st.caption(f":material/info: {note}")
        if downloads:
            png = functools.partial(export_png, photo, heatmap, method, settings, scale)
            tile_downloads(st, name, png, heatmap, photo.label, tag)
    return scale
