"""The class-activation-map template: one capture of a layer, shared by every CAM method.

A CAM method weights the feature maps ``A`` (``(1, C, h, w)``) of one convolutional
layer and keeps the positive part: ``ReLU(sum_c w_c A_c)``, upsampled to the input. The
methods differ only in the weights (Grad-CAM: the mean gradient; Score-CAM: the class
score of the image seen through each map; ...) or, for a few, in the map itself
(LayerCAM, HiResCAM: gradient times activation per position; Eigen-CAM: the first
principal component). As in pytorch-grad-cam's ``BaseCAM``, a method supplies only
:meth:`CAM.channel_weights` or :meth:`CAM.layer_map`; the rest is here, once:

- :func:`capture_layer`: one forward pass in which the layer's output (at its last
  call) is swapped, for this thread only, for a detached copy that requires grad. The
  activations and the logits are kept with the graph from the layer on, so the
  gradient for any class is one backward pass through the few layers after the layer
  (Captum and pytorch-grad-cam differentiate the whole network). The capture is shared
  through :meth:`Attributor.shared`: a panel with Grad-CAM, Grad-CAM++, Score-CAM and
  Eigen-CAM runs the layer once.
- :meth:`CAM.compute`: the weighted sum, the ReLU and the bilinear upsampling.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
from core.common.hooks import forward_hooks, tap_layers
from core.common.layout import fast_layout

if TYPE_CHECKING:
    from core.attribution.runner import Attributor

LAYER = Param(
    "layer",
    None,
    "Layer whose feature maps are weighted (default: the model's last convolutional block).",
    "layer",
)


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
    seen: dict[str, tuple[int, ...]] = {}

    def make_hook(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                return
            if output.dim() == 4 and output.shape[2] * output.shape[3] > 1:
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


# ----------------------------------------------------------------------- the capture


@dataclass
class LayerCapture:
    """A layer's activations for one input, and the logits with the graph from it on.

    Attributes:
        layer: The module name.
        activations: ``(1, C, h, w)`` float32, detached (NCHW, contiguous).
        logits: ``(1, K)`` logits, differentiable with respect to the activations.
        calls: How many times the layer runs in one forward pass (explained at the last).
    """

    layer: str
    activations: torch.Tensor
    logits: torch.Tensor
    calls: int
    _leaf: torch.Tensor = field(repr=False)
    _gradients: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    def gradients(self, target: int) -> torch.Tensor:
        """``d logit[target] / d activations``, ``(1, C, h, w)`` (one backward pass
        through the layers after the layer, on first request per class).

        Raises:
            MethodNotApplicable: the class score does not depend on the layer.
        """
        if target not in self._gradients:
            score = self.logits[0, target]
            if not score.requires_grad:
                raise MethodNotApplicable(
                    f"the class score does not depend on layer {self.layer!r}"
                )
            with torch.inference_mode(False):
                (grads,) = torch.autograd.grad(
                    score, self._leaf, retain_graph=True, allow_unused=True
                )
            if grads is None:
                raise MethodNotApplicable(
                    f"the class score does not depend on layer {self.layer!r}"
                )
            self._gradients[target] = grads.detach().float().contiguous()
        return self._gradients[target]


def capture_layer(run: Attributor, layer: str | None) -> LayerCapture:
    """The layer's activations and differentiable logits (one forward pass, shared).

    A module that runs several times in one forward pass is explained at its last call.

    Raises:
        NoSuchLayer: (a ValueError) no module has that name.
        MethodNotApplicable: the layer's output is not a feature map, or the layer does
            not take part in the forward pass.
    """
    name = layer or default_layer(run)

    def replace(_name: str, output: torch.Tensor) -> torch.Tensor:
        if output.dim() != 4:
            raise MethodNotApplicable(
                f"layer {name!r} outputs {tuple(output.shape)}, not a (1, C, h, w) feature "
                "map; choose a convolutional layer"
            )
        return output.detach().requires_grad_(True)  # the graph starts here

    def compute() -> LayerCapture:
        with torch.inference_mode(False), torch.enable_grad():
            with tap_layers(run.net, [name], replace=replace, network=run.context.title) as tap:
                out = tap.run(fast_layout(run.x))  # (1, K)
            run.check_output(out, 1)
            leaf = tap.outputs.get(name)
            if leaf is None:
                raise MethodNotApplicable(f"layer {name!r} is not used in the forward pass")
        activations = leaf.detach().float().contiguous()  # NCHW (the pass ran channels-last)
        return LayerCapture(name, activations, out, tap.calls[name], leaf)

    return run.shared(("cam_capture", name), compute)


def upsample(cam: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``(1, h, w)`` -> ``(H, W)`` by bilinear interpolation (as Captum's ``interpolate``
    and pytorch-grad-cam's ``cv2.resize``: pixel centres, no aligned corners)."""
    up = F.interpolate(cam[None].float(), size=size, mode="bilinear", align_corners=False)
    return up[0, 0].cpu().numpy()


# ---------------------------------------------------------------------- the template


@dataclass(frozen=True)
class LayerView:
    """What a CAM method computes its map from.

    Attributes:
        run: The network and input (for methods with passes of their own).
        target: The class.
        params: The method's resolved parameters.
        progress: Progress callback (for methods with many passes).
        capture: The shared :class:`LayerCapture`.
        activations: ``(1, C, h, w)``.
        gradients: ``(1, C, h, w)`` gradient of the class's logit with respect to the
            activations; None for gradient-free methods.
    """

    run: Attributor
    target: int
    params: Params
    progress: Progress | None
    capture: LayerCapture
    activations: torch.Tensor
    gradients: torch.Tensor | None

    @property
    def grads(self) -> torch.Tensor:
        """The gradients (for methods that declare ``needs_gradients``)."""
        if self.gradients is None:
            raise AssertionError("a gradient-free CAM method read the layer's gradients")
        return self.gradients


class CAM(Method):
    """The template of every class activation map (see the module's docstring).

    Subclasses set the declarations (name, title, paper, ...) and override one of:

    - :meth:`channel_weights` -> ``(1, C, 1, 1)``: the map is ``ReLU(sum_c w_c A_c)``;
    - :meth:`layer_map` -> ``(1, h, w)``: the map before the ReLU, for methods that do
      not weight whole channels.

    ``needs_gradients`` (default True) also says whether the view carries gradients.
    """

    signed = False
    params = (LAYER,)

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return 1, 0  # the backward pass runs only through the layers after `layer`

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        return upsample(self.cam(run, target, params, progress), run.size)

    def cam(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> torch.Tensor:
        """The map at the layer's resolution, ``(1, h, w)``, after the ReLU."""
        capture = capture_layer(run, params["layer"])
        run.check_output(capture.logits, 1, target)
        gradients = capture.gradients(target) if self.needs_gradients else None
        view = LayerView(run, target, params, progress, capture, capture.activations, gradients)
        return self.layer_map(view).clamp(min=0)

    def layer_map(self, view: LayerView) -> torch.Tensor:
        """``(1, h, w)``: the channels weighted by :meth:`channel_weights` and summed."""
        return (self.channel_weights(view) * view.activations).sum(dim=1)

    def channel_weights(self, view: LayerView) -> torch.Tensor:
        """``(1, C, 1, 1)``: each feature map's weight."""
        raise NotImplementedError(f"{type(self).__name__} defines neither weights nor a map")
