"""The image-classifier registry: one place that knows every model the app can explain.

Public API (used by every page, test and benchmark):

- :func:`list_models` -- registered names, the embedded offline default first.
- :func:`load_model` -- build an :class:`ImageModel` (network in eval mode, its own
  preprocessing, the 1,000 ImageNet labels and the default CAM layer).
- :class:`ModelUnavailable` -- raised when a zoo model's weights cannot be fetched.
- :func:`classify` -- top-k predictions for a PIL image (forward only).

The models themselves register from :mod:`core.models.lite0` (the embedded default) and
:mod:`core.models.zoo` (torchvision's), imported by the package.

A loaded model is shared by every Streamlit session and thread: nothing here or in
callers may mutate it (no permanent hooks, no ``train()``, no weight edits).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode

from core.common.images import to_rgb
from core.common.query import shown, text_field
from core.models.engine import forward_engine

log = logging.getLogger(__name__)

DEFAULT_MODEL = "efficientnet_lite0"

# How many times each model has been built in this process (the app must build each
# one once per process, not once per rerun or session; tests read this).
LOAD_COUNTS: dict[str, int] = {}
_LOAD_LOCK = threading.Lock()


class ModelUnavailable(RuntimeError):
    """A registered model whose weights cannot be obtained (e.g. no internet).

    The message says what failed and how to get the weights; pages show it as is.
    """


@dataclass(frozen=True, eq=False)
class ImageModel:
    """An image classifier plus everything needed to feed and explain it.

    Attributes:
        name: Registry name, e.g. ``"resnet18"``; for a model loaded from a file,
            ``"file-"`` and a hash of the file and its settings (see
            :mod:`core.models.files`), so every cache keyed on the name stays right.
        title: Human name for the UI, e.g. ``"ResNet-18"``.
        net: The network, in eval mode, parameters frozen. Outputs logits ``(B, K)``.
        labels: The K class names, index = logit index (ImageNet's 1,000 for the
            registered models).
        input_size: ``(H, W)`` the network is fed.
        resize_size: The shorter image side is resized to this before centre cropping.
        mean: Per-channel mean subtracted after scaling pixels to [0, 1] (one value per
            channel).
        std: Per-channel standard deviation divided by after subtracting the mean.
        interpolation: Resampling used for the resize.
        target_layer: Module name (as in ``net.named_modules()``) of the last
            convolutional block: the default layer for CAM methods ("" = the last layer
            with a spatial output, which the CAM methods find themselves).
        pretrained: False for a randomly initialised network (tests, sanity checks).
        channels: 3 (RGB) or 1 (greyscale: :meth:`crop` returns a grey picture and
            :meth:`preprocess` a ``(1, 1, H, W)`` tensor).
        notes: What loading it found out, in plain words (a model file's format, labels
            and preprocessing; shown under the model picker).
    """

    name: str
    title: str
    net: nn.Module
    labels: list[str]
    input_size: tuple[int, int]
    resize_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: InterpolationMode
    target_layer: str
    pretrained: bool = True
    channels: int = 3
    notes: tuple[str, ...] = ()
    _modules: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._modules.update(self.net.named_modules())

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one input (the forward engine's key)."""
        return (self.channels, *self.input_size)

    def crop(self, img: Image.Image, side: int | None = None) -> Image.Image:
        """Resize (shorter side to ``resize_size``) and centre-crop to ``input_size``.

        This is exactly the picture the network sees, before normalisation, so pages
        draw heatmaps over it.

        Args:
            img: Any PIL image; converted to RGB (to greyscale for a 1-channel model).
            side: The same region at this many pixels on its shorter side instead (a
                sharper picture to draw a map over, an export); None: ``input_size``.

        Returns:
            An RGB (or, for a 1-channel model, ``"L"``) PIL image of size ``input_size``
            (W x H in PIL's terms), scaled by ``side / min(input_size)`` when ``side`` is
            given.
        """
        factor = 1.0 if side is None else side / min(self.input_size)
        resize = round(self.resize_size * factor)
        size = [round(s * factor) for s in self.input_size]
        img = to_rgb(img)
        if self.channels == 1:
            img = img.convert("L")  # ITU-R 601 luma, as torchvision's Grayscale
        img = _trim_long_side(img, resize, max(size))
        img = TF.resize(img, resize, interpolation=self.interpolation, antialias=True)
        return TF.center_crop(img, size)

    def crop_side(self, img: Image.Image) -> float:
        """Pixels of ``img`` itself on the shorter side of the region :meth:`crop` keeps
        (the photo's own resolution of what the network sees)."""
        return min(img.size) * min(self.input_size) / self.resize_size

    def normalize(self, img: Image.Image) -> torch.Tensor:
        """Turn an already cropped RGB image into the network's input.

        Args:
            img: PIL image of size ``input_size``, as :meth:`crop` returns it.

        Returns:
            Float tensor ``(1, C, H, W)``.
        """
        x = TF.to_tensor(img)  # (C, H, W) in [0, 1]
        return TF.normalize(x, list(self.mean), list(self.std)).unsqueeze(0)

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """The model's own resize, crop and normalisation.

        Args:
            img: Any PIL image.

        Returns:
            Float tensor ``(1, C, H, W)`` with ``(H, W) == input_size``.
        """
        return self.normalize(self.crop(img))

    def module(self, name: str) -> nn.Module:
        """The sub-module called ``name`` in ``net.named_modules()``.

        Raises:
            KeyError: with the list of valid names' count, if there is none.
        """
        try:
            return self._modules[name]
        except KeyError:
            raise KeyError(
                f"{self.title} has no layer called {name!r} ({len(self._modules)} named modules)"
            ) from None

    def layer_names(self, types: tuple[type[nn.Module], ...] = (nn.Module,)) -> list[str]:
        """Names of the sub-modules of the given types, in registration order."""
        return [n for n, m in self._modules.items() if n and isinstance(m, types)]


MAX_ASPECT = 4.0  # beyond this, the long side is trimmed before resizing (see below)


def _trim_long_side(img: Image.Image, resize: int, keep: int) -> Image.Image:
    """Cut a very elongated image down to the centre its resize and crop would keep.

    Resizing a 10,000 x 10 strip's short side to 256 would make it 256,000 pixels long
    (~200 MB) only for the centre crop to keep 224 of them. For an aspect ratio over
    :data:`MAX_ASPECT`, the long side is first trimmed (centred) to what survives the crop
    plus a margin of 16 resized pixels for the interpolation; ordinary photos are not
    touched.
    """
    width, height = img.size
    short, long = min(width, height), max(width, height)
    if short < 1 or long / short <= MAX_ASPECT:
        return img
    needed = math.ceil((keep + 16) * short / resize)  # in original pixels
    needed += (long - needed) % 2  # an even cut on both sides keeps the exact centre
    if needed >= long:
        return img
    start = (long - needed) // 2
    box = (
        (start, 0, start + needed, height) if width > height else (0, start, width, start + needed)
    )
    return img.crop(box)


@dataclass(frozen=True)
class Prediction:
    """One row of a top-k list."""

    index: int
    label: str
    probability: float
    logit: float


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model.

    Attributes:
        name: Registry key.
        title: Human name.
        build: ``build(pretrained) -> ImageModel``; may raise :class:`ModelUnavailable`.
        offline: True when the weights ship with the installed packages.
        weights_file: Where downloaded weights live (None for embedded ones).
        summary: One line for the UI.
    """

    name: str
    title: str
    build: Callable[[bool], ImageModel]
    offline: bool
    weights_file: Path | None
    summary: str


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> None:
    """Add a model to the registry (adding a model = one call of this)."""
    _REGISTRY[spec.name] = spec


def list_models() -> list[str]:
    """Registered classifier names, the embedded default first."""
    return [DEFAULT_MODEL] + [n for n in _REGISTRY if n != DEFAULT_MODEL]


FILE_MODEL_PREFIX = "file-"  # a model read from the user's file: "file-" + 12 hex digits
_FILE_MODEL_NAME = re.compile(re.escape(FILE_MODEL_PREFIX) + r"[0-9a-f]{12}")


def is_file_model_name(name: str) -> bool:
    """Whether ``name`` is the name of a model read from a file
    (:func:`core.models.files.model_name`), which only the session that loaded it has.

    Args:
        name: A model name.

    Returns:
        True for ``file-`` and 12 hexadecimal digits.
    """
    return _FILE_MODEL_NAME.fullmatch(name) is not None


def read_model_name(text: str) -> str:
    """A model's name from a link: a registered model (checked when the link is read, so
    a model registered later is found), or the name of a model read from a file (whether
    this session has that one is for the page to check: a file cannot travel in a link).

    Raises:
        ValueError: neither (the message lists the registered models).
    """
    name = text.strip()
    if name not in _REGISTRY and not is_file_model_name(name):
        known = ", ".join(list_models())
        raise ValueError(f"the model must be one of {known}; got {shown(name)!r}")
    return name


# The model of a page's URL (its state: core.common.query).
MODEL_FIELD = text_field("model", DEFAULT_MODEL, read_model_name, str, "model")


def model_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``.

    Raises:
        KeyError: with the valid names, when ``name`` is not registered.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(list_models())}") from None


def weights_available(name: str) -> bool:
    """True when the model can be built without a download."""
    spec = model_spec(name)
    return spec.offline or (spec.weights_file is not None and spec.weights_file.exists())


def load_model(name: str = DEFAULT_MODEL, pretrained: bool = True) -> ImageModel:
    """Build a registered model, in eval mode with frozen parameters.

    Every call builds a new network; the app shares one per process through
    ``st.cache_resource``.

    Args:
        name: One of :func:`list_models`.
        pretrained: False gives random initial weights (no download; for tests).

    Returns:
        The :class:`ImageModel`.

    Raises:
        KeyError: unknown name.
        ModelUnavailable: the weights could not be fetched; the message says how to
            get them.
    """
    spec = model_spec(name)
    log.info("building model %s (pretrained=%s)", name, pretrained)
    model = spec.build(pretrained)
    model.net.eval()
    # Only input gradients are ever needed: freezing the weights skips the weight
    # gradients in every backward pass (about a third of the backward work).
    model.net.requires_grad_(False)
    with _LOAD_LOCK:
        LOAD_COUNTS[name] = LOAD_COUNTS.get(name, 0) + 1
    log.info("loaded model %s (load #%d in this process)", name, LOAD_COUNTS[name])
    return model


def classify(model: ImageModel, img: Image.Image, k: int = 5) -> list[Prediction]:
    """Top-k classes of an image, with softmax probabilities and logits.

    Args:
        model: A loaded model.
        img: Any PIL image; the model's own preprocessing is applied.
        k: How many classes to return.

    Returns:
        ``k`` predictions, most probable first.
    """
    return classify_tensor(model, model.preprocess(img), k)


def classify_tensor(model: ImageModel, x: torch.Tensor, k: int = 5) -> list[Prediction]:
    """Top-k of an already preprocessed input ``(1, C, H, W)``."""
    with torch.inference_mode():
        logits = model.net(x)[0]  # (1, 1000) -> (1000,)
    return top_k(model, logits, k)


def top_k(model: ImageModel, logits: torch.Tensor, k: int = 5) -> list[Prediction]:
    """The ``k`` most probable classes of one image's logits ``(K,)``."""
    probs = logits.float().softmax(0)
    top = probs.topk(min(k, probs.numel()))
    return [
        Prediction(int(i), model.labels[int(i)], float(p), float(logits[i]))
        for p, i in zip(top.values, top.indices, strict=True)
    ]


def classify_batch(
    model: ImageModel, images: Sequence[Image.Image], k: int = 5, batch_size: int = 8
) -> list[list[Prediction]]:
    """Top-k of many images, on the model's forward engine (ONNX Runtime when exact).

    Args:
        model: A loaded model.
        images: PIL images (the model's own preprocessing is applied).
        k: Classes per image.
        batch_size: Images per forward pass.

    Returns:
        One top-k list per image, in order.
    """
    engine = forward_engine(model.net, model.input_shape, model.name)
    results: list[list[Prediction]] = []
    for start in range(0, len(images), batch_size):
        x = torch.cat([model.preprocess(img) for img in images[start : start + batch_size]])
        results.extend(top_k(model, row, k) for row in engine(x))  # (b, K) rows
    return results


def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet class names, as shipped inside torchvision (no download)."""
    return list(torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"])


def titles(names: Sequence[str] | None = None) -> dict[str, str]:
    """Registry name -> human title, for select boxes."""
    return {n: model_spec(n).title for n in (names or list_models())}
