"""The trainer: plain SGD, one fully recorded mini-batch per step, on the one-thread worker."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from core.common.single_thread import run_single_threaded
from core.playground.datasets import Dataset, loss_function
from core.playground.mlp import MLP, NetSpec, set_neuron_weights, to_numpy
from core.playground.records import StepRecord, StepSummary, record_batch


class Trainer:
    """Plain SGD on a :class:`Dataset`, one mini-batch per :meth:`step`, fully recorded.

    Batches are drawn without replacement from a seeded shuffle of the training set,
    reshuffled each epoch (the last incomplete batch of an epoch is skipped). The full
    per-neuron record (:class:`StepRecord`) is kept for the latest batch only; the
    per-step :class:`StepSummary` history is kept for every step.

    Attributes:
        model: The network being trained (owned by this trainer, never shared).
        data: The training set (converted to the trainer's dtype).
        history: One summary per step taken.
        last: The record of the latest step or inspection (None before any).
        finished_reason: Why training stopped ("" while it can go on).
        version: Increases whenever the weights change (a step or a hand edit).
    """

    def __init__(
        self,
        spec: NetSpec,
        data: Dataset,
        lr: float = 0.1,
        batch_size: int = 32,
        seed: int = 0,
        max_steps: int = 1000,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Build the network and the optimiser.

        Args:
            spec: Architecture; its input and output widths must match ``data``.
            data: Training set.
            lr: SGD learning rate.
            batch_size: Examples per step (clipped to the dataset size).
            seed: Seeds the weights (``seed``) and the batch order (``seed + 1``).
            max_steps: Training is finished after this many steps.
            dtype: ``torch.float32`` (default) or ``torch.float64``.

        Raises:
            ValueError: the spec does not fit the data, or a bad learning rate /
                batch size / step budget.
        """
        if (spec.n_inputs, spec.n_outputs) != (data.n_inputs, data.n_outputs):
            raise ValueError(
                f"the network has {spec.n_inputs} inputs and {spec.n_outputs} outputs, "
                f"the data {data.n_inputs} and {data.n_outputs}"
            )
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.spec = spec
        self.model = MLP(spec, seed).to(dtype)
        self.data = Dataset(data.name, data.x.to(dtype), data.y.to(dtype), data.task)
        self.max_steps = max_steps
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.set_lr(lr)
        self.set_batch_size(batch_size)
        self._batches = torch.Generator().manual_seed(seed + 1)
        self._order = torch.randperm(len(self.data.x), generator=self._batches)
        self._cursor = 0
        self.history: list[StepSummary] = []
        self.last: StepRecord | None = None
        self.finished_reason = ""
        self.version = 0

    # -- settings that may change while training
    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next step on (must be > 0 and finite)."""
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError("the learning rate must be a positive number")
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def set_batch_size(self, batch_size: int) -> None:
        """Change the batch size from the next step on (clipped to the dataset size)."""
        if batch_size < 1:
            raise ValueError("the batch size must be at least 1")
        self.batch_size = min(batch_size, len(self.data.x))

    # -- state
    @property
    def step_count(self) -> int:
        """Updates applied so far."""
        return len(self.history)

    @property
    def finished(self) -> bool:
        """True once ``max_steps`` is reached or the loss stopped being finite."""
        return bool(self.finished_reason)

    def _next_indices(self, advance: bool) -> torch.Tensor:
        if self._cursor + self.batch_size > len(self._order):
            self._order = torch.randperm(len(self.data.x), generator=self._batches)
            self._cursor = 0
        indices = self._order[self._cursor : self._cursor + self.batch_size]
        if advance:
            self._cursor += self.batch_size
        return indices

    # -- the work
    def _record(self, indices: torch.Tensor) -> tuple[StepRecord, list[torch.Tensor]]:
        """:func:`record_batch` on the training examples ``indices``; no update."""
        xb, yb = self.data.x[indices], self.data.y[indices]
        return record_batch(self.model, self.data.task, xb, yb, self.step_count)

    def inspect(self) -> StepRecord:
        """Record the next batch without updating anything (the batch is not consumed)."""
        return run_single_threaded(self._inspect)

    def _inspect(self) -> StepRecord:
        idx = self._next_indices(advance=False)
        record, _ = self._record(idx)
        self.last = record
        return record

    def step(self) -> StepRecord | None:
        """One SGD update on the next mini-batch, fully recorded.

        Returns:
            The record of the batch, or None when training is already finished. A
            non-finite loss finishes training without applying the update.
        """
        return run_single_threaded(self._step)

    def _step(self) -> StepRecord | None:
        if self.finished:
            return None
        idx = self._next_indices(advance=True)
        record, grads = self._record(idx)
        if not math.isfinite(record.batch_loss):
            self.last = record
            self.finished_reason = "diverged: the loss is no longer a finite number"
            return record
        for param, grad in zip(self.model.parameters(), grads, strict=True):
            param.grad = grad
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.version += 1
        record = dataclasses.replace(record, updated=True)
        self.last = record
        train_loss, accuracy = self._evaluate()
        self.history.append(
            StepSummary(
                step=self.step_count + 1,
                batch_loss=record.batch_loss,
                train_loss=train_loss,
                accuracy=accuracy,
                layers=[layer.stats for layer in record.layers],
            )
        )
        if self.step_count >= self.max_steps:
            self.finished_reason = f"reached the step budget ({self.max_steps} steps)"
        elif not math.isfinite(train_loss):
            self.finished_reason = "diverged: the loss is no longer a finite number"
        return record

    def run(self, n_steps: int, seconds: float | None = None) -> int:
        """Up to ``n_steps`` steps, fewer when training finishes or time runs out.

        Args:
            n_steps: Most steps to take.
            seconds: Stop starting new steps after this much time (None = no limit).

        Returns:
            How many steps ran.
        """
        return run_single_threaded(self._run, n_steps, seconds)

    def _run(self, n_steps: int, seconds: float | None) -> int:
        deadline = math.inf if seconds is None else time.perf_counter() + seconds
        done = 0
        while done < n_steps and time.perf_counter() < deadline and self._step() is not None:
            done += 1
        return done

    def evaluate(self) -> tuple[float, float | None]:
        """Loss and accuracy (classification; else None) on the whole training set."""
        return run_single_threaded(self._evaluate)

    def _evaluate(self) -> tuple[float, float | None]:
        with torch.inference_mode():
            out = self.model(self.data.x)
            loss = float(loss_function(self.data.task, out, self.data.y))
            if self.data.task != "classification":
                return loss, None
            accuracy = float(((out > 0).to(self.data.y.dtype) == self.data.y).double().mean())
        return loss, accuracy

    def predict(self) -> np.ndarray:
        """The network's outputs on the whole training set, ``(N, n_outputs)``."""

        def forward() -> np.ndarray:
            with torch.inference_mode():
                return to_numpy(self.model(self.data.x))

        return run_single_threaded(forward)

    def set_neuron(
        self,
        layer: int,
        neuron: int,
        weights: Sequence[float] | None = None,
        bias: float | None = None,
    ) -> None:
        """:func:`set_neuron_weights` on this trainer's network (bumps :attr:`version`)."""
        set_neuron_weights(self.model, layer, neuron, weights, bias)
        self.version += 1
