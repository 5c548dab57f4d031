"""Bad and unusual uploads: each becomes an RGB image or a clear message, never a traceback.

Every file is generated here with PIL.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.common.images import MAX_SIDE, ImageLoadError, data_uri, encode_image, load_image
from core.common.samples import sample_path


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(width: int = 80, height: int = 60) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8))


def png_claiming(width: int, height: int) -> bytes:
    """A 1 x 1 PNG whose header claims another size (a 'decompression bomb' header)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is not an image", "not an image"),
        (encode(photo(), "PNG")[:40], "not an image"),
        (png_claiming(9000, 9000), "81 megapixels"),
        (png_claiming(11000, 10000), "110 megapixels"),
        (png_claiming(100_000, 100_000), "too many pixels"),
    ],
    ids=["0 bytes", "text", "header only", "81 MP", "110 MP", "10 gigapixels"],
)
def test_unusable_files_get_a_message(data: bytes, message: str) -> None:
    with pytest.raises(ImageLoadError, match=message):
        load_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_say_so(fmt: str) -> None:
    data = encode(photo(), fmt)
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_supported_format_decodes(fmt: str) -> None:
    loaded = load_image(encode(photo(), fmt))
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (80, 60)
    assert loaded.format == fmt


def test_large_images_are_downscaled_not_rejected() -> None:
    loaded = load_image(encode(Image.new("RGB", (5000, 3000), (200, 10, 10)), "JPEG"))
    assert loaded.image.size == (MAX_SIDE, round(3000 * MAX_SIDE / 5000))
    assert loaded.original_size == (5000, 3000)
    assert any("Downscaled" in note for note in loaded.notes)
    assert np.abs(np.asarray(loaded.image, dtype=int) - (200, 10, 10)).max() < 8


def test_a_jpeg_beyond_pils_bomb_warning_is_decoded_at_reduced_scale() -> None:
    """96 megapixels: over PIL's warning threshold (~89 MP); JPEG decodes at 1/8 scale."""
    big = Image.new("L", (12000, 8000), 90)
    loaded = load_image(encode(big, "JPEG", quality=50))
    assert max(loaded.image.size) == MAX_SIDE
    assert loaded.original_size == (12000, 8000)


def test_cmyk_is_converted() -> None:
    loaded = load_image(encode(Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "JPEG"))
    red, green, blue = np.asarray(loaded.image, dtype=int).reshape(-1, 3).mean(axis=0)
    assert red > 200
    assert green < 60
    assert blue < 60
    assert any("CMYK" in note for note in loaded.notes)


def test_16_bit_greyscale_keeps_its_contrast() -> None:
    ramp = np.linspace(0, 65535, 80 * 60).reshape(60, 80).astype(np.uint16)
    loaded = load_image(encode(Image.fromarray(ramp), "PNG"))
    pixels = np.asarray(loaded.image)
    assert pixels.min() == 0
    assert pixels.max() == 255
    assert any("16-bit" in note for note in loaded.notes)


def test_transparency_is_composited_on_white() -> None:
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:, :5, 3] = 255  # left half opaque red, right half fully transparent
    loaded = load_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    pixels = np.asarray(loaded.image)
    assert (pixels[:, :5] == (255, 0, 0)).all()
    assert (pixels[:, 5:] == 255).all()


def test_palette_images_with_and_without_transparency() -> None:
    palette = photo().convert("P")
    assert load_image(encode(palette, "PNG")).image.mode == "RGB"
    transparent = load_image(encode(palette, "PNG", transparency=0)).image
    assert transparent.mode == "RGB"


def test_animated_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(buffer.getvalue())
    assert loaded.image.getpixel((5, 5)) == (255, 0, 0)
    assert any("first of its 2 frames" in note for note in loaded.notes)


def test_exif_orientation_is_honoured() -> None:
    img = Image.new("RGB", (80, 60), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 10))  # red square top-left as stored
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    loaded = load_image(encode(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.image.size == (60, 80)
    red, green, blue = loaded.image.getpixel((55, 3))  # now top-right
    assert red > 200
    assert blue < 60
    assert any("EXIF" in note for note in loaded.notes)


def test_greyscale_float_and_one_bit_images_become_rgb() -> None:
    for img in (
        Image.fromarray(np.random.default_rng(1).random((20, 30)).astype(np.float32)),
        photo().convert("1"),
        photo().convert("LA"),
    ):
        fmt = "TIFF" if img.mode == "F" else "PNG"
        assert load_image(encode(img, fmt)).image.mode == "RGB"


def test_every_hostile_file_ends_as_promised() -> None:
    """The generated corpus (tests/hostile_files.py): a message or an image the model can
    take, with the promised note; the browser test sends the same files through the page."""
    from core.models import classify, load_model
    from tests.hostile_files import corpus

    files = corpus()
    assert len(files) >= 40
    model = load_model("efficientnet_lite0")
    for case in files:
        if not case.ok:
            with pytest.raises(ImageLoadError) as caught:
                load_image(case.data)
            assert case.expect in str(caught.value), case.name
            continue
        loaded = load_image(case.data)
        assert case.expect in " ".join(loaded.notes), (case.name, loaded.notes)
        assert max(loaded.image.size) <= MAX_SIDE
        assert model.crop(loaded.image).size == (224, 224)
        assert len(classify(model, loaded.image, 3)) == 3


def test_an_image_goes_to_bytes_and_a_data_uri_and_back() -> None:
    """PNG is lossless; JPEG (RGBA flattened to RGB) stays within a few levels of the
    photo in a fraction of the bytes; a data URI carries the same file."""
    photo = load_image(sample_path("cat.jpg").read_bytes()).image
    photo.thumbnail((512, 512))
    png = encode_image(photo, "PNG")
    assert np.array_equal(np.asarray(load_image(png).image), np.asarray(photo))
    jpeg = encode_image(photo.convert("RGBA"), "JPEG")
    back = np.asarray(load_image(jpeg).image, dtype=np.int16)
    assert back.shape == np.asarray(photo).shape
    assert np.abs(back - np.asarray(photo, dtype=np.int16)).mean() < 3
    assert len(jpeg) < len(png) / 3 < photo.width * photo.height
    uri = data_uri(photo, "JPEG")
    assert uri.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == encode_image(photo, "JPEG")
    assert data_uri(photo).startswith("data:image/png;base64,")
