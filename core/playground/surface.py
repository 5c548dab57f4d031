"""The decision surface: a 2-input classifier's probability of class 1 on a grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.common.single_thread import run_single_threaded
from core.playground.mlp import MLP, to_numpy


@dataclass(frozen=True)
class DecisionSurface:
    """The classifier's P(class 1) on a regular grid.

    Attributes:
        xs: Grid coordinates along the first input ``(R,)``.
        ys: Grid coordinates along the second input ``(R,)``.
        probability: ``(R, R)``, row i = ``ys[i]``, column j = ``xs[j]``.
    """

    xs: np.ndarray
    ys: np.ndarray
    probability: np.ndarray


def decision_surface(
    model: MLP, x: torch.Tensor, resolution: int = 80, margin: float = 0.5
) -> DecisionSurface:
    """Evaluate a 2-input, 1-logit network on a grid covering the data.

    Args:
        model: The network (2 inputs, 1 output logit).
        x: The data ``(N, 2)``; the grid spans its bounding box plus ``margin``.
        resolution: Grid points per axis.
        margin: Extra space around the data, in input units.

    Returns:
        sigmoid(logit) on the grid.

    Raises:
        ValueError: the network does not have 2 inputs and 1 output.
    """
    if model.spec.n_inputs != 2 or model.spec.n_outputs != 1:
        raise ValueError("a decision surface needs a network with 2 inputs and 1 output")
    dtype = model.linears()[0].weight.dtype
    lo = x.min(dim=0).values.double() - margin  # (2,)
    hi = x.max(dim=0).values.double() + margin
    xs = torch.linspace(float(lo[0]), float(hi[0]), resolution, dtype=dtype)
    ys = torch.linspace(float(lo[1]), float(hi[1]), resolution, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (R, R) each
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)  # (R*R, 2)

    def evaluate() -> torch.Tensor:
        with torch.inference_mode():
            return torch.sigmoid(model(points)).reshape(resolution, resolution)

    probability = run_single_threaded(evaluate)
    return DecisionSurface(to_numpy(xs), to_numpy(ys), to_numpy(probability))
