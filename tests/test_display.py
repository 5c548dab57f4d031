"""core.attribution.display: scaling, colours, overlays, colour bars, read-outs, exports,
and the page's rendering pinned on two photos (golden values under tests/golden/display).

After a deliberate change of the rendering, regenerate the golden values from the stored
maps: ``python -m tests.test_display --tiles``; to recompute the maps too (EfficientNet-
Lite0, top-1 class, every method at its defaults; minutes): ``python -m tests.test_display``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from core.attribution import METHODS, Method
from core.attribution.display import (
    CLIP_PERCENTILES,
    CONTEXT_BAND,
    DIVERGING_MAPS,
    SCALINGS,
    SEQUENTIAL_MAPS,
    ColourScale,
    DisplaySettings,
    MapStyle,
    bar_colours,
    colorize,
    colour_scale,
    default_cmap,
    grey_context,
    heatmap_image,
    hover_grid,
    overlay,
    paint,
    render,
    shared_scales,
    top_mask,
)
from core.attribution.export import (
    EXPORT_MAX_SIDE,
    EXPORT_MIN_SIDE,
    export_side,
    export_tile,
    with_colour_bar,
)
from core.attribution.readability import contrast_levels

GOLDEN = Path(__file__).resolve().parent / "golden" / "display"
GOLDEN_PHOTOS = ("cat.jpg", "espresso.jpg")
GOLDEN_METHODS = ("gradcam", "saliency", "integrated_gradients", "occlusion", "lime", "lrp", "rise")
THUMBNAIL = 16  # the golden picture: block means of the rendered tile, 16 x 16 x RGB

UNSIGNED = MapStyle(signed=False)
SIGNED = MapStyle(signed=True)


# ------------------------------------------------------------------------- scaling


def test_robust_scaling_clips_at_the_declared_percentile() -> None:
    h = np.arange(1000, dtype=float).reshape(10, 100)
    h[0, 5] = 1e6  # one outlier must not wash out the rest
    scale = colour_scale(h, UNSIGNED)
    assert scale.low == 0
    assert scale.high == pytest.approx(np.percentile(h, CLIP_PERCENTILES["robust"]))
    assert scale.clipped_high
    assert not scale.clipped_low
    v = scale.normalize(h)
    assert v[0, 0] == 0
    assert v[0, 5] == 1.0
    assert 0.45 < v[5, 0] < 0.55
    heavy = colour_scale(h, MapStyle(False, "heavy_tailed"))
    assert heavy.high == pytest.approx(np.percentile(h, 97))  # tighter: heavy tails


def test_band_scaling_spans_a_narrow_band_far_from_zero() -> None:
    # RISE-like: probabilities in [0.30, 0.35]; scaled from zero they would all be ~1.
    h = 0.30 + 0.05 * np.linspace(0, 1, 10_000).reshape(100, 100)
    scale = colour_scale(h, MapStyle(False, "band", "probability"))
    assert scale.low == pytest.approx(0.3005, abs=1e-4)  # 1st percentile
    assert scale.high == pytest.approx(0.3495, abs=1e-4)  # 99th percentile
    v = scale.normalize(h)
    assert v.min() == 0
    assert v.max() == 1
    assert 0.45 < np.median(v) < 0.55
    assert scale.unit == "probability"


def test_signed_scaling_is_symmetric_and_keeps_zero() -> None:
    h = np.linspace(-2, 4, 601).reshape(1, -1)
    scale = colour_scale(h, SIGNED)
    limit = np.percentile(np.abs(h), CLIP_PERCENTILES["robust"])
    assert (scale.low, scale.high) == (pytest.approx(-limit), pytest.approx(limit))
    v = scale.normalize(h)
    assert v[0, 200] == 0  # h = 0
    assert v[0, -1] == 1
    assert v[0, 0] == pytest.approx(-2 / limit)


def test_constant_maps_do_not_divide_by_zero() -> None:
    for style in (UNSIGNED, SIGNED, MapStyle(False, "band")):
        zeros = np.zeros((3, 3))
        assert not colour_scale(zeros, style).normalize(zeros).any()
        twos = np.full((3, 3), 2.0)
        assert np.isfinite(colour_scale(twos, style).normalize(twos)).all()


def test_same_scale_spans_the_maps_of_one_unit_only() -> None:
    a = ColourScale(0, 1, False, "|gradient|", "inferno", 0, 2)
    b = ColourScale(0, 3, False, "|gradient|", "inferno", 0, 3)
    c = ColourScale(-5, 5, True, "logit change", "red_blue", -5, 5)
    shared = shared_scales({"a": a, "b": b, "c": c})
    assert (shared["a"].low, shared["a"].high) == (0, 3)
    assert shared["b"] == b
    assert shared["c"] == c  # alone in its unit
    assert shared["a"].clipped_high is False  # a's own values (max 2) fit the wider scale


def test_colour_bar_numbers_and_power_of_ten() -> None:
    scale = ColourScale(-1.6e-6, 1.6e-6, True, "relevance", "red_blue", -2e-6, 1e-6)
    values, labels = scale.ticks(5)
    assert values == pytest.approx([-1.6e-6, -0.8e-6, 0, 0.8e-6, 1.6e-6])
    assert labels == ["<=-1.6", "-0.8", "0", "0.8", "1.6"]  # only the low end is clipped
    assert scale.bar_title == "relevance (x 1e-6)"
    plain = ColourScale(0, 0.25, False, "probability", "inferno", 0, 0.25)
    assert plain.ticks(3)[1] == ["0", "0.125", "0.25"]
    assert plain.bar_title == "probability"
    assert "0 to 0.25 probability" in plain.describe()


def test_every_method_declares_a_scaling_and_a_unit() -> None:
    for method in METHODS.values():
        assert method.scaling in SCALINGS, method.name
        assert method.unit, method.name
        assert not (method.signed and method.scaling == "band"), method.name
    with pytest.raises(TypeError, match="scaling"):

        class SignedBand(Method):  # a signed map cannot live in a band: zero must stay 0
            name, title, summary, paper, citation = "x", "X", "", "", ""
            signed = True
            scaling = "band"

            def compute(self, run, target, params, progress):  # type: ignore[no-untyped-def]
                raise NotImplementedError


# ------------------------------------------------------------------------- pixels


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


def test_unsigned_overlay_opacity_and_mask() -> None:
    image = Image.new("RGB", (8, 4), (100, 100, 100))
    values = np.ones((2, 4), dtype=np.float32)  # lower resolution than the image: enlarged
    assert np.array_equal(np.asarray(overlay(image, values, False, opacity=0.0)), np.asarray(image))
    full = np.asarray(overlay(image, values, False, "gray", opacity=1.0))
    assert (full == 255).all()
    mask = np.zeros((4, 8), dtype=bool)
    mask[:, :4] = True
    masked = np.asarray(overlay(image, np.ones((4, 8), np.float32), False, "gray", 1.0, mask))
    assert (masked[:, :4] == 255).all()
    assert (masked[:, 4:] == 35).all()


def test_signed_overlay_greys_the_photo_and_ramps_opacity() -> None:
    # A red photo: under a signed map it turns grey (no red evidence hidden in red).
    red = Image.new("RGB", (4, 1), (220, 30, 30))
    grey = np.asarray(overlay(red, np.zeros((1, 4), np.float32), True, opacity=1.0))
    assert (grey == grey[..., :1]).all()  # R = G = B: the photo in grey, and zero is clear
    # A photo's darkest and brightest parts are stretched into the context band.
    ramp = Image.fromarray(np.linspace(0, 40, 100).astype(np.uint8)[None].repeat(3, 0))
    context = grey_context(ramp)[..., 0]
    assert context.min() == CONTEXT_BAND[0]
    assert context.max() == CONTEXT_BAND[1]
    # Opacity sqrt(opacity * |v|): half the evidence at ~71% of the full strength.
    flat = Image.new("RGB", (3, 1), (128, 128, 128))
    values = np.array([[0.0, 0.5, 1.0]], np.float32)
    out = np.asarray(overlay(flat, values, True, opacity=1.0)).astype(float)
    context_grey = grey_context(flat)[0, 0, 0]
    full = colorize(np.array([[1.0]]), "red_blue", True)[0, 0]
    assert out[0, 2] == pytest.approx(full, abs=1)  # |v| = 1: the darkest red, opaque
    shift = np.abs(out[0, 1] - context_grey).sum() / np.abs(full - context_grey).sum()
    assert 0.5 < shift < 0.9  # half the value still paints most of the way


def test_a_single_pixel_speckle_keeps_its_colour_when_enlarged() -> None:
    values = np.zeros((4, 4), np.float32)
    values[1, 2] = 1.0
    picture = np.asarray(overlay(Image.new("RGB", (16, 16)), values, False, "gray", 1.0))
    assert (picture[4:8, 8:12] == 255).all()  # a hard-edged 4 x 4 block, not a blur
    assert (picture[:4] == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40), columns=st.integers(1, 40),
    width=st.integers(1, 120), height=st.integers(1, 120),
    signed=st.booleans(), masked=st.booleans(), seed=st.integers(0, 2**16),
)  # fmt: skip
def test_an_overlay_is_the_enlarged_map_painted_pixel_by_pixel(
    rows: int, columns: int, width: int, height: int, signed: bool, masked: bool, seed: int
) -> None:
    """The overlay paints at the map's resolution and enlarges the paint (fast): the
    pixels of painting the map enlarged by PIL's nearest-neighbour resize (in float64),
    to one level of rounding."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1 if signed else 0, 1, (rows, columns)).astype(np.float32)
    mask = rng.random((rows, columns)) < 0.5 if masked else None
    photo = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    got = np.asarray(overlay(photo, values, signed, None, 0.7, mask))

    def enlarged(array: np.ndarray) -> np.ndarray:
        image = Image.fromarray(array.astype(np.float32), mode="F")
        return np.asarray(image.resize((width, height), Image.Resampling.NEAREST))

    big = enlarged(values)
    base = grey_context(photo) if signed else np.asarray(photo, dtype=np.float32)
    colours, alpha = paint(big, signed, default_cmap(signed), 0.7)
    alpha = alpha[..., None]
    if mask is not None:
        inside = enlarged(mask)[..., None] >= 0.5
        alpha = np.where(inside, alpha, 0.0)
        base = np.where(inside, base, base * 0.35)
    exact = np.clip(base.astype(np.float64) * (1 - alpha) + colours * alpha, 0, 255)
    expected = exact.round().astype(np.uint8)
    # The overlay computes in float32, this reference in float64: a value that is a
    # rounding tie (x.5) may round either way. Ties are common, not rare: a masked-out
    # pixel is 0.35 x an integer, exactly x.5 for 1 integer in 20 (a CI run's example,
    # 14 x 24 map on 16 x 35 pixels, had 3.2% of its values one level away). So: one
    # level at most, and only at a tie. float32's error on a few operations on values up
    # to 255 is ~1e-4; 1e-3 leaves a 10x margin.
    difference = np.abs(got.astype(int) - expected.astype(int))
    assert difference.max() <= 1
    near_tie = np.abs(exact % 1 - 0.5) < 1e-3
    assert not (difference > 0)[~near_tie].any()


def test_signed_colour_bar_is_the_grey_photo_at_zero() -> None:
    scale = ColourScale(-1, 1, True, "logit change", "red_blue", -1, 1)
    bar = bar_colours(scale, opacity=0.55, count=101).astype(float)
    middle = sum(CONTEXT_BAND) / 2
    assert bar[50] == pytest.approx([middle] * 3, abs=1)
    assert bar[-1, 0] > bar[-1, 2]
    assert bar[0, 2] > bar[0, 0]


def test_render_and_heatmap_image_shapes() -> None:
    image = Image.new("RGB", (16, 12), (0, 0, 0))
    heat = np.random.default_rng(0).normal(size=(12, 16))
    out = render(image, heat, SIGNED, DisplaySettings(opacity=0.7, top_percent=10))
    assert out.size == (16, 12)
    assert out.mode == "RGB"
    assert heatmap_image(heat, UNSIGNED).size == (16, 12)


# ------------------------------------------------------------------------- values, files


def test_hover_grid_is_the_block_means() -> None:
    h = np.arange(30, dtype=np.float32).reshape(5, 6)
    grid, cell = hover_grid(h, cells=3)  # 6 / 3 = 2: 2 x 2 blocks, the last row alone
    assert cell == 2
    assert grid.shape == (3, 3)
    assert grid[0, 0] == pytest.approx(np.mean([0, 1, 6, 7]))
    assert grid[2, 2] == pytest.approx(np.mean([28, 29]))  # an edge block: its own pixels
    same, one = hover_grid(h, cells=28)
    assert one == 1
    assert np.array_equal(same, h)


def test_export_size_and_colour_bar() -> None:
    assert export_side(262) == EXPORT_MIN_SIDE  # a small photo: enlarged for a slide
    assert export_side(700) == 700  # the photo's own resolution
    assert export_side(1792) == EXPORT_MAX_SIDE

    class Square:  # a model's crop: the centre square at the requested side
        def crop(self, img: Image.Image, side: int | None = None) -> Image.Image:
            return img.resize((side or 224, side or 224))

        def crop_side(self, img: Image.Image) -> float:
            return min(img.size) * 0.875

    photo = Image.new("RGB", (2000, 1500), (90, 120, 150))
    heat = np.random.default_rng(1).normal(size=(224, 224))
    tile = export_tile(Square(), photo, heat, SIGNED, title="A map")
    assert tile.width == 1024
    assert tile.height > 1024
    scale = colour_scale(heat, SIGNED)
    picture = render(Image.new("RGB", (512, 512)), heat, SIGNED, scale=scale)
    framed = np.asarray(with_colour_bar(picture, scale, 0.55, "A map"))
    assert framed.shape[1] == 512
    bar_row = framed[512 + 60 :].reshape(-1, 3)
    assert (bar_row[:, 0] > bar_row[:, 2] + 80).any()
    assert (bar_row[:, 2] > bar_row[:, 0] + 80).any()


def test_contrast_levels_on_hand_made_tiles() -> None:
    heat = np.zeros((10, 10))
    heat[0, :] = 1.0  # the strongest 10%
    picture = np.full((10, 10, 3), 100, np.uint8)
    picture[0] = (200, 150, 100)
    levels = contrast_levels(Image.fromarray(picture), heat, signed=False)
    assert levels == {"levels": 100 + 50 + 0}
    signed = np.zeros((20, 20))
    signed[0, :10], signed[1, :10] = 2.0, -2.0  # the strongest 5%: 10 for, 10 against
    tile = np.full((20, 20, 3), 100, np.uint8)
    tile[0, :10], tile[1, :10] = (190, 100, 100), (100, 100, 130)
    levels = contrast_levels(Image.fromarray(tile), signed, signed=True)
    assert levels["for"] == 90
    assert levels["against"] == 30
    assert levels["levels"] == 60  # weighted by their pixels


# ------------------------------------------------------------------------- golden


def _golden_tiles() -> dict[str, dict[str, object]]:
    """The page's tiles of the golden maps, rendered now (the function under test)."""
    from core.common import load_image, sample_path
    from core.models import load_model
    from ui.explain.tiles import PAGE_SCALE, tile_picture

    model = load_model("efficientnet_lite0")
    settings = DisplaySettings()
    out: dict[str, dict[str, object]] = {}
    with np.load(GOLDEN / "maps.npz") as stored:
        maps = {key: stored[key].astype(np.float32) for key in stored.files}
    for photo in GOLDEN_PHOTOS:
        crop = model.crop(load_image(sample_path(photo).read_bytes()).image, PAGE_SCALE * 224)
        for name in GOLDEN_METHODS:
            heat = maps[f"{photo}/{name}"]
            method = METHODS[name]
            scale = colour_scale(heat, method, settings.cmap)
            picture = tile_picture(crop, heat, method, settings, scale)
            thumb = picture.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX)
            out[f"{photo}/{name}"] = {
                "low": scale.low, "high": scale.high, "unit": scale.unit,
                "levels": contrast_levels(picture, heat, method.signed)["levels"],
                "thumbnail": np.asarray(thumb).tolist(),
            }  # fmt: skip
    return out


def test_the_page_s_rendering_is_pinned_on_two_photos() -> None:
    """Maps stored at 112 x 112 (float16), rendered by the page's tile function over
    the photo's 448 px crop: colour scales, the readability measure (>= 80 levels, the
    issue's target) and a 16 x 16 thumbnail of every tile match the golden values."""
    golden = json.loads((GOLDEN / "tiles.json").read_text())
    now = _golden_tiles()
    assert set(now) == set(golden)
    for key, expected in golden.items():
        got = now[key]
        assert got["unit"] == expected["unit"], key
        assert got["low"] == pytest.approx(expected["low"], rel=1e-5, abs=1e-12), key
        assert got["high"] == pytest.approx(expected["high"], rel=1e-5, abs=1e-12), key
        assert got["levels"] == pytest.approx(expected["levels"], abs=1.0), key
        assert got["levels"] >= 80, key
        # One level of rounding (a value on a colour-table boundary) is allowed.
        difference = np.abs(np.array(got["thumbnail"]) - np.array(expected["thumbnail"]))
        assert difference.max() <= 1, (key, difference.max())


def _write_golden(maps_too: bool) -> None:
    """Recompute the golden values (and first the maps, with ``maps_too``)."""
    GOLDEN.mkdir(parents=True, exist_ok=True)
    if maps_too:
        _write_golden_maps()
    (GOLDEN / "tiles.json").write_text(json.dumps(_golden_tiles()))
    print(f"wrote {GOLDEN}/tiles.json" + (" and maps.npz" if maps_too else ""))


def _write_golden_maps() -> None:
    """The golden maps: EfficientNet-Lite0, top-1 class, every method at its defaults."""
    from core.attribution import attributor_for
    from core.common import load_image, sample_path
    from core.models import load_model

    model = load_model("efficientnet_lite0")
    maps: dict[str, np.ndarray] = {}
    for photo in GOLDEN_PHOTOS:
        run = attributor_for(model, load_image(sample_path(photo).read_bytes()).image)
        for name in GOLDEN_METHODS:
            heat = run.attribute(name, None).heatmap  # (224, 224) -> (112, 112) block means
            maps[f"{photo}/{name}"] = (
                heat.reshape(112, 2, 112, 2).mean(axis=(1, 3)).astype(np.float16)
            )
    np.savez_compressed(GOLDEN / "maps.npz", **maps)


if __name__ == "__main__":
    _write_golden(maps_too="--tiles" not in sys.argv)
