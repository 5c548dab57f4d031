"""The fully connected network: its spec, the module, and reading or editing one neuron."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from core.playground.activations import ACTIVATIONS
from core.playground.inits import INITS, init_weights


@dataclass(frozen=True)
class NetSpec:
    """The architecture of a fully connected network.

    Attributes:
        n_inputs: Input features.
        hidden: Width of each hidden layer, input side first (may be empty).
        n_outputs: Output units (linear, no activation).
        activation: A key of :data:`ACTIVATIONS`, used by every hidden layer.
        init: A key of :data:`INITS`, used by every weight matrix (biases start at 0).
    """

    n_inputs: int
    hidden: tuple[int, ...]
    n_outputs: int
    activation: str = "tanh"
    init: str = "xavier"

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or self.n_outputs < 1 or any(w < 1 for w in self.hidden):
            raise ValueError("every layer needs at least one unit")
        if self.activation not in ACTIVATIONS:
            raise KeyError(f"unknown activation {self.activation!r}")
        if self.init not in INITS:
            raise KeyError(f"unknown initialisation {self.init!r}")

    @property
    def widths(self) -> tuple[int, ...]:
        """Units per layer, inputs and outputs included."""
        return (self.n_inputs, *self.hidden, self.n_outputs)


class MLP(nn.Module):
    """``Linear -> activation`` for every hidden layer, then a linear output layer.

    Attributes:
        spec: The architecture.
        layers: One ``nn.Linear`` per weight matrix; ``layers[-1]`` is the output layer
            (:meth:`linears` gives them typed).
        activations: One module per hidden layer (PReLU has its own slopes).
    """

    def __init__(self, spec: NetSpec, seed: int = 0) -> None:
        """Build the network and initialise it.

        Args:
            spec: The architecture.
            seed: Seed of the weight initialisation.
        """
        super().__init__()
        self.spec = spec
        widths = spec.widths
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.activations = nn.ModuleList(ACTIVATIONS[spec.activation].make(w) for w in spec.hidden)
        generator = torch.Generator().manual_seed(seed)
        for layer in self.linears():
            init_weights(layer.weight, spec.init, generator)
            nn.init.zeros_(layer.bias)

    def linears(self) -> list[nn.Linear]:
        """:attr:`layers` as ``nn.Linear`` (``nn.ModuleList`` items are typed ``nn.Module``).

        Returns:
            One ``nn.Linear`` per layer, hidden layers first, the output layer last.
        """
        return [cast(nn.Linear, layer) for layer in self.layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_inputs) -> (B, n_outputs)``."""
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            x = act(layer(x))
        return self.layers[-1](x)

    def forward_layers(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The same forward pass, keeping every layer's values (in the autograd graph).

        Args:
            x: ``(B, n_inputs)``.

        Returns:
            ``(pre, post)``: per layer (hidden layers then output layer), the
            pre-activations ``W h + b`` and the activations, each ``(B, width)``. For the
            output layer ``post[-1] is pre[-1]`` (no activation).
        """
        pre: list[torch.Tensor] = []
        post: list[torch.Tensor] = []
        h = x
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            z = layer(h)  # (B, fan_in) -> (B, fan_out)
            h = act(z)
            pre.append(z)
            post.append(h)
        out = self.layers[-1](h)
        pre.append(out)
        post.append(out)
        return pre, post

    def layer_names(self) -> list[str]:
        """``["hidden 1", ..., "output"]``, one per entry of :attr:`layers`."""
        return [f"hidden {i + 1}" for i in range(len(self.spec.hidden))] + ["output"]


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor's values as a numpy array on the CPU, out of the autograd graph."""
    return t.detach().cpu().numpy()


def set_neuron_weights(
    model: MLP,
    layer: int,
    neuron: int,
    weights: Sequence[float] | None = None,
    bias: float | None = None,
) -> None:
    """Overwrite one neuron's incoming weights and/or bias (takes effect on the next step).

    Args:
        model: The network (modified in place; never a shared cached model).
        layer: Index into ``model.layers`` (0 = first hidden layer, -1 = output).
        neuron: Unit index within that layer.
        weights: ``fan_in`` new incoming weights, or None to keep them.
        bias: New bias, or None to keep it.

    Raises:
        IndexError: no such layer or neuron.
        ValueError: wrong number of weights, or a value that is not finite.
    """
    linear = model.linears()[layer]
    if not 0 <= neuron < linear.out_features:
        raise IndexError(f"layer {layer} has {linear.out_features} units, not {neuron + 1}")
    with torch.no_grad():
        if weights is not None:
            values = torch.as_tensor(list(weights), dtype=linear.weight.dtype)
            if values.shape != (linear.in_features,):
                raise ValueError(
                    f"expected {linear.in_features} weights, got {tuple(values.shape)}"
                )
            if not torch.isfinite(values).all():
                raise ValueError("weights must be finite numbers")
            linear.weight[neuron] = values
        if bias is not None:
            if not math.isfinite(bias):
                raise ValueError("the bias must be a finite number")
            linear.bias[neuron] = bias


def neuron_weights(model: MLP, layer: int, neuron: int) -> tuple[np.ndarray, float]:
    """One neuron's incoming weights ``(fan_in,)`` and its bias, as plain numbers."""
    linear = model.linears()[layer]
    return to_numpy(linear.weight[neuron]).copy(), float(linear.bias[neuron].detach())
