"""Your own model: the upload form of the sidebar's model picker, and where uploads live.

An uploaded model file (and its labels) is written once to the cache folder under its
SHA-256 (``uploaded-models/``, the 16 newest kept), read by
:func:`core.models.load_model_file` and kept by ``st.cache_resource`` under its name
(``file-<hash of file, labels and settings>``), so it is read once per process and
every cache keyed on the model's name stays right. The session keeps the list of its
models (a plain session-state key, so every page offers them); a model evicted from the
cache is read again from its file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.models import (
    IMAGENET,
    LABEL_EXTENSIONS,
    MODEL_EXTENSIONS,
    ImageModel,
    ModelFileError,
    ModelSource,
    Settings,
    load_model_file,
)
from core.models.engine import cache_folder
from core.models.files import file_hash, source_name

OWN_MODEL = "Your own model…"
SESSION_MODELS = "shared_own_models"  # session: model name -> ModelSource, oldest first
MAX_FILES = 16  # uploaded files kept on disk (a session whose file went asks again)
LABEL_CHOICES = {
    "none": "class 0 ... class K-1",
    "file": "from a file (.txt: one a line; .json: a list or index -> name)",
    IMAGENET: "ImageNet's 1,000 classes",
}

_SOURCES: dict[str, ModelSource] = {}  # every uploaded model of this process, by name
_SOURCES_LOCK = threading.Lock()


def upload_folder() -> Path:
    """Where uploaded model and label files are kept, next to the exported graphs."""
    return cache_folder().parent / "uploaded-models"


def _store(data: bytes, suffix: str) -> Path:
    """Write an upload under its hash (once), keeping the newest :data:`MAX_FILES`."""
    folder = upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_hash(data)}{suffix.lower()}"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)
    path.touch()
    kept = sorted(folder.glob("*.*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[MAX_FILES:]:
        old.unlink(missing_ok=True)
    return path


@st.cache_resource(show_spinner="Reading your model...", max_entries=4)
def _file_model(name: str, _source: ModelSource) -> ImageModel:
    return load_model_file(_source)


def own_model_source(name: str) -> ModelSource | None:
    """The source of an uploaded model of this process, or None for any other name."""
    with _SOURCES_LOCK:
        return _SOURCES.get(name)


def own_model(name: str) -> ImageModel:
    """An uploaded model, shared by every session (never mutate it).

    Raises:
        KeyError: not an uploaded model's name.
        ModelFileError: its file can no longer be read (the message says so).
    """
    source = own_model_source(name)
    if source is None:
        raise KeyError(name)
    if not Path(source.path).exists():
        raise ModelFileError(
            f"{source.title}: the uploaded file is no longer kept on the server; upload it again"
        )
    return _file_model(name, source)


def session_models() -> dict[str, str]:
    """This session's uploaded models: name -> title, oldest first."""
    models: dict[str, ModelSource] = st.session_state.get(SESSION_MODELS, {})
    return {name: source.title or name for name, source in models.items()}


def _numbers(text: str, label: str) -> tuple[float, ...] | None:
    """``"0.485, 0.456, 0.406"`` -> floats; blank -> None."""
    if not text.strip():
        return None
    try:
        return tuple(float(part) for part in text.replace(";", ",").split(","))
    except ValueError:
        raise ModelFileError(
            f"{label}: expected numbers separated by commas, got {text!r}"
        ) from None


def _settings(key: str) -> Settings:
    """The preprocessing form's values (None where left to the model)."""
    state = st.session_state
    if not state.get(f"{key}_own_by_hand"):
        return Settings()
    return Settings(
        input_size=(int(state[f"{key}_own_height"]), int(state[f"{key}_own_width"])),
        channels=int(state[f"{key}_own_channels"]),
        mean=_numbers(state.get(f"{key}_own_mean", ""), "mean"),
        std=_numbers(state.get(f"{key}_own_std", ""), "std"),
        crop=float(state[f"{key}_own_crop"]),
    )


def _load(key: str) -> str:
    """Read the form's files into a model; returns its name.

    Raises:
        ModelFileError: no file, or anything :func:`load_model_file` refuses.
    """
    state = st.session_state
    upload = state.get(f"{key}_own_file")
    if upload is None:
        raise ModelFileError("choose a model file first")
    path = _store(upload.getvalue(), Path(upload.name).suffix)
    labels: str | None = None
    choice = state.get(f"{key}_own_labels_from", "none")
    if choice == IMAGENET:
        labels = IMAGENET
    elif choice == "file":
        labels_upload = state.get(f"{key}_own_labels")
        if labels_upload is None:
            raise ModelFileError("choose a labels file, or another labels option")
        labels = str(_store(labels_upload.getvalue(), Path(labels_upload.name).suffix))
    arch = (state.get(f"{key}_own_arch") or "").strip() or None
    source = ModelSource(str(path), arch, labels, _settings(key), title=upload.name)
    name = source_name(source)
    _file_model(name, source)  # raises ModelFileError for a file that cannot be used
    with _SOURCES_LOCK:
        _SOURCES[name] = source
    models: dict[str, ModelSource] = state.setdefault(SESSION_MODELS, {})
    models.pop(name, None)
    models[name] = source
    return name


def upload_form(where: DeltaGenerator, key: str) -> str | None:
    """The form: model file, architecture, labels, preprocessing, and a load button.

    Args:
        where: The container (the sidebar).
        key: The model picker's key (the form's widget keys derive from it).

    Returns:
        The name of the model just loaded (the caller selects it), or None.
    """
    formats = ", ".join(f".{ext}" for ext in MODEL_EXTENSIONS)
    where.file_uploader(
        "Model file", type=list(MODEL_EXTENSIONS), key=f"{key}_own_file",
        help=f"{formats}. ONNX and torch.export programs hold their architecture; weights "
        "(.safetensors, or a state dict saved with torch.save) need its name below. "
        "Nothing in a file is ever run as code: a pickled model is refused.",
    )  # fmt: skip
    where.text_input(
        "Architecture (weights files only)", key=f"{key}_own_arch",
        placeholder="resnet18, timm:convnext_tiny, digit_cnn...",
        help="A torchvision or timm classifier name (timm:NAME or torchvision:NAME when both "
        "have it), or digit_cnn (the digits lab's CNN). The number of classes is read from "
        "the weights.",
    )  # fmt: skip
    choice = where.radio(
        "Labels", list(LABEL_CHOICES), format_func=LABEL_CHOICES.__getitem__,
        key=f"{key}_own_labels_from",
    )  # fmt: skip
    if choice == "file":
        where.file_uploader("Labels file", type=list(LABEL_EXTENSIONS), key=f"{key}_own_labels")
    by_hand = where.toggle(
        "Set the preprocessing by hand", key=f"{key}_own_by_hand",
        help="Off: from timm's pretrained config or torchvision's preset for the "
        "architecture, else the file's fixed input shape, else ImageNet's defaults.",
    )  # fmt: skip
    if by_hand:
        height, width = where.columns(2)
        height.number_input("Height", 8, 1024, 224, key=f"{key}_own_height")
        width.number_input("Width", 8, 1024, 224, key=f"{key}_own_width")
        where.radio("Channels", [3, 1], horizontal=True, key=f"{key}_own_channels",
                    format_func={3: "3 (RGB)", 1: "1 (greyscale)"}.__getitem__)  # fmt: skip
        where.number_input(
            "Centre crop (fraction of the resized image kept)", 0.05, 1.0, 0.875, 0.005,
            key=f"{key}_own_crop", help="0.875: resize to 256 and crop 224; 1: no crop.",
        )  # fmt: skip
        blank = "blank: the model's, else ImageNet's (RGB) or none (greyscale)"
        where.text_input("Mean (per channel, on pixels in [0, 1])", key=f"{key}_own_mean",
                         placeholder="0.485, 0.456, 0.406", help=blank)  # fmt: skip
        where.text_input("Std", key=f"{key}_own_std", placeholder="0.229, 0.224, 0.225",
                         help=blank)  # fmt: skip
    if not where.button("Load this model", key=f"{key}_own_load", type="primary"):
        return None
    try:
        return _load(key)
    except ModelFileError as err:
        where.error(f"This model cannot be used: {err}")
    except Exception as err:  # noqa: BLE001 - never a traceback for a user's file
        where.error(f"This model cannot be used: {type(err).__name__}: {err}")
    return None
