"""Class prototypes: for each digit, the image that maximises its logit (activation
maximisation), with the regularisers of :mod:`core.inside` as options.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from core.digits.data import IMAGE_SIZE, NUM_CLASSES
from core.digits.preprocess import as_batch
from core.inside import DIGITS_INPUT, Objective, Progress, Settings, visualise

# The default: transformation robustness, a sparsity (L1) penalty and total variation.
# Measured on the shipped network (bench/inside.py): every class's prototype is
# classified as its class with probability > 0.9 and correlates better with that class's
# mean MNIST digit than the L2-only prototype does; the L2-only prototypes look like noise.
DIGIT_REGULARISERS = ("l1", "tv", "jitter", "rotate", "scale")
DIGIT_SETTINGS = Settings(
    regularisers=DIGIT_REGULARISERS,
    size=(IMAGE_SIZE, IMAGE_SIZE),
    l1_weight=0.05,
    tv_weight=0.1,
    blur_every=4,
    blur_sigma=0.5,
    jitter=4,
    rotate=15.0,
    scale=0.2,
    snapshots=2,
)
# (steps, learning rate) when not given: the lab's original L2-only run keeps its own.
L2_ONLY_RUN = (150, 0.05)
DEFAULT_RUN = (300, 0.1)


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


# Not on the single-threaded workers of core.common.single_thread: visualise() gives
# this thread one torch thread itself, and a page's progress callback must run on the
# page's own thread (Streamlit drops updates from other threads).
def class_prototypes(
    net: nn.Module,
    start: np.ndarray | None = None,
    steps: int | None = None,
    l2_weight: float = 1e-3,
    learning_rate: float | None = None,
    seed: int = 0,
    regularisers: tuple[str, ...] = DIGIT_REGULARISERS,
    progress: Progress | None = None,
) -> Prototypes:
    """Activation maximisation of each class logit (Simonyan et al. 2013,
    https://arxiv.org/abs/1312.6034; Erhan et al. 2009), by :func:`core.inside.visualise`.

    Maximises ``logit_c(x)`` minus the penalties that are on, over images x in [0, 1]
    with Adam, for all ten classes at once (one batch of 10). ``regularisers=("l2",)``
    is the lab's original method (``logit_c(x) - l2_weight * ||x||^2``, 150 steps at
    0.05): high-scoring noise. The default adds transformation robustness, L1 and total
    variation (:data:`DIGIT_SETTINGS`), and gives digit-like strokes.

    Args:
        net: The digit network (not modified).
        start: ``(28, 28)`` image to start from (e.g. the drawing); default: uniform
            noise in [0, 0.2] drawn from ``seed``.
        steps: Optimisation steps (default 150 for ``("l2",)``, else 300).
        l2_weight: Weight of the L2 penalty on the image (with ``"l2"``).
        learning_rate: Adam step size (default 0.05 for ``("l2",)``, else 0.1).
        seed: Seed of the starting noise and the transformations (the result is
            deterministic given it).
        regularisers: Names from :data:`core.inside.REGULARISERS`.
        progress: Called after every step, as :func:`core.inside.visualise`'s.

    Returns:
        The :class:`Prototypes`.
    """
    default_steps, default_rate = L2_ONLY_RUN if tuple(regularisers) == ("l2",) else DEFAULT_RUN
    settings = replace(
        DIGIT_SETTINGS,
        regularisers=tuple(regularisers),
        steps=default_steps if steps is None else steps,
        learning_rate=default_rate if learning_rate is None else learning_rate,
        l2_weight=l2_weight,
        seed=seed,
    )
    x0 = None if start is None else as_batch(start)  # (1, 1, 28, 28)
    objectives = [Objective("logit", digit) for digit in range(NUM_CLASSES)]
    result = visualise(net, DIGITS_INPUT, objectives, settings, start=x0, progress=progress)
    logits = torch.from_numpy(result.logits)  # (10, 10)
    classes = torch.arange(NUM_CLASSES)
    return Prototypes(
        images=result.images[..., 0],
        probabilities=logits.softmax(1).numpy(),
        logits=logits[classes, classes].numpy(),
    )
