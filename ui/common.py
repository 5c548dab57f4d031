"""Streamlit helpers shared by the pages: cached models, the model and image pickers.

Everything computed lives in ``core/``; this module only caches and renders.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import streamlit as st
from PIL import Image

from core.common.images import SUPPORTED_EXTENSIONS, ImageLoadError, load_image
from core.common.samples import SAMPLES, sample_path
from core.models import (
    DEFAULT_MODEL,
    ImageModel,
    ModelUnavailable,
    Prediction,
    classify,
    list_models,
    load_model,
    model_spec,
    weights_available,
)


@st.cache_resource(show_spinner="Loading the embedded model...")
def default_model() -> ImageModel:
    """The embedded EfficientNet-Lite0, built once per process and never evicted."""
    return load_model(DEFAULT_MODEL)


# Zoo models are large (VGG-16 alone is 530 MB): keep at most two in memory.
@st.cache_resource(show_spinner="Loading model weights...", max_entries=2)
def _zoo_model(name: str) -> ImageModel:
    return load_model(name)


def cached_model(name: str) -> ImageModel:
    """One shared instance per model per process. Never mutate what this returns.

    Raises:
        ModelUnavailable: the weights could not be fetched (not cached, so a later
            rerun tries again).
    """
    return default_model() if name == DEFAULT_MODEL else _zoo_model(name)


def model_picker(key: str = "model", sidebar: bool = True) -> ImageModel:
    """A select box over the registry; falls back to the default model with a message.

    Args:
        key: Widget key (pages sharing a key share the choice).
        sidebar: Draw it in the sidebar.

    Returns:
        The chosen model, or the embedded default when the choice cannot be loaded.
    """
    where = st.sidebar if sidebar else st

    def label(name: str) -> str:
        spec = model_spec(name)
        return spec.title if weights_available(name) else f"{spec.title} (downloads weights)"

    name = where.selectbox("Model", list_models(), format_func=label, key=key)
    try:
        return cached_model(name)
    except ModelUnavailable as err:
        where.warning(f"{err}\n\nShowing the embedded EfficientNet-Lite0 instead.")
        return default_model()


@dataclass(frozen=True)
class ImageInput:
    """The image a page works on.

    Attributes:
        image: RGB PIL image.
        key: Hash of the source bytes: the cache key for every result on this image.
        label: File name or sample caption.
        data: The file's bytes (for evidence bundles).
        sample: The sample's file name, None for an upload (for shareable links).
    """

    image: Image.Image
    key: str
    label: str
    data: bytes = field(default=b"", repr=False)
    sample: str | None = None


@st.cache_data(show_spinner=False, max_entries=32)
def _decode(data: bytes) -> tuple[Image.Image, list[str]]:
    loaded = load_image(data)
    return loaded.image, loaded.notes


def image_picker(key: str = "image", sidebar: bool = False) -> ImageInput | None:
    """Sample picker or upload; returns the image, or None after showing why not.

    Bad uploads (not an image, truncated, empty, too large) get a message, never a
    traceback; the previous choice stays selected.

    Args:
        key: Widget key prefix.
        sidebar: Draw it in the sidebar.
    """
    where = st.sidebar if sidebar else st
    source = where.segmented_control(
        "Image", ["Sample", "Upload"], default="Sample", key=f"{key}_source"
    )
    if source == "Upload":
        upload = where.file_uploader(
            "Upload a photo",
            type=list(SUPPORTED_EXTENSIONS),
            key=f"{key}_upload",
            help="JPEG, PNG, WebP, BMP, TIFF or GIF (first frame). Large photos are downscaled.",
        )
        if upload is None:
            where.info("Upload a photo, or switch to a sample.")
            return None
        data, label = upload.getvalue(), upload.name
    else:
        name: str = where.selectbox(
            "Sample photo", list(SAMPLES), format_func=SAMPLES.__getitem__, key=f"{key}_sample"
        ) or next(iter(SAMPLES))
        data, label = sample_path(name).read_bytes(), SAMPLES[name]
    try:
        image, notes = _decode(data)
    except ImageLoadError as err:
        where.error(f"**{label}**: {err}")
        return None
    for note in notes:
        where.caption(note)
    sample = name if source != "Upload" else None
    return ImageInput(image, hashlib.sha256(data).hexdigest(), label, data, sample)


@st.cache_data(show_spinner=False, max_entries=256)
def cached_top_k(
    model_name: str, image_key: str, _image: Image.Image, k: int = 5
) -> list[Prediction]:
    """Top-k predictions, cached on (model, image bytes hash, k)."""
    return classify(cached_model(model_name), _image, k)


def show_top_k(predictions: list[Prediction]) -> None:
    """Top-k as a labelled bar list (probability bars with the logit in the caption)."""
    for p in predictions:
        st.progress(p.probability, text=f"**{p.label}** {p.probability:.1%} (logit {p.logit:.2f})")
