"""Class prototypes: for each digit, the image that maximises its logit (activation
maximisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.common.single_thread import single_threaded
from core.digits.data import IMAGE_SIZE, NUM_CLASSES
from core.digits.preprocess import as_batch


@dataclass(frozen=True)
class Prototypes:
    """One activation-maximisation image per class.

    Attributes:
        images: ``(10, 28, 28)`` in [0, 1]; row ``c`` maximises class ``c``'s logit.
        probabilities: ``(10, 10)``: the network's probabilities for each image.
        logits: ``(10,)`` the maximised logit of each image.
    """

    images: np.ndarray
    probabilities: np.ndarray
    logits: np.ndarray


@single_threaded
def class_prototypes(
    net: nn.Module,
    start: np.ndarray | None = None,
    steps: int = 150,
    l2_weight: float = 1e-3,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> Prototypes:
    """Activation maximisation of each class logit (Simonyan et al. 2013,
    https://arxiv.org/abs/1312.6034; Erhan et al. 2009).

    Maximises ``logit_c(x) - l2_weight * ||x||^2`` over images x in [0, 1] with Adam,
    for all ten classes at once (one batch of 10).

    Args:
        net: The digit network (not modified).
        start: ``(28, 28)`` image to start from (e.g. the drawing); default: uniform
            noise in [0, 0.2] drawn from ``seed``.
        steps: Optimisation steps.
        l2_weight: Weight of the L2 penalty on the image.
        learning_rate: Adam step size.
        seed: Seed of the starting noise (the result is deterministic given it).

    Returns:
        The :class:`Prototypes`.
    """
    if start is None:
        generator = torch.Generator().manual_seed(seed)
        x0 = torch.rand(NUM_CLASSES, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 0.2
    else:
        x0 = as_batch(start).repeat(NUM_CLASSES, 1, 1, 1)
    image = x0.clone().requires_grad_(True)  # (10, 1, 28, 28)
    optimizer = torch.optim.Adam([image], lr=learning_rate)
    classes = torch.arange(NUM_CLASSES)
    with torch.enable_grad():
        for _ in range(steps):
            logits = net(image)  # (10, 10)
            objective = logits[classes, classes] - l2_weight * image.pow(2).flatten(1).sum(1)
            # autograd.grad, not backward(): never touch the shared network's .grad.
            (image.grad,) = torch.autograd.grad(-objective.sum(), image)
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0, 1)
    final = image.detach()
    with torch.inference_mode():
        logits = net(final)
    return Prototypes(
        images=final[:, 0].numpy(),
        probabilities=logits.softmax(1).numpy(),
        logits=logits[classes, classes].numpy(),
    )
