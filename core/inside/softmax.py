"""From logits to probabilities: the softmax, at a temperature.

``p_i = exp(z_i / T) / sum_j exp(z_j / T)``. T = 1 is what the network reports; a
higher T flattens the distribution towards uniform (used to soften a teacher's answers
in knowledge distillation, Hinton et al. 2015, https://arxiv.org/abs/1503.02531), a
lower one sharpens it towards the arg max. The order of the classes never changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.common.layout import fast_layout


@dataclass(frozen=True)
class SoftmaxView:
    """The softmax of one image's logits at one temperature, with its intermediates.

    Attributes:
        temperature: T (> 0).
        logits: ``(K,)`` z, as the network computed them.
        scaled: ``(K,)`` z / T.
        exponentials: ``(K,)`` exp(z / T - max(z / T)): the numerators, shifted by the
            largest so none overflows (the shift cancels in the division).
        probabilities: ``(K,)`` at temperature T; they sum to 1.
        order: ``(K,)`` class indices, most probable first (the same at every T).
        entropy: Of the probabilities, in bits (0: certain; log2 K: uniform).
    """

    temperature: float
    logits: np.ndarray
    scaled: np.ndarray
    exponentials: np.ndarray
    probabilities: np.ndarray
    order: np.ndarray
    entropy: float


def softmax_at(logits: np.ndarray, temperature: float = 1.0) -> SoftmaxView:
    """The softmax of ``logits`` at ``temperature``, in float64.

    Args:
        logits: ``(K,)`` finite logits.
        temperature: T > 0.

    Returns:
        The :class:`SoftmaxView`.

    Raises:
        ValueError: T is not a positive number, or the logits are not a finite vector.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"the temperature must be a positive number, not {temperature}")
    z = np.asarray(logits, np.float64)
    if z.ndim != 1 or z.size == 0 or not np.isfinite(z).all():
        raise ValueError("the logits must be a non-empty vector of finite numbers")
    scaled = z / temperature
    exponentials = np.exp(scaled - scaled.max())
    probabilities = torch.from_numpy(scaled).softmax(0).numpy()
    positive = probabilities[probabilities > 0]
    entropy = float(-(positive * np.log2(positive)).sum())
    order = np.argsort(-z, kind="stable")
    return SoftmaxView(temperature, z, scaled, exponentials, probabilities, order, entropy)


def network_logits(net: nn.Module, x: torch.Tensor) -> np.ndarray:
    """The logits ``(K,)`` of one input ``(1, C, H, W)`` (one forward pass)."""
    with torch.inference_mode():
        return net(fast_layout(x))[0].float().numpy()
