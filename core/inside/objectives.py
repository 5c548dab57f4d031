"""What feature visualisation maximises (Olah et al. 2017, "Feature Visualization",
https://distill.pub/2017/feature-visualization/, "Optimization Objectives"). The layers
are read during the optimisation by :func:`core.common.hooks.tap_layers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

# kind -> what it maximises, in the UI's words
KINDS: dict[str, str] = {
    "neuron": "one unit: one channel at one position of a layer",
    "channel": "one channel of a layer, averaged over all positions",
    "layer": "a whole layer: the mean of its squared activations (DeepDream)",
    "logit": "one class's logit, before softmax",
    "probability": "one class's probability, after softmax",
}
LAYER_KINDS = ("neuron", "channel", "layer")


@dataclass(frozen=True)
class Objective:
    """One thing to maximise.

    Attributes:
        kind: A key of :data:`KINDS`.
        index: The channel (neuron, channel) or class (logit, probability); unused for
            ``layer``.
        layer: The module name (``net.named_modules()``) for neuron, channel and layer.
        position: ``(row, column)`` of a neuron in the layer's output; None: the centre.
    """

    kind: str
    index: int = 0
    layer: str | None = None
    position: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown objective {self.kind!r}; choose from {', '.join(KINDS)}")
        if self.kind in LAYER_KINDS and not self.layer:
            raise ValueError(f"a {self.kind} objective needs a layer")
        if self.index < 0:
            raise ValueError(f"index must be >= 0, got {self.index}")

    @property
    def uses_layer(self) -> bool:
        """True when the objective reads a hidden layer (not the output)."""
        return self.kind in LAYER_KINDS

    def describe(self) -> str:
        """E.g. ``"channel 12 of blocks.6"`` or ``"logit of class 3"``."""
        if self.kind == "layer":
            return f"all of {self.layer}"
        if self.kind in ("logit", "probability"):
            return f"{self.kind} of class {self.index}"
        where = "" if self.position is None else f" at {self.position}"
        return f"{self.kind} {self.index}{where} of {self.layer}"


def objective_values(
    objectives: Sequence[Objective],
    layers: dict[str, torch.Tensor],
    logits: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each batch item's objective, to optimise and to report.

    Args:
        objectives: One per batch item.
        layers: Recorded outputs by module name: ``(B, C, h, w)`` or ``(B, C)``.
        logits: ``(B, K)`` network output (None when the pass stopped early).

    Returns:
        ``(optimised, reported)``, both ``(B,)``. They differ only for ``probability``:
        the log-probability is optimised (same maximum, but its gradient does not vanish
        while the probability is tiny), the probability is reported.

    Raises:
        ValueError: a channel, class or position out of range.
    """
    optimised: list[torch.Tensor] = []
    reported: list[torch.Tensor] = []
    for item, objective in enumerate(objectives):
        if objective.uses_layer:
            assert objective.layer is not None
            value = _layer_value(objective, layers[objective.layer][item])
            optimised.append(value)
            reported.append(value)
            continue
        if logits is None:
            raise ValueError("the network's output was not computed")
        if objective.index >= logits.shape[1]:
            raise ValueError(f"class {objective.index} >= the {logits.shape[1]} classes")
        if objective.kind == "logit":
            value = logits[item, objective.index]
            optimised.append(value)
            reported.append(value)
        else:
            log_p = logits[item].log_softmax(0)[objective.index]
            optimised.append(log_p)
            reported.append(log_p.exp())
    return torch.stack(optimised), torch.stack(reported)


def _layer_value(objective: Objective, output: torch.Tensor) -> torch.Tensor:
    """One item's neuron, channel or layer objective from its ``(C, h, w)`` or ``(C,)``."""
    if objective.kind == "layer":
        return output.pow(2).mean()
    channels = output.shape[0]
    if objective.index >= channels:
        raise ValueError(f"channel {objective.index} >= the {channels} of {objective.layer}")
    channel = output[objective.index]  # (h, w) or ()
    if channel.dim() == 0 or objective.kind == "channel":
        return channel.mean()
    height, width = channel.shape
    row, column = objective.position or (height // 2, width // 2)
    if not (0 <= row < height and 0 <= column < width):
        raise ValueError(
            f"position {(row, column)} is outside {objective.layer}'s {height} x {width}"
        )
    return channel[row, column]
