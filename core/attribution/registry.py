"""The registry of attribution methods and the two entry points.

- :func:`attribute` -- tensor level: any classifier ``nn.Module`` and a ``(1, C, H, W)``
  input (the Digits lab uses it on its own MNIST CNN).
- :func:`explain` -- image level: an :class:`~core.models.ImageModel` and a PIL image,
  with the model's own preprocessing and defaults (normalisation, CAM layer).

Adding a method = one module with a :class:`~core.attribution.base.Method` subclass and
one line in :data:`METHODS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.attribution.base import (
    AttributionContext,
    Attributor,
    Method,
    Progress,
    estimated_seconds,
)
from core.attribution.cam import GradCAM, GradCAMPlusPlus, GuidedGradCAM
from core.attribution.gradients import IntegratedGradients, Saliency, SmoothGrad
from core.attribution.guided import DeconvNet, GuidedBackprop
from core.attribution.lrp import LRP
from core.attribution.perturbation import Lime, Occlusion
from core.models import ImageModel

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Saliency(),
        DeconvNet(),
        GuidedBackprop(),
        GradCAM(),
        GradCAMPlusPlus(),
        GuidedGradCAM(),
        IntegratedGradients(),
        SmoothGrad(),
        Occlusion(),
        Lime(),
        LRP(),
    )
}

# The page's default selection: the fast ones plus Integrated Gradients.
DEFAULT_METHODS: tuple[str, ...] = (
    "gradcam",
    "gradcam++",
    "saliency",
    "guided_backprop",
    "guided_gradcam",
    "integrated_gradients",
)


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    Raises:
        ValueError: unknown name (the message lists the registered ones).
    """
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; registered: {', '.join(METHODS)}") from None


def run_method(
    run: Attributor,
    method: str,
    target: int | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> np.ndarray:
    """Run one registered method on an :class:`Attributor` (sharing its work).

    Args:
        run: The network and input.
        method: A key of :data:`METHODS`.
        target: Class index; None = top-1.
        progress: Called with the fraction done (0..1) by methods with many passes.
        **params: The method's parameters (defaults for the rest).

    Returns:
        Float32 ``(H, W)`` map at the input's resolution.

    Raises:
        ValueError / TypeError: unknown method, bad parameter or target.
        MethodNotApplicable: the method cannot explain this network (with the reason).
    """
    spec = get_method(method)
    resolved = spec.resolve(params)
    with torch.inference_mode(False):
        index = run.resolve_target(target)
        heatmap = spec.compute(run, index, resolved, progress)
    heatmap = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if heatmap.shape != run.size:
        raise AssertionError(f"{method} returned shape {heatmap.shape}, expected {run.size}")
    return heatmap


def attribute(
    net: nn.Module,
    x: torch.Tensor,
    method: str,
    target: int | None = None,
    *,
    context: AttributionContext | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> np.ndarray:
    """Explain one input of any classifier with one method (tensor level).

    Args:
        net: Classifier in eval mode, ``(B, C, H, W) -> (B, K)`` logits (pre-softmax).
            Never modified.
        x: One input ``(1, C, H, W)``, normalised as the network expects.
        method: A key of :data:`METHODS`.
        target: Class index to explain; None = the top-1 class.
        context: Normalisation (for black/blurred baselines and LIME superpixels),
            default CAM layer; defaults: ``x`` is in pixel units, last feature map.
        progress: Called with the fraction done (0..1).
        **params: The method's parameters, see ``METHODS[method].params``.

    Returns:
        Float32 ``(H, W)`` heatmap at ``x``'s resolution (signed when
        ``METHODS[method].signed``).

    Raises:
        ValueError / TypeError: unknown method, bad parameter or target.
        MethodNotApplicable: the method cannot explain this network (with the reason).
    """
    return run_method(Attributor(net, x, context), method, target, progress, **params)


def context_for(model: ImageModel) -> AttributionContext:
    """The attribution context of a registered model (its normalisation and CAM layer)."""
    return AttributionContext(
        mean=tuple(model.mean), std=tuple(model.std), layer=model.target_layer, title=model.title
    )


def attributor_for(model: ImageModel, image: Image.Image) -> Attributor:
    """An :class:`Attributor` for a model and a PIL image (the model's preprocessing)."""
    return Attributor(model.net, model.preprocess(image), context_for(model))


def explain(
    model: ImageModel,
    image: Image.Image,
    method: str,
    target: int | None = None,
    *,
    progress: Progress | None = None,
    **params: Any,
) -> np.ndarray:
    """Explain a model's prediction for a PIL image (image level).

    Args:
        model: A loaded model (its own resize, crop and normalisation are applied; CAM
            methods default to its ``target_layer``).
        image: Any PIL image.
        method: A key of :data:`METHODS`.
        target: Class index; None = the top-1 class. The pre-softmax logit is explained.
        progress: Called with the fraction done (0..1).
        **params: The method's parameters.

    Returns:
        Float32 ``(H, W)`` heatmap at the model's input resolution, aligned with
        ``model.crop(image)``.
    """
    return run_method(attributor_for(model, image), method, target, progress, **params)


@dataclass(frozen=True)
class Timed:
    """A map and how long it took."""

    heatmap: np.ndarray
    seconds: float


def run_timed(
    run: Attributor,
    method: str,
    target: int | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> Timed:
    """:func:`run_method` plus its wall-clock time."""
    start = time.perf_counter()
    heatmap = run_method(run, method, target, progress, **params)
    return Timed(heatmap, time.perf_counter() - start)


def by_cost(
    requests: Mapping[str, Mapping[str, Any]], size: tuple[int, int]
) -> list[tuple[str, float]]:
    """Methods ordered cheapest first, with a rough time estimate each.

    Args:
        requests: method name -> its parameters.
        size: Input ``(H, W)``.

    Returns:
        ``(method, estimated seconds)`` pairs, cheapest first.
    """
    estimates = []
    for name, params in requests.items():
        spec = get_method(name)
        estimates.append((name, estimated_seconds(*spec.cost(spec.resolve(params), size))))
    return sorted(estimates, key=lambda item: item[1])
