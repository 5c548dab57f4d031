"""Your own model: a classifier read from a file, with its labels and preprocessing.

Three kinds of file, none of which runs code from the file when read:

- **ONNX** (``.onnx``): run on ONNX Runtime (the forward engine's session,
  :func:`core.models.engine.onnx_session`). It is also converted to torch
  (``onnx2torch``) for the gradient methods; the conversion is kept only when its logits
  equal ONNX Runtime's on the forward engine's probe batch, within the engine's
  tolerance. Otherwise the network is ONNX Runtime alone (:class:`OnnxRuntimeNet`) and
  every gradient method says why it cannot run.
- **A torch.export program** (``.pt2``, ``torch.export.save``): checked by
  :mod:`core.models.pt2` (nothing in it is unpickled beyond ``weights_only``), then
  unflattened into its module tree (so CAM layers can be hooked).
- **Weights** (``.safetensors``, or a ``.pt`` / ``.pth`` state dict read with
  ``torch.load(weights_only=True)``) plus an architecture name from torchvision or timm
  (:mod:`core.models.architectures`); the number of classes is read from the weights.

Preprocessing (input size, channels, crop, mean and std) comes from what the user set,
else from timm's pretrained config or torchvision's preset for the architecture, else
from the file's fixed input shape, else the ImageNet defaults. Labels come from a
``.txt`` (one a line) or ``.json`` (a list, or index -> name) file, default
``class 0 ... class K-1``.

Every problem raises :class:`ModelFileError` with a message for a person: what is wrong
and what to do. The model's :attr:`~core.models.ImageModel.name` is ``file-`` and a hash
of the file, the labels and the settings: the same upload gets the same name (and the
same caches), a different one never does.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode

from core.models.engine import (
    ForwardEngine,
    adopt_engine,
    first_line,
    probe_batch,
)
from core.models.registry import FILE_MODEL_PREFIX, ImageModel, imagenet_labels

log = logging.getLogger(__name__)

FORMATS = {
    ".onnx": "ONNX",
    ".pt2": "torch.export program",
    ".safetensors": "safetensors weights",
    ".pt": "torch state dict",
    ".pth": "torch state dict",
}
MODEL_EXTENSIONS = tuple(ext.lstrip(".") for ext in FORMATS)
LABEL_EXTENSIONS = ("txt", "json")
IMAGENET = "imagenet"  # the labels "file" that means ImageNet's 1,000 class names
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_CROP = 0.875  # 224 of 256: the usual centre crop
DEFAULT_SIZE = (224, 224)
MAX_SIDE = 1024  # larger inputs would make every map too slow to compute on a CPU
HOW_TO_EXPORT = (
    "Export the model instead: `torch.onnx.export(model, x, 'model.onnx', dynamo=True)`, "
    "or `torch.export.save(torch.export.export(model, (x,)), 'model.pt2')`, or save its "
    "weights alone: `torch.save(model.state_dict(), 'weights.pt')` (or safetensors) and "
    "give the architecture's name."
)


class ModelFileError(ValueError):
    """A model file (or its labels, or its settings) that cannot be used; the message
    says why and what to do, for the page and the command line as it is."""


@dataclass(frozen=True)
class Settings:
    """What the user set; None everywhere = take it from the model, else the defaults.

    Attributes:
        input_size: ``(H, W)`` the network is fed.
        channels: 1 (greyscale) or 3 (RGB).
        mean: Per-channel mean (one value, or one per channel) on pixels in [0, 1].
        std: Per-channel standard deviation.
        crop: Fraction of the resized image's shorter side kept by the centre crop
            (0.875: resize to 256, crop 224; 1: resize straight to the input size).
    """

    input_size: tuple[int, int] | None = None
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    crop: float | None = None

    def check(self) -> None:
        """Raises :class:`ModelFileError` on a value no model can take."""
        if self.input_size is not None:
            height, width = self.input_size
            if not (8 <= height <= MAX_SIDE and 8 <= width <= MAX_SIDE):
                raise ModelFileError(
                    f"input size {height} x {width}: each side must be 8 to {MAX_SIDE} pixels"
                )
        if self.channels is not None and self.channels not in (1, 3):
            raise ModelFileError(f"channels must be 1 (greyscale) or 3 (RGB), not {self.channels}")
        for label, values in (("mean", self.mean), ("std", self.std)):
            if values is None:
                continue
            if len(values) not in (1, 3) or not all(math.isfinite(v) for v in values):
                raise ModelFileError(f"{label} takes 1 or 3 numbers, got {list(values)}")
        if self.std is not None and any(v <= 0 for v in self.std):
            raise ModelFileError(f"std must be above 0, got {list(self.std)}")
        if self.crop is not None and not 0.05 <= self.crop <= 1:
            raise ModelFileError(f"crop must be between 0.05 and 1, got {self.crop}")


@dataclass(frozen=True)
class ModelSource:
    """Where a model file is and how to read it (picklable: a CLI job carries it to
    every Ray actor; the app keeps one per uploaded model).

    Attributes:
        path: The model file.
        arch: torchvision or timm architecture name (weights files only).
        labels: A ``.txt`` or ``.json`` labels file, ``"imagenet"``, or None.
        settings: Preprocessing set by the user.
        title: The name shown for it (default: the file's name).
    """

    path: str
    arch: str | None = None
    labels: str | None = None
    settings: Settings = field(default_factory=Settings)
    title: str | None = None


@dataclass(frozen=True)
class Found:
    """What a loader found in the file: the network and what it knows of its input.

    Attributes:
        net: The network (None when ``finish`` makes it).
        classes: Its number of outputs K, when the weights say.
        channels / input_size: Fixed by the file (ONNX or .pt2 input shape), else None.
        preset: Preprocessing of the architecture (timm's config, torchvision's
            preset): fields of :class:`Settings` plus ``interpolation``.
        preset_from: Where ``preset`` comes from, for the notes.
        finish: For ONNX: ``finish((C, H, W)) -> (net, forward engine, notes)`` once
            the input shape is settled (the engine is ONNX Runtime on the file itself).
        notes: What the user should know (shown under the picker).
    """

    net: nn.Module | None
    classes: int | None = None
    channels: int | None = None
    input_size: tuple[int, int] | None = None
    preset: dict[str, Any] = field(default_factory=dict)
    preset_from: str = ""
    finish: (
        Callable[[tuple[int, int, int]], tuple[nn.Module, ForwardEngine, tuple[str, ...]]] | None
    ) = None
    notes: tuple[str, ...] = ()


# ------------------------------------------------------------------------ the name


def file_hash(data: bytes) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def model_name(data_hash: str, labels_hash: str, arch: str | None, settings: Settings) -> str:
    """``file-`` and 12 hex digits of a hash of everything that makes the model.

    Args:
        data_hash: :func:`file_hash` of the model file.
        labels_hash: Of the labels file ("" for none, ``"imagenet"``).
        arch: The architecture name (weights files).
        settings: The user's preprocessing.
    """
    text = json.dumps([data_hash, labels_hash, arch, asdict(settings)], sort_keys=True)
    return FILE_MODEL_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:12]


# ------------------------------------------------------------------------ labels


def read_labels(data: bytes, file_name: str) -> list[str]:
    """Class names from a labels file.

    Args:
        data: The file's bytes (UTF-8).
        file_name: Its name: ``.json`` is a list of names or an object index -> name;
            anything else is text, one name a line.

    Returns:
        The names, index = logit index.

    Raises:
        ModelFileError: not UTF-8, bad JSON, not a list or index -> name object, indices
            missing, or empty.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModelFileError(f"{file_name}: labels must be UTF-8 text") from None
    if file_name.lower().endswith(".json"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelFileError(f"{file_name}: not valid JSON ({err})") from None
        if isinstance(loaded, list):
            names = [str(name) for name in loaded]
        elif isinstance(loaded, dict):
            try:
                indexed = {int(key): str(name) for key, name in loaded.items()}
            except ValueError:
                raise ModelFileError(
                    f"{file_name}: a JSON object of labels must map class indices "
                    '("0", "1", ...) to names'
                ) from None
            missing = sorted(set(range(len(indexed))) - set(indexed))
            if missing:
                raise ModelFileError(
                    f"{file_name}: the class indices must be 0 to {len(indexed) - 1}; "
                    f"missing {missing[:5]}"
                )
            names = [indexed[i] for i in range(len(indexed))]
        else:
            raise ModelFileError(f"{file_name}: JSON labels must be a list or an object")
    else:
        names = [line.strip() for line in text.splitlines()]
        while names and not names[-1]:
            names.pop()
    if not names:
        raise ModelFileError(f"{file_name}: no labels in it")
    return names


def _labels(source: ModelSource, classes: int) -> tuple[list[str], str]:
    """The model's labels and a note saying where they come from."""
    if source.labels is None:
        return [f"class {i}" for i in range(classes)], f"labels: class 0 ... class {classes - 1}"
    if source.labels.lower() == IMAGENET:
        names, where = imagenet_labels(), "ImageNet's 1,000 classes"
    else:
        path = Path(source.labels)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ModelFileError(f"labels file {path.name}: {err.strerror or err}") from None
        names, where = read_labels(data, path.name), path.name
    if len(names) != classes:
        raise ModelFileError(
            f"{where} has {len(names)} labels but the model has {classes} outputs: give "
            f"one label per output, in order"
        )
    return names, f"labels: {where}"


def source_name(source: ModelSource, data: bytes | None = None) -> str:
    """The :func:`model_name` of a source (reads its files when not given).

    Raises:
        ModelFileError: a file cannot be read.
    """
    try:
        if data is None:
            data = Path(source.path).read_bytes()
        if source.labels is None:
            labels_hash = ""
        elif source.labels.lower() == IMAGENET:
            labels_hash = IMAGENET
        else:
            labels_hash = file_hash(Path(source.labels).read_bytes())
    except OSError as err:
        raise ModelFileError(f"{Path(err.filename or source.path).name}: {err.strerror}") from None
    return model_name(file_hash(data), labels_hash, source.arch, source.settings)


# ---------------------------------------------------------------- loading a file


def _kind(data: bytes, file_name: str) -> str:
    """The file's format from its extension, checked against its first bytes."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in FORMATS:
        raise ModelFileError(
            f"{file_name}: not a model file this app reads ({', '.join(FORMATS)}). "
            "A Keras, TensorFlow or TorchScript model can be converted to ONNX first."
        )
    if not data:
        raise ModelFileError(f"{file_name} is empty")
    is_zip = data[:4] == b"PK\x03\x04"
    if suffix == ".pt2" and not is_zip:
        raise ModelFileError(f"{file_name} is not a torch.export program (not a zip archive)")
    if suffix in (".pt", ".pth") and is_zip:
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            names = []
        if any(name.endswith("archive_format") for name in names):
            return ".pt2"  # a torch.export program saved under another extension
    return suffix


def _find(data: bytes, file_name: str, source: ModelSource, channels: int | None) -> Found:
    """Dispatch on the format."""
    kind = _kind(data, file_name)
    if kind == ".onnx":
        from core.models.onnx_files import load_onnx

        if source.arch:
            log.info("--arch %s ignored for an ONNX file", source.arch)
        return load_onnx(data, file_name, source.settings)
    if kind == ".pt2":
        from core.models.pt2 import load_pt2

        return load_pt2(data, file_name, source.settings)
    from core.models.architectures import load_weights

    return load_weights(data, file_name, kind, source.arch, channels)


@dataclass(frozen=True)
class InputShape:
    """What a file fixes of its image input (None where a dimension is dynamic).

    Attributes:
        channels: 1 or 3, or None.
        size: ``(H, W)`` when both are fixed, else None.
        one_at_a_time: The batch is fixed to one image.
    """

    channels: int | None
    size: tuple[int, int] | None
    one_at_a_time: bool


def check_input_shape(shape: tuple[int | None, ...], what: str, settings: Settings) -> InputShape:
    """The checks of an ONNX graph's or a program's input shape (None = dynamic).

    Args:
        shape: ``(batch, channels, height, width)``, or whatever the file says.
        what: ``"model"`` or ``"program"``, for the messages.
        settings: The user's (an input size settles a half-dynamic one).

    Raises:
        ModelFileError: not 4 dimensions, a batch fixed above 1, not 1 or 3 channels, a
            height or width dynamic while the other is fixed and no size was given.
    """
    if len(shape) != 4:
        raise ModelFileError(
            f"the {what}'s input has {len(shape) or 'an unknown number of'} dimensions; an "
            "image classifier takes (batch, channels, height, width)"
        )
    batch, channels, height, width = shape
    if batch is not None and batch != 1:
        raise ModelFileError(
            f"the {what} takes batches of exactly {batch} images and cannot be pinned to one "
            "image: export it with a batch of 1 or a dynamic batch axis"
        )
    if channels is not None and channels not in (1, 3):
        raise ModelFileError(f"the {what}'s input has {channels} channels; this app feeds 1 or 3")
    if (height is None) != (width is None) and settings.input_size is None:
        raise ModelFileError(
            f"the {what}'s input height or width is dynamic and the other fixed: set the "
            "input size it was trained on"
        )
    size = (height, width) if height is not None and width is not None else None
    return InputShape(channels, size, batch == 1)


class OneImageAtATime(nn.Module):
    """A network that takes batches of exactly one image, fed a batch image by image.

    The methods batch their passes (Integrated Gradients, occlusion, ...); a file whose
    batch size is fixed to 1 (an ONNX input ``[1, 3, 224, 224]``, a program exported
    with a batch of 1) still runs them, one image per call. Gradients flow through.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, K)``, one image at a time."""
        if x.shape[0] == 1:
            return self.model(x)
        return torch.cat([self.model(one) for one in x.split(1)])


def _resolve(
    found: Found, settings: Settings
) -> tuple[tuple[int, int], int, tuple[float, ...], tuple[float, ...], float, Any, list[str]]:
    """Input size, channels, mean, std, crop and interpolation, and where each came from."""
    notes: list[str] = []
    preset = found.preset
    channels = settings.channels or found.channels or preset.get("channels") or 3
    if found.channels is not None and settings.channels not in (None, found.channels):
        raise ModelFileError(
            f"the model's input has {found.channels} channels, not {settings.channels}"
        )
    if found.input_size is not None and settings.input_size not in (None, found.input_size):
        height, width = found.input_size
        raise ModelFileError(
            f"the model's input size is fixed to {height} x {width}; it cannot run at "
            f"{settings.input_size[0]} x {settings.input_size[1]}"
        )
    size = settings.input_size or found.input_size or preset.get("input_size") or DEFAULT_SIZE
    greyscale = channels == 1
    default_mean = (0.0,) if greyscale else IMAGENET_MEAN
    default_std = (1.0,) if greyscale else IMAGENET_STD
    from_preset = preset.get("mean") is not None and len(preset["mean"]) == channels
    mean = settings.mean or (preset["mean"] if from_preset else default_mean)
    std = settings.std or (preset["std"] if from_preset else default_std)
    crop = settings.crop or preset.get("crop") or (1.0 if greyscale else IMAGENET_CROP)
    interpolation = preset.get("interpolation") or InterpolationMode.BILINEAR
    if len(mean) == 1:
        mean = mean * channels
    if len(std) == 1:
        std = std * channels
    if len(mean) != channels or len(std) != channels:
        raise ModelFileError(
            f"a {channels}-channel model takes 1 or {channels} numbers for its mean and "
            f"std, got {len(mean)} and {len(std)}"
        )
    where = found.preset_from if preset else ""
    if settings == Settings() and not preset and found.input_size is None:
        notes.append(
            "no preprocessing in the file: the ImageNet defaults are used (set them if "
            "the model was trained otherwise)"
            if not greyscale
            else "no preprocessing in the file: pixels in [0, 1] as they are"
        )
    elif where and settings == Settings():
        notes.append(f"preprocessing from {where}")
    shape = (int(size[0]), int(size[1]))
    return shape, channels, tuple(mean), tuple(std), crop, interpolation, notes


def _check_output(net: nn.Module, x: torch.Tensor) -> int:
    """Run one input; the output must be finite ``(1, K)`` logits. Returns K."""
    try:
        with torch.inference_mode():
            out = net(x)
    except Exception as err:  # noqa: BLE001 - any failure of the user's network is reported
        raise ModelFileError(
            f"the model fails on an input of shape {tuple(x.shape)}: {first_line(err)}"
        ) from None
    if isinstance(out, tuple | list | dict):
        raise ModelFileError(
            f"the model returns {len(out)} outputs; a classifier for this app returns one "
            "tensor of logits (1, classes)"
        )
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelFileError(
            f"the model's output has shape {shape}; a classifier for this app returns "
            "logits of shape (1, classes) for one image (flatten it, or drop extra outputs)"
        )
    if out.shape[1] < 2:
        raise ModelFileError("the model has a single output; a classifier needs 2 or more classes")
    if not torch.isfinite(out).all():
        raise ModelFileError(
            "the model's logits are not finite (NaN or infinity) for a plain input: the "
            "weights are broken, or the preprocessing is far from what it was trained on"
        )
    return int(out.shape[1])


def load_model_file(source: ModelSource) -> ImageModel:
    """Read a model file into an :class:`ImageModel` (eval mode, parameters frozen).

    Args:
        source: The file, its labels, architecture and settings.

    Returns:
        The model; its name is ``file-<hash>`` (see :func:`model_name`).

    Raises:
        ModelFileError: anything that stops the file from being used, with the reason.
    """
    start = time.perf_counter()
    source.settings.check()
    path = Path(source.path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelFileError(f"{path.name}: {err.strerror or err}") from None
    found = _find(data, path.name, source, source.settings.channels)
    size, channels, mean, std, crop, interpolation, notes = _resolve(found, source.settings)
    engine, more = None, found.notes
    if found.finish is not None:
        net, engine, extra = found.finish((channels, *size))
        more = (*more, *extra)
    elif found.net is not None:
        net = found.net
    else:  # pragma: no cover - every loader returns one or the other
        raise ModelFileError(f"{path.name}: nothing to run in it")
    net.eval().requires_grad_(False)
    x = probe_batch((channels, *size), 1)
    classes = _check_output(net, x)
    if found.classes is not None and found.classes != classes:
        raise ModelFileError(f"the weights have {found.classes} classes, the network {classes}")
    labels, labels_note = _labels(source, classes)
    name = source_name(source, data)
    if engine is not None:
        adopt_engine(net, engine)
    summary = (
        f"{FORMATS[_kind(data, path.name)]}, {classes} classes, {channels} x {size[0]} x "
        f"{size[1]} input, {sum(p.numel() for p in net.parameters()) / 1e6:.1f} M "
        f"parameters, read in {time.perf_counter() - start:.1f} s"
    )
    return ImageModel(
        name=name,
        title=source.title or path.name,
        net=net,
        labels=labels,
        input_size=size,
        resize_size=round(max(size) / crop),  # the shorter side, then the centre crop
        mean=mean,
        std=std,
        interpolation=interpolation,
        target_layer="",  # the last layer with a spatial output (found by the CAM methods)
        channels=channels,
        notes=(summary, labels_note, *more, *notes),
    )


def gradients_unavailable(net: nn.Module) -> str | None:
    """Why gradient methods cannot run on this network (None: they can)."""
    reason = getattr(net, "no_gradients", None)
    return str(reason) if reason else None


__all__ = [
    "FORMATS",
    "IMAGENET",
    "LABEL_EXTENSIONS",
    "MODEL_EXTENSIONS",
    "ModelFileError",
    "ModelSource",
    "OneImageAtATime",
    "Settings",
    "file_hash",
    "gradients_unavailable",
    "load_model_file",
    "model_name",
    "read_labels",
    "source_name",
]
