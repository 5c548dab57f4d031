"""core.attribution.display: normalisation, colour maps, masks and overlays."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.attribution.display import (
    DIVERGING_MAPS,
    SEQUENTIAL_MAPS,
    colorize,
    default_cmap,
    heatmap_image,
    normalize,
    overlay,
    render,
    top_mask,
)


def test_signed_normalisation_is_symmetric_and_keeps_zero() -> None:
    h = np.array([[-2.0, -1.0, 0.0, 1.0, 4.0]])
    v = normalize(h, signed=True, percentile=100)
    np.testing.assert_allclose(v, [[-0.5, -0.25, 0.0, 0.25, 1.0]])


def test_unsigned_normalisation_and_percentile_clipping() -> None:
    h = np.arange(1000, dtype=float).reshape(10, 100)
    h[0, 5] = 1e6  # one outlier must not wash out the rest
    v = normalize(h, signed=False, percentile=99)
    assert v[0, 0] == 0
    assert v.max() == 1
    assert 0.4 < v[5, 0] < 0.6
    assert v[0, 5] == 1.0


def test_constant_maps_do_not_divide_by_zero() -> None:
    for signed in (True, False):
        assert not normalize(np.zeros((3, 3)), signed).any()
        assert np.isfinite(normalize(np.full((3, 3), 2.0), signed)).all()


def test_diverging_colours_are_red_for_and_blue_against() -> None:
    colours = colorize(np.array([[-1.0, 0.0, 1.0]]), "red_blue", signed=True)[0]
    blue, white, red = colours.astype(int)
    assert blue[2] > blue[0]
    assert red[0] > red[2]
    assert white.min() > 240
    assert default_cmap(True) in DIVERGING_MAPS
    assert default_cmap(False) in SEQUENTIAL_MAPS
    with pytest.raises(KeyError):
        colorize(np.zeros((1, 1)), "rainbow", signed=False)


def test_top_mask_keeps_the_requested_share() -> None:
    h = np.arange(100, dtype=float).reshape(10, 10)
    mask = top_mask(h, 20, signed=False)
    assert mask.sum() == 20
    assert mask[9].all()
    assert not mask[0].any()
    signed = h - 90  # only 9 positive pixels: "for the class" is at most those
    assert top_mask(signed, 50, signed=True).sum() == 9
    assert not top_mask(h, 0, signed=False).any()


def test_overlay_opacity_and_mask() -> None:
    image = Image.new("RGB", (8, 4), (100, 100, 100))
    values = np.ones((2, 4), dtype=np.float32)  # lower resolution than the image: resized
    assert np.array_equal(np.asarray(overlay(image, values, False, opacity=0.0)), np.asarray(image))
    full = np.asarray(overlay(image, values, False, "gray", opacity=1.0))
    assert (full == 255).all()
    # Signed maps: zero is transparent.
    zero = overlay(image, np.zeros((4, 8), dtype=np.float32), True, opacity=1.0)
    assert np.array_equal(np.asarray(zero), np.asarray(image))
    mask = np.zeros((4, 8), dtype=bool)
    mask[:, :4] = True
    masked = np.asarray(overlay(image, np.ones((4, 8), np.float32), False, "gray", 1.0, mask))
    assert (masked[:, :4] == 255).all()
    assert (masked[:, 4:] == 35).all()


def test_render_and_heatmap_image_shapes() -> None:
    image = Image.new("RGB", (16, 12), (0, 0, 0))
    heat = np.random.default_rng(0).normal(size=(12, 16))
    out = render(image, heat, signed=True, opacity=0.7, top_percent=10)
    assert out.size == (16, 12)
    assert out.mode == "RGB"
    assert heatmap_image(heat, signed=False).size == (16, 12)
