"""Train a LeNet step by step, for the digits lab's "kernels learning live" panel.

A :class:`LiveTrainer` owns its own small network, optimiser and random generator (one
per user session, never shared), trains on the 4,000 training digits of
:func:`core.digits.mnist_subset` a few mini-batches at a time, and records the loss and
the held-out accuracy so the page can redraw the first-layer kernels and the curves
between steps. Everything is deterministic given the seed.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.common.single_thread import single_threaded
from core.digits.data import mnist_subset


def build_lenet() -> nn.Sequential:
    """LeNet-5 style (LeCun et al. 1998, http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf).

    ``conv1`` 6 x 5x5 (padding 2) -> max-pool -> ``conv2`` 16 x 5x5 -> max-pool ->
    ``fc1`` 120 -> ``fc2`` 84 -> ``fc3`` 10, ReLU activations (the original used scaled
    tanh and sub-sampling; ReLU and max-pooling learn faster, which suits a live demo).

    Returns:
        The network (uninitialised values; :meth:`LiveTrainer.reset` initialises them).
        Input ``(B, 1, 28, 28)``, output logits ``(B, 10)``.
    """
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 6, 5, padding=2),  # (B, 1, 28, 28) -> (B, 6, 28, 28)
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),  # -> (B, 6, 14, 14)
            conv2=nn.Conv2d(6, 16, 5),  # -> (B, 16, 10, 10)
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),  # -> (B, 16, 5, 5)
            flatten=nn.Flatten(1),  # -> (B, 400)
            fc1=nn.Linear(400, 120),
            relu3=nn.ReLU(),
            fc2=nn.Linear(120, 84),
            relu4=nn.ReLU(),
            fc3=nn.Linear(84, 10),  # -> (B, 10) logits
        )
    )


def _initialise(net: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default initialisation, drawn from ``generator`` (not the global RNG,
    which other sessions' threads share)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            fan_in = module.weight[0].numel()
            bound = 1 / math.sqrt(fan_in)
            if module.bias is not None:  # build_lenet's layers all have one
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)


@dataclass
class TrainingRecord:
    """The curves, one entry per evaluation.

    Attributes:
        steps: Mini-batches trained so far at each evaluation.
        epochs: The same in epochs (fractional).
        loss: Mean training loss over the mini-batches since the previous evaluation.
        accuracy: Held-out accuracy (1,000 digits never trained on).
    """

    steps: list[int] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


class LiveTrainer:
    """A LeNet trained a few mini-batches at a time.

    Args:
        seed: Seed of the initial weights and of the mini-batch order.
        learning_rate: SGD learning rate (momentum 0.9).
        batch_size: Digits per mini-batch.
    """

    def __init__(self, seed: int = 0, learning_rate: float = 0.05, batch_size: int = 64) -> None:
        self.seed = seed
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        data = mnist_subset()
        self._train_x = torch.from_numpy(np.array(data.train_images))[:, None]  # (N, 1, 28, 28)
        self._train_y = torch.from_numpy(np.array(data.train_labels))
        self._test_x = torch.from_numpy(np.array(data.test_images))[:, None]
        self._test_y = torch.from_numpy(np.array(data.test_labels))
        self.reset()

    @single_threaded
    def reset(self) -> None:
        """Back to freshly initialised weights (the same ones for the same seed)."""
        self.generator = torch.Generator().manual_seed(self.seed)
        self.net = build_lenet()
        _initialise(self.net, self.generator)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.learning_rate, momentum=0.9)
        self.steps = 0
        self._order = torch.empty(0, dtype=torch.long)
        self._cursor = 0
        self.record = TrainingRecord()
        self._evaluate(float("nan"))

    @property
    def epoch(self) -> float:
        """Epochs trained so far (fractional)."""
        return self.steps * self.batch_size / len(self._train_y)

    def _next_batch(self) -> torch.Tensor:
        if self._cursor >= len(self._order):
            self._order = torch.randperm(len(self._train_y), generator=self.generator)
            self._cursor = 0
        batch = self._order[self._cursor : self._cursor + self.batch_size]
        self._cursor += self.batch_size
        return batch

    @single_threaded
    def step(self, batches: int = 1) -> float:
        """Train on ``batches`` mini-batches, then evaluate on the held-out digits.

        Args:
            batches: Number of SGD steps.

        Returns:
            The mean training loss over these mini-batches.
        """
        self.net.train()
        losses = []
        with torch.enable_grad():
            for _ in range(batches):
                index = self._next_batch()
                loss = F.cross_entropy(self.net(self._train_x[index]), self._train_y[index])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
                self.steps += 1
        mean_loss = float(np.mean(losses)) if losses else float("nan")
        self._evaluate(mean_loss)
        return mean_loss

    def _evaluate(self, loss: float) -> None:
        self.net.eval()
        with torch.inference_mode():
            predicted = self.net(self._test_x).argmax(1)  # (1000,)
        accuracy = float((predicted == self._test_y).float().mean())
        self.record.steps.append(self.steps)
        self.record.epochs.append(self.epoch)
        self.record.loss.append(loss)
        self.record.accuracy.append(accuracy)

    def kernels(self) -> np.ndarray:
        """The first-layer kernels, ``(6, 5, 5)``."""
        conv1 = self.net.get_submodule("conv1")
        assert isinstance(conv1, nn.Conv2d)  # build_lenet's first layer (narrows the type)
        return conv1.weight.detach()[:, 0].numpy().copy()  # (6, 1, 5, 5) -> (6, 5, 5)
