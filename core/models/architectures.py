"""Weights files plus an architecture name from torchvision or timm.

The weights come from a ``.safetensors`` file (no code in the format) or a ``.pt`` /
``.pth`` file read with ``torch.load(weights_only=True)``: a file that needs more (a
whole pickled module, a pickle with code) is refused before anything in it runs, with
a message saying how to export the model instead. The number of classes is read from
the classifier's weight, the input channels from the first convolution's (timm), and
the architecture is built with them and no download; its preprocessing is timm's
pretrained config or torchvision's preset for its weights.

A name is looked up in torchvision's classification models first, then in timm's;
``timm:NAME`` or ``torchvision:NAME`` chooses (``resnet18`` exists in both). One more
name is this app's own: ``digit_cnn``, the digits lab's CNN (:mod:`core.models.digit_cnn`).
"""

from __future__ import annotations

import difflib
import io
import re
from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode

from core.models.engine import first_line
from core.models.files import HOW_TO_EXPORT, Found, ModelFileError

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "ema", "state")
PREFIXES = ("module.", "_orig_mod.")  # DataParallel's and torch.compile's
AUXILIARY = ("AuxLogits.", "aux1.", "aux2.")  # Inception-V3's and GoogLeNet's extra heads
SHOWN = 5  # keys named in a message
DIGIT_CNN = "digit_cnn"
BILINEAR = InterpolationMode.BILINEAR
INTERPOLATIONS = {
    "bicubic": InterpolationMode.BICUBIC,
    "bilinear": InterpolationMode.BILINEAR,
    "nearest": InterpolationMode.NEAREST,
}


def _tensors_only(value: Any) -> dict[str, torch.Tensor] | None:
    if not isinstance(value, dict) or not value:
        return None
    if all(isinstance(v, torch.Tensor) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    return None


def read_state_dict(data: bytes, file_name: str, kind: str) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (``.safetensors``, ``.pt``, ``.pth``).

    A checkpoint that keeps its state dict under a key (``state_dict``, ``model``, ...)
    is unwrapped, and DataParallel's ``module.`` prefix is removed.

    Raises:
        ModelFileError: corrupt file, a pickle that needs more than weights, no tensors.
    """
    loaded: Any
    if kind == ".safetensors":
        from safetensors.torch import load as load_safetensors

        try:
            loaded = load_safetensors(data)
        except Exception as err:  # noqa: BLE001 - SafetensorError and friends
            raise ModelFileError(
                f"{file_name} is not a readable safetensors file ({first_line(err)})"
            ) from None
    else:
        try:
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - UnpicklingError, RuntimeError, EOFError...
            # A pickle (it starts with the PROTO opcode) or a torch zip whose pickle names
            # a global the safe unpickler refuses: an object, not weights. Anything else
            # that fails is a broken file.
            is_pickle = data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
            if is_pickle or "GLOBAL" in str(err):
                found = re.search(r"GLOBAL ([\w.]+)", str(err))
                needs = f" (it needs {found.group(1)})" if found else ""
                raise ModelFileError(
                    f"{file_name} is refused: it is a pickled Python object{needs}, not plain "
                    f"weights, and unpickling it could run code from the file. {HOW_TO_EXPORT}"
                ) from None
            raise ModelFileError(
                f"{file_name} is not a readable torch file ({first_line(err)})"
            ) from None
    state = _tensors_only(loaded)
    if state is None and isinstance(loaded, dict):
        for key in CHECKPOINT_KEYS:
            state = _tensors_only(loaded.get(key))
            if state is not None:
                break
        if state is None:  # a state dict with a few non-tensor entries (e.g. metadata)
            tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
            state = tensors if len(tensors) >= max(1, len(loaded) // 2) else None
    if state is None:
        what = (
            f"a dict with keys {', '.join(map(str, list(loaded)[:SHOWN]))}"
            if isinstance(loaded, dict)
            else f"a {type(loaded).__name__}"
        )
        raise ModelFileError(f"{file_name} holds {what}, not a state dict of weights")
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def torchvision_names() -> list[str]:
    """torchvision's classification architectures."""
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def _split(arch: str) -> tuple[str, str]:
    """``"timm:convnext_tiny"`` -> ``("timm", "convnext_tiny")``; a plain name -> the
    library that has it (torchvision first)."""
    import timm

    library, colon, name = arch.strip().partition(":")
    if library == DIGIT_CNN:
        return "app", DIGIT_CNN
    if colon:
        if library not in ("timm", "torchvision"):
            raise ModelFileError(f"architecture {arch!r}: the prefix must be timm: or torchvision:")
        return library, name
    name = library
    if name in torchvision_names():
        return "torchvision", name
    if timm.is_model(name):
        return "timm", name
    close = difflib.get_close_matches(name, [*torchvision_names(), *timm.list_models()], 5, 0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ModelFileError(
        f"no architecture called {name!r} in torchvision or timm{hint} (e.g. resnet18, "
        "mobilenet_v3_small, timm:convnext_tiny, timm:resnet50.a1_in1k)"
    )


def _head(net: nn.Module, classes: int, state: dict[str, torch.Tensor], arch: str) -> str:
    """The name of the classifier's weight: the last parameter with ``classes`` rows
    (the architecture's default number of classes) that the weights also have."""
    heads = [
        name
        for name, parameter in reversed(list(net.named_parameters()))
        if name.endswith("weight") and parameter.shape[0] == classes
    ]
    for name in heads:
        if name in state:
            return name
    expected = heads[0] if heads else "a classifier weight"
    raise ModelFileError(
        f"these weights are not for {arch}: they have no {expected} (its classifier's weight)"
    )


Built = tuple[nn.Module, int, dict[str, Any]]  # the network, its classes, its preprocessing


def _torchvision(name: str, state: dict[str, torch.Tensor]) -> Built:
    import torchvision

    extra: dict[str, Any] = {}
    if name in ("inception_v3", "googlenet"):
        extra = {"aux_logits": False, "init_weights": False}
    default = torchvision.models.get_model(name, weights=None, **extra)
    classes = int(state[_head(default, 1000, state, name)].shape[0])
    net = default if classes == 1000 else torchvision.models.get_model(
        name, weights=None, num_classes=classes, **extra
    )  # fmt: skip
    preset: dict[str, Any] = {}
    try:
        transforms = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        crop, resize = int(transforms.crop_size[0]), int(transforms.resize_size[0])
        preset = {
            "input_size": (crop, crop), "crop": crop / resize, "mean": tuple(transforms.mean),
            "std": tuple(transforms.std), "interpolation": transforms.interpolation,
        }  # fmt: skip
    except (ValueError, AttributeError, IndexError):  # no pretrained weights: no preset
        preset = {}
    return net, classes, preset


def _timm(name: str, state: dict[str, torch.Tensor]) -> Built:
    import timm

    default = timm.create_model(name, pretrained=False)
    config: dict[str, Any] = dict(getattr(default, "pretrained_cfg", None) or {})
    head = config.get("classifier")
    head = head[0] if isinstance(head, list | tuple) else head
    key = f"{head}.weight" if head and f"{head}.weight" in state else _head(
        default, int(getattr(default, "num_classes", 1000)), state, name
    )  # fmt: skip
    classes = int(state[key].shape[0])
    first = config.get("first_conv")
    first = first[0] if isinstance(first, list | tuple) else first
    in_chans = int(state[f"{first}.weight"].shape[1]) if f"{first}.weight" in state else 3
    net = timm.create_model(name, pretrained=False, num_classes=classes, in_chans=in_chans)
    data = timm.data.resolve_model_data_config(net)
    preset = {
        "channels": in_chans, "input_size": tuple(int(s) for s in data["input_size"][1:]),
        "mean": tuple(data["mean"]), "std": tuple(data["std"]),
        "crop": float(data.get("crop_pct", 0.875)),
        "interpolation": INTERPOLATIONS.get(str(data.get("interpolation")), BILINEAR),
    }  # fmt: skip
    return net, classes, preset


def _digit_cnn(name: str, state: dict[str, torch.Tensor]) -> Built:
    """The digits lab's CNN, with as many classes and channels as the weights have."""
    from core.models.digit_cnn import build_digit_net

    if "fc2.weight" not in state or "conv1.weight" not in state:
        raise ModelFileError("these weights are not for digit_cnn: no conv1 and fc2 in them")
    classes, channels = int(state["fc2.weight"].shape[0]), int(state["conv1.weight"].shape[1])
    preset = {"channels": channels, "input_size": (28, 28), "crop": 1.0}
    return build_digit_net(classes=classes, channels=channels), classes, preset


def load_weights(
    data: bytes, file_name: str, kind: str, arch: str | None, channels: int | None
) -> Found:
    """Build ``arch`` with the file's weights.

    Args:
        data: The weights file's bytes.
        file_name: For messages.
        kind: ``".safetensors"``, ``".pt"`` or ``".pth"``.
        arch: torchvision or timm architecture name.
        channels: The channels the user set, if any (checked against the weights).

    Raises:
        ModelFileError: no architecture name, unknown name, weights of another
            architecture (missing, unexpected or mis-shaped keys named), bad file.
    """
    state = read_state_dict(data, file_name, kind)
    if not arch:
        raise ModelFileError(
            f"{file_name} holds weights only ({len(state)} tensors): give the name of its "
            "architecture: a torchvision or timm classifier (e.g. resnet18, "
            "timm:convnext_tiny) or digit_cnn"
        )
    library, name = _split(arch)
    build = {"timm": _timm, "torchvision": _torchvision, "app": _digit_cnn}[library]
    try:
        net, classes, preset = build(name, state)
    except ModelFileError:
        raise
    except Exception as err:  # noqa: BLE001 - a library failing to build the model
        raise ModelFileError(f"{library} cannot build {name}: {first_line(err)}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()
             if not k.startswith(AUXILIARY)}  # fmt: skip
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as err:
        mismatches = [
            line.strip().rstrip(".") for line in str(err).splitlines() if "size mismatch" in line
        ]
        detail = "; ".join(mismatches[:3]) or first_line(err)
        more = f" (and {len(mismatches) - 3} more)" if len(mismatches) > 3 else ""
        raise ModelFileError(f"these weights are not for {arch}: {detail}{more}") from None
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing ({', '.join(missing[:SHOWN])}"
                         f"{', ...' if len(missing) > SHOWN else ''})")  # fmt: skip
        if result.unexpected_keys:
            extra = result.unexpected_keys
            parts.append(f"{len(extra)} unexpected ({', '.join(extra[:SHOWN])}"
                         f"{', ...' if len(extra) > SHOWN else ''})")  # fmt: skip
        raise ModelFileError(f"these weights are not for {arch}: keys {' and '.join(parts)}")
    if channels is not None and preset.get("channels", 3) != channels and library == "timm":
        raise ModelFileError(f"the weights' first layer takes {preset['channels']} channels")
    where = {
        "timm": f"timm's pretrained config of {name}",
        "torchvision": f"torchvision's preset for {name}",
        "app": "the digits lab (28 x 28, pixels in [0, 1])",
    }[library]
    return Found(net=net, classes=classes, preset=preset, preset_from=where)
