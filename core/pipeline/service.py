"""The panel pipeline on the process-wide scheduler: what pages call.

A page (one browser session) asks for its maps with :func:`submit_maps`: each request
becomes a :class:`~core.common.scheduler.Ticket`, done at once when the map is cached,
otherwise queued by cost among every session's work, computed once however many
sessions ask for it, and dropped if the session moves on before it starts. Other heavy
work (curves, the sanity cascade, feature visualisation...) goes through
:func:`submit_work` on the same scheduler, so a class is served fairly on every page.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image

from core.attribution import METHODS, Attribution, PassTimes
from core.attribution.runner import reused_seconds
from core.common.lru import LRUCache
from core.common.scheduler import (
    Progress,
    Scheduler,
    Ticket,
    default_scheduler,
    inline_seconds,
)
from core.models import ImageModel, Prediction
from core.models.registry import classify_tensor
from core.pipeline.maps import (
    compute_map,
    estimate,
    known_pass_times,
    map_cache,
    measure_pass_times,
    observe,
)
from core.pipeline.outcomes import MapOutcome, cacheable
from core.pipeline.requests import MapRequest

T = TypeVar("T")

MAPS = "maps"  # the scope of a page's maps (see Scheduler.retain)
CALIBRATION_COST = 1e-3  # measuring a model's passes goes before everything else
TOP_K_COST = 2e-3

_PREDICTIONS: LRUCache[list[Prediction]] = LRUCache(max_entries=256)


@dataclass(frozen=True)
class MapJob:
    """One map of a panel: what was asked, its ticket, and its estimated seconds alone.

    Attributes:
        request: The request.
        ticket: Its ticket (``ticket.result`` is the outcome once done).
        estimate: Estimated seconds on one worker.
    """

    request: MapRequest
    ticket: Ticket[MapOutcome]
    estimate: float

    @property
    def outcome(self) -> MapOutcome | None:
        """The outcome once done, else None."""
        return self.ticket.result if self.ticket.state == "done" else None


def _timed_map(
    model: ImageModel, crop: Image.Image, request: MapRequest, progress: Progress
) -> MapOutcome:
    """Compute a map on a worker and correct later estimates by its cost.

    The cost is this thread's CPU time, not the wall time: under a class's load a map's
    wall time also counts the time its worker waited for a CPU (0.07 s of Grad-CAM++
    took seconds), or for work another worker was computing for the same photo, and
    estimates learnt from it put cheap maps behind expensive ones (issue 21). A worker
    has one torch thread; the threads of an ONNX Runtime pool, when it has one, are not
    counted. Shared work it took from another map (Grad-CAM's gradient pass, done for
    Grad-CAM++ of the same photo) is counted at what it cost there: estimates are of a
    method alone.
    """
    cpu, inline, reused = time.thread_time(), inline_seconds(cpu=True), reused_seconds()
    outcome = compute_map(model, crop, request, progress)
    if isinstance(outcome, Attribution):
        own = time.thread_time() - cpu - (inline_seconds(cpu=True) - inline)
        observe(model, request, own + reused_seconds() - reused)
    return outcome


def pass_times(
    session: str, model: ImageModel, scheduler: Scheduler | None = None
) -> PassTimes | None:
    """The model's measured pass times, or None while they are being measured (they are
    measured on a worker, before any other work, once per model and process)."""
    times = known_pass_times(model)
    if times is None:
        scheduler = scheduler or default_scheduler()
        scheduler.submit(
            session, "calibration", ("calibrate", model.name),
            lambda _progress: measure_pass_times(model), CALIBRATION_COST,
            f"measuring {model.title}'s passes",
        )  # fmt: skip
    return times


def submit_maps(
    session: str,
    context: Hashable,
    model: ImageModel,
    crop: Image.Image,
    requests: Sequence[MapRequest],
    scheduler: Scheduler | None = None,
) -> list[MapJob]:
    """Ask for a panel's maps (then :func:`keep_only` the maps the page still shows).

    Args:
        session: The browser session.
        context: What the session is working on (page, photo, model, class): work it
            asked for under another context is dropped (:meth:`Scheduler.enter`).
        model: The requests' model.
        crop: The picture the network sees (``model.crop(photo)``).
        requests: The maps.
        scheduler: Default: the process's.

    Returns:
        The jobs, cheapest first (the order the tiles are shown in).
    """
    scheduler = scheduler or default_scheduler()
    times = pass_times(session, model, scheduler)
    jobs = []
    for request in requests:
        seconds = estimate(model, request, times)
        work: Callable[[Progress], MapOutcome] = functools.partial(_timed_map, model, crop, request)
        ticket = scheduler.submit(
            session, MAPS, request.key, work, seconds,
            f"{METHODS[request.method].title} ({model.title})", map_cache(), cacheable, context,
        )  # fmt: skip
        jobs.append(MapJob(request, ticket, seconds))
    return sorted(jobs, key=lambda job: job.estimate)


def keep_only(session: str, jobs: Sequence[MapJob], scheduler: Scheduler | None = None) -> None:
    """The session's page now shows only these maps: its other queued maps are dropped
    (and running ones stop at their next progress call) unless another session waits
    for them."""
    scheduler = scheduler or default_scheduler()
    scheduler.retain(session, MAPS, [job.request.key for job in jobs])


def submit_work(
    session: str,
    scope: str,
    key: Hashable,
    work: Callable[[Progress], T],
    cost: float,
    label: str,
    cache: LRUCache[Any] | None = None,
    context: Hashable = None,
    scheduler: Scheduler | None = None,
) -> Ticket[T]:
    """Any other heavy work, on the same scheduler (see :meth:`Scheduler.submit`); the
    session's earlier work of this scope with another key is dropped."""
    scheduler = scheduler or default_scheduler()
    ticket = scheduler.submit(session, scope, key, work, cost, label, cache, None, context)
    scheduler.retain(session, scope, [key])
    return ticket


def submit_top_k(
    session: str,
    model: ImageModel,
    image_key: str,
    image: Image.Image,
    k: int = 5,
    scheduler: Scheduler | None = None,
) -> Ticket[list[Prediction]]:
    """The model's top-k classes for a photo (one forward pass, first in line).

    Args:
        session: The browser session.
        model: The model.
        image_key: The photo's SHA-256 (the cache key).
        image: The photo (the model's own preprocessing is applied on the worker).
        k: How many classes.
        scheduler: Default: the process's.
    """
    scheduler = scheduler or default_scheduler()

    def classify(_progress: Progress) -> list[Prediction]:
        return classify_tensor(model, model.preprocess(image), k)

    return scheduler.submit(
        session, "top_k", ("top_k", model.name, image_key, k), classify, TOP_K_COST,
        f"top-{k} of {model.title}", _PREDICTIONS,
    )  # fmt: skip
