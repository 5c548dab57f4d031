"""Class activation maps: Grad-CAM, Grad-CAM++ and guided Grad-CAM.

Our own code (Captum has Grad-CAM but not Grad-CAM++; pytorch-grad-cam has both) for
speed: one pass serves both CAM methods, and the backward pass starts at the chosen
layer. The layer's output is swapped, for this thread only, for a detached copy that
requires grad, so no graph is recorded before the layer and the backward pass only
runs through the few layers after it (Captum and pytorch-grad-cam differentiate the
whole network when the input requires grad).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.attribution.base import (
    InputShape,
    Method,
    MethodNotApplicable,
    Param,
    Params,
    Progress,
)
from core.attribution.guided import guided_map
from core.common.hooks import forward_hooks
from core.common.layout import fast_layout

LAYER = Param(
    "layer",
    None,
    "Layer whose feature maps are weighted (default: the model's last convolutional block).",
    "layer",
)

if TYPE_CHECKING:
    from core.attribution.runner import Attributor


def feature_map_layers(net: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Modules whose output is a feature map ``(1, C, h, w)``, in the order they run.

    One forward pass with scoped, thread-filtered shape-recording hooks.

    Args:
        net: The network.
        x: An input ``(1, C, H, W)``.

    Returns:
        ``(module name, output shape)`` pairs; a module that runs twice is listed once
        (its last call).
    """
    owner = threading.get_ident()
    seen: dict[str, tuple[int, ...]] = {}

    def make_hook(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            mine = threading.get_ident() == owner and isinstance(output, torch.Tensor)
            if mine and output.dim() == 4 and output.shape[2] * output.shape[3] > 1:
                seen.pop(name, None)
                seen[name] = tuple(output.shape)

        return hook

    modules = [(name, m) for name, m in net.named_modules() if name]
    with forward_hooks((m, make_hook(name)) for name, m in modules), torch.inference_mode():
        net(fast_layout(x))
    return list(seen.items())


def default_layer(run: Attributor) -> str:
    """The context's CAM layer, else the last module that outputs a feature map."""
    if run.context.layer:
        return run.context.layer
    layers = run.shared(("feature_map_layers",), lambda: feature_map_layers(run.net, run.x))
    if not layers:
        raise MethodNotApplicable(
            f"{run.context.title} has no layer with a spatial feature map (no convolutional "
            "layer), so there is nothing for a class activation map to weight"
        )
    return layers[-1][0]


def cam_pass(run: Attributor, layer: str | None, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations ``A`` of a layer and the gradient of the target logit w.r.t. them.

    Shared by Grad-CAM, Grad-CAM++ and guided Grad-CAM. A module that runs several
    times in one forward pass is explained at its last call.

    Returns:
        ``(A, dA)``, both ``(1, C, h, w)``.

    Raises:
        ValueError: no module has that name.
        MethodNotApplicable: the layer's output is not a feature map, or the layer does
            not take part in computing the class score.
    """
    name = layer or default_layer(run)

    def compute() -> tuple[torch.Tensor, torch.Tensor]:
        modules = dict(run.net.named_modules())
        if name not in modules:
            raise ValueError(f"{run.context.title} has no layer called {name!r}")
        owner = threading.get_ident()
        captured: list[torch.Tensor] = []

        def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            if threading.get_ident() != owner:
                return None
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
                raise MethodNotApplicable(
                    f"layer {name!r} outputs {shape}, not a (1, C, h, w) feature map; "
                    "choose a convolutional layer"
                )
            leaf = output.detach().requires_grad_(True)
            captured.append(leaf)
            return leaf

        with torch.inference_mode(False), torch.enable_grad():
            with forward_hooks([(modules[name], hook)]):
                out = run.net(fast_layout(run.x))  # (1, K); graph starts at the layer
            run.check_output(out, 1, target)
            if not captured:
                raise MethodNotApplicable(f"layer {name!r} is not used in the forward pass")
            activations = captured[-1]
            score = out[0, target]
            if not score.requires_grad:
                raise MethodNotApplicable(f"the class score does not depend on layer {name!r}")
            (grads,) = torch.autograd.grad(score, activations, allow_unused=True)
        if grads is None:
            raise MethodNotApplicable(f"the class score does not depend on layer {name!r}")
        return activations.detach(), grads.detach()

    return run.shared(("cam_pass", name, target), compute)


def upsample(cam: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``(1, h, w)`` -> ``(H, W)`` by bilinear interpolation (as Captum's ``interpolate``)."""
    up = F.interpolate(cam[None].float(), size=size, mode="bilinear", align_corners=False)
    return up[0, 0].cpu().numpy()


class GradCAM(Method):
    """ReLU of the layer's feature maps weighted by their average gradient.

    Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391
    """

    name = "gradcam"
    title = "Grad-CAM"
    summary = "Where the last convolutional features that favour the class are (coarse)."
    paper = "https://arxiv.org/abs/1610.02391"
    citation = "Selvaraju et al. 2017"
    signed = False
    unit = "gradient-weighted activation"
    params = (LAYER,)

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return 1, 0  # the backward pass runs only through the layers after `layer`

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        return upsample(grad_cam(run, params["layer"], target), run.size)


def grad_cam(run: Attributor, layer: str | None, target: int) -> torch.Tensor:
    """Grad-CAM at the layer's resolution, ``(1, h, w)``."""
    activations, grads = cam_pass(run, layer, target)  # (1, C, h, w) each
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
    return (weights * activations).sum(dim=1).clamp(min=0)  # (1, h, w)


class GradCAMPlusPlus(Method):
    """Grad-CAM with pixel-wise weights from second and third derivatives (assuming an
    exponential of the score), which better covers several instances of the class.

    Chattopadhay et al. 2018, https://arxiv.org/abs/1710.11063 (eq. 19, as in
    pytorch-grad-cam).
    """

    name = "gradcam++"
    title = "Grad-CAM++"
    summary = "Grad-CAM with per-location weights: covers several objects of the class better."
    paper = "https://arxiv.org/abs/1710.11063"
    citation = "Chattopadhay et al. 2018"
    signed = False
    unit = "Grad-CAM++ weighted activation"
    params = (LAYER,)

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return 1, 0

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        activations, grads = cam_pass(run, params["layer"], target)  # (1, C, h, w)
        grads2 = grads.pow(2)
        grads3 = grads2 * grads
        sum_activations = activations.sum(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        alpha = grads2 / (2 * grads2 + sum_activations * grads3 + 1e-6)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        weights = (grads.clamp(min=0) * alpha).sum(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cam = (weights * activations).sum(dim=1).clamp(min=0)  # (1, h, w)
        return upsample(cam, run.size)


class GuidedGradCAM(Method):
    """Guided backprop times the upsampled Grad-CAM: sharp and class-specific.

    Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391. Reuses the guided backprop
    map and the CAM pass when they were computed for the same input and class.
    """

    name = "guided_gradcam"
    title = "Guided Grad-CAM"
    summary = "Guided backprop's sharp edges, kept only where Grad-CAM says the class is."
    paper = "https://arxiv.org/abs/1610.02391"
    citation = "Selvaraju et al. 2017"
    signed = False
    unit = "|guided gradient| x Grad-CAM"
    scaling = "heavy_tailed"
    params = (LAYER,)

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return 2, 1

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        cam = upsample(grad_cam(run, params["layer"], target), run.size)
        return guided_map(run, target) * cam
