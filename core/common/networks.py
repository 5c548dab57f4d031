"""What is kept and checked per shared network, written once.

- :class:`PerNetwork`: values built once per network (and key) and kept while the
  network lives: the batch-norm-folded twin (:mod:`core.attribution.fast`), the forward
  engines (:mod:`core.models.engine`), the verdicts of the rewritten forward passes
  (:mod:`core.attribution.guided`).
- :func:`same_logits`: do two forward passes compute the same function? One tolerance
  for the three places that ask (the ONNX export, the folded twin, the intercepted pass).
- :data:`MAX_PARAMETERS`: networks too large for a second copy of their weights.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch
from torch import nn

V = TypeVar("V")

# No private copy (folded twin, ONNX Runtime session) of a network larger than this:
# VGG-16 (138 M parameters, 530 MB) would hold its weights twice.
MAX_PARAMETERS = 30_000_000

# Two forward passes that compute the same function with other kernels (ONNX Runtime,
# batch norm folded into the convolutions, operations intercepted and re-dispatched)
# differ by float32 rounding only, relative to the largest |logit| (at least 1): ONNX
# Runtime ~6e-6 on EfficientNet-Lite0 (core/models/engine.py); the folded twin 3.8e-7 on
# EfficientNet-Lite0 (the cat photo) and 2.2e-7 on ResNet-50 (random weights); the
# passes intercepted by guided backprop, DeconvNet and LRP at most 4.2e-7 over every zoo
# network (random weights, 160 x 160; tests/test_common_networks.py checks the twin and
# the intercepted passes on EfficientNet-Lite0). A pass that computes something else (an
# operation the interception missed, a wrong fold, dropout left on) differs by 1e-2 or
# more. 1e-4 sits between the two, over ten times above the largest rounding seen.
LOGITS_TOLERANCE = 1e-4


def parameter_count(net: nn.Module) -> int:
    """Number of parameters of a network (every element of every parameter)."""
    return sum(p.numel() for p in net.parameters())


def logits_difference(expected: torch.Tensor, got: torch.Tensor) -> float:
    """Largest ``|got - expected|`` relative to the largest ``|expected|`` (at least 1).

    Returns:
        The relative difference; infinity when the shapes differ.
    """
    if tuple(got.shape) != tuple(expected.shape):
        return float("inf")
    expected = expected.detach().float()
    got = got.detach().float().to(expected.device)
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    return float((got - expected).abs().max()) / scale if expected.numel() else 0.0


def same_logits(expected: torch.Tensor, got: torch.Tensor) -> bool:
    """True when two passes' logits agree within :data:`LOGITS_TOLERANCE` (relative)."""
    return logits_difference(expected, got) <= LOGITS_TOLERANCE


_MISSING: Any = object()


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    values: dict[Hashable, Any] = field(default_factory=dict)


class PerNetwork(Generic[V]):
    """Values built once per network and key, kept as long as the network lives.

    Thread-safe: two threads asking for the same value build it once (the second
    waits); building a value for one network never blocks another network's requests.
    The network is held weakly (a dropped model takes its values with it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # held only to find a network's own slot
        self._slots: weakref.WeakKeyDictionary[nn.Module, _Slot] = weakref.WeakKeyDictionary()

    def _slot(self, net: nn.Module) -> _Slot:
        with self._lock:
            slot = self._slots.get(net)
            if slot is None:
                slot = self._slots[net] = _Slot()
            return slot

    def get(self, net: nn.Module, key: Hashable, build: Callable[[], V]) -> V:
        """The value of ``(net, key)``, built by ``build()`` on first request.

        A ``build`` that raises stores nothing (the next request builds again).
        """
        slot = self._slot(net)
        with slot.lock:
            value = slot.values.get(key, _MISSING)
            if value is _MISSING:
                value = slot.values[key] = build()
            return value

    def peek(self, net: nn.Module, key: Hashable) -> V | None:
        """The value of ``(net, key)`` if it is already built, else None (never builds)."""
        with self._lock:
            slot = self._slots.get(net)
        if slot is None:
            return None
        value = slot.values.get(key, _MISSING)
        return None if value is _MISSING else value

    def values(self) -> list[V]:
        """Every value built so far, for every living network."""
        with self._lock:
            slots = list(self._slots.values())
        return [value for slot in slots for value in list(slot.values.values())]
