"""A generated corpus of bad and odd upload files, each with how it must end.

Used by the real-browser upload test (tests/browser/test_hostile_uploads.py): every file
goes through the page's upload widget and must end as promised here: the maps (an
``ok`` file, possibly with a note about what was done to it) or a clear message (an
``error`` file) and never a traceback.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Hostile:
    """One file and its expected ending.

    Attributes:
        name: File name (its extension is one the widget accepts).
        data: The bytes.
        ok: True: the page must explain it. False: it must show an error message.
        expect: Text the page must show for it (a note or the error), "" for none.
    """

    name: str
    data: bytes
    ok: bool
    expect: str = ""


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _photo(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 / width, y * 255 / height, (x + y) % 256], axis=2)
    rgb = rgb + rng.normal(0, 10, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload)) + kind + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )  # fmt: skip


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width x height`` with almost no data behind it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )  # fmt: skip


def _exif_rotated() -> bytes:
    image = _photo(300, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return _save(image, "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [_photo(120, 90, seed).convert("P") for seed in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=80)
    return buffer.getvalue()


def _multipage_tiff() -> bytes:
    pages = [_photo(160, 120, seed) for seed in range(3)]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def corpus() -> list[Hostile]:
    """At least 40 bad or odd files, generated (deterministic)."""
    photo = _photo()
    jpeg, png = _save(photo, "JPEG", quality=90), _save(photo, "PNG")
    rng = np.random.default_rng(7)
    grey16 = Image.fromarray((np.arange(200 * 150).reshape(150, 200) * 3).astype(np.uint16))
    floats = Image.fromarray(np.linspace(-3, 7, 120 * 90, dtype=np.float32).reshape(90, 120))
    ints = Image.fromarray((np.arange(120 * 90).reshape(90, 120) * 1000).astype(np.int32))
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 320), (240, 1)).astype(np.uint8)))
    palette_alpha = photo.convert("P")
    palette_alpha.info["transparency"] = 0
    corrupted = bytearray(jpeg)
    corrupted[len(corrupted) // 2 : len(corrupted) // 2 + 40] = bytes(40)
    not_image = "This file is not an image we can read"
    return [
        # broken or not images at all
        Hostile("empty.jpg", b"", False, "The file is empty"),
        Hostile("truncated.jpg", jpeg[: len(jpeg) // 3], False, "cut short"),
        Hostile("truncated.png", png[: len(png) // 2], False, "cut short"),
        Hostile("header_only.png", png[:40], False, ""),
        Hostile("random.png", rng.bytes(5000), False, not_image),
        Hostile("random.jpg", rng.bytes(20000), False, not_image),
        Hostile("text.jpg", b"just some text, not a photo\n" * 50, False, not_image),
        Hostile("page.png", b"<!doctype html><html><body><img src=x></body></html>", False,
                not_image),
        Hostile("drawing.png", b"<svg xmlns='http://www.w3.org/2000/svg' width='10' "
                b"height='10'><rect width='10' height='10'/></svg>", False, not_image),
        Hostile("heic.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + rng.bytes(2000),
                False, not_image),
        Hostile("archive.png", b"PK\x03\x04" + rng.bytes(3000), False, not_image),
        Hostile("document.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + rng.bytes(3000), False,
                not_image),
        Hostile("bomb.png", _png_header_only(30000, 30000), False, "too many pixels"),
        Hostile("wide_bomb.png", _png_header_only(100000, 1000), False, "megapixels"),
        # odd but usable
        Hostile("one_pixel.png", _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), True),
        Hostile("tiny.jpg", _save(_photo(2, 2), "JPEG"), True),
        Hostile("strip_wide.png", _save(_photo(10000, 10), "PNG"), True, "Downscaled"),
        Hostile("strip_tall.png", _save(_photo(10, 10000), "PNG"), True, "Downscaled"),
        Hostile("cmyk.jpg", _save(photo.convert("CMYK"), "JPEG"), True, "from CMYK"),
        Hostile("cmyk.tif", _save(photo.convert("CMYK"), "TIFF"), True, "from CMYK"),
        Hostile("grey16.png", _save(grey16, "PNG"), True, "16-bit greyscale"),
        Hostile("float.tif", _save(floats, "TIFF"), True, "floating-point greyscale"),
        Hostile("int32.tif", _save(ints, "TIFF"), True, "32-bit greyscale"),
        Hostile("palette.png", _save(photo.convert("P"), "PNG"), True, "palette"),
        Hostile("palette_alpha.png", _save(palette_alpha, "PNG"), True, "palette"),
        Hostile("rgba.png", _save(rgba, "PNG"), True, "transparency"),
        Hostile("la.png", _save(rgba.convert("LA"), "PNG"), True, "greyscale with transparency"),
        Hostile("bilevel.png", _save(photo.convert("1"), "PNG"), True, "black and white"),
        Hostile("grey.jpg", _save(photo.convert("L"), "JPEG"), True),
        Hostile("animated.gif", _animated_gif(), True, "first of its 3 frames"),
        Hostile("still.gif", _save(photo.convert("P"), "GIF"), True),
        Hostile("pages.tif", _multipage_tiff(), True, "Multi-page TIFF"),
        Hostile("lzw.tif", _save(photo, "TIFF", compression="tiff_lzw"), True),
        Hostile("rotated.jpg", _exif_rotated(), True, "EXIF orientation"),
        Hostile("photo.webp", _save(photo, "WEBP", quality=80), True),
        Hostile("alpha.webp", _save(rgba, "WEBP", lossless=True), True, "transparency"),
        Hostile("photo.bmp", _save(photo, "BMP"), True),
        Hostile("progressive.jpg", _save(photo, "JPEG", progressive=True), True),
        Hostile("png_named.jpg", png, True),
        Hostile("jpeg_named.png", jpeg, True),
        Hostile("trailing.png", png + rng.bytes(500), True),
        Hostile("corrupted_middle.jpg", bytes(corrupted), True),
        Hostile("big.png", _save(_photo(3000, 2500), "PNG", compress_level=1), True,
                "Downscaled from 3000 x 2500"),
        Hostile("24mp.jpg", _save(_photo(6000, 4000), "JPEG", quality=85), True,
                "Downscaled from 6000 x 4000"),
    ]  # fmt: skip
