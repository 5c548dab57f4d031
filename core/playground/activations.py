"""The hidden-layer activation functions, where they saturate, and their local derivative.

Sigmoid, tanh, ReLU, leaky ReLU, PReLU, ELU and Swish (beta = 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.playground.inits import HE_2015

# An output counts as saturated when it is this close to one of the activation's
# horizontal asymptotes (0 or 1 for sigmoid, -1 or 1 for tanh, -1 for ELU).
SATURATION_MARGIN = 0.02


@dataclass(frozen=True)
class ActivationSpec:
    """One activation function.

    Attributes:
        title: Name shown in the UI.
        formula: The function, in symbols.
        make: ``make(width)`` builds the module for a layer of ``width`` units.
        asymptotes: Horizontal asymptotes (where the function saturates); empty when
            it does not saturate.
        paper: Where it comes from (URL), or "".
    """

    title: str
    formula: str
    make: Callable[[int], nn.Module]
    asymptotes: tuple[float, ...] = ()
    paper: str = ""


ACTIVATIONS: dict[str, ActivationSpec] = {
    "sigmoid": ActivationSpec("Sigmoid", "1 / (1 + exp(-x))", lambda w: nn.Sigmoid(), (0.0, 1.0)),
    "tanh": ActivationSpec("tanh", "tanh(x)", lambda w: nn.Tanh(), (-1.0, 1.0)),
    "relu": ActivationSpec("ReLU", "max(0, x)", lambda w: nn.ReLU()),
    "leaky_relu": ActivationSpec(
        "Leaky ReLU",
        "x if x > 0 else 0.01 x",
        lambda w: nn.LeakyReLU(0.01),
        paper="https://ai.stanford.edu/~amaas/papers/relu_hybrid_icml2013_final.pdf",
    ),
    "prelu": ActivationSpec(
        "PReLU",
        "x if x > 0 else a x, a learnt per unit (starts at 0.25)",
        lambda w: nn.PReLU(num_parameters=w, init=0.25),
        paper=HE_2015,
    ),
    "elu": ActivationSpec(
        "ELU",
        "x if x > 0 else exp(x) - 1",
        lambda w: nn.ELU(alpha=1.0),
        (-1.0,),
        paper="https://arxiv.org/abs/1511.07289",
    ),
    "swish": ActivationSpec(
        "Swish (beta = 1)",
        "x sigmoid(x)",
        lambda w: nn.SiLU(),
        paper="https://arxiv.org/abs/1710.05941",
    ),
}


def activation_derivative(act: nn.Module, pre: torch.Tensor) -> torch.Tensor:
    """f'(pre) elementwise ``(B, W)``, on a detached copy (the training graph is untouched).

    The activations are elementwise, so the gradient of ``sum(f(z))`` w.r.t. ``z`` is
    exactly f'(z); autograd gives it for every activation (PReLU's learnt slope
    included) without a hand-written derivative per function.

    Args:
        act: The layer's activation module.
        pre: Its pre-activations ``(B, W)``.

    Returns:
        The derivative at every entry, ``(B, W)``.
    """
    with torch.enable_grad():
        z = pre.detach().requires_grad_(True)
        (derivative,) = torch.autograd.grad(act(z).sum(), z)
    return derivative
