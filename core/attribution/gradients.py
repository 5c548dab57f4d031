"""Gradient methods: saliency, Integrated Gradients, SmoothGrad.

Saliency and Integrated Gradients use Captum (right and fast; we only feed it a forward
function that uses the fast memory layout, the folded-batch-norm twin for IG's many
passes, and reports progress). SmoothGrad is our own
loop: Captum's ``NoiseTunnel`` draws its noise from torch's *global* random generator,
so its maps are not reproducible from a seed when other threads draw random numbers at
the same time; ours uses a private ``torch.Generator`` per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from captum.attr import IntegratedGradients as CaptumIntegratedGradients
from captum.attr import Saliency as CaptumSaliency
from torch import nn

from core.attribution.base import (
    InputShape,
    Method,
    Param,
    Params,
    Progress,
    chunks,
    max_abs_over_channels,
    sum_over_channels,
)
from core.common.layout import fast_layout

if TYPE_CHECKING:
    from core.attribution.runner import Attributor


def counting_forward(
    run: Attributor, net: nn.Module, target: int, total: int, progress: Progress | None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A forward function for Captum: fast layout, and progress after each batch.

    Args:
        run: The network and input.
        net: ``run.net``, or ``run.fast_net`` for many passes.
        target: Class index (checked against the output).
        total: Images Captum will push through in all (for the progress fraction).
        progress: Called with the fraction done.
    """
    done = [0]

    def forward(batch: torch.Tensor) -> torch.Tensor:
        out = run.check_output(net(fast_layout(batch)), batch.shape[0], target)  # (b, K)
        done[0] += batch.shape[0]
        if progress is not None:
            progress(min(1.0, done[0] / max(1, total)))
        return out

    return forward


SEED = Param("seed", 0, "Random seed: the same seed gives the same map.", "int", 0, 2**31 - 1, 1)


class Saliency(Method):
    """|d logit / d pixel|, the largest over the colour channels.

    Simonyan, Vedaldi & Zisserman 2014, https://arxiv.org/abs/1312.6034
    """

    name = "saliency"
    title = "Saliency"
    summary = "How much a tiny change of each pixel would change the class score (|gradient|)."
    paper = "https://arxiv.org/abs/1312.6034"
    citation = "Simonyan, Vedaldi & Zisserman 2014"
    signed = False
    unit = "|gradient|"
    scaling = "heavy_tailed"

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        saliency = CaptumSaliency(counting_forward(run, run.net, target, 1, progress))
        x = run.x.clone().requires_grad_(True)  # as Captum wants it (no warning)
        grads = saliency.attribute(x, target=target, abs=True)  # (1, C, H, W)
        return max_abs_over_channels(grads)


def baseline_input(run: Attributor, kind: str, seed: int) -> torch.Tensor:
    """The reference input of Integrated Gradients, in the network's input units.

    Args:
        run: The network and input (its context converts pixels <-> input).
        kind: ``"black"`` (all pixels 0), ``"blur"`` (the image under a Gaussian blur of
            sigma = 10% of its side, keeping colours but removing detail; Sturmfels et al.
            2020, https://distill.pub/2020/attribution-baselines/) or ``"noise"``
            (uniform random pixels).
        seed: Seed for ``"noise"``.

    Returns:
        ``(1, C, H, W)``.
    """
    ctx, x = run.context, run.x
    if kind == "black":
        return ctx.to_input(torch.zeros_like(x))
    if kind == "noise":
        generator = torch.Generator().manual_seed(seed)
        return ctx.to_input(torch.rand(x.shape, generator=generator))
    sigma = 0.1 * min(run.size)
    radius = min(int(math.ceil(3 * sigma)), min(run.size) - 1)
    kernel = 2 * radius + 1
    return ctx.to_input(TF.gaussian_blur(ctx.to_pixels(x), [kernel, kernel], [sigma, sigma]))


class IntegratedGradients(Method):
    """Integrated Gradients: gradients averaged along the straight path from a baseline
    to the image, times (image - baseline); the map sums to f(image) - f(baseline).

    Sundararajan, Taly & Yan 2017, https://arxiv.org/abs/1703.01365
    """

    name = "integrated_gradients"
    title = "Integrated Gradients"
    summary = "Each pixel's share of the score difference between a baseline and the image."
    paper = "https://arxiv.org/abs/1703.01365"
    citation = "Sundararajan, Taly & Yan 2017"
    signed = True
    unit = "logit change"
    scaling = "heavy_tailed"
    params = (
        Param(
            "steps",
            50,
            "Points on the path (Gauss-Legendre): more is more exact.",
            "int",
            4,
            256,
            1,
        ),
        Param(
            "baseline",
            "black",
            "The reference image: black, a blurred copy, or random noise.",
            "choice",
            choices=("black", "blur", "noise"),
        ),
        Param("seed", 0, "Seed of the noise baseline.", "int", 0, 2**31 - 1, 1),
    )

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return params["steps"], params["steps"]

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        steps = params["steps"]
        baseline = baseline_input(run, params["baseline"], params["seed"])
        ig = CaptumIntegratedGradients(counting_forward(run, run.fast_net, target, steps, progress))
        attributions = ig.attribute(
            run.x.clone(),
            baselines=baseline,
            target=target,
            n_steps=steps,
            method="gausslegendre",
            internal_batch_size=run.batch_size(gradients=True),
        )  # (1, C, H, W)
        return sum_over_channels(attributions)


class SmoothGrad(Method):
    """Saliency averaged over noisy copies of the image (mean |gradient|), which removes
    most of the gradient's speckle.

    Smilkov et al. 2017, https://arxiv.org/abs/1706.03825. Like Captum's
    ``NoiseTunnel(Saliency)``: noise sigma = ``noise`` x (max - min) of the input.
    """

    name = "smoothgrad"
    title = "SmoothGrad"
    summary = "Saliency averaged over many noisy copies of the image: less speckle."
    paper = "https://arxiv.org/abs/1706.03825"
    citation = "Smilkov et al. 2017"
    signed = False
    unit = "|gradient|"
    scaling = "heavy_tailed"
    stochastic = True
    params = (
        Param("samples", 25, "Noisy copies averaged.", "int", 1, 200, 1),
        Param(
            "noise",
            0.15,
            "Noise level, as a fraction of the input's value range.",
            "float",
            0.0,
            0.5,
            0.01,
        ),
        SEED,
    )

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return params["samples"], params["samples"]

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        samples = params["samples"]
        sigma = params["noise"] * float(run.x.max() - run.x.min())
        generator = torch.Generator().manual_seed(params["seed"])
        noise = torch.randn((samples, *run.x.shape[1:]), generator=generator) * sigma
        batches = [run.x + noise[part] for part in chunks(samples, run.batch_size(gradients=True))]
        total = torch.zeros_like(run.x)  # (1, C, H, W)
        for grads, _ in run.gradient_batches(batches, target, progress):
            total += grads.abs().sum(dim=0, keepdim=True)
        return max_abs_over_channels(total / samples)
