"""RISE: randomized input sampling for explanation.

Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation of
Black-box Models", https://arxiv.org/abs/1806.07421

Forward passes only, on the network's forward engine (ONNX Runtime when exact). ``masks``
random binary grids of ``grid x grid`` cells, each cell kept with probability ``p``, are
upsampled bilinearly to ``(grid + 1)`` cells' worth of the input and cropped at a random
shift (so the masks are smooth and not aligned to one grid); the map is the sum of the
masks weighted by the class probability of the image seen through each, divided by
``masks x p``: the expected score when a pixel is kept. As in the paper's code, masked
pixels take 0 in the network's input space (the normalisation mean). Masks are drawn
from a private generator (deterministic given the seed) and built batch by batch, so
8,000 masks never sit in memory at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from core.attribution.base import (
    InputShape,
    Method,
    Param,
    Params,
    Progress,
    chunks,
)
from core.attribution.gradients import SEED

if TYPE_CHECKING:
    from core.attribution.runner import Attributor


def rise_masks(
    count: int, grid: int, keep: float, size: tuple[int, int], seed: int
) -> Iterator[tuple[slice, torch.Tensor]]:
    """RISE's smooth random masks, in batches of at most 64.

    Args:
        count: Number of masks.
        grid: Cells per side of the random binary grid.
        keep: Probability that a cell is kept (1).
        size: Input ``(H, W)``.
        seed: Random seed (the same seed gives the same masks).

    Yields:
        ``(slice of mask indices, masks (b, 1, H, W) in [0, 1])``.
    """
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    cell = (math.ceil(height / grid), math.ceil(width / grid))
    upsampled = ((grid + 1) * cell[0], (grid + 1) * cell[1])
    cells = (torch.rand((count, 1, grid, grid), generator=generator) < keep).float()
    shift_y = torch.randint(0, cell[0], (count,), generator=generator)
    shift_x = torch.randint(0, cell[1], (count,), generator=generator)
    for part in chunks(count, 64):
        up = F.interpolate(cells[part], size=upsampled, mode="bilinear", align_corners=False)
        crops = [
            up[i, :, y : y + height, x : x + width]
            for i, (y, x) in enumerate(
                zip(shift_y[part].tolist(), shift_x[part].tolist(), strict=True)
            )
        ]
        yield part, torch.stack(crops).clamp(0.0, 1.0)  # (b, 1, H, W); clamp: float rounding


class RISE(Method):
    """Expected class probability when each pixel is kept, over random smooth masks."""

    name = "rise"
    title = "RISE"
    summary = "Random smooth masks weighted by the class probability of the image through each."
    paper = "https://arxiv.org/abs/1806.07421"
    citation = "Petsiuk, Das & Saenko 2018"
    signed = False
    unit = "probability"
    scaling = "band"
    stochastic = True
    needs_gradients = False
    params = (
        Param("masks", 2000, "Random masks averaged: more is smoother.", "int", 50, 8000, 50),
        Param("grid", 7, "Cells per side of each random mask.", "int", 2, 32, 1),
        Param(
            "p",
            0.5,
            "Probability that a cell of a mask is kept (RISE's p).",
            "float",
            0.05,
            0.95,
            0.05,
            label="Keep probability",
        ),
        SEED,
    )

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return params["masks"], 0

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        count, keep = params["masks"], params["p"]
        saliency = torch.zeros(run.size)  # (H, W)
        batch = run.batch_size(gradients=False)
        done = 0
        for _, masks in rise_masks(count, params["grid"], keep, run.size, params["seed"]):
            for part in chunks(masks.shape[0], batch):
                chunk = masks[part]  # (b, 1, H, W)
                logits = run.forward_logits(run.x * chunk, target)  # (b, K)
                probability = logits.softmax(dim=1)[:, target]  # (b,)
                saliency += (probability[:, None, None] * chunk[:, 0]).sum(dim=0)
                done += chunk.shape[0]
                if progress is not None:
                    progress(min(1.0, done / count))
        return (saliency / (count * keep)).numpy()
