"""Score-CAM: class activation maps weighted by the class score of the masked image.

Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
Networks", https://arxiv.org/abs/1910.01279

Forward passes only, one per channel of the layer, all on the network's forward engine
(ONNX Runtime when exact): each activation map is upsampled to the input, scaled to
[0, 1] and multiplied with the (normalised) input; the target logits of these masked
images, through a softmax over the channels, weight the activation maps. This is
pytorch-grad-cam's ``ScoreCAM`` (the paper weights by the class probability of each
masked image instead; the softmax over channels keeps the weights of the channels
comparable whatever the class's logit scale). Our own code rather than
pytorch-grad-cam's: it pushes each batch through the forward engine, reports progress
and shares the layer's activations with the other CAM methods.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from core.attribution.base import (
    InputShape,
    Method,
    MethodNotApplicable,
    Params,
    Progress,
    chunks,
)
from core.attribution.cam import LAYER, default_layer, upsample
from core.common.hooks import record_outputs
from core.common.layout import fast_layout

if TYPE_CHECKING:
    from core.attribution.runner import Attributor

UNKNOWN_CHANNELS = 512  # cost estimate when the layer's channel count is not known


def layer_activations(run: Attributor, layer: str | None) -> torch.Tensor:
    """The output ``(1, C, h, w)`` of a layer for the input (one forward pass, shared).

    A module that runs several times in one pass is taken at its last call.

    Raises:
        ValueError: no module has that name.
        MethodNotApplicable: the layer is not used, or its output is not a feature map.
    """
    name = layer or default_layer(run)

    def compute() -> torch.Tensor:
        modules = dict(run.net.named_modules())
        if name not in modules:
            raise ValueError(f"{run.context.title} has no layer called {name!r}")
        with record_outputs({name: modules[name]}) as recorded, torch.inference_mode():
            run.net(fast_layout(run.x))
        if not recorded[name]:
            raise MethodNotApplicable(f"layer {name!r} is not used in the forward pass")
        out = recorded[name][-1]
        if out.dim() != 4:
            raise MethodNotApplicable(
                f"layer {name!r} outputs {tuple(out.shape)}, not a (1, C, h, w) feature map; "
                "choose a convolutional layer"
            )
        with torch.inference_mode(False):
            return out.float().contiguous().clone()  # NCHW (the pass ran channels-last)

    return run.shared(("activations", name), compute)


def unit_masks(activations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Each channel's map upsampled to the input size and scaled to [0, 1].

    Bilinear with aligned corners, as pytorch-grad-cam (``UpsamplingBilinear2d``); the
    paper's code does not align corners, which changes the map by about 1% (r ~ 0.99).

    Args:
        activations: ``(1, C, h, w)``.
        size: Input ``(H, W)``.

    Returns:
        ``(C, H, W)``; a constant channel becomes all zeros.
    """
    up = F.interpolate(activations, size=size, mode="bilinear", align_corners=True)[0]
    flat = up.flatten(1)  # (C, H*W)
    low = flat.min(dim=1).values[:, None, None]
    high = flat.max(dim=1).values[:, None, None]
    return (up - low) / (high - low + 1e-8)


class ScoreCAM(Method):
    """Activation maps weighted by how much each one, used as a mask on the image, keeps
    the class score: no gradients, one forward pass per channel."""

    name = "scorecam"
    title = "Score-CAM"
    summary = "Feature maps weighted by the class score of the image seen through each."
    paper = "https://arxiv.org/abs/1910.01279"
    citation = "Wang et al. 2020"
    signed = False
    unit = "score-weighted activation"
    needs_gradients = False
    params = (LAYER,)

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        channels = shape.layer_channels(params.get("layer")) or UNKNOWN_CHANNELS
        return channels + 1, 0

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        activations = layer_activations(run, params["layer"])  # (1, C, h, w)
        masks = unit_masks(activations, run.size)  # (C, H, W)
        channels = masks.shape[0]
        if channels == 0:
            raise MethodNotApplicable("the layer has no channels")

        def batches() -> Iterator[torch.Tensor]:
            for part in chunks(channels, run.batch_size(gradients=False)):
                yield run.x * masks[part, None]  # (b, C_in, H, W)

        scores = run.forward_scores(batches(), channels, target, progress)  # (C,)
        weights = scores.softmax(dim=0)[None, :, None, None]  # (1, C, 1, 1)
        cam = (weights * activations).sum(dim=1).clamp(min=0)  # (1, h, w)
        return upsample(cam, run.size)
