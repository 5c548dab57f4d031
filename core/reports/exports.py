"""Maps as files: one tile as PNG, one raw map as ``.npy``, all maps as ``.npz``."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from core.common.images import encode_image


def png_bytes(picture: Image.Image) -> bytes:
    """An image as PNG bytes (a tile, as shown on the page)."""
    return encode_image(picture, "PNG")


def npy_bytes(heatmap: np.ndarray) -> bytes:
    """One raw map, float32, as a ``.npy`` file."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(heatmap, dtype=np.float32))
    return buffer.getvalue()


def npz_bytes(maps: Mapping[str, np.ndarray]) -> bytes:
    """All maps as one compressed ``.npz``: keys = method names, float32, input resolution."""
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float32) for k, v in maps.items()}
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    """The maps of an ``.npz`` written by :func:`npz_bytes`."""
    with np.load(io.BytesIO(data)) as archive:
        return {name: archive[name] for name in archive.files}
