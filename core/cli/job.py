"""One image -> its maps, metrics, summary rows and files: the part both engines share.

The local engine calls :func:`explain_image` in this process; the Ray engine calls it in
each actor. Either way it returns an :class:`ImageResult` (rows and file contents, all
picklable) that the driver writes (:mod:`core.cli.writers`), so the two engines give the
same results by construction. The computation is the page's: the image is decoded by
:func:`core.common.load_image`, explained by an :class:`~core.attribution.Attributor`
(forward-only methods on the model's forward engine), drawn by
:func:`core.attribution.display.export_tile` as the page exports a tile, and scored by
:func:`core.evaluation.curve` with RISE's defaults.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from core.attribution import METHODS, Attributor, MethodNotApplicable, attributor_for
from core.attribution.display import DisplaySettings, export_tile
from core.cli.inputs import Failure, Item
from core.common import ImageLoadError, load_image
from core.evaluation import DEFAULT_SUBSTRATE, curve, model_forward
from core.models import ImageModel, forward_engine, load_model, top_k

METRICS = ("deletion", "insertion")
MAPS_FILE = "maps.npz"
OPACITY = 0.55  # the page's default


@dataclass(frozen=True)
class Job:
    """Everything that decides a job's outputs (picklable: sent to every Ray actor).

    Attributes:
        model: Registry name of the model.
        methods: Method names, in the order of the command line.
        params: Method -> its resolved parameters (every declared name; defaults filled
            in, so seeds are fixed and reruns are reproducible).
        target: Class index to explain; None = each image's top-1 class.
        metrics: ``"deletion"`` and/or ``"insertion"``.
        substrates: Metric -> its substrate (RISE's defaults: zero, blur).
        step: Pixels per curve step; None = 28 steps (RISE's default).
        cmap: Colour map of unsigned maps in the PNGs (signed ones are red/blue).
        opacity: Heatmap opacity in the PNGs.
    """

    model: str
    methods: tuple[str, ...]
    params: dict[str, dict[str, Any]]
    target: int | None = None
    metrics: tuple[str, ...] = ()
    substrates: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SUBSTRATE))
    step: int | None = None
    cmap: str = "inferno"
    opacity: float = OPACITY

    def signature(self) -> str:
        """The settings as canonical JSON: outputs with another signature are stale."""
        return json.dumps(asdict(self), sort_keys=True)

    def columns(self) -> list[str]:
        """The summary's columns, in order."""
        metrics = [f"{metric}_auc" for metric in self.metrics]
        return [*ROW_COLUMNS[:-3], *metrics, *ROW_COLUMNS[-3:]]


ROW_COLUMNS = [
    "path", "image_hash", "model", "method", "target", "label", "probability", "top1",
    "top1_label", "top1_probability", "seconds", "engine", "params", "png", "npz",
]  # fmt: skip


@dataclass
class ImageResult:
    """What one image produced.

    Attributes:
        item: The image.
        record: JSON-able: the image's hash, size and time stamp, the job's signature,
            its summary rows and its per-method failures (``OUT/maps/<key>/record.json``).
        files: File name -> content (one PNG per map and ``maps.npz``), written by the
            driver.
        failure: Set when the whole image failed (unreadable): nothing else is written.
    """

    item: Item
    record: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    failure: Failure | None = None

    @property
    def failures(self) -> list[Failure]:
        """Every failure of this image: the whole image's, or its methods'."""
        if self.failure is not None:
            return [self.failure]
        return [Failure(**entry) for entry in self.record.get("failures", [])]


def file_stamp(path: str) -> dict[str, int]:
    """Size and modification time of a file (a changed image is explained again)."""
    stat = Path(path).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def uses_forward_engine(job: Job) -> bool:
    """True when the job has forward-only methods or metrics."""
    return bool(job.metrics) or any(not METHODS[m].needs_gradients for m in job.methods)


def warm_up(job: Job, model: ImageModel) -> None:
    """Build the model's forward engine now, when the job will use it (forward-only
    methods, metrics), rather than inside the first image's timing.

    The first build on a machine exports the model to ONNX (~10-30 s, once: the file is
    cached on disk, where a Ray actor on the same machine finds it).
    """
    if uses_forward_engine(job):
        forward_engine(model.net, (3, *model.input_size), model.title)


def prepare_model(job: Job, threads: int | None = None) -> ImageModel:
    """Load the job's model and build its forward engine once (per process or actor).

    Args:
        job: The settings.
        threads: Torch intra-op threads for this process (None: leave torch's default).
            ONNX Runtime uses as many as torch does when its engine is built.

    Returns:
        The model, ready for :func:`explain_image`.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    model = load_model(job.model)
    warm_up(job, model)
    return model


def _png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _one_method(
    job: Job,
    model: ImageModel,
    item: Item,
    run: Attributor,
    image: Image.Image,
    name: str,
    target: int,
) -> tuple[dict[str, Any], dict[str, np.ndarray], bytes]:
    """One method on one image (``run``: its Attributor; ``image``: the decoded photo):
    its map, its curves, its PNG (the page's exported tile, with its colour bar).

    Returns:
        The row's method columns (seconds, engine, AUCs, params, files), the arrays for
        the ``.npz`` (the map, the curves) and the PNG.
    """
    method = METHODS[name]
    result = run.attribute(name, target, **job.params[name])
    row: dict[str, Any] = {
        "seconds": round(result.seconds, 6), "engine": result.engine,
        "params": json.dumps(job.params[name], sort_keys=True),
        "png": f"maps/{item.key}/{name}.png", "npz": f"maps/{item.key}/{MAPS_FILE}",
    }  # fmt: skip
    arrays = {name: result.heatmap}
    forward = model_forward(model) if job.metrics else None
    for metric in job.metrics:
        assert forward is not None
        mode: Literal["deletion", "insertion"] = "deletion" if metric == "deletion" else "insertion"
        scored = curve(
            forward, run.x, result.heatmap, target, mode, job.substrates[metric], job.step
        )
        row[f"{metric}_auc"] = scored.auc
        arrays["fractions"] = scored.fractions.astype(np.float32)  # the curves' x
        arrays[f"{name}.{metric}"] = scored.probabilities.astype(np.float32)
    settings = DisplaySettings(job.opacity, job.cmap)
    picture = export_tile(model, image, result.heatmap, method, settings, title=method.title)
    return row, arrays, _png(picture)


def explain_image(job: Job, model: ImageModel, item: Item) -> ImageResult:
    """Explain one image with every method of the job, score the maps, draw them.

    Never raises for a bad image or a failing method: an unreadable file is the
    result's ``failure``; a method that fails (its map, curves or picture) is a failure
    row of the record, and the other methods go on.

    Args:
        job: The settings.
        model: ``prepare_model(job)``'s model.
        item: The image.

    Returns:
        The rows, the files' contents and the failures.
    """
    try:
        data = Path(item.file).read_bytes()
        stamp = file_stamp(item.file)
        image = load_image(data).image
    except (OSError, ImageLoadError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return ImageResult(item, failure=Failure(item.path, "", type(err).__name__, reason))
    digest = hashlib.sha256(data).hexdigest()
    run = attributor_for(model, image)
    logits = run.logits()
    top = top_k(model, logits, 1)[0]
    target = top.index if job.target is None else job.target
    image_columns = {
        "path": item.path, "image_hash": digest, "model": job.model, "target": target,
        "label": model.labels[target], "probability": float(logits.float().softmax(0)[target]),
        "top1": top.index, "top1_label": top.label, "top1_probability": top.probability,
    }  # fmt: skip
    crop = model.crop(image)
    arrays: dict[str, np.ndarray] = {"input": np.asarray(crop)}
    files: dict[str, bytes] = {}
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    retry = False
    for name in job.methods:
        try:
            columns, maps, png = _one_method(job, model, item, run, image, name, target)
        except Exception as err:  # noqa: BLE001 - one failing method must not stop the rest
            failures.append(asdict(Failure(item.path, name, type(err).__name__, str(err))))
            # A method that cannot explain this model, or bad settings, fail again on a
            # rerun; anything else is not known to: --resume tries it again.
            retry = retry or not isinstance(err, MethodNotApplicable | ValueError | TypeError)
            continue
        row = {**image_columns, "method": name, **columns}
        rows.append({column: row[column] for column in job.columns()})
        arrays.update(maps)
        files[f"{name}.png"] = png
    files[MAPS_FILE] = _npz(arrays)
    record = {
        "path": item.path, "key": item.key, "image_hash": digest, **stamp,
        "signature": job.signature(), "rows": rows, "failures": failures, "retry": retry,
        "files": sorted(files),
    }  # fmt: skip
    return ImageResult(item, record, files)


def local_results(
    job: Job, model: ImageModel, items: list[Item]
) -> Generator[ImageResult, None, None]:
    """The local engine: every image in this process, one after the other.

    Args:
        job: The settings.
        model: ``prepare_model(job)``'s model.
        items: The images to explain.

    Yields:
        One :class:`ImageResult` per image, in order.
    """
    for item in items:
        yield explain_image(job, model, item)
