"""Computing a map from a request, the process-wide map cache, and cost estimates.

- :func:`compute_map`: request -> outcome, never raising for a method's own failure.
  The methods of one photo share their work (the logits, the CAM layer's activations,
  guided backprop's map, LIME's superpixels) through one
  :class:`~core.attribution.SharedWork` per model and photo, also when they run on
  different workers at once.
- :func:`map_cache`: every outcome worth keeping, shared by every page and session.
- :func:`estimate`: a request's seconds from its declared cost and the model's measured
  pass times, corrected by how long this method really took on this model in this
  process (estimates were off by 10x under load when they ignored it: issue 21).
"""

from __future__ import annotations

import dataclasses
import threading

from PIL import Image

from core.attribution import (
    METHODS,
    Attribution,
    Attributor,
    PassTimes,
    SharedWork,
    calibrate,
    context_for,
    estimate_seconds,
)
from core.attribution.calibration import UNCALIBRATED
from core.common.lru import LRUCache
from core.common.scheduler import Cancelled, Progress, inline_seconds
from core.models import ImageModel
from core.models.engine import existing_engine
from core.pipeline.outcomes import MapOutcome, outcome_of_error
from core.pipeline.requests import MapRequest, model_shape, weights_id

MAX_MAPS = 256
MAX_MAP_BYTES = 32 * 2**20  # a 224 x 224 float32 map is 196 kB: ~160 maps, ~27 panels
PHOTOS_WORKING = 16  # photos whose shared work (input, logits, CAM pass...) is kept

_MAPS: LRUCache[MapOutcome] = LRUCache(max_entries=MAX_MAPS, max_bytes=MAX_MAP_BYTES)
# ~1-3 MB a photo (the input, guided maps, CAM activations, superpixels): <= ~50 MB.
_WORK: LRUCache[SharedWork] = LRUCache(max_entries=PHOTOS_WORKING)
_WORK_LOCK = threading.Lock()


def map_cache() -> LRUCache[MapOutcome]:
    """The process's one map cache (keys: :attr:`MapRequest.key`)."""
    return _MAPS


def forget_work() -> None:
    """Drop every photo's shared work (a fresh process's state; for tests that compare
    runs made under different thread counts)."""
    _WORK.clear()


def shared_work(model: ImageModel, image: str, crop: Image.Image) -> SharedWork:
    """The work shared by every method on one model and photo (its input among it).

    Args:
        model: The model.
        image: The photo's SHA-256.
        crop: The picture the network sees (``model.crop(photo)``).
    """
    key = (model.name, weights_id(model), image)
    with _WORK_LOCK:
        work = _WORK.get(key)
        if work is None:
            work = SharedWork()
            _WORK.put(key, work)
    work.get(("input",), lambda: model.normalize(crop))
    return work


def attributor(
    model: ImageModel, image: str, crop: Image.Image, engine: str | None = None
) -> Attributor:
    """An Attributor for a model and photo that shares its work with every other one of
    the same model and photo (see :func:`shared_work`).

    Args:
        model: The model.
        image: The photo's SHA-256.
        crop: The picture the network sees (``model.crop(photo)``).
        engine: ``"auto"`` or ``"torch"`` for forward-only passes (default: the
            environment's).
    """
    work = shared_work(model, image, crop)
    x = work.get(("input",), lambda: model.normalize(crop))
    return Attributor(model.net, x, context_for(model), engine=engine, shared=work)


def compute_map(
    model: ImageModel,
    crop: Image.Image,
    request: MapRequest,
    progress: Progress | None = None,
    engine: str | None = None,
) -> MapOutcome:
    """One map, or why there is none.

    Args:
        model: The request's model.
        crop: The picture the network sees (``model.crop(photo)``).
        request: What to compute.
        progress: Called with the fraction done; may raise
            :class:`~core.common.scheduler.Cancelled` (which is passed on).
        engine: ``"auto"`` or ``"torch"`` for forward-only passes (default: the
            environment's, see :class:`~core.attribution.Attributor`).

    Returns:
        The map with its seconds (its own computing only) and engine, or
        :class:`~core.pipeline.outcomes.NotApplicable` / ``Failed``.
    """
    try:
        run = attributor(model, request.image, crop, engine)
        before = inline_seconds()
        result = run.attribute(request.method, request.target, progress, **request.settings)
    except Cancelled:
        raise
    except Exception as err:  # noqa: BLE001 - every failure becomes the tile's outcome
        return outcome_of_error(err)
    paused = inline_seconds() - before  # other sessions' cheap maps run at its progress calls
    if paused > 0:
        result = dataclasses.replace(result, seconds=max(0.0, result.seconds - paused))
    return result


# ------------------------------------------------------------------- estimates

_TIMES: dict[tuple[str, bool], PassTimes] = {}
_RATIOS: dict[tuple[str, str], float] = {}
_ESTIMATE_LOCK = threading.Lock()
RATIO_WEIGHT = 0.5  # weight of the newest measurement in the running correction


def _engine_built(model: ImageModel) -> bool:
    return existing_engine(model.net, model.input_shape) is not None


def known_pass_times(model: ImageModel) -> PassTimes | None:
    """The model's measured pass times (measured again once its forward engine exists),
    or None until :func:`measure_pass_times` has run."""
    with _ESTIMATE_LOCK:
        return _TIMES.get((model.name, _engine_built(model)))


def measure_pass_times(model: ImageModel) -> PassTimes:
    """Measure the model's passes on this thread (about a second) and keep them."""
    built = _engine_built(model)
    times = calibrate(model)
    with _ESTIMATE_LOCK:
        _TIMES[(model.name, built)] = times
    return times


def estimate(model: ImageModel, request: MapRequest, times: PassTimes | None = None) -> float:
    """Seconds the request should take on one worker.

    Args:
        model: The request's model.
        request: The request.
        times: Pass times (default: the measured ones, else rough rates).
    """
    rates = times or known_pass_times(model) or UNCALIBRATED
    seconds = estimate_seconds(METHODS[request.method], request.settings, model_shape(model), rates)
    with _ESTIMATE_LOCK:
        ratio = _RATIOS.get((model.name, request.method), 1.0)
    return seconds * ratio


def observe(model: ImageModel, request: MapRequest, seconds: float) -> None:
    """Correct later estimates of this method on this model by what it really cost.

    The correction is a running mean of cost / uncorrected estimate. Not of cost /
    the estimate the request was given: in a class many requests of a method are in
    flight at once, each with the estimate of its submission, and dividing by an
    estimate already corrected since compounds every correction (estimates drifted to
    0.00 s and to 29 s for a 0.07 s map, issue 21).

    Args:
        model: The request's model.
        request: The request.
        seconds: What it cost (its worker's CPU seconds, see ``core.pipeline.service``).
    """
    rates = known_pass_times(model) or UNCALIBRATED
    base = estimate_seconds(METHODS[request.method], request.settings, model_shape(model), rates)
    if base <= 0 or seconds <= 0:
        return
    key = (model.name, request.method)
    with _ESTIMATE_LOCK:
        old = _RATIOS.get(key, 1.0)
        _RATIOS[key] = (1 - RATIO_WEIGHT) * old + RATIO_WEIGHT * seconds / base


def is_map(outcome: object) -> bool:
    """True for a computed map."""
    return isinstance(outcome, Attribution)
