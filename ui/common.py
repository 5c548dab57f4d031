"""Streamlit helpers shared by the pages: cached models, the model and image pickers.

Everything computed lives in ``core/``; this module only caches and renders.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from PIL import Image

from core.common.hooks import count_hooks
from core.common.images import (
    SUPPORTED_EXTENSIONS,
    ImageLoadError,
    encode_image,
    load_image,
)
from core.common.samples import SAMPLE_FIELD, SAMPLES, sample_path
from core.common.scheduler import default_scheduler
from core.models import (
    DEFAULT_MODEL,
    MODEL_FIELD,
    ImageModel,
    ModelFileError,
    ModelUnavailable,
    Prediction,
    is_file_model_name,
    list_models,
    load_model,
    model_spec,
    weights_available,
)
from core.pipeline import submit_top_k
from ui.own_model import OWN_MODEL, own_model, own_model_source, session_models, upload_form
from ui.state import Bound, Session, current, keep, link_notice
from ui.work import session_id


@st.cache_resource(show_spinner="Loading the embedded model...")
def default_model() -> ImageModel:
    """The embedded EfficientNet-Lite0, built once per process and never evicted."""
    return load_model(DEFAULT_MODEL)


# Zoo models are large (VGG-16 alone is 530 MB): keep at most two in memory.
@st.cache_resource(show_spinner="Loading model weights...", max_entries=2)
def _zoo_model(name: str) -> ImageModel:
    return load_model(name)


# The other embedded models (EfficientNet-Lite1 and Lite2, ~25 MB each): never evicted,
# so Compare's offline default of three models never reloads one.
@st.cache_resource(show_spinner="Loading an embedded model...")
def _embedded_model(name: str) -> ImageModel:
    return load_model(name)


def cached_model(name: str) -> ImageModel:
    """One shared instance per model per process. Never mutate what this returns.

    Args:
        name: A registered model, or one uploaded in this process (``file-...``).

    Raises:
        ModelUnavailable: the weights could not be fetched (not cached, so a later
            rerun tries again).
        ModelFileError: an uploaded model whose file can no longer be read.
    """
    if name == DEFAULT_MODEL:
        return default_model()
    if own_model_source(name) is not None:
        return own_model(name)
    return _embedded_model(name) if model_spec(name).offline else _zoo_model(name)


def model_title(name: str) -> str:
    """A model's title: the registry's, or an uploaded model's file name."""
    source = own_model_source(name)
    if source is not None:
        return f"{source.title} (your model)"
    return model_spec(name).title


LAST_MODEL = "shared_last_model"  # the model last picked on any page (plain key)


def model_picker(key: str = "model", sidebar: bool = True) -> ImageModel:
    """A select box over the registry, this session's uploaded models and "Your own
    model…" (the upload form); falls back to the default model with a message.

    While the form is open, and when a file cannot be used, the previous model stays in
    use. A model loaded by the form is selected, kept for the session and offered on
    every page that picks a photo model.

    Args:
        key: Widget key (pages sharing a key share the choice).
        sidebar: Draw it in the sidebar.

    Returns:
        The chosen model, or the embedded default when the choice cannot be loaded.
    """
    where = st.sidebar if sidebar else st
    own = session_models()
    options = [*list_models(), *own, OWN_MODEL]
    pending = st.session_state.pop(f"{key}_pending", None)
    linked = st.session_state.get(key)
    if pending in options:
        st.session_state[key] = pending
    elif isinstance(linked, str) and is_file_model_name(linked) and linked not in options:
        del st.session_state[key]  # only a link names a file model this session lacks
        link_notice(
            f"The link's model {linked} was read from a file in another session: a model "
            f"file cannot travel in a link. Load it here with “{OWN_MODEL}” to see it."
        )
    elif st.session_state.get(key) not in options and st.session_state.get(LAST_MODEL) in options:
        st.session_state[key] = st.session_state[LAST_MODEL]  # the choice follows the user

    def label(name: str) -> str:
        if name == OWN_MODEL or name in own:
            return name if name == OWN_MODEL else model_title(name)
        spec = model_spec(name)
        return spec.title if weights_available(name) else f"{spec.title} (downloads weights)"

    name = where.selectbox("Model", options, format_func=label, key=key)
    if name == OWN_MODEL:
        loaded = upload_form(where.container(border=True), key)
        if loaded is not None:
            st.session_state[f"{key}_pending"] = loaded
            st.rerun()
        name = st.session_state.get(LAST_MODEL, DEFAULT_MODEL)
        if name not in options or name == OWN_MODEL:
            name = DEFAULT_MODEL
        where.caption(f"Until a model is loaded, the page shows **{label(name)}**.")
    else:
        st.session_state[LAST_MODEL] = name
    try:
        model = cached_model(name)
    except ModelUnavailable as err:
        where.warning(f"{err}\n\nShowing the embedded EfficientNet-Lite0 instead.")
        return default_model()
    except ModelFileError as err:
        where.error(f"{err}\n\nShowing the embedded EfficientNet-Lite0 instead.")
        return default_model()
    if name in own:
        with where.expander("About your model"):
            for note in model.notes:
                st.caption(note)
    return model


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


# Few entries: each holds a decoded photo (up to 2048 x 2048 x 3 bytes = 12 MB).
@st.cache_data(show_spinner=False, max_entries=2)  # the current photo and the previous
def _decode(data: bytes) -> tuple[Image.Image, list[str]]:
    loaded = load_image(data)
    return loaded.image, loaded.notes


# The image follows the user from page to page: every image_picker remembers what it
# returned under these session-state keys (plain keys, not widget keys, so Streamlit keeps
# them when the user switches pages), and a picker called with ``follow=True`` offers
# the last one as its first option.
LAST_IMAGE = "shared_last_image"  # (ImageInput, picker key) of the last picked image
PICKED_UPLOADS = "shared_picked_uploads"  # picker key -> the ImageInput last uploaded there
UPLOADS = "shared_uploads"  # image key -> KeptUpload of every upload decoded this session
MAX_UPLOADS = 32
UPLOAD_SIDE = 512
LAST_USED = "Last used"


def last_image() -> tuple[ImageInput, str] | None:
    """The image the user last picked on any page, and the key of that picker."""
    return st.session_state.get(LAST_IMAGE)


@dataclass(frozen=True)
class KeptUpload:
    """A photo uploaded earlier in this session, kept small for the other pages.

    Attributes:
        key: Hash of the uploaded file's bytes (the photo's cache key everywhere).
        label: The file's name.
        jpeg: The photo at most ``UPLOAD_SIDE`` pixels long, as a JPEG (quality 95).
    """

    key: str
    label: str
    jpeg: bytes = field(repr=False)

    def image(self) -> Image.Image:
        """The kept photo, decoded (RGB)."""
        return load_image(self.jpeg).image


def session_uploads() -> list[KeptUpload]:
    """Every photo uploaded (and decoded) in this session, oldest first (at most 32)."""
    return list(st.session_state.get(UPLOADS, {}).values())


def _remember(picked: ImageInput, key: str, uploaded: bool) -> None:
    st.session_state[LAST_IMAGE] = (picked, key)
    if uploaded:
        # A file uploader cannot be given a file back: a page whose picker was on
        # "Upload" shows this one when the user comes back (one photo per picker, with
        # its original bytes: the maps of Explain are keyed on their hash).
        st.session_state.setdefault(PICKED_UPLOADS, {})[key] = picked
        # The session's uploads are kept for the embedding and the dataset examples, which
        # look at them at the models' input sizes: a copy at most UPLOAD_SIDE pixels long,
        # as a JPEG: 32 of them hold ~2-3 MB per session (decoded: ~20 MB; full size with
        # the files' bytes: ~400 MB).
        uploads: dict[str, KeptUpload] = st.session_state.setdefault(UPLOADS, {})
        kept = uploads.pop(picked.key, None)  # every rerun comes here: encode once per upload
        if kept is None:
            small = picked.image.copy()
            small.thumbnail((UPLOAD_SIDE, UPLOAD_SIDE))
            kept = KeptUpload(picked.key, picked.label, encode_image(small, "JPEG"))
        uploads[picked.key] = kept
        while len(uploads) > MAX_UPLOADS:
            uploads.pop(next(iter(uploads)))


def image_picker(
    key: str = "image", sidebar: bool = False, follow: bool = False
) -> ImageInput | None:
    """Sample picker or upload; returns the image, or None after showing why not.

    Bad uploads (not an image, truncated, empty, too large) get a message, never a
    traceback; the previous choice stays selected. What it returns is remembered for the
    other pages (:func:`last_image`, :func:`session_uploads`).

    Args:
        key: Widget key prefix.
        sidebar: Draw it in the sidebar.
        follow: Offer the image last picked on any page ("Last used": the default when
            there is one; a sample until then).
    """
    where = st.sidebar if sidebar else st
    keep([f"{key}_source", f"{key}_sample"])  # back from another page: the same choice
    previous = last_image() if follow else None
    options = ([LAST_USED] if follow else []) + ["Sample", "Upload"]
    source = where.segmented_control(
        "Image", options, default=current(f"{key}_source", LAST_USED if previous else "Sample"),
        key=f"{key}_source",
    )  # fmt: skip
    if source == LAST_USED:
        if previous is not None:
            where.caption(f"**{previous[0].label}**: the image you last picked.")
            return previous[0]
        where.caption("No image picked on another page yet: showing a sample.")
    if source == "Upload":
        upload = where.file_uploader(
            "Upload a photo",
            type=list(SUPPORTED_EXTENSIONS),
            key=f"{key}_upload",
            help="JPEG, PNG, WebP, BMP, TIFF or GIF (first frame). Large photos are downscaled.",
        )
        if upload is None:
            before: ImageInput | None = st.session_state.get(PICKED_UPLOADS, {}).get(key)
            if before is None:
                where.info("Upload a photo, or switch to a sample.")
                return None
            where.caption(f"**{before.label}**: the photo you uploaded here before. Upload "
                          "another to change it.")  # fmt: skip
            _remember(before, key, uploaded=True)
            return before
        data, label = upload.getvalue(), upload.name
    else:
        samples = list(SAMPLES)
        chosen = current(f"{key}_sample", samples[0])
        name: str = where.selectbox(
            "Sample photo", samples, index=samples.index(chosen) if chosen in samples else 0,
            format_func=SAMPLES.__getitem__, key=f"{key}_sample",
        ) or samples[0]  # fmt: skip
        data, label = sample_path(name).read_bytes(), SAMPLES[name]
    try:
        image, notes = _decode(data)
    except ImageLoadError as err:
        where.error(f"**{label}**: {err}")
        return None
    for note in notes:
        where.caption(note)
    sample = name if source != "Upload" else None
    picked = ImageInput(image, hashlib.sha256(data).hexdigest(), label, data, sample)
    _remember(picked, key, uploaded=source == "Upload")
    return picked


def sample_binding(key: str, when: Callable[[Mapping[str, Any]], bool] | None = None) -> Bound:
    """A page's sample photo in its URL (``sample=espresso.jpg``), for the picker
    ``image_picker(key)``: written while the picker shows a sample; a link sets the
    picker to "Sample" and that photo."""
    source, sample = f"{key}_source", f"{key}_sample"

    def get(session: Mapping[str, Any]) -> str | None:
        return session.get(sample) if session.get(source, "Sample") == "Sample" else None

    def put(session: Session, name: str) -> None:
        session[source], session[sample] = "Sample", name

    return Bound(SAMPLE_FIELD, sample, when, get, put, (source,))


def _linkable(model: Any) -> bool:
    """A registered model, or one read from a file (named in the link; only this session
    has its file, so another session's page says so: :func:`model_picker`)."""
    return isinstance(model, str) and (model in list_models() or is_file_model_name(model))


def model_binding(key: str = "model", when: Callable[[Mapping[str, Any]], bool] | None = None
                  ) -> Bound:  # fmt: skip
    """A page's model in its URL (``model=resnet18``), for ``model_picker(key)``. A
    model read from a file is written by its name (``model=file-0123456789ab``): a
    reload in this session keeps it; in another session the picker says the file is
    not there.

    Args:
        key: The picker's widget key.
        when: Write it only when this holds for the session (None: always).

    Returns:
        The binding, for :class:`ui.state.PageState`.
    """
    return Bound(MODEL_FIELD, key, lambda s: _linkable(s.get(key)) and (when is None or when(s)))


def cached_top_k(
    model_name: str, image_key: str, image: Image.Image, k: int = 5
) -> list[Prediction]:
    """Top-k predictions, cached on (model, image bytes hash, k) for every session; a
    new photo's are computed on the shared scheduler, ahead of any map."""
    scheduler = default_scheduler()
    ticket = submit_top_k(session_id(), cached_model(model_name), image_key, image, k)
    while ticket.pending:
        scheduler.wait(session_id(), [ticket], 0.25)
    if ticket.state != "done" or ticket.result is None:
        raise RuntimeError(f"the top-{k} classes could not be computed: {ticket.error}")
    return ticket.result


def show_top_k(predictions: list[Prediction]) -> None:
    """Top-k as a labelled bar list (probability bars with the logit in the caption)."""
    for p in predictions:
        st.progress(p.probability, text=f"**{p.label}** {p.probability:.1%} (logit {p.logit:.2f})")


def log_hooks_left(model: ImageModel) -> int:
    """A self-check after a page's work on a shared model: logs an error when any hook is
    still attached to it (none may be; the browser load test reads the server log).

    Returns:
        The number of hooks found.
    """
    left = count_hooks(model.net)
    if left:
        logging.getLogger(__name__).error("%d hook(s) left on the shared %s", left, model.name)
    return left
