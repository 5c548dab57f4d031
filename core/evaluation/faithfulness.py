"""The faithfulness table: deletion and insertion of every map and of the baselines.

For each method: its own curves and those of its reversed map; once for the image: a
random map as smooth as a CAM and an image-only edge map (see
:mod:`core.evaluation.baselines`). Rows are sorted by insertion AUC minus deletion AUC
(higher = more faithful), baselines included, so a method below a baseline shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from core.evaluation.baselines import edge_map, random_smooth_map, reversed_map
from core.evaluation.curves import Curve, curve, model_forward
from core.models import ImageModel

Progress = Callable[[float], None]
RANDOM = "random (smooth, 7 x 7)"
EDGES = "edges (Sobel, image only)"


@dataclass(frozen=True)
class FaithfulnessRow:
    """One map's two curves.

    Attributes:
        name: The method, ``"<method> reversed"``, or a baseline's name.
        method: The method it belongs to (None for the image's baselines).
        baseline: True for the reversed map and the image's baselines.
        deletion: Its deletion curve (lower AUC = more faithful).
        insertion: Its insertion curve (higher AUC = more faithful).
    """

    name: str
    method: str | None
    baseline: bool
    deletion: Curve
    insertion: Curve

    @property
    def score(self) -> float:
        """Insertion AUC minus deletion AUC."""
        return self.insertion.auc - self.deletion.auc


@dataclass(frozen=True)
class Faithfulness:
    """Every row, most faithful first, and the settings used."""

    rows: list[FaithfulnessRow]
    target: int
    deletion_substrate: str
    insertion_substrate: str
    step: int | None

    def row(self, name: str) -> FaithfulnessRow:
        """The row called ``name``."""
        return next(r for r in self.rows if r.name == name)


def faithfulness(
    model: ImageModel,
    image: Image.Image,
    maps: Mapping[str, np.ndarray],
    target: int,
    *,
    deletion_substrate: str = "zero",
    insertion_substrate: str = "blur",
    step: int | None = None,
    seed: int = 0,
    engine: str = "auto",
    progress: Progress | None = None,
) -> Faithfulness:
    """Deletion and insertion curves of every map, of its reverse and of the baselines.

    Args:
        model: A loaded model.
        image: Any PIL image (the model's preprocessing is applied).
        maps: method name -> ``(H, W)`` map at the model's input resolution.
        target: Class index.
        deletion_substrate: What deleted pixels become.
        insertion_substrate: What inserted pixels start from.
        step: Pixels per step (default: 28 steps).
        seed: Seed of the random baseline.
        engine: ``"auto"`` (the forward engine) or ``"torch"``.
        progress: Called with the fraction of curves done.

    Returns:
        The :class:`Faithfulness` table.
    """
    forward = model_forward(model, engine)
    x = model.preprocess(image)
    entries: list[tuple[str, str | None, bool, np.ndarray]] = []
    for name, heat in maps.items():
        entries.append((name, name, False, heat))
        entries.append((f"{name} reversed", name, True, reversed_map(heat)))
    entries.append((RANDOM, None, True, random_smooth_map(model.input_size, seed)))
    entries.append((EDGES, None, True, edge_map(model.crop(image))))
    rows = []
    for index, (name, method, baseline, heat) in enumerate(entries):
        deletion = curve(forward, x, heat, target, "deletion", deletion_substrate, step)
        insertion = curve(forward, x, heat, target, "insertion", insertion_substrate, step)
        rows.append(FaithfulnessRow(name, method, baseline, deletion, insertion))
        if progress is not None:
            progress((index + 1) / len(entries))
    rows.sort(key=lambda row: -row.score)
    return Faithfulness(rows, target, deletion_substrate, insertion_substrate, step)
