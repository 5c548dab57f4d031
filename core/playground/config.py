"""A run's configuration as the page sets it, building the trainer from it, and the
page's settings in its URL (read and written by :mod:`core.common.query`)."""

from __future__ import annotations

from dataclasses import dataclass

from core.common.query import (
    QueryField,
    choice_field,
    float_field,
    int_field,
    text_field,
)
from core.playground.activations import ACTIVATIONS
from core.playground.datasets import DATASETS, make_dataset
from core.playground.inits import INITS
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


LEARNING_RATES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
BATCH_SIZES = (1, 4, 8, 16, 32, 64, 128, 256)
SPEEDS = (1, 2, 5, 10, 20, 50)  # steps per refresh while training runs
MAX_LAYERS, MAX_WIDTH = 6, 32


def hidden_text(widths: tuple[int, ...] | str) -> str:
    """Hidden widths as the page's text box shows them: ``"8, 8"`` (text passed through)."""
    return widths if isinstance(widths, str) else ", ".join(map(str, widths))


def _read_hidden(text: str) -> str:
    """A link's hidden layers (``8,8`` or ``8 8``) as the text box's text, checked."""
    return hidden_text(parse_hidden(text, MAX_LAYERS, MAX_WIDTH))


def _link_hidden(text: str) -> str:
    """The text box's text as a link writes it: ``8,8`` (no spaces to escape)."""
    return ",".join(p for p in text.replace(",", " ").split() if p)


_DEFAULT = PlaygroundConfig()
# ?data=xor&hidden=16,16&act=relu&init=he&lr=0.03: everything that sets up a run.
PLAYGROUND_FIELDS: tuple[QueryField, ...] = (
    choice_field("data", _DEFAULT.dataset, list(DATASETS), label="data set"),
    int_field("inputs", _DEFAULT.n_inputs, 1, 32, "inputs"),
    int_field("outputs", _DEFAULT.n_outputs, 1, 4, "outputs"),
    text_field(
        "hidden", hidden_text(_DEFAULT.hidden), _read_hidden, _link_hidden, "hidden layers"
    ),  # fmt: skip
    choice_field("act", _DEFAULT.activation, list(ACTIVATIONS), label="activation"),
    choice_field("init", _DEFAULT.init, list(INITS), label="initialisation"),
    choice_field("lr", 0.1, LEARNING_RATES, label="learning rate"),
    choice_field("batch", 32, BATCH_SIZES, label="batch size"),
    int_field("samples", _DEFAULT.n_samples, 20, 2000, "examples"),
    float_field("noise", _DEFAULT.noise, 0.0, 1.0, "noise"),
    int_field("seed", _DEFAULT.seed, 0, 1_000_000, "seed"),
    int_field("max_steps", 2000, 10, 100_000, "steps until finished"),
    choice_field("speed", 10, SPEEDS, label="steps per refresh"),
)
