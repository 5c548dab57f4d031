"""A map request: everything that decides one map, and its one canonical cache key.

Every page and command that shows a map (Explain, Compare, the trust section, the CLI on
both engines, reports and bundles) asks for it with a :class:`MapRequest`, so a map
computed for one of them is found by all the others.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from core.attribution import METHODS, InputShape, ParamValue, get_method, input_shape_for
from core.models import ImageModel
from core.models.engine import weights_hash


@dataclass(frozen=True)
class MapRequest:
    """One map: a model, a photo, a class, a method and all its parameters.

    Attributes:
        model: The model's name (``ImageModel.name``).
        weights: The first 16 hex digits of its weights' SHA-256 (two networks of the same
            name, a trained and a randomly initialised one say, never share a map).
        image: SHA-256 of the photo's bytes.
        target: The explained class index (never "top-1": resolved before).
        method: Registry name of the method.
        params: Every declared parameter with its value, sorted by name; defaults filled
            in and a CAM layer of None replaced by the layer it means.
    """

    model: str
    weights: str
    image: str
    target: int
    method: str
    params: tuple[tuple[str, ParamValue], ...]

    @property
    def key(self) -> str:
        """The canonical cache key (JSON: the same map has the same key everywhere, in
        every process)."""
        return json.dumps(
            [self.model, self.weights, self.image, self.target, self.method, dict(self.params)],
            sort_keys=True,
            separators=(",", ":"),
        )

    @property
    def settings(self) -> dict[str, ParamValue]:
        """The parameters as a dict (what the method runs with)."""
        return dict(self.params)


_SHAPES: weakref.WeakKeyDictionary[nn.Module, InputShape] = weakref.WeakKeyDictionary()
_WEIGHTS: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def model_shape(model: ImageModel) -> InputShape:
    """The model's input size and feature-map channels, measured once per network (one
    hooked forward pass of a blank image): for costs, layer pickers and CAM layers."""
    with _LOCK:
        shape = _SHAPES.get(model.net)
    if shape is None:
        shape = input_shape_for(model)
        with _LOCK:
            _SHAPES[model.net] = shape
    return shape


def weights_id(model: ImageModel) -> str:
    """The first 16 hex digits of the network's weights' SHA-256, hashed once per network
    object (EfficientNet-Lite0: ~30 ms)."""
    with _LOCK:
        token = _WEIGHTS.get(model.net)
    if token is None:
        token = weights_hash(model.net)[:16]
        with _LOCK:
            _WEIGHTS[model.net] = token
    return token


def cam_layer(model: ImageModel) -> str | None:
    """The layer CAM methods weight by default: the model's declared one, else its last
    layer with a spatial feature map (None: it has none, and CAMs do not apply)."""
    if model.target_layer:
        return model.target_layer
    channels = model_shape(model).channels
    return list(channels)[-1] if channels else None


def map_request(
    model: ImageModel,
    image: str,
    target: int,
    method: str,
    params: Mapping[str, Any] | None = None,
) -> MapRequest:
    """The request for one map, its parameters resolved.

    Args:
        model: The model.
        image: SHA-256 of the photo's bytes.
        target: The class to explain.
        method: A registry name.
        params: Some or all of the method's parameters (defaults for the rest).

    Returns:
        The request.

    Raises:
        ValueError / TypeError: unknown method, bad parameter, or a negative class.
    """
    spec = get_method(method)
    resolved = dict(spec.resolve(params or {}))
    for param in spec.params:
        if param.kind == "layer" and resolved[param.name] is None:
            resolved[param.name] = cam_layer(model)
    if isinstance(target, bool) or int(target) != target or target < 0:
        raise ValueError(f"target must be a class index (int >= 0), got {target!r}")
    return MapRequest(
        model.name, weights_id(model), image, int(target), method, tuple(sorted(resolved.items()))
    )


def method_title(request: MapRequest) -> str:
    """The method's human name."""
    return METHODS[request.method].title
