"""Deletion and insertion curves: is a map faithful to the model?

Petsiuk, Das & Saenko 2018, "RISE", https://arxiv.org/abs/1806.07421 (section 4.1, and
their evaluation code's ``CausalMetric``). Pixels are ordered by the map, most
important first. *Deletion* replaces them, ``step`` at a time, with a substrate and
records the target class's softmax probability: a faithful map makes it fall fast (low
area under the curve). *Insertion* starts from the substrate and puts the pixels back:
a faithful map makes it rise fast (high area).

Defaults follow the RISE code (``evaluation.py`` and ``Evaluation.ipynb`` of
https://github.com/eclique/RISE), so our AUCs compare with the paper's: deletion's
substrate is zeros in the model's normalised input space (the normalisation mean
colour), insertion's the image blurred as RISE blurs it, ``F.conv2d(x, gkern(11, 5),
padding=5)`` on the normalised input (zero padding: the border fades towards the mean
colour; ``blur_reflect`` is the same blur with reflected borders instead), and 224 x 8
pixels per step at 224 x 224 (28 steps; the step is scaled to the input size so every
size gets 28 steps). Ties in the map keep reading order (RISE's ``np.argsort`` breaks
them as numpy's unstable sort does, which depends on the CPU's vector instructions).
All images of a curve go through the model's forward engine (ONNX Runtime when exact)
in batches.

Our own code: TorchCAM 0.5 and Quantus have such metrics but take the model as a torch
module one image at a time; here every curve is one batched pass of ~29 images on the
forward engine, with a choice of substrate, and the AUC is RISE's normalised trapezoid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.models import ImageModel
from core.models.engine import forward_engine

Mode = Literal["deletion", "insertion"]
Substrate = Literal["zero", "blur", "blur_reflect", "mean"]
SUBSTRATES: tuple[str, ...] = ("zero", "blur", "blur_reflect", "mean")
DEFAULT_SUBSTRATE: dict[str, str] = {"deletion": "zero", "insertion": "blur"}
STEPS = 28  # RISE: 224 x 8 pixels per step at 224 x 224
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0  # RISE's klen and nsig
BATCH = 8

Forward = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) -> (B, K) logits


class Curve(NamedTuple):
    """One deletion or insertion curve.

    Attributes:
        fractions: ``(n + 1,)`` share of pixels deleted (or inserted) at each point.
        probabilities: ``(n + 1,)`` the target's softmax probability there.
        auc: Normalised area under the curve (0..1): the trapezoid rule over the points,
            divided by their number minus one, as in the RISE code.
    """

    fractions: np.ndarray
    probabilities: np.ndarray
    auc: float


def normalised_auc(values: np.ndarray) -> float:
    """Area under equally spaced points, over the unit interval (RISE's ``auc``)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float(values.mean()) if values.size else 0.0
    return float((values.sum() - values[0] / 2 - values[-1] / 2) / (values.size - 1))


def default_step(size: tuple[int, int]) -> int:
    """Pixels per step: 224 x 8 at 224 x 224, scaled so every size gets 28 steps."""
    return max(1, math.ceil(size[0] * size[1] / STEPS))


def rise_kernel(length: int = BLUR_KERNEL, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """RISE's ``gkern``: a Gaussian kernel ``(length, length)``, made as RISE makes it.

    ``scipy.ndimage.gaussian_filter`` of a centred unit impulse (its default boundary
    mode, reflect, folds the tails beyond the kernel's edge back in: at sigma 5 over 11
    pixels the kernel is flatter than a truncated Gaussian, and still sums to 1).
    """
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros((length, length))
    impulse[length // 2, length // 2] = 1.0
    return torch.from_numpy(gaussian_filter(impulse, sigma).astype(np.float32))


def blur(x: torch.Tensor, border: str = "zeros") -> torch.Tensor:
    """The image under RISE's Gaussian blur, each channel on its own.

    Args:
        x: ``(1, C, H, W)`` normalised input.
        border: ``"zeros"`` (RISE's ``padding=klen // 2``) or ``"reflect"``.

    Returns:
        ``(1, C, H, W)``.
    """
    channels, smallest = x.shape[1], min(x.shape[2:])
    length = BLUR_KERNEL if smallest > BLUR_KERNEL // 2 else max(1, 2 * ((smallest - 1) // 2) + 1)
    kernel = rise_kernel(length).to(x).repeat(channels, 1, 1, 1)  # (C, 1, k, k)
    pad = length // 2
    if border == "reflect":
        return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), kernel, groups=channels)
    return F.conv2d(x, kernel, padding=pad, groups=channels)


def substrate_input(x: torch.Tensor, substrate: str) -> torch.Tensor:
    """What replaces the pixels, in the model's normalised input space.

    Args:
        x: ``(1, C, H, W)`` normalised input.
        substrate: ``"zero"`` (zeros: the normalisation mean colour), ``"blur"`` (RISE's
            blur: kernel 11, sigma 5, zero padding), ``"blur_reflect"`` (the same blur
            with reflected borders) or ``"mean"`` (the image's own mean colour).

    Returns:
        ``(1, C, H, W)``.

    Raises:
        ValueError: an unknown substrate.
    """
    if substrate == "zero":
        return torch.zeros_like(x)
    if substrate == "blur":
        return blur(x, "zeros")
    if substrate == "blur_reflect":
        return blur(x, "reflect")
    if substrate == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    raise ValueError(f"substrate must be one of {', '.join(SUBSTRATES)}; got {substrate!r}")


def pixel_order(heatmap: np.ndarray) -> np.ndarray:
    """Pixel indices (row-major), most important first; ties keep reading order."""
    flat = np.nan_to_num(np.asarray(heatmap, dtype=np.float64)).ravel()
    return np.argsort(-flat, kind="stable")


def curve(
    forward: Forward,
    x: torch.Tensor,
    heatmap: np.ndarray,
    target: int,
    mode: Mode,
    substrate: str | None = None,
    step: int | None = None,
) -> Curve:
    """A deletion or insertion curve for any forward function (tensor level).

    Args:
        forward: ``(B, C, H, W) -> (B, K)`` logits, forward only.
        x: ``(1, C, H, W)`` normalised input.
        heatmap: ``(H, W)`` map at the input's resolution; higher = more important.
        target: Class index.
        mode: ``"deletion"`` or ``"insertion"``.
        substrate: See :func:`substrate_input`; default per mode (RISE's).
        step: Pixels changed per step (default :func:`default_step`).

    Returns:
        The :class:`Curve`.

    Raises:
        ValueError: a map of the wrong shape, a bad mode, substrate or step.
    """
    if mode not in DEFAULT_SUBSTRATE:
        raise ValueError(f"mode must be deletion or insertion; got {mode!r}")
    height, width = int(x.shape[2]), int(x.shape[3])
    if np.shape(heatmap) != (height, width):
        raise ValueError(f"the map is {np.shape(heatmap)}, the input {(height, width)}")
    total = height * width
    step = step or default_step((height, width))
    if step < 1:
        raise ValueError(f"step must be at least 1 pixel; got {step}")
    fill = substrate_input(x, substrate or DEFAULT_SUBSTRATE[mode])
    start, finish = (x, fill) if mode == "deletion" else (fill, x)
    rank = torch.empty(total, dtype=torch.long)
    rank[torch.from_numpy(pixel_order(heatmap))] = torch.arange(total)
    rank = rank.view(1, 1, height, width)  # each pixel's place in the order
    n_steps = math.ceil(total / step)
    counts = [min(total, i * step) for i in range(n_steps + 1)]
    probabilities: list[torch.Tensor] = []
    with torch.inference_mode():
        for first in range(0, len(counts), BATCH):
            changed = torch.tensor(counts[first : first + BATCH]).view(-1, 1, 1, 1)
            batch = torch.where(rank < changed, finish, start)  # (b, C, H, W)
            logits = forward(batch)
            probabilities.append(logits.float().softmax(dim=1)[:, target])
    values = torch.cat(probabilities).numpy().astype(np.float64)
    fractions = np.asarray(counts, dtype=np.float64) / total
    return Curve(fractions, values, normalised_auc(values))


def model_forward(model: ImageModel, engine: str = "auto") -> Forward:
    """The model's forward-only function: its forward engine, or torch itself."""
    if engine == "torch":

        def run(batch: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return model.net(batch)

        return run
    return forward_engine(model.net, model.input_shape, model.name)


def deletion_curve(
    model: ImageModel,
    image: Image.Image,
    heatmap: np.ndarray,
    target: int,
    *,
    substrate: str | None = None,
    step: int | None = None,
    engine: str = "auto",
) -> Curve:
    """Deletion curve of a map for a model and a photo (the model's preprocessing).

    Args:
        model: A loaded model.
        image: Any PIL image.
        heatmap: ``(H, W)`` map at the model's input resolution.
        target: Class index.
        substrate: What deleted pixels become (default zeros, RISE's).
        step: Pixels per step (default: 28 steps).
        engine: ``"auto"`` (the forward engine) or ``"torch"``.

    Returns:
        ``(fractions, probabilities, auc)`` (a :class:`Curve` named tuple).
    """
    x = model.preprocess(image)
    return curve(model_forward(model, engine), x, heatmap, target, "deletion", substrate, step)


def insertion_curve(
    model: ImageModel,
    image: Image.Image,
    heatmap: np.ndarray,
    target: int,
    *,
    substrate: str | None = None,
    step: int | None = None,
    engine: str = "auto",
) -> Curve:
    """Insertion curve of a map (see :func:`deletion_curve`; default substrate: blur)."""
    x = model.preprocess(image)
    return curve(model_forward(model, engine), x, heatmap, target, "insertion", substrate, step)


def deletion_auc(model: ImageModel, image: Image.Image, heatmap: np.ndarray, target: int) -> float:
    """Area under the deletion curve (lower = more faithful)."""
    return deletion_curve(model, image, heatmap, target).auc


def insertion_auc(model: ImageModel, image: Image.Image, heatmap: np.ndarray, target: int) -> float:
    """Area under the insertion curve (higher = more faithful)."""
    return insertion_curve(model, image, heatmap, target).auc
