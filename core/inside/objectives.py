"""What feature visualisation maximises (Olah et al. 2017, "Feature Visualization",
https://distill.pub/2017/feature-visualization/, "Optimization Objectives"), and the
scoped hooks that read a layer during the optimisation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.common.hooks import forward_hooks

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


def _modules(net: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """name -> module for the given names.

    Raises:
        KeyError: a name that is no module of ``net``, with that name.
    """
    modules = dict(net.named_modules())
    missing = [name for name in names if name not in modules]
    if missing:
        raise KeyError(f"no layer called {missing[0]!r}")
    return {name: modules[name] for name in names}


class _StopForward(Exception):
    """Raised by a hook once the last layer an objective needs has run."""


@dataclass
class LayerTap:
    """What :func:`tap_layers` yields: run the network and read the tapped layers.

    Attributes:
        net: The network.
        outputs: The last recorded output of each tapped layer, filled by :meth:`run`.
    """

    net: nn.Module
    outputs: dict[str, torch.Tensor]
    _stop_at: tuple[str, int] | None
    _calls: dict[str, int]

    def run(self, x: torch.Tensor) -> torch.Tensor | None:
        """One forward pass; returns the logits, or None if it stopped early."""
        self.outputs.clear()
        self._calls.clear()
        try:
            return self.net(x)
        except _StopForward:
            return None


@contextmanager
def tap_layers(
    net: nn.Module, names: Sequence[str], stop_after: tuple[str, int] | None = None
) -> Iterator[LayerTap]:
    """Record named layers' outputs (with their autograd graph) in this thread's passes.

    A module called several times in one pass (a shared activation) keeps its last call.
    The hooks are removed on exit, also when the block raises.

    Args:
        net: The network (not modified).
        names: Module names to record.
        stop_after: ``(name, n)``: end the pass right after the n-th call of that module
            (nothing after it is needed: the rest of the network is not run).

    Yields:
        The :class:`LayerTap`.

    Raises:
        KeyError: a name that is no module of ``net``.
    """
    modules = _modules(net, names)
    owner = threading.get_ident()
    tap = LayerTap(net, {}, stop_after, {})

    def make_hook(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if threading.get_ident() != owner or not isinstance(output, torch.Tensor):
                return
            tap.outputs[name] = output
            tap._calls[name] = tap._calls.get(name, 0) + 1
            if tap._stop_at == (name, tap._calls[name]):
                raise _StopForward

        return hook

    with forward_hooks((modules[name], make_hook(name)) for name in dict.fromkeys(names)):
        yield tap


def call_order(net: nn.Module, x: torch.Tensor, names: Sequence[str]) -> list[tuple[str, int]]:
    """The calls of the named modules in one forward pass, in order: ``(name, n)`` is the
    n-th call of that module. Used to know where a pass may stop early.

    Args:
        net: The network (not modified; the hooks are removed on return).
        x: An input ``(B, C, H, W)``.
        names: Module names to watch.

    Returns:
        ``(name, call number)`` pairs in the order the calls ran, in this thread.
    """
    owner = threading.get_ident()
    modules = _modules(net, names)
    order: list[tuple[str, int]] = []
    counts: dict[str, int] = {}

    def make_hook(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, _output: Any) -> None:
            if threading.get_ident() == owner:
                counts[name] = counts.get(name, 0) + 1
                order.append((name, counts[name]))

        return hook

    with forward_hooks((modules[n], make_hook(n)) for n in dict.fromkeys(names)), torch.no_grad():
        net(x)
    return order
