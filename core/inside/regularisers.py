"""The regularisers of feature visualisation, and their settings.

Naive gradient ascent on pixels finds "neural illusions": high-frequency patterns the
network answers to strongly but nobody would call an image (Olah et al. 2017, "Feature
Visualization", https://distill.pub/2017/feature-visualization/, "The Enemy of Feature
Visualization"). Each regulariser removes some of that freedom:

- ``l2``: a penalty on the image's size (Simonyan et al. 2013,
  https://arxiv.org/abs/1312.6034): ``l2_weight * sum(z^2)`` of the network's input z
  (normalised pixels: 0 is the dataset's mean colour);
- ``l1``: ``l1_weight * sum(|z|)``, a sparsity penalty: few pixels differ from the
  mean, and those that do go all the way (ink on MNIST's black background);
- ``tv``: total variation, ``tv_weight * sum sqrt(dx^2 + dy^2)`` (Mahendran & Vedaldi
  2015, https://arxiv.org/abs/1412.0035): penalises noise, keeps edges;
- ``blur``: a Gaussian blur of the image every ``blur_every`` steps (Yosinski et al. 2015,
  https://arxiv.org/abs/1506.06579);
- ``jitter``, ``rotate``, ``scale``: transformation robustness, a random shift, rotation
  and zoom of the image before every forward pass (Mordvintsev et al. 2015, DeepDream;
  Olah et al. 2017): a pattern must work wherever it lands;
- ``fourier``: optimise a 1/f-scaled spectrum in decorrelated colour instead of pixels
  (:mod:`core.inside.parameterisation`), a preconditioner rather than a penalty.

The transformations use torchvision's differentiable ``affine``; the penalties and blur
schedule are written here (a few lines each; no maintained library offers them as
PyTorch losses).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2.functional import affine

# name -> what it does, in the UI's words; the order of the toggles and of ALL.
REGULARISERS: dict[str, str] = {
    "l2": "L2 penalty on the image",
    "l1": "L1 penalty on the image (sparsity)",
    "tv": "total variation penalty",
    "blur": "Gaussian blur every few steps",
    "jitter": "random shift before each step",
    "rotate": "random rotation before each step",
    "scale": "random zoom before each step",
    "fourier": "Fourier parameterisation, decorrelated colour",
}
# name -> its label on a toggle
TITLES = {"l2": "L2", "l1": "L1", "tv": "TV", "blur": "Blur", "jitter": "Jitter",
          "rotate": "Rotate", "scale": "Scale", "fourier": "Fourier"}  # fmt: skip
ALL = tuple(REGULARISERS)
TRANSFORMS = ("jitter", "rotate", "scale")
# Lucid's default: transformation robustness and the Fourier parameterisation. On
# EfficientNet-Lite0 it gives the most vivid patterns; L2, TV and blur on top wash the
# colours out towards the mean (see the "all" column of the comparison).
LUCID = ("jitter", "rotate", "scale", "fourier")

# The one-click comparison: name -> regularisers.
COMPARISON: dict[str, tuple[str, ...]] = {
    "none": (),
    "L2": ("l2",),
    "jitter": ("jitter",),
    "blur": ("blur",),
    "Fourier": ("fourier",),
    "all": ALL,
}


@dataclass(frozen=True)
class Settings:
    """Everything a visualisation depends on besides the network and the objective.

    Attributes:
        regularisers: Names from :data:`REGULARISERS` that are on.
        steps: Optimisation steps (Adam).
        learning_rate: Adam's step size (in the parameter's units: pixels or spectrum).
        size: ``(H, W)`` of the optimised image.
        seed: Seed of the start noise and of the random transformations.
        l2_weight: Weight of the L2 penalty (per input value, summed).
        l1_weight: Weight of the L1 penalty (per input value, summed).
        tv_weight: Weight of the total variation (summed over pixels).
        blur_every: Blur every this many steps.
        blur_sigma: Standard deviation of the blur, in pixels.
        jitter: Largest shift, in pixels, each axis.
        rotate: Largest rotation, in degrees, either way.
        scale: Largest zoom change (0.1: between x 0.9 and x 1.1).
        decorrelate: With ``fourier``: Lucid's decorrelated colour (RGB networks).
        snapshots: Images kept for the animation (the start and the end included).
    """

    regularisers: tuple[str, ...] = LUCID
    steps: int = 256
    learning_rate: float = 0.05
    size: tuple[int, int] = (128, 128)
    seed: int = 0
    l2_weight: float = 1e-5
    l1_weight: float = 1e-4
    tv_weight: float = 1e-3
    blur_every: int = 8
    blur_sigma: float = 0.5
    jitter: int = 8
    rotate: float = 10.0
    scale: float = 0.1
    decorrelate: bool = True
    snapshots: int = 16

    def __post_init__(self) -> None:
        unknown = set(self.regularisers) - set(REGULARISERS)
        if unknown:
            raise ValueError(
                f"unknown regularisers {sorted(unknown)}; choose from {', '.join(REGULARISERS)}"
            )
        if self.steps < 1 or self.blur_every < 1 or self.snapshots < 2:
            raise ValueError("steps and blur_every must be at least 1, snapshots at least 2")
        if min(self.size) < 8:
            raise ValueError(f"the image must be at least 8 x 8 pixels, got {self.size}")

    def has(self, name: str) -> bool:
        """Whether regulariser ``name`` is on."""
        return name in self.regularisers

    def with_regularisers(self, names: tuple[str, ...]) -> Settings:
        """The same settings with other regularisers (in :data:`ALL` order)."""
        return replace(self, regularisers=tuple(n for n in ALL if n in names))


def penalty(settings: Settings, image: torch.Tensor, net_input: torch.Tensor) -> torch.Tensor:
    """The penalties that are on, per image of the batch.

    Args:
        settings: Which penalties and their weights.
        image: ``(B, C, H, W)`` pixels in [0, 1].
        net_input: ``(B, C, H, W)``: ``image`` normalised for the network.

    Returns:
        ``(B,)``: ``l2_weight * sum(z^2) + l1_weight * sum(|z|) + tv_weight * TV(image)``,
        the terms that are on.
    """
    total = torch.zeros(image.shape[0], dtype=image.dtype)
    if settings.has("l2"):
        total = total + settings.l2_weight * net_input.pow(2).flatten(1).sum(1)
    if settings.has("l1"):
        total = total + settings.l1_weight * net_input.abs().flatten(1).sum(1)
    if settings.has("tv"):
        dy = image[:, :, 1:, :-1] - image[:, :, :-1, :-1]  # (B, C, H - 1, W - 1)
        dx = image[:, :, :-1, 1:] - image[:, :, :-1, :-1]
        # isotropic TV; the epsilon keeps the gradient finite on flat areas
        total = total + settings.tv_weight * (dy.square() + dx.square() + 1e-8).sqrt().flatten(
            1
        ).sum(1)
    return total


def random_transform(
    settings: Settings, image: torch.Tensor, background: float, generator: torch.Generator
) -> torch.Tensor:
    """The random shift, rotation and zoom that are on, one draw for the whole batch.

    Args:
        settings: Which transformations and how large.
        image: ``(B, C, H, W)`` pixels.
        background: What the borders uncovered by the transformation are filled with.
        generator: The random source (deterministic given its seed).

    Returns:
        ``(B, C, H, W)``, differentiable in ``image``; ``image`` itself when none is on.
    """
    if not any(settings.has(name) for name in TRANSFORMS):
        return image
    draws = torch.rand(4, generator=generator) * 2 - 1  # U(-1, 1): dx, dy, angle, zoom
    shift = [0, 0]
    if settings.has("jitter"):
        shift = [round(float(d) * settings.jitter) for d in draws[:2]]
    angle = float(draws[2]) * settings.rotate if settings.has("rotate") else 0.0
    zoom = 1 + float(draws[3]) * settings.scale if settings.has("scale") else 1.0
    # affine's own ``fill`` writes in place (no gradient): shift the values instead.
    moved = affine(
        image - background,
        angle=angle,
        translate=shift,
        scale=zoom,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
    )
    return moved + background
