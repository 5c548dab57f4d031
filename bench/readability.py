"""Benchmark: can a user read every map? (issue 22)

For every method on every sample photo (EfficientNet-Lite0, top-1 class, every method at
its defaults), the tile is drawn by the page's own function
(``ui.explain.tiles.tile_picture`` on ``Photo.page_crop()``, with the page's default
display settings) and measured with
:func:`core.attribution.readability.contrast_levels`: the difference, in RGB levels (sum of
|difference| over R, G, B of the mean colours), between the colour the tile paints on
the map's strongest pixels (top 10% of an unsigned map; for a signed map the top 5% of
``|map|``, positive or negative, each sign's mean colour apart, weighted by its pixels)
and on its weakest half. For information the bench also prints, for a signed map, each
sign alone (``for``, ``against``) and each sign's own top 5% against the weakest half
(``for_own``, ``against_own``: weak evidence on one side shows as a low number there).

Target: every method >= 80 levels on every sample photo, Grad-CAM's quality kept.

``--extremes`` adds four photos made from the samples to look at hard cases (not part
of the target): ``red`` (the cat through a red filter), ``dark`` (the espresso at a
fifth of its light), ``bright`` (the astronaut, overexposed) and ``busy`` (a 3 x 3
mosaic of the samples).

Every tile is saved with its colour bar, one sheet per photo, under ``--out``. Maps take
minutes to compute (LIME, occlusion, Score-CAM, RISE); ``--maps DIR`` keeps them (one
``.npz`` per photo) so that a second run only draws.

Run: ``python bench/readability.py [--extremes] [--maps /tmp/maps] [--out /tmp/readability]``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.attribution import METHODS, attributor_for  # noqa: E402
from core.attribution.display import (  # noqa: E402
    DEFAULT_DISPLAY,
    colour_scale,
)
from core.attribution.export import with_colour_bar  # noqa: E402
from core.attribution.readability import contrast_levels  # noqa: E402
from core.common import load_image  # noqa: E402
from core.common.samples import SAMPLES, sample_path  # noqa: E402
from core.models import ImageModel, load_model  # noqa: E402
from ui.explain.tiles import Photo, tile_picture  # noqa: E402

TARGET = 80.0
SHEET_COLUMNS = 5


def _sample(name: str) -> Image.Image:
    return load_image(sample_path(name).read_bytes()).image


def extreme_photos() -> dict[str, Image.Image]:
    """Hard photos for signed overlays, made from the samples (deterministic)."""
    cat = np.asarray(_sample("cat.jpg"), dtype=np.float32)
    red = np.clip(cat * (1.0, 0.4, 0.35) + (70, 0, 0), 0, 255)  # through a red filter
    dark = np.asarray(_sample("espresso.jpg"), dtype=np.float32) * 0.2
    astronaut = np.asarray(_sample("astronaut.jpg"), dtype=np.float32)
    bright = 255 - (255 - astronaut) * 0.25  # overexposed
    rng = np.random.default_rng(0)
    tiles = []
    for name in rng.choice(list(SAMPLES), 9):
        photo = _sample(str(name))
        side = min(photo.size)
        left = int(rng.integers(0, photo.width - side // 2 + 1))
        top = int(rng.integers(0, photo.height - side // 2 + 1))
        tiles.append(photo.crop((left, top, left + side // 2, top + side // 2)).resize((170, 170)))
    busy = Image.new("RGB", (510, 510))
    for i, tile in enumerate(tiles):
        busy.paste(tile, (170 * (i % 3), 170 * (i // 3)))
    pictures = {"red": red, "dark": dark, "bright": bright}
    made = {
        f"extreme:{k}": Image.fromarray(v.round().astype(np.uint8)) for k, v in pictures.items()
    }
    made["extreme:busy"] = busy
    return made


def photo_maps(
    model: ImageModel, image: Image.Image, name: str, methods: list[str], store: Path | None
) -> dict[str, np.ndarray]:
    """Every method's map of the photo's top-1 class (from ``store`` when it has them)."""
    path = store / f"{name.replace(':', '_')}.npz" if store is not None else None
    maps: dict[str, np.ndarray] = {}
    if path is not None and path.exists():
        with np.load(path) as saved:
            maps = {key: saved[key] for key in saved.files}
    missing = [m for m in methods if m not in maps]
    if missing:
        run = attributor_for(model, image)
        for method in missing:
            start = time.perf_counter()
            maps[method] = run.attribute(method, None).heatmap
            print(f"  {name}: {method} computed in {time.perf_counter() - start:.1f} s", flush=True)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, **maps)
    return {m: maps[m] for m in methods}


def sheet(tiles: list[Image.Image], columns: int = SHEET_COLUMNS) -> Image.Image:
    """Tiles of equal width in rows, on white."""
    width = max(t.width for t in tiles)
    height = max(t.height for t in tiles)
    rows = -(-len(tiles) // columns)
    canvas = Image.new("RGB", (columns * width, rows * height), "white")
    for i, tile in enumerate(tiles):
        canvas.paste(tile, ((i % columns) * width, (i // columns) * height))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", nargs="*", default=list(SAMPLES))
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--extremes", action="store_true", help="add the four hard photos")
    parser.add_argument("--maps", type=Path, default=None, help="keep computed maps here")
    parser.add_argument("--out", type=Path, default=Path("/tmp/readability"))
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # caches used outside a server
    model = load_model("efficientnet_lite0")
    photos = {name: _sample(name) for name in args.photos}
    if args.extremes:
        photos.update(extreme_photos())
    args.out.mkdir(parents=True, exist_ok=True)
    scores: dict[str, dict[str, float]] = {m: {} for m in args.methods}
    print(
        f"{'photo':22s} {'method':22s} {'levels':>7s}  signed maps: by sign among the strongest "
        "5%; each sign's own top 5% (_own)"
    )
    for name, image in photos.items():
        maps = photo_maps(model, image, name, args.methods, args.maps)
        photo = Photo(model, image, key=name, label=name)
        crop = photo.page_crop()
        tiles = []
        for method_name, heatmap in maps.items():
            method = METHODS[method_name]
            scale = colour_scale(heatmap, method, DEFAULT_DISPLAY.cmap)
            picture = tile_picture(crop, heatmap, method, DEFAULT_DISPLAY, scale)
            measured = contrast_levels(picture, heatmap, method.signed)
            score = measured.pop("levels")
            scores[method_name][name] = score
            detail = "  ".join(f"{k} {v:5.1f}" for k, v in measured.items())
            print(f"{name:22s} {method_name:22s} {score:7.1f}  {detail}")
            tiles.append(with_colour_bar(picture, scale, DEFAULT_DISPLAY.opacity, method.title))
        sheet(tiles).save(args.out / f"{name.replace(':', '_')}.png")
    print(f"\nPer method, over the sample photos (target >= {TARGET:.0f} levels on each):")
    print(f"{'method':22s} {'min':>6s} {'median':>7s} {'max':>6s}  worst photo")
    failures = 0
    for method_name, by_photo in scores.items():
        samples = {k: v for k, v in by_photo.items() if k in SAMPLES}
        if not samples:
            continue
        worst = min(samples, key=samples.__getitem__)
        values = list(samples.values())
        ok = min(values) >= TARGET
        failures += not ok
        print(
            f"{method_name:22s} {min(values):6.1f} {float(np.median(values)):7.1f} "
            f"{max(values):6.1f}  {worst}{'' if ok else '   BELOW TARGET'}"
        )
        extremes = {k: v for k, v in by_photo.items() if k not in SAMPLES}
        if extremes:
            listed = ", ".join(f"{k.split(':')[1]} {v:.0f}" for k, v in extremes.items())
            print(f"{'':22s} extremes: {listed}")
    print(f"\n{failures} method(s) below target. Pictures: {args.out}/")


if __name__ == "__main__":
    main()
