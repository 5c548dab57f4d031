"""Dataset examples: the image patches of a set that activate one channel most (Zeiler &
Fergus 2014, https://arxiv.org/abs/1311.2901; shown beside feature visualisations in
Olah et al. 2017, https://distill.pub/2017/feature-visualization/).

A patch is the square around the strongest unit that holds most of that unit's
*effective* receptive field: ``|d unit / d pixel|`` on that very image (Luo et al. 2016,
https://arxiv.org/abs/1701.04128), which is far smaller than the theoretical one deep
in a network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.common.hooks import call_order, tap_layers
from core.common.layout import fast_layout

FIELD_MASS = 0.9  # a patch holds this share of the unit's gradient


@dataclass(frozen=True)
class ChannelMaxima:
    """Each image's strongest unit in each channel of one layer.

    Attributes:
        layer: The module name.
        values: ``(N, C)`` the largest activation of each channel in each image.
        positions: ``(N, C, 2)`` its ``(row, column)`` in the layer's grid.
        grid: ``(h, w)`` of the layer's output.
    """

    layer: str
    values: np.ndarray
    positions: np.ndarray
    grid: tuple[int, int]

    def top(self, channel: int, count: int) -> list[int]:
        """Indices of the ``count`` images whose strongest unit of ``channel`` is the
        strongest, strongest first (ties: lower index first)."""
        return list(np.argsort(-self.values[:, channel], kind="stable")[:count])


def channel_maxima(
    net: nn.Module,
    batches: Iterable[torch.Tensor],
    layer: str,
    progress: Callable[[int], None] | None = None,
) -> ChannelMaxima:
    """Run a set of images up to a layer and keep each channel's strongest unit.

    Args:
        net: The network (not modified; scoped, thread-filtered hooks; the rest of the
            network after the layer is not run).
        batches: Normalised inputs ``(B, C, H, W)``.
        layer: Module name with a ``(B, C, h, w)`` output.
        progress: Called with the number of images done after each batch.

    Returns:
        The :class:`ChannelMaxima`.

    Raises:
        KeyError: no such layer. ValueError: its output is not a feature map, or no
            image was given.
    """
    values: list[torch.Tensor] = []
    positions: list[torch.Tensor] = []
    grid = (0, 0)
    stop: tuple[str, int] | None = None
    done = 0
    for batch in batches:
        x = fast_layout(batch)
        if stop is None:
            order = call_order(net, x[:1], [layer])
            if not order:
                raise ValueError(f"{layer} does not run in this network")
            stop = order[-1]
        with tap_layers(net, [layer], stop) as tap, torch.inference_mode():
            tap.run(x)
            output = tap.outputs[layer]
        if output.dim() != 4:
            raise ValueError(f"{layer} outputs {tuple(output.shape)}, not a feature map")
        grid = (output.shape[2], output.shape[3])
        best, where = output.flatten(2).max(2)  # (B, C), (B, C)
        values.append(best.float())
        positions.append(torch.stack([where // grid[1], where % grid[1]], -1))
        done += batch.shape[0]
        if progress is not None:
            progress(done)
    if not values:
        raise ValueError("no image to look at")
    return ChannelMaxima(layer, torch.cat(values).numpy(), torch.cat(positions).numpy(), grid)


@dataclass(frozen=True)
class Patch:
    """One dataset example.

    Attributes:
        image: Index of the image in the set.
        value: The unit's activation.
        position: ``(row, column)`` of the unit in the layer's grid.
        box: ``(top, left, bottom, right)`` in input pixels (bottom, right excluded).
    """

    image: int
    value: float
    position: tuple[int, int]
    box: tuple[int, int, int, int]


def patch_box(
    net: nn.Module, x: torch.Tensor, layer: str, channel: int, position: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The square around a unit that holds :data:`FIELD_MASS` of its gradient.

    Args:
        net: The network (not modified: the gradient is taken for the input only).
        x: ``(1, C, H, W)`` normalised input.
        layer: The module name.
        channel: The channel.
        position: ``(row, column)`` of the unit in the layer's grid.

    Returns:
        ``(top, left, bottom, right)`` in input pixels, inside the image.
    """
    image = x.detach().clone().requires_grad_(True)
    with tap_layers(net, [layer]) as tap, torch.enable_grad():
        tap.run(fast_layout(image))
        output = tap.outputs[layer]  # (1, C, h, w)
        unit = output[0, channel, position[0], position[1]]
        (gradient,) = torch.autograd.grad(unit, [image])
    mass = gradient[0].abs().sum(0).double()  # (H, W)
    height, width = mass.shape
    rows, cols = output.shape[2], output.shape[3]
    centre = (int((position[0] + 0.5) * height / rows), int((position[1] + 0.5) * width / cols))
    return _square_holding(mass.numpy(), centre, FIELD_MASS)


def _square_holding(
    mass: np.ndarray, centre: tuple[int, int], share: float
) -> tuple[int, int, int, int]:
    """The smallest square (clipped to the array) around ``centre`` with ``share`` of
    ``mass`` inside, via an integral image."""
    height, width = mass.shape
    total = mass.sum()
    integral = np.zeros((height + 1, width + 1))
    integral[1:, 1:] = mass.cumsum(0).cumsum(1)
    cy, cx = centre
    box = (0, 0, height, width)
    for radius in range(1, max(height, width) + 1):
        top, left = max(cy - radius, 0), max(cx - radius, 0)
        bottom, right = min(cy + radius + 1, height), min(cx + radius + 1, width)
        inside = integral[bottom, right] - integral[top, right] - integral[bottom, left]
        inside += integral[top, left]
        box = (top, left, bottom, right)
        if total <= 0 or inside >= share * total:
            break
    return box


def dataset_examples(
    net: nn.Module,
    inputs: Callable[[list[int]], torch.Tensor],
    maxima: ChannelMaxima,
    channel: int,
    count: int = 9,
) -> list[Patch]:
    """The ``count`` images of a set that activate a channel most, with their patches.

    Args:
        net: The network (not modified).
        inputs: Indices -> their normalised inputs ``(k, C, H, W)``.
        maxima: :func:`channel_maxima` of the same set and layer.
        channel: The channel.
        count: How many examples.

    Returns:
        One :class:`Patch` per image, strongest first.
    """
    if not 0 <= channel < maxima.values.shape[1]:
        raise ValueError(f"{maxima.layer} has {maxima.values.shape[1]} channels, not {channel + 1}")
    chosen = maxima.top(channel, count)
    batch = inputs(chosen)
    patches = []
    for row, index in enumerate(chosen):
        row_col = maxima.positions[index, channel]
        position = (int(row_col[0]), int(row_col[1]))
        box = patch_box(net, batch[row : row + 1], maxima.layer, channel, position)
        patches.append(Patch(int(index), float(maxima.values[index, channel]), position, box))
    return patches
