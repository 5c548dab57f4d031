"""Gradient-free class activation maps, on the CAM template (:mod:`.cam`): Score-CAM,
Ablation-CAM and Eigen-CAM.

Score-CAM's masked images go through the network's forward engine (ONNX Runtime when
exact); Ablation-CAM's passes change the layer's output, so they run on torch with a
scoped hook; Eigen-CAM needs nothing but the shared capture of the layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from core.attribution.base import InputShape, MethodNotApplicable, Progress, chunks
from core.attribution.cam import CAM, LayerCapture, LayerView
from core.common.hooks import forward_hooks, named_layers
from core.common.layout import fast_layout
from core.common.networks import same_logits

if TYPE_CHECKING:
    from core.attribution.runner import Attributor

UNKNOWN_CHANNELS = 512  # cost estimate when the layer's channel count is not known


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


class ScoreCAM(CAM):
    """Activation maps weighted by how much each one, used as a mask on the image, keeps
    the class score: no gradients, one forward pass per channel.

    Wang et al. 2020, https://arxiv.org/abs/1910.01279. Each activation map is upsampled
    to the input, scaled to [0, 1] and multiplied with the (normalised) input; the
    target logits of these masked images, through a softmax over the channels, weight
    the maps. This is pytorch-grad-cam's ``ScoreCAM`` (the paper weights by the class
    probability of each masked image instead; the softmax over channels keeps the
    weights comparable whatever the class's logit scale). Our own code rather than
    pytorch-grad-cam's: it pushes each batch through the forward engine, reports
    progress and shares the layer's capture with the other CAM methods.
    """

    name = "scorecam"
    title = "Score-CAM"
    summary = "Feature maps weighted by the class score of the image seen through each."
    paper = "https://arxiv.org/abs/1910.01279"
    citation = "Wang et al. 2020"
    needs_gradients = False
    unit = "score-weighted activation"

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        channels = shape.layer_channels(params.get("layer")) or UNKNOWN_CHANNELS
        return channels + 1, 0

    def channel_weights(self, view: LayerView) -> torch.Tensor:
        run = view.run
        masks = unit_masks(view.activations, run.size)  # (C, H, W)
        channels = masks.shape[0]
        if channels == 0:
            raise MethodNotApplicable("the layer has no channels")

        def batches() -> Iterator[torch.Tensor]:
            for part in chunks(channels, run.batch_size(gradients=False)):
                yield run.x * masks[part, None]  # (b, C_in, H, W)

        scores = run.forward_scores(batches(), channels, view.target, view.progress)  # (C,)
        return scores.softmax(dim=0)[None, :, None, None]  # (1, C, 1, 1)


class EigenCAM(CAM):
    """The first principal component of the layer's feature maps: where the layer's
    strongest pattern of activity is. Class-agnostic (the same map for every class), no
    gradients and no extra pass.

    Muhammad & Yeasin 2020, https://arxiv.org/abs/2008.00299. As pytorch-grad-cam: the
    positions' activation vectors are centred and projected on the first right singular
    vector. The sign of a singular vector is arbitrary (it depends on the linear-algebra
    library); here it is fixed so that the larger extreme of the projection is positive
    (the sign correction of Seg-Eigen-CAM, Chung & Ying 2025,
    https://doi.org/10.3390/app15137562, which pytorch-grad-cam also ships), so the map
    does not flip between machines.
    """

    name = "eigencam"
    title = "Eigen-CAM"
    summary = "The layer's main pattern of activity (first principal component): class-agnostic."
    paper = "https://arxiv.org/abs/2008.00299"
    citation = "Muhammad & Yeasin 2020"
    needs_gradients = False
    uses_forward_engine = False  # no pass beyond the shared capture
    unit = "projection on the first principal component"

    def layer_map(self, view: LayerView) -> torch.Tensor:
        activations = view.activations[0].double()  # (C, h, w)
        channels, height, width = activations.shape
        positions = activations.reshape(channels, -1).T  # (h*w, C)
        centred = positions - positions.mean(dim=0, keepdim=True)
        _, _, vt = torch.linalg.svd(centred, full_matrices=False)  # vt: (k, C)
        projection = centred @ vt[0]  # (h*w,)
        if projection.min().abs() > projection.max().abs():
            projection = -projection
        return projection.reshape(1, height, width).float()


# Activation values per ablation batch: 32 MB of float32, 133 copies of EfficientNet-
# Lite0's default layer (1280 x 7 x 7), so 10 passes up to the layer instead of 1,280.
ABLATION_ELEMENTS = 2**23
ABLATION_COPIES = 128  # copies per pass assumed by the cost estimate (channels unknown)


class AblationCAM(CAM):
    """Each feature map weighted by how much the class score drops when that map alone
    is set to zero: ``w_c = (y - y_c) / y``. No gradients; one pass per channel, in which
    only the layers after the chosen layer see a change.

    Desai & Ramaswamy 2020, https://doi.org/10.1109/WACV45572.2020.9093360. As
    pytorch-grad-cam's ``AblationCAM`` (all channels ablated). It sets an ablated map to
    zero, as the paper does; pytorch-grad-cam does too when the layer's smallest value
    is 0 (after a ReLU, as every default CAM layer here), and otherwise sets it to
    ``min - 1e7``, its own deviation from the paper.

    Faster than pytorch-grad-cam, which runs the whole network once per channel: here
    the image's pass up to the layer runs once per batch and the layer's output is
    replaced (scoped, thread-filtered hook) by a batch of ablated copies, so only the
    layers after it run per channel. When the layers after it cannot take a larger
    batch than the input's (a concatenation with an earlier tensor), or the unablated
    copy does not give the network's logits, the input is repeated as in
    pytorch-grad-cam.
    """

    name = "ablationcam"
    title = "Ablation-CAM"
    summary = "Feature maps weighted by how much the class score drops without each one."
    paper = "https://doi.org/10.1109/WACV45572.2020.9093360"
    citation = "Desai & Ramaswamy 2020"
    needs_gradients = False
    uses_forward_engine = False  # its passes change the layer's output: torch, hooked
    unit = "ablation-weighted activation"

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        channels = shape.layer_channels(params.get("layer")) or UNKNOWN_CHANNELS
        return 1 + math.ceil(channels / ABLATION_COPIES), 0

    def channel_weights(self, view: LayerView) -> torch.Tensor:
        run, capture, target = view.run, view.capture, view.target
        original = float(capture.logits[0, target])
        ablated = ablated_scores(run, capture, target, view.progress)  # (C,)
        weights = (original - ablated) / original
        return weights[None, :, None, None]  # (1, C, 1, 1)


def ablated_scores(
    run: Attributor, capture: LayerCapture, target: int, progress: Progress | None = None
) -> torch.Tensor:
    """The target's logit with each channel of the layer set to zero, ``(C,)``.

    Raises:
        MethodNotApplicable: the layer has no channels, or the network's output does
            not come from the replaced layer output.
    """
    activations = capture.activations  # (1, C, h, w)
    channels = activations.shape[1]
    if channels == 0:
        raise MethodNotApplicable("the layer has no channels")
    module = named_layers(run.net, [capture.layer], run.context.title)[capture.layer]
    copies = max(1, min(channels, ABLATION_ELEMENTS // max(1, activations[0].numel())))
    scores: list[torch.Tensor] = []
    broadcast = True  # the input once; the layer's output as a batch of copies

    def tail(batch: torch.Tensor) -> torch.Tensor:
        """Logits ``(b, K)`` with the layer's last call replaced by ``batch``."""
        seen = [0]

        def hook(_module: Any, _inputs: Any, _output: Any) -> torch.Tensor | None:
            seen[0] += 1
            return batch if seen[0] == capture.calls else None

        x = run.x if broadcast else run.x.expand(batch.shape[0], -1, -1, -1)
        with forward_hooks([(module, hook)]), torch.inference_mode():
            out = run.net(fast_layout(x))
        return run.check_output(out, batch.shape[0], target)

    done = 0
    for number, part in enumerate(chunks(channels + 1, copies)):
        indices = torch.arange(part.start, part.stop)  # index 0: nothing ablated
        batch = activations.expand(len(indices), -1, -1, -1).clone()  # (b, C, h, w)
        ablate = indices > 0
        batch[ablate.nonzero()[:, 0], indices[ablate] - 1] = 0.0
        if number == 0:
            try:
                logits = tail(batch)
                exact = same_logits(capture.logits[0].detach(), logits[0])
            except (RuntimeError, ValueError):
                exact = False
            if not exact:  # the layers after it need the input's batch size
                broadcast = False
                logits = tail(batch)
                if not same_logits(capture.logits[0].detach(), logits[0]):
                    raise MethodNotApplicable(
                        "Ablation-CAM: replacing the layer's output does not reproduce the "
                        "network's logits (the layer's output is not what the rest uses)"
                    )
        else:
            logits = tail(batch)
        scores.append(logits[:, target].float())
        done += len(indices)
        if progress is not None:
            progress(min(1.0, done / (channels + 1)))
    return torch.cat(scores)[1:]
