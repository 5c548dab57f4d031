"""Every layer's activations for one digit, and the "decisive neurons": the ones whose
activation x gradient of a class logit is largest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.common.hooks import record_outputs
from core.common.single_thread import single_threaded
from core.digits.preprocess import as_batch


@dataclass(frozen=True)
class LayerActivation:
    """One layer's response to a digit and its share in the decision.

    Attributes:
        name: Module name, e.g. ``"relu2"`` (the ReLU after ``conv2``) or ``"fc2"``.
        title: Human name, e.g. ``"conv2 + ReLU"``.
        activation: ``(C, H, W)`` for a convolutional layer, ``(U,)`` for a dense one.
        contribution: activation x gradient of the target logit, same shape: how much
            each neuron pushes the target class up (> 0) or down (< 0), to first order.
        neuron_scores: ``(C,)`` contribution summed over each channel (conv) or the
            contribution itself (dense): the ranking of neurons for the decision.
    """

    name: str
    title: str
    activation: np.ndarray
    contribution: np.ndarray
    neuron_scores: np.ndarray

    def top_neurons(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` neurons (channels) that pushed the target class up most.

        Returns:
            ``(index, score)`` pairs, largest score first.
        """
        order = np.argsort(-self.neuron_scores, kind="stable")[:k]
        return [(int(i), float(self.neuron_scores[i])) for i in order]


# The layers shown, in order: each convolution's and fc1's output after its ReLU, and
# the logits.
_ACTIVATION_LAYERS = {
    "relu1": "conv1 + ReLU",
    "relu2": "conv2 + ReLU",
    "relu3": "conv3 + ReLU",
    "relu4": "conv4 + ReLU",
    "relu5": "fc1 + ReLU",
    "fc2": "fc2 (logits)",
}


@single_threaded
def layer_activations(
    net: nn.Module, digit: np.ndarray, target: int | None = None
) -> list[LayerActivation]:
    """Every layer's activations for one digit, with activation x gradient scores.

    The "decisive neurons" are ranked by activation x gradient of the target class's
    logit (the first-order Taylor share of each neuron in the logit; Simonyan et al.
    2013 https://arxiv.org/abs/1312.6034 for the gradient, Shrikumar et al. 2016
    https://arxiv.org/abs/1605.01713 for gradient x input).

    Args:
        net: A network from :func:`build_digit_net` (not modified; hooks are scoped).
        digit: ``(28, 28)`` preprocessed digit.
        target: Class whose logit is explained (default: the predicted class).

    Returns:
        One :class:`LayerActivation` per shown layer, input to output.
    """
    modules = dict(net.named_children())
    watched = {name: modules[name] for name in _ACTIVATION_LAYERS}
    # The network's weights are frozen: the input must require grad for a graph to exist.
    x = as_batch(digit).requires_grad_(True)  # (1, 1, 28, 28)
    with torch.enable_grad(), record_outputs(watched, detach=False) as recorded:
        logits = net(x)  # (1, 10)
        target = int(logits.argmax(1)) if target is None else target
        outputs = [recorded[name][-1] for name in watched]
        grads = torch.autograd.grad(logits[0, target], outputs)
    layers = []
    for (name, title), out, grad in zip(_ACTIVATION_LAYERS.items(), outputs, grads, strict=True):
        act = out.detach()[0].numpy()  # (C, H, W) or (U,)
        contribution = (out.detach() * grad)[0].numpy()
        scores = contribution.reshape(contribution.shape[0], -1).sum(axis=1)  # (C,)
        layers.append(LayerActivation(name, title, act, contribution, scores))
    return layers
