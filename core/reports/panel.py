"""What a report or an evidence bundle holds: one photo, one model, one class, its maps."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.attribution import METHODS, Attribution
from core.evaluation import Faithfulness
from core.models import ImageModel, Prediction
from core.models.engine import weights_hash


@dataclass(frozen=True)
class MapRecord:
    """One method's map and how it was made.

    Attributes:
        method: Registry name.
        params: Every parameter of the method, defaults included (seeds too).
        heatmap: Float32 ``(H, W)`` at the model's input resolution.
        seconds: Run time.
        engine: What ran its passes.
    """

    method: str
    params: dict[str, Any]
    heatmap: np.ndarray
    seconds: float
    engine: str


@dataclass(frozen=True)
class Panel:
    """The explained prediction, everything a report or a bundle needs.

    Attributes:
        model: Registry name of the model.
        model_title: Its human name.
        weights_sha256: Hash of the model's parameters and buffers.
        image_bytes: The photo's file, as uploaded (or the sample's file).
        image_label: Its file name or caption.
        target: The explained class index.
        target_label: Its name.
        predictions: The model's top-5.
        maps: method name -> :class:`MapRecord`, in the page's order.
        faithfulness: The trust section's curves, when computed.
    """

    model: str
    model_title: str
    weights_sha256: str
    image_bytes: bytes
    image_label: str
    target: int
    target_label: str
    predictions: list[Prediction]
    maps: dict[str, MapRecord]
    faithfulness: Faithfulness | None = field(default=None)

    @property
    def image_sha256(self) -> str:
        """SHA-256 of the photo's bytes."""
        return hashlib.sha256(self.image_bytes).hexdigest()


def make_panel(
    model: ImageModel,
    image_bytes: bytes,
    image_label: str,
    target: int,
    predictions: list[Prediction],
    results: Mapping[str, Attribution],
    params: Mapping[str, Mapping[str, Any]],
    faithfulness: Faithfulness | None = None,
) -> Panel:
    """Collect a page's state into a :class:`Panel` (parameters resolved with defaults).

    Args:
        model: The model.
        image_bytes: The photo's bytes.
        image_label: Its name.
        target: The explained class.
        predictions: The top-5.
        results: method name -> its computed :class:`~core.attribution.Attribution`.
        params: method name -> the parameters it ran with.
        faithfulness: The trust section's table, if computed.
    """
    maps = {
        name: MapRecord(
            name,
            dict(METHODS[name].resolve(params.get(name, {}))),
            np.asarray(result.heatmap, dtype=np.float32),
            result.seconds,
            result.engine,
        )
        for name, result in results.items()
    }
    return Panel(
        model.name, model.title, weights_hash(model.net), image_bytes, image_label, target,
        model.labels[target], list(predictions), maps, faithfulness,
    )  # fmt: skip
