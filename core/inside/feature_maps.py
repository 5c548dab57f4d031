"""Feature maps and kernels: what one layer answers to an image, and what the
convolutions' weights look like (Zeiler & Fergus 2014, https://arxiv.org/abs/1311.2901;
Krizhevsky et al. 2012, figure 3: the first layer's kernels as colour tiles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.common.hooks import record_outputs
from core.common.layout import fast_layout


@dataclass(frozen=True)
class FeatureMaps:
    """One layer's response to one image, channels ordered by mean activation.

    Attributes:
        layer: The module name.
        order: ``(C,)`` channel indices, strongest mean activation first.
        means: ``(C,)`` mean activation of each channel (by channel index).
        maxima: ``(C,)`` largest activation of each channel.
        maps: ``(k, h, w)`` float32: the maps of the first ``k`` channels of ``order``.
        shape: ``(C, h, w)`` of the layer's output.
    """

    layer: str
    order: np.ndarray
    means: np.ndarray
    maxima: np.ndarray
    maps: np.ndarray
    shape: tuple[int, int, int]


def feature_maps(net: nn.Module, x: torch.Tensor, layer: str, top: int = 16) -> FeatureMaps:
    """Every channel of a layer for one image, ordered by mean activation.

    One forward pass with a scoped, thread-filtered hook (removed also on error). A
    module called several times in the pass (a shared activation) gives its last call.

    Args:
        net: The network (not modified).
        x: ``(1, C, H, W)``: the network's (normalised) input.
        layer: Module name, as in ``net.named_modules()``.
        top: How many of the strongest channels' maps to return.

    Returns:
        The :class:`FeatureMaps`.

    Raises:
        KeyError: no module of that name.
        ValueError: the layer's output is no ``(1, C, h, w)`` feature map.
    """
    modules = dict(net.named_modules())
    if layer not in modules:
        raise KeyError(f"no layer called {layer!r}")
    with record_outputs({layer: modules[layer]}) as recorded, torch.inference_mode():
        net(fast_layout(x))
    if not recorded[layer]:
        raise ValueError(f"{layer} did not run on this input")
    output = recorded[layer][-1]
    if output.dim() != 4 or output.shape[0] != 1:
        raise ValueError(f"{layer} outputs {tuple(output.shape)}, not a (1, C, h, w) feature map")
    maps = output[0].float()  # (C, h, w)
    means = maps.mean((1, 2))  # (C,)
    order = torch.argsort(means, descending=True, stable=True)
    return FeatureMaps(
        layer=layer,
        order=order.numpy(),
        means=means.numpy(),
        maxima=maps.amax((1, 2)).numpy(),
        maps=maps[order[:top]].contiguous().numpy(),
        shape=(maps.shape[0], maps.shape[1], maps.shape[2]),
    )


@dataclass(frozen=True)
class Kernels:
    """A convolution's kernels as display tiles.

    Attributes:
        layer: The module name.
        tiles: ``(C_out, k_h, k_w, 3)`` RGB or ``(C_out, k_h, k_w)`` grey, in [0, 1]:
            0.5 is a zero weight, 1 the largest positive, 0 the largest negative.
        rgb: True when the tiles are colour (a first layer on RGB input).
        in_channel: The input channel shown (grey tiles), None for RGB.
        in_channels: Input channels each kernel sees (``C_in / groups``).
        scale: The weight shown as 1 (or 0, negated): the largest ``|w|`` of the tiles.
        norms: ``(C_out,)`` L2 norm of each output channel's whole kernel.
    """

    layer: str
    tiles: np.ndarray
    rgb: bool
    in_channel: int | None
    in_channels: int
    scale: float
    norms: np.ndarray


def conv_layers(net: nn.Module) -> list[str]:
    """Names of the ``nn.Conv2d`` modules (subclasses too), in registration order."""
    return [name for name, m in net.named_modules() if name and isinstance(m, nn.Conv2d)]


def kernels(net: nn.Module, layer: str, in_channel: int = 0, shared_scale: bool = True) -> Kernels:
    """A convolution's kernels, normalised symmetrically around zero.

    A layer that reads the 3 RGB channels (the first layer of an ImageNet network) gives
    colour tiles; any other gives one input channel at a time, in grey.

    Args:
        net: The network (not modified).
        layer: The name of an ``nn.Conv2d``.
        in_channel: Which input channel (of ``C_in / groups``) to show as grey tiles.
        shared_scale: One scale for all kernels (compare their strength); False: each
            tile stretched to its own largest ``|w|`` (see each one's pattern).

    Returns:
        The :class:`Kernels`.

    Raises:
        KeyError: no such module. ValueError: not a convolution, or no such channel.
    """
    module = dict(net.named_modules()).get(layer)
    if module is None:
        raise KeyError(f"no layer called {layer!r}")
    if not isinstance(module, nn.Conv2d):
        raise ValueError(f"{layer} is a {type(module).__name__}, not a convolution")
    weight = module.weight.detach().float()  # (C_out, C_in / groups, k_h, k_w)
    per_group = weight.shape[1]
    rgb = per_group == 3 and module.groups == 1
    if rgb:
        chosen = weight.permute(0, 2, 3, 1)  # (C_out, k_h, k_w, 3)
    else:
        if not 0 <= in_channel < per_group:
            raise ValueError(
                f"{layer}'s kernels have {per_group} input channels, not {in_channel + 1}"
            )
        chosen = weight[:, in_channel]  # (C_out, k_h, k_w)
    flat = chosen.reshape(chosen.shape[0], -1).abs()
    if shared_scale:
        limits = flat.max().clamp(min=1e-12).expand(chosen.shape[0])
    else:
        limits = flat.amax(1).clamp(min=1e-12)
    shape = (-1,) + (1,) * (chosen.dim() - 1)
    tiles = 0.5 + chosen / (2 * limits.view(shape))
    return Kernels(
        layer=layer,
        tiles=tiles.clamp(0, 1).numpy(),
        rgb=rgb,
        in_channel=None if rgb else in_channel,
        in_channels=per_group,
        scale=float(limits.max()),
        norms=weight.flatten(1).norm(dim=1).numpy(),
    )
