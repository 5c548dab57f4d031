"""A run's configuration as the page sets it, and building the trainer from it."""

from __future__ import annotations

from dataclasses import dataclass

from core.playground.datasets import make_dataset
from core.playground.mlp import NetSpec
from core.playground.trainer import Trainer


@dataclass(frozen=True)
class PlaygroundConfig:
    """Everything that defines a fresh run (the page rebuilds the trainer when it changes).

    Attributes:
        dataset: A key of :data:`DATASETS`.
        hidden: Hidden layer widths.
        activation: A key of :data:`ACTIVATIONS`.
        init: A key of :data:`INITS`.
        seed: Seeds the data, the weights and the batch order.
        n_samples: Training set size.
        noise: See :func:`make_dataset`.
        n_inputs: Regression inputs (2-D sets always have 2).
        n_outputs: Regression outputs (classification always has 1).
        max_steps: Step budget.
    """

    dataset: str = "circles"
    hidden: tuple[int, ...] = (8, 8)
    activation: str = "tanh"
    init: str = "xavier"
    seed: int = 0
    n_samples: int = 400
    noise: float = 0.1
    n_inputs: int = 10
    n_outputs: int = 1
    max_steps: int = 1000


def parse_hidden(text: str, max_layers: int = 6, max_width: int = 32) -> tuple[int, ...]:
    """Parse ``"16, 16"`` into ``(16, 16)``; an empty text means no hidden layer.

    Args:
        text: Comma- or space-separated positive integers.
        max_layers: Most hidden layers allowed.
        max_width: Widest layer allowed.

    Returns:
        The widths, input side first.

    Raises:
        ValueError: with a message for the user (not a number, 0, too many, too wide).
    """
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        widths = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"hidden layers must be whole numbers separated by commas, like '16, 16' (got {text!r})"
        ) from None
    if any(w < 1 for w in widths):
        raise ValueError("every hidden layer needs at least 1 unit")
    if len(widths) > max_layers:
        raise ValueError(f"at most {max_layers} hidden layers")
    if any(w > max_width for w in widths):
        raise ValueError(f"at most {max_width} units per layer")
    return widths


def build_trainer(config: PlaygroundConfig, lr: float, batch_size: int) -> Trainer:
    """Dataset + network + trainer for a configuration (the page's one entry point).

    Args:
        config: The run's settings.
        lr: SGD learning rate.
        batch_size: Examples per step.

    Returns:
        A fresh trainer at step 0.
    """
    data = make_dataset(
        config.dataset,
        n_samples=config.n_samples,
        seed=config.seed,
        noise=config.noise,
        n_inputs=config.n_inputs,
        n_outputs=config.n_outputs,
    )
    spec = NetSpec(data.n_inputs, config.hidden, data.n_outputs, config.activation, config.init)
    return Trainer(spec, data, lr, batch_size, config.seed, config.max_steps)
