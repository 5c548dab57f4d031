"""One image -> its maps, metrics, summary rows and files: the part both engines share.

The local engine calls :func:`explain_image` in this process; the Ray engine calls it in
each actor. Either way it returns an :class:`ImageResult` (rows and file contents, all
picklable) that the driver writes (:mod:`core.cli.writers`), so the two engines give the
same results by construction. The computation is the page's: the image is decoded by
:func:`core.common.load_image`, explained by an :class:`~core.attribution.Attributor`
(forward-only methods on the model's forward engine), drawn by
:func:`core.attribution.export.export_tile` as the page exports a tile, and scored by
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

from core.attribution import METHODS, Attribution, Attributor
from core.attribution.display import DisplaySettings
from core.attribution.export import export_tile
from core.cli.inputs import Failure, Item
from core.common import ImageLoadError, load_image
from core.evaluation import DEFAULT_SUBSTRATE, curve, model_forward
from core.models import (
    ImageModel,
    ModelSource,
    forward_engine,
    load_model,
    load_model_file,
    top_k,
)
from core.pipeline import (
    Failed,
    MapRequest,
    NotApplicable,
    attributor,
    compute_map,
    map_request,
    outcome_of_error,
)

METRICS = ("deletion", "insertion")
MAPS_FILE = "maps.npz"
OPACITY = 0.55  # the page's default


@dataclass(frozen=True)
class Job:
    """Everything that decides a job's outputs (picklable: sent to every Ray actor).

    Attributes:
        model: Registry name of the model (``file-<hash>`` for a model file).
        methods: Method names, in the order of the command line.
        params: Method -> its resolved parameters (every declared name; defaults filled
            in, so seeds are fixed and reruns are reproducible).
        target: Class index to explain; None = each image's top-1 class.
        metrics: ``"deletion"`` and/or ``"insertion"``.
        substrates: Metric -> its substrate (RISE's defaults: zero, blur).
        step: Pixels per curve step; None = 28 steps (RISE's default).
        cmap: Colour map of unsigned maps in the PNGs (signed ones are red/blue).
        opacity: Heatmap opacity in the PNGs.
        model_file: The model file, its labels and settings (None: a registered model).
            Every Ray actor reads it at the same path.
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
    model_file: ModelSource | None = None

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
    return bool(job.metrics) or any(METHODS[m].on_forward_engine for m in job.methods)


def warm_up(job: Job, model: ImageModel) -> None:
    """Build the model's forward engine now, when the job will use it (forward-only
    methods, metrics), rather than inside the first image's timing.

    The first build on a machine exports the model to ONNX (~10-30 s, once: the file is
    cached on disk, where a Ray actor on the same machine finds it).
    """
    if uses_forward_engine(job):
        forward_engine(model.net, model.input_shape, model.title)


def job_model(job: Job) -> ImageModel:
    """The job's model: registered, or read from its file.

    Raises:
        ModelUnavailable: a zoo model's weights cannot be fetched.
        ModelFileError: the model file cannot be used.
    """
    return load_model(job.model) if job.model_file is None else load_model_file(job.model_file)


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
    model = job_model(job)
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
    crop: Image.Image,
    image: Image.Image,
    request: MapRequest,
) -> tuple[dict[str, Any], dict[str, np.ndarray], bytes]:
    """One method on one image (``run``: the image's Attributor, for the curves; ``crop``:
    the picture the network sees; ``image``: the decoded photo): its map, its curves, its
    PNG (the page's exported tile, with its colour bar).

    Returns:
        The row's method columns (seconds, engine, AUCs, params, files), the arrays for
        the ``.npz`` (the map, the curves) and the PNG.

    Raises:
        MapUnavailable: the method gave no map (the reason, and whether a rerun may help).
    """
    name = request.method
    method = METHODS[name]
    result = compute_map(model, crop, request)
    if not isinstance(result, Attribution):
        raise MapUnavailable(result)
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
            forward, run.x, result.heatmap, request.target, mode, job.substrates[metric], job.step
        )
        row[f"{metric}_auc"] = scored.auc
        arrays["fractions"] = scored.fractions.astype(np.float32)  # the curves' x
        arrays[f"{name}.{metric}"] = scored.probabilities.astype(np.float32)
    settings = DisplaySettings(job.opacity, job.cmap)
    picture = export_tile(model, image, result.heatmap, method, settings, title=method.title)
    return row, arrays, _png(picture)


class MapUnavailable(Exception):
    """A method gave no map: its outcome (not applicable, or failed) says why."""

    def __init__(self, outcome: NotApplicable | Failed) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def explain_image(job: Job, model: ImageModel, item: Item) -> ImageResult:
    """Explain one image with every method of the job, score the maps, draw them.

    Never raises for a bad image or a failing method: an unreadable file is the
    result's ``failure``; a method that fails (its map, curves or picture) is a failure
    row of the record, and the other methods go on. Maps come from the panel pipeline
    (:func:`core.pipeline.compute_map`), as on the page.

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
    crop = model.crop(image)
    run = attributor(model, digest, crop)
    logits = run.logits()
    top = top_k(model, logits, 1)[0]
    target = top.index if job.target is None else job.target
    image_columns = {
        "path": item.path, "image_hash": digest, "model": job.model, "target": target,
        "label": model.labels[target], "probability": float(logits.float().softmax(0)[target]),
        "top1": top.index, "top1_label": top.label, "top1_probability": top.probability,
    }  # fmt: skip
    arrays: dict[str, np.ndarray] = {"input": np.asarray(crop)}
    files: dict[str, bytes] = {}
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    retry = False
    for name in job.methods:
        try:
            request = map_request(model, digest, target, name, job.params[name])
            columns, maps, png = _one_method(job, model, item, run, crop, image, request)
        except Exception as err:  # noqa: BLE001 - one failing method must not stop the rest
            # One policy with the page (core.pipeline.outcome_of_error): a method that
            # cannot explain this model, or bad settings, fail again on a rerun; anything
            # else may not: --resume tries it again.
            outcome = err.outcome if isinstance(err, MapUnavailable) else outcome_of_error(err)
            if isinstance(outcome, NotApplicable):
                kind = "MethodNotApplicable"
            else:
                kind = outcome.error or type(err).__name__
                retry = retry or outcome.retry
            failures.append(asdict(Failure(item.path, name, kind, str(err))))
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
