"""Gradient methods: saliency, Input x Gradient, Integrated Gradients, SmoothGrad and
GradientSHAP.

Saliency and Input x Gradient read one input gradient, computed once per input and
class and shared (one autograd call: no library adds anything to it). Integrated
Gradients uses Captum (right and fast; we only feed it a forward function that uses the
fast memory layout, the folded twin for its many passes, and reports progress).
SmoothGrad and GradientSHAP are our own loops: Captum's ``NoiseTunnel`` and
``GradientShap`` draw their noise, baselines and path points from
the *global* random generators of torch and numpy, so their maps are not reproducible
from a seed when other threads draw random numbers at the same time; ours use a private
``torch.Generator`` per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torchvision.transforms.functional as TF
from captum.attr import IntegratedGradients as CaptumIntegratedGradients
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


def noise_param(default: float, help: str) -> Param:
    """The ``noise`` parameter of the noisy-copies methods (a fraction of the range)."""
    return Param("noise", default, help, "float", 0.0, 0.5, 0.01)


def gaussian_noise(
    run: Attributor, fraction: float, samples: int, generator: torch.Generator
) -> torch.Tensor:
    """``(samples, C, H, W)`` Gaussian noise of sigma ``fraction`` x the input's value
    range (max - min), as Captum's ``NoiseTunnel`` documentation advises."""
    sigma = fraction * float(run.x.max() - run.x.min())
    return torch.randn((samples, *run.x.shape[1:]), generator=generator) * sigma


def input_gradient(run: Attributor, target: int) -> torch.Tensor:
    """``d logit[target] / d x``, ``(1, C, H, W)`` (one backward pass, shared)."""
    return run.shared(
        ("input_gradient", target), lambda: run.input_gradients(run.x, target, many=False)[0]
    )


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
        return max_abs_over_channels(input_gradient(run, target))


class InputXGradient(Method):
    """The image times the gradient, summed over the colour channels: a first-order
    estimate of each pixel's contribution to the class score (exact for a linear model).

    Shrikumar et al. 2016, https://arxiv.org/abs/1605.01713 (as Captum's
    ``InputXGradient``).
    """

    name = "input_x_gradient"
    title = "Input x Gradient"
    summary = "Each pixel's value times its gradient: its first-order share of the class score."
    paper = "https://arxiv.org/abs/1605.01713"
    citation = "Shrikumar et al. 2016"
    signed = True
    unit = "logit change"
    scaling = "heavy_tailed"

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        return sum_over_channels(run.x * input_gradient(run, target))  # (1, C, H, W) -> (H, W)


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
        noise_param(0.15, "Noise level, as a fraction of the input's value range."),
        SEED,
    )

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return params["samples"], params["samples"]

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        samples = params["samples"]
        generator = torch.Generator().manual_seed(params["seed"])
        noise = gaussian_noise(run, params["noise"], samples, generator)  # (samples, C, H, W)
        batches = [run.x + noise[part] for part in chunks(samples, run.batch_size(gradients=True))]
        total = torch.zeros_like(run.x)  # (1, C, H, W)
        for grads, _ in run.gradient_batches(batches, target, progress):
            total += grads.abs().sum(dim=0, keepdim=True)
        return max_abs_over_channels(total / samples)


class GradientSHAP(Method):
    """Expected gradients: the gradient at a random point between a baseline (drawn
    from a set) and the noisy image, times (image - baseline), averaged over samples.
    Approximates SHAP values when the features are independent.

    Lundberg & Lee 2017, https://arxiv.org/abs/1705.07874 (section 4), as Captum's
    ``GradientShap``: for each sample, noise ``N(0, sigma)`` is added to the image, a
    baseline is drawn uniformly from the set and a point ``t`` uniformly from [0, 1];
    the attribution is the mean of ``(x_noisy - b) * grad f(b + t (x_noisy - b))``. The
    default set is Captum's tutorial's (a black and a white image).
    """

    name = "gradient_shap"
    title = "GradientSHAP"
    summary = "Gradients at random points between baselines and the image, times the difference."
    paper = "https://arxiv.org/abs/1705.07874"
    citation = "Lundberg & Lee 2017"
    signed = True
    stochastic = True
    params = (
        Param("samples", 25, "Random points averaged: more is smoother.", "int", 1, 200, 1),
        Param(
            "baselines",
            "black_white",
            "The baselines drawn from: a black and a white image, black only, a blurred "
            "copy, or random noise images.",
            "choice",
            choices=("black_white", "black", "blur", "noise"),
        ),
        noise_param(
            0.02,
            "Noise added to the image for each sample, as a fraction of the input's value "
            "range (0.02 of a normalised photo is about the 0.09 of Captum's tutorial).",
        ),
        SEED,
    )
    unit = "logit change"
    scaling = "heavy_tailed"

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return params["samples"], params["samples"]

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        samples = params["samples"]
        generator = torch.Generator().manual_seed(params["seed"])
        baselines = shap_baselines(run, params["baselines"], samples, generator)  # (n, C, H, W)
        # Every random number drawn up front, in a fixed order: the map depends on the
        # seed only, not on the batch size.
        which = torch.randint(0, baselines.shape[0], (samples,), generator=generator)
        noise = gaussian_noise(run, params["noise"], samples, generator)  # (samples, C, H, W)
        along = torch.rand((samples, 1, 1, 1), generator=generator)
        starts = baselines[which]  # (samples, C, H, W)
        return sum_over_channels(expected_gradients(run, target, starts, noise, along, progress))


def expected_gradients(
    run: Attributor,
    target: int,
    starts: torch.Tensor,
    noise: torch.Tensor,
    along: torch.Tensor,
    progress: Progress | None = None,
) -> torch.Tensor:
    """GradientSHAP's estimate for given random draws.

    Args:
        run: The network and input ``x``.
        target: Class index.
        starts: ``(n, C, H, W)`` the baseline drawn for each sample.
        noise: ``(n, C, H, W)`` the noise added to ``x`` for each sample.
        along: ``(n,)`` or ``(n, 1, 1, 1)``: each sample's point between the baseline
            (0) and the noisy image (1).
        progress: Called with the fraction done.

    Returns:
        ``(1, C, H, W)``: the mean of ``(x + noise - start) * grad f(point)``.
    """
    samples = starts.shape[0]
    along = along.reshape(samples, 1, 1, 1).to(starts)
    ends = run.x + noise  # (n, C, H, W)
    parts = chunks(samples, run.batch_size(gradients=True))
    points = [starts[part] + along[part] * (ends[part] - starts[part]) for part in parts]
    total = torch.zeros_like(run.x)  # (1, C, H, W)
    for part, (grads, _) in zip(parts, run.gradient_batches(points, target, progress), strict=True):
        total += ((ends[part] - starts[part]) * grads).sum(dim=0, keepdim=True)
    return total / samples


def shap_baselines(
    run: Attributor, kind: str, samples: int, generator: torch.Generator
) -> torch.Tensor:
    """GradientSHAP's set of baselines, in the network's input units.

    Args:
        run: The network and input.
        kind: ``"black_white"`` (a black and a white image), ``"black"``, ``"blur"``
            (see :func:`baseline_input`) or ``"noise"`` (``samples`` uniform-noise images).
        samples: Number of samples (the size of the noise set).
        generator: Draws the noise images.

    Returns:
        ``(n, C, H, W)``.
    """
    ctx, x = run.context, run.x
    if kind == "black_white":
        return ctx.to_input(torch.cat([torch.zeros_like(x), torch.ones_like(x)]))
    if kind == "noise":
        return ctx.to_input(torch.rand((samples, *x.shape[1:]), generator=generator))
    return baseline_input(run, kind, 0)
