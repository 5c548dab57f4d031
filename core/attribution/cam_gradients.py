"""Gradient-weighted class activation maps, on the CAM template (:mod:`.cam`).

Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM, HiResCAM and guided Grad-CAM. Each is the
formula of its paper, as pytorch-grad-cam computes it (the tests check r >= 0.99
against it); the layer's activations and gradients come from the shared capture, so
they cost one forward pass and one short backward pass for the whole family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from core.attribution.base import InputShape, Params, Progress
from core.attribution.cam import CAM, LayerView, upsample
from core.attribution.guided import guided_map

if TYPE_CHECKING:
    from core.attribution.runner import Attributor


class GradCAM(CAM):
    """ReLU of the layer's feature maps weighted by their average gradient.

    Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391
    """

    name = "gradcam"
    title = "Grad-CAM"
    summary = "Where the last convolutional features that favour the class are (coarse)."
    paper = "https://arxiv.org/abs/1610.02391"
    citation = "Selvaraju et al. 2017"
    unit = "gradient-weighted activation"

    def channel_weights(self, view: LayerView) -> torch.Tensor:
        return view.grads.mean(dim=(2, 3), keepdim=True)  # (1, C, h, w) -> (1, C, 1, 1)


class GradCAMPlusPlus(CAM):
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
    unit = "Grad-CAM++ weighted activation"

    def channel_weights(self, view: LayerView) -> torch.Tensor:
        activations, grads = view.activations, view.grads  # (1, C, h, w)
        grads2 = grads.pow(2)
        grads3 = grads2 * grads
        sum_activations = activations.sum(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        alpha = grads2 / (2 * grads2 + sum_activations * grads3 + 1e-6)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        return (grads.clamp(min=0) * alpha).sum(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)


class XGradCAM(CAM):
    """Grad-CAM whose channel weights are the gradients averaged with the activations
    as weights (``sum A dA / sum A``), chosen to satisfy the sensitivity and
    conservation axioms.

    Fu et al. 2020, "Axiom-based Grad-CAM", https://arxiv.org/abs/2008.02312
    """

    name = "xgradcam"
    title = "XGrad-CAM"
    summary = "Grad-CAM with gradients averaged where the feature maps are strong (axiom-based)."
    paper = "https://arxiv.org/abs/2008.02312"
    citation = "Fu et al. 2020"
    unit = "XGrad-CAM weighted activation"

    def channel_weights(self, view: LayerView) -> torch.Tensor:
        activations, grads = view.activations, view.grads  # (1, C, h, w)
        total = activations.sum(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        return (grads * activations / (total + 1e-7)).sum(dim=(2, 3), keepdim=True)


class LayerCAM(CAM):
    """Each activation weighted by its own positive gradient (not a channel average):
    finer maps, usable on earlier layers too.

    Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization", https://doi.org/10.1109/TIP.2021.3089943
    """

    name = "layercam"
    title = "LayerCAM"
    summary = (
        "Each feature-map position weighted by its own positive gradient: finer than Grad-CAM."
    )
    paper = "https://doi.org/10.1109/TIP.2021.3089943"
    citation = "Jiang et al. 2021"
    unit = "LayerCAM weighted activation"

    def layer_map(self, view: LayerView) -> torch.Tensor:
        return (view.grads.clamp(min=0) * view.activations).sum(dim=1)  # (1, h, w)


class HiResCAM(CAM):
    """Gradient times activation, summed over the channels at each position (Grad-CAM
    without averaging the gradient): for a network that ends in global average pooling
    and one linear layer, exactly the positions' contributions to the class score.

    Draelos & Carin 2020, https://arxiv.org/abs/2011.08891
    """

    name = "hirescam"
    title = "HiResCAM"
    summary = "Gradient x activation at each position of the layer: what each position adds."
    paper = "https://arxiv.org/abs/2011.08891"
    citation = "Draelos & Carin 2020"
    unit = "gradient x activation"

    def layer_map(self, view: LayerView) -> torch.Tensor:
        return (view.grads * view.activations).sum(dim=1)  # (1, h, w)


class GuidedGradCAM(CAM):
    """Guided backprop times the upsampled Grad-CAM: sharp and class-specific.

    Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391. Reuses the guided backprop
    map and the layer capture when they were computed for the same input and class.
    """

    name = "guided_gradcam"
    title = "Guided Grad-CAM"
    summary = "Guided backprop's sharp edges, kept only where Grad-CAM says the class is."
    paper = "https://arxiv.org/abs/1610.02391"
    citation = "Selvaraju et al. 2017"
    unit = "|guided gradient| x Grad-CAM"
    scaling = "heavy_tailed"

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return 2, 1

    def channel_weights(self, view: LayerView) -> torch.Tensor:
        return GRAD_CAM.channel_weights(view)

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        return guided_map(run, target) * upsample(self.cam(run, target, params, progress), run.size)


GRAD_CAM = GradCAM()
