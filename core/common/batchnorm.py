"""Batch-norm folding, in one place: eval-mode ``BN(conv(x))`` as one convolution.

In eval mode a batch norm is an affine map per channel, ``y = x * scale + shift`` with
``scale = gamma / sqrt(var + eps)`` and ``shift = beta - mean * scale``. After a
convolution or a linear layer ``z = W x + b`` it folds into that layer:
``W' = W * scale`` (per output channel) and ``b' = b * scale + shift``.

Used by the fast twin of a network (:mod:`core.attribution.fast`), by LRP (which folds
each batch norm into the layer that fed it while it rewrites the backward pass) and by
the digit CNN (trained with batch norm, shipped folded).
"""

from __future__ import annotations

import torch
from torch import nn


def batch_norm_affine(
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An eval-mode batch norm as ``y = x * scale + shift``, per channel.

    Args:
        running_mean: ``(C,)`` running mean.
        running_var: ``(C,)`` running variance.
        weight: ``(C,)`` gamma, or None (1).
        bias: ``(C,)`` beta, or None (0).
        eps: The batch norm's epsilon.

    Returns:
        ``(scale, shift)``, both ``(C,)``, detached.
    """
    scale = torch.rsqrt(running_var.detach() + eps)
    if weight is not None:
        scale = scale * weight.detach()
    shift = -running_mean.detach() * scale
    if bias is not None:
        shift = shift + bias.detach()
    return scale, shift


def fold_affine(
    weight: torch.Tensor, bias: torch.Tensor | None, scale: torch.Tensor, shift: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold ``y = z * scale + shift`` into the layer ``z = W x + b`` that produced ``z``.

    Args:
        weight: The layer's weight, output channels first (conv ``(C, ...)``, linear
            ``(C, in)``).
        bias: Its bias ``(C,)`` or None.
        scale: ``(C,)``.
        shift: ``(C,)``.

    Returns:
        ``(W', b')`` of the folded layer.
    """
    folded_weight = weight * scale.view(-1, *([1] * (weight.dim() - 1)))
    folded_bias = shift + (bias * scale if bias is not None else 0.0)
    return folded_weight, folded_bias


def fold_conv_bn(
    layer: nn.Conv2d | nn.Linear, bn: nn.BatchNorm1d | nn.BatchNorm2d
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of ``layer`` with the eval-mode ``bn`` that follows it folded in.

    Args:
        layer: The convolution or linear layer (not modified).
        bn: The batch norm applied to its output, with running statistics.

    Returns:
        ``(W', b')``, detached new tensors.

    Raises:
        ValueError: the batch norm keeps no running statistics.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("a batch norm without running statistics cannot be folded")
    scale, shift = batch_norm_affine(bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps)
    weight, bias = fold_affine(
        layer.weight.detach(), None if layer.bias is None else layer.bias.detach(), scale, shift
    )
    return weight.detach().clone(), bias.detach().clone()
