"""Reading user images safely: any upload becomes an RGB PIL image or a human message.

Handles JPEG, PNG, WebP, BMP, TIFF and GIF (first frame), EXIF orientation, CMYK,
16-bit and float greyscale, palette and transparent images, and very large images
(downscaled, or refused with a message when decoding them would take too much memory).
Also the way back: an image as file bytes or a data URI.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFont, ImageOps, UnidentifiedImageError

SUPPORTED_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")
MAX_SIDE = 2048  # larger images are downscaled to this long side
MAX_MEGAPIXELS = 60  # larger ones are refused (decoding would take GBs of memory)
MAX_BYTES = 50 * 1024 * 1024


class ImageLoadError(ValueError):
    """An upload that cannot be used; the message is written for the user."""


@dataclass
class LoadedImage:
    """A decoded upload.

    Attributes:
        image: 8-bit RGB image, EXIF orientation applied, long side <= MAX_SIDE.
        original_size: (width, height) as stored in the file.
        format: PIL's format name ("JPEG", "PNG", ...).
        notes: What was done to the image, in plain words (for the page to show).
    """

    image: Image.Image
    original_size: tuple[int, int]
    format: str
    notes: list[str] = field(default_factory=list)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB.

    Transparency is composited on white; 16-bit and float images are scaled from their
    real value range (a plain ``convert`` would clip them to white).
    """
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = np.round((arr - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    return img.convert("RGB")


def load_image(data: bytes, max_side: int = MAX_SIDE) -> LoadedImage:
    """Decode uploaded bytes into an RGB image, or explain why not.

    Args:
        data: The file's bytes.
        max_side: Long side above which the image is downscaled.

    Returns:
        The decoded :class:`LoadedImage`.

    Raises:
        ImageLoadError: empty, not an image, truncated, or too large to decode.
    """
    if not data:
        raise ImageLoadError("The file is empty (0 bytes). Please choose another image.")
    if len(data) > MAX_BYTES:
        raise ImageLoadError(
            f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB."
        )
    try:
        with warnings.catch_warnings():
            # PIL warns between ~89 and ~179 megapixels; opening only reads the header, and
            # the size checks below decide (a large JPEG is decoded at reduced scale).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageLoadError(
            "This file is not an image we can read. Please upload a JPEG, PNG, WebP, BMP, "
            "TIFF or GIF file."
        ) from None
    except Image.DecompressionBombError:
        raise ImageLoadError(
            f"This image has too many pixels to decode safely (its header says more than "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} megapixels); the limit is "
            f"{MAX_MEGAPIXELS} megapixels. Please downscale it first."
        ) from None
    except Exception as err:  # noqa: BLE001 - PIL raises many types on corrupt headers
        raise ImageLoadError(f"This image could not be opened ({err}).") from None

    fmt = img.format or "unknown"
    width, height = img.size
    notes: list[str] = []
    megapixels = width * height / 1e6
    if width < 1 or height < 1:
        raise ImageLoadError("This image has no pixels.")
    if megapixels > MAX_MEGAPIXELS and fmt != "JPEG":
        raise ImageLoadError(
            f"This image is {width} x {height} pixels ({megapixels:.0f} megapixels); "
            f"the limit is {MAX_MEGAPIXELS} megapixels. Please downscale it first."
        )
    frames = int(getattr(img, "n_frames", 1))
    if frames > 1:
        kind = "Multi-page" if fmt == "TIFF" else "Animated"
        notes.append(f"{kind} {fmt}: using the first of its {frames} frames.")
        img.seek(0)
    if fmt == "JPEG" and max(width, height) > max_side:
        # Decode at 1/2, 1/4 or 1/8 scale directly: fast and light even for huge photos.
        img.draft("RGB", (max_side, max_side))
    try:
        img.load()
    except OSError as err:
        if "truncated" in str(err):
            raise ImageLoadError(
                "This image file is cut short (truncated): part of it is missing. "
                "Please upload the complete file."
            ) from None
        raise ImageLoadError(f"This image could not be decoded ({err}).") from None
    except Exception as err:  # noqa: BLE001 - decoders raise many types on corrupt data
        raise ImageLoadError(f"This image could not be decoded ({err}).") from None

    if img.getexif().get(0x0112, 1) not in (1, None):  # EXIF orientation tag
        img = ImageOps.exif_transpose(img)
        notes.append("Rotated as its EXIF orientation says.")
    if img.mode not in ("RGB", "L"):
        notes.append(f"Converted from {describe_mode(img.mode)} to RGB.")
    img = to_rgb(img)
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if img.size != (width, height) and max(width, height) > max_side:
        notes.append(f"Downscaled from {width} x {height} to {img.size[0]} x {img.size[1]}.")
    return LoadedImage(image=img, original_size=(width, height), format=fmt, notes=notes)


def encode_image(picture: Image.Image, image_format: str = "PNG", quality: int = 95) -> bytes:
    """An image as file bytes.

    Args:
        picture: Any PIL image (converted to RGB for JPEG, which has no alpha channel).
        image_format: A PIL format name: ``"PNG"`` (lossless) or ``"JPEG"`` (about a tenth
            of the bytes for a photo), or any other format PIL writes.
        quality: JPEG quality (1-95); ignored by lossless formats.

    Returns:
        The encoded file.
    """
    buffer = io.BytesIO()
    if image_format.upper() in ("JPEG", "JPG"):
        picture.convert("RGB").save(buffer, format="JPEG", quality=quality)
    else:
        picture.save(buffer, format=image_format)
    return buffer.getvalue()


def data_uri(picture: Image.Image, image_format: str = "PNG", quality: int = 95) -> str:
    """A data URI of an image, to inline it in HTML or hand it to a browser component.

    Args:
        picture: The image.
        image_format: ``"PNG"`` (lossless) or ``"JPEG"`` (a photo in about a tenth of the
            bytes).
        quality: JPEG quality (see :func:`encode_image`).

    Returns:
        ``data:<MIME type>;base64,...``.
    """
    encoded = base64.b64encode(encode_image(picture, image_format, quality)).decode()
    fmt = "JPEG" if image_format.upper() == "JPG" else image_format.upper()
    return f"data:{Image.MIME[fmt]};base64,{encoded}"  # PIL's own format -> MIME type table


def describe_mode(mode: str) -> str:
    """PIL mode -> plain words."""
    return {
        "RGBA": "RGB with transparency (composited on white)",
        "LA": "greyscale with transparency (composited on white)",
        "P": "a palette image",
        "PA": "a palette image with transparency",
        "CMYK": "CMYK",
        "I;16": "16-bit greyscale",
        "I;16B": "16-bit greyscale",
        "I;16L": "16-bit greyscale",
        "I": "32-bit greyscale",
        "F": "floating-point greyscale",
        "1": "black and white",
        "YCbCr": "YCbCr",
        "LAB": "Lab",
        "HSV": "HSV",
    }.get(mode, mode)


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (FreeType when Pillow has it, else its
    small bitmap font): what pictures the app draws text on use."""
    return ImageFont.load_default(size=size)
