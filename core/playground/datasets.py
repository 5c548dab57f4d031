"""The training sets: a synthetic regression and four seeded 2-D classification sets.

Two blobs, circles, XOR and spiral; each task comes with its loss (:func:`loss_function`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

Task = Literal["regression", "classification"]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset generator.

    Attributes:
        title: Name shown in the UI.
        task: ``"regression"`` (MSE on linear outputs) or ``"classification"`` (one
            logit, binary cross-entropy).
        description: How the points are made.
    """

    title: str
    task: Task
    description: str


DATASETS: dict[str, DatasetSpec] = {
    "regression": DatasetSpec(
        "Synthetic regression",
        "regression",
        "X ~ N(0, I); y = X W + noise with W ~ N(0, 1/n_inputs) (so y has about unit "
        "variance) and noise ~ N(0, noise^2).",
    ),
    "blobs": DatasetSpec(
        "Two blobs",
        "classification",
        "Two Gaussian clusters (std 0.5 + noise) centred at (-1, -1) and (1, 1).",
    ),
    "circles": DatasetSpec(
        "Circles",
        "classification",
        "Class 1 inside radius 1, class 0 on a ring of radii 1.4 to 2, plus N(0, noise^2).",
    ),
    "xor": DatasetSpec(
        "XOR",
        "classification",
        "Uniform on [-2, 2]^2 kept 0.1 away from the axes; class 1 where x1 x2 > 0.",
    ),
    "spiral": DatasetSpec(
        "Spiral",
        "classification",
        "Two interleaved spiral arms (1.75 turns, radius 0 to 2), plus N(0, noise^2).",
    ),
}


@dataclass(frozen=True)
class Dataset:
    """A training set.

    Attributes:
        name: Key of :data:`DATASETS`.
        x: Inputs ``(N, n_inputs)``, float32.
        y: Targets ``(N, n_outputs)``, float32 (0./1. labels for classification).
        task: ``"regression"`` or ``"classification"``.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    task: Task

    @property
    def n_inputs(self) -> int:
        """Input features per example."""
        return self.x.shape[1]

    @property
    def n_outputs(self) -> int:
        """Targets per example."""
        return self.y.shape[1]


def _two_class_2d(name: str, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``(N, 3)`` rows of ``x1, x2, label``.

    Written by hand because these are a few lines each; scikit-learn would add a heavy
    run-time dependency for two of them and has no XOR or spiral generator.
    """
    labels = np.arange(n) % 2  # balanced classes, (N,)
    if name == "blobs":
        centres = np.where(labels[:, None] == 1, 1.0, -1.0)  # (N, 1) -> broadcast to (N, 2)
        points = centres + rng.normal(0.0, 0.5, (n, 2))
    elif name == "circles":
        radius = np.where(labels == 1, rng.uniform(0.0, 1.0, n), rng.uniform(1.4, 2.0, n))
        angle = rng.uniform(0.0, 2 * np.pi, n)
        points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    elif name == "xor":
        points = rng.uniform(-2.0, 2.0, (n, 2))
        points += 0.1 * np.sign(points)  # a small gap along both axes
        labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)
    elif name == "spiral":
        t = rng.uniform(0.0, 1.0, n)
        angle = 1.75 * 2 * np.pi * t + np.pi * labels
        points = 2.0 * t[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    else:
        raise KeyError(f"unknown dataset {name!r}")
    points = points + rng.normal(0.0, noise, points.shape)
    return np.column_stack([points, labels])


def make_dataset(
    name: str,
    n_samples: int = 400,
    seed: int = 0,
    noise: float = 0.1,
    n_inputs: int = 10,
    n_outputs: int = 1,
) -> Dataset:
    """Generate one of :data:`DATASETS`, deterministically from ``seed``.

    Args:
        name: A key of :data:`DATASETS`.
        n_samples: Number of examples (at least 2).
        seed: Random seed.
        noise: Target noise std (regression) or point jitter std (2-D sets).
        n_inputs: Input features (regression only; 2-D sets have 2).
        n_outputs: Targets per example (regression only; classification has 1 logit).

    Returns:
        The dataset, float32.

    Raises:
        KeyError: unknown dataset.
        ValueError: fewer than 2 samples, a negative noise or no features.
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; have: {', '.join(DATASETS)}")
    if n_samples < 2 or noise < 0 or n_inputs < 1 or n_outputs < 1:
        raise ValueError("need n_samples >= 2, noise >= 0 and at least one input and output")
    rng = np.random.default_rng(seed)
    if name == "regression":
        x = rng.normal(0.0, 1.0, (n_samples, n_inputs))
        w_true = rng.normal(0.0, 1.0 / math.sqrt(n_inputs), (n_inputs, n_outputs))
        y = x @ w_true + rng.normal(0.0, noise, (n_samples, n_outputs))  # (N, O)
    else:
        rows = _two_class_2d(name, n_samples, noise, rng)
        x, y = rows[:, :2], rows[:, 2:]
    return Dataset(
        name=name,
        x=torch.as_tensor(x, dtype=torch.float32),
        y=torch.as_tensor(y, dtype=torch.float32),
        task=DATASETS[name].task,
    )


def loss_function(task: Task, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (regression) or binary cross-entropy on the logit (classification).

    Args:
        task: ``"regression"`` or ``"classification"``.
        output: ``(B, n_outputs)`` network outputs (logits for classification).
        target: ``(B, n_outputs)``.

    Returns:
        The mean over the batch (and outputs), a scalar.
    """
    if task == "classification":
        return F.binary_cross_entropy_with_logits(output, target)
    return F.mse_loss(output, target)
