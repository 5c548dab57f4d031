"""Feature visualisation by activation maximisation (Erhan et al. 2009, "Visualizing
Higher-Layer Features of a Deep Network"; Olah et al. 2017, "Feature Visualization",
https://distill.pub/2017/feature-visualization/).

:func:`visualise` optimises an image (never the network: gradients are taken with
respect to the image only, so the shared network's parameters, their ``requires_grad``
flags and ``.grad`` stay as they are, and its hooks live only inside the call) to
maximise an :class:`~core.inside.objectives.Objective`, under the regularisers of
:mod:`core.inside.regularisers`. Deterministic given ``Settings.seed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.common.hooks import call_order, tap_layers
from core.common.layout import fast_layout
from core.common.single_thread import torch_threads
from core.inside.objectives import Objective, objective_values
from core.inside.parameterisation import FourierImage, PixelImage
from core.inside.regularisers import COMPARISON, Settings, penalty, random_transform
from core.inside.spec import InputSpec

# progress(step, steps, snapshot): after every step; snapshot is (B, H, W, C) uint8 on
# the steps that keep one, else None.
Progress = Callable[[int, int, np.ndarray | None], None]


@dataclass(frozen=True)
class Visualisation:
    """The result of :func:`visualise`.

    Attributes:
        images: ``(B, H, W, C)`` float32 in [0, 1], one per objective.
        curve: ``(steps, B)``: each step's objective, on the (transformed) image that
            step optimised.
        snapshots: ``(S, B, H, W, C)`` uint8: the image at :attr:`snapshot_steps`.
        snapshot_steps: The step after which each snapshot was taken (0 = the start).
        initial: ``(B,)`` objective of the start image.
        final: ``(B,)`` objective of the result, untransformed.
        logits: ``(B, K)`` the network's output for the result.
        seconds: Wall time of the optimisation.
    """

    images: np.ndarray
    curve: np.ndarray
    snapshots: np.ndarray
    snapshot_steps: tuple[int, ...]
    initial: np.ndarray
    final: np.ndarray
    logits: np.ndarray
    seconds: float


def snapshot_steps(steps: int, count: int) -> tuple[int, ...]:
    """``count`` steps spread evenly over ``0..steps`` (both ends included)."""
    return tuple(sorted({round(s) for s in np.linspace(0, steps, count)}))


def start_noise(
    spec: InputSpec, shape: tuple[int, ...], generator: torch.Generator
) -> torch.Tensor:
    """Uniform noise in ``spec.noise``, ``shape`` = ``(B, C, H, W)``."""
    low, high = spec.noise
    return low + torch.rand(*shape, generator=generator) * (high - low)


def visualise(
    net: nn.Module,
    spec: InputSpec,
    objectives: Sequence[Objective],
    settings: Settings,
    start: torch.Tensor | None = None,
    progress: Progress | None = None,
) -> Visualisation:
    """Maximise each objective over an image (one image per objective, one batch).

    Each step: pixels from the parameterisation (:class:`PixelImage`, or
    :class:`FourierImage` with ``fourier``), a random shift / rotation / zoom (those
    on), the network, ``loss = -(objective - penalties)``, one Adam step on the
    parameter, back into [0, 1]; every ``blur_every`` steps a blur (with ``blur``).

    Args:
        net: The network, in eval mode (not modified; use it frozen or pass
            ``core.common.hooks.private_copy(net)``).
        spec: Its input (channels, normalisation, background, start noise).
        objectives: What to maximise, one per image.
        settings: Regularisers, steps, learning rate, size, seed, snapshots.
        start: ``(B or 1, C, H, W)`` in [0, 1] to start from (resized to
            ``settings.size``); default: uniform noise in ``spec.noise``.
        progress: Called after every step (see :data:`Progress`).

    Returns:
        The :class:`Visualisation`.

    Raises:
        ValueError: no objective, a bad channel, class or position, a start image with
            the wrong channels.
        KeyError: an objective's layer is not a module of ``net``.
    """
    if not objectives:
        raise ValueError("nothing to maximise: give at least one objective")
    # One intra-op thread: each step is many small operations, and two OpenMP threads on
    # the shared 2-core machine waited for each other (256 steps at 128 x 128 on
    # EfficientNet-Lite0: 5.0 s on one thread, 23-340 s on two while another process
    # was busy; bench/inside.py). It also makes the result independent of the caller's
    # thread count.
    with torch_threads(1):
        return _visualise(net, spec, objectives, settings, start, progress)


def _visualise(
    net: nn.Module,
    spec: InputSpec,
    objectives: Sequence[Objective],
    settings: Settings,
    start: torch.Tensor | None,
    progress: Progress | None,
) -> Visualisation:
    began = time.perf_counter()
    batch = len(objectives)
    shape = (batch, spec.channels, *settings.size)
    generator = torch.Generator().manual_seed(settings.seed)
    pixels = _start_pixels(spec, shape, start, generator)
    image: PixelImage | FourierImage
    if settings.has("fourier"):
        image = FourierImage(shape, generator, settings.decorrelate, pixels, sum(spec.noise) / 2)
    else:
        image = PixelImage(start_noise(spec, shape, generator) if pixels is None else pixels)
    layers = [o.layer for o in objectives if o.uses_layer and o.layer is not None]
    stop_after = _last_needed_call(net, spec, image, objectives, layers)
    optimizer = torch.optim.Adam([image.param], lr=settings.learning_rate)
    keep = snapshot_steps(settings.steps, settings.snapshots)
    snapshots: list[np.ndarray] = []
    curve = np.zeros((settings.steps, batch), np.float32)
    with tap_layers(net, layers, stop_after) as tap, torch.enable_grad():

        def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = tap.run(fast_layout(spec.normalise(x)))
            return objective_values(objectives, tap.outputs, logits)

        with torch.no_grad():
            initial = evaluate(image.image())[1].numpy()
            snapshots.append(_to_uint8(image.image()))
        for step in range(1, settings.steps + 1):
            pixels_now = image.image()  # (B, C, H, W) in [0, 1]
            seen = random_transform(settings, pixels_now, spec.background, generator)
            net_input = spec.normalise(seen)
            optimised, reported = objective_values(
                objectives, tap.outputs, tap.run(fast_layout(net_input))
            )
            loss = -(optimised - penalty(settings, seen, net_input)).sum()
            # autograd.grad, not backward(): nothing but the image gets a gradient.
            (image.param.grad,) = torch.autograd.grad(loss, [image.param])
            optimizer.step()
            image.project()
            if settings.has("blur") and step % settings.blur_every == 0 and step < settings.steps:
                image.blur(settings.blur_sigma)
            curve[step - 1] = reported.detach().numpy()
            shot = None
            if step in keep:
                shot = _to_uint8(image.image())
                snapshots.append(shot)
            if progress is not None:
                progress(step, settings.steps, shot)
    with torch.inference_mode():
        result = image.image().detach()
        logits = net(fast_layout(spec.normalise(result)))
    with tap_layers(net, layers) as tap, torch.inference_mode():
        tap.run(fast_layout(spec.normalise(result)))
        final = objective_values(objectives, tap.outputs, logits)[1].numpy()
    return Visualisation(
        images=result.permute(0, 2, 3, 1).numpy().astype(np.float32),
        curve=curve,
        snapshots=np.stack(snapshots),
        snapshot_steps=keep,
        initial=initial,
        final=final,
        logits=logits.numpy(),
        seconds=time.perf_counter() - began,
    )


def _start_pixels(
    spec: InputSpec,
    shape: tuple[int, int, int, int],
    start: torch.Tensor | None,
    generator: torch.Generator,
) -> torch.Tensor | None:
    """The start image resized to ``shape``, or None (noise; drawn by the caller)."""
    if start is None:
        return None
    if start.dim() != 4 or start.shape[1] != spec.channels:
        raise ValueError(
            f"the start image must be (B, {spec.channels}, H, W), got {tuple(start.shape)}"
        )
    start = start.detach().float().clamp(0, 1)
    if tuple(start.shape[2:]) != shape[2:]:
        start = F.interpolate(start, size=shape[2:], mode="bilinear", antialias=True).clamp(0, 1)
    return start.expand(shape[0], -1, -1, -1).clone()


def _last_needed_call(
    net: nn.Module,
    spec: InputSpec,
    image: PixelImage | FourierImage,
    objectives: Sequence[Objective],
    layers: list[str],
) -> tuple[str, int] | None:
    """Where a forward pass may stop: the last call of the last layer the objectives
    read, when none reads the output (None: run the whole network)."""
    if not layers or not all(o.uses_layer for o in objectives):
        return None
    with torch.no_grad():
        order = call_order(net, fast_layout(spec.normalise(image.image())), layers)
    return order[-1] if order else None


def _to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """``(B, C, H, W)`` in [0, 1] -> ``(B, H, W, C)`` uint8."""
    return (pixels.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def compare(
    net: nn.Module,
    spec: InputSpec,
    objective: Objective,
    settings: Settings,
    progress: Progress | None = None,
    presets: dict[str, tuple[str, ...]] = COMPARISON,
    finished: Callable[[str, Visualisation], None] | None = None,
) -> dict[str, Visualisation]:
    """The same objective, steps and seed under each preset of regularisers ("none",
    "L2", "jitter", "blur", "Fourier", "all"): why naive optimisation gives illusions.

    Args:
        net: The network (not modified).
        spec: Its input.
        objective: What to maximise.
        settings: Everything but the regularisers.
        progress: Called after every step of every run, with the step counted over all
            runs (no snapshots are passed).
        presets: Name -> regularisers.
        finished: Called with each run's name and result as soon as it is done (a page
            shows the runs one by one instead of after all six).

    Returns:
        Name -> :class:`Visualisation`, in the order of ``presets``.
    """
    results: dict[str, Visualisation] = {}
    total = settings.steps * len(presets)
    for done, (name, names) in enumerate(presets.items()):

        def forward(step: int, _steps: int, _shot: np.ndarray | None, done: int = done) -> None:
            if progress is not None:
                progress(done * settings.steps + step, total, None)

        results[name] = visualise(
            net, spec, [objective], settings.with_regularisers(names), progress=forward
        )
        if finished is not None:
            finished(name, results[name])
    return results


def comparison_summary(results: Mapping[str, Visualisation], baseline: str = "none") -> str:
    """What a comparison of regularisers shows, read from its numbers.

    The text used to say "without regularisers the objective climbs highest" whatever
    the numbers said (Fourier 103.5 against none's 99.99, issue 25); here each run is
    placed above or below the unregularised one by its final objective.

    Args:
        results: :func:`compare`'s runs (name -> result).
        baseline: The run without regularisers.

    Returns:
        Markdown: the baseline's objective, the runs that end above it and those below.
    """
    finals = {name: float(result.final[0]) for name, result in results.items()}
    if baseline not in finals:
        best = max(finals, key=finals.__getitem__)
        return f"Highest final objective: {best} ({finals[best]:.2f})."
    reference = finals.pop(baseline)
    above = sorted((n for n in finals if finals[n] > reference), key=lambda n: -finals[n])
    below = sorted((n for n in finals if finals[n] <= reference), key=lambda n: -finals[n])

    def listing(names: list[str]) -> str:
        return ", ".join(f"{name} ({finals[name]:.2f})" for name in names)

    parts = [f"Without regularisers the objective ends at **{reference:.2f}**."]
    if below:
        parts.append(f"Lower: {listing(below)}.")
    if above:
        parts.append(f"Higher: {listing(above)}.")
    parts.append(
        "A penalty (L2) or a random transformation (jitter) gives up some of the "
        "objective for an image with structure; blur smooths the image every few steps; "
        "the Fourier parameterisation changes the search space rather than the goal."
    )
    if above:
        parts.append("A higher number is not a better picture: compare them.")
    else:
        parts.append(
            "No regulariser climbs higher. Compare the pictures: the unregularised one is "
            "typically high-frequency noise the network is sure of, a neural illusion."
        )
    return " ".join(parts)
