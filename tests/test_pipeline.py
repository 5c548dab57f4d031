"""The panel pipeline: one request shape with one canonical key, one outcome type, and
the same maps whether a panel is computed alone, through the scheduler, or by many
sessions at once."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.attribution import METHODS, Attribution, MethodNotApplicable, SharedWork, explain
from core.attribution.runner import reused_seconds
from core.common import sample_path
from core.common.images import load_image
from core.common.scheduler import Scheduler
from core.models import load_model
from core.pipeline import (
    Failed,
    NotApplicable,
    cacheable,
    compute_map,
    map_cache,
    map_request,
    outcome_of_error,
    submit_maps,
)
from core.pipeline.maps import estimate, observe

PANEL = {
    "gradcam": {},
    "gradcam++": {},
    "saliency": {},
    "guided_backprop": {},
    "integrated_gradients": {"steps": 8},
    "occlusion": {"patch": 56, "stride": 56},
}


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def photo():
    data = sample_path("cat.jpg").read_bytes()
    return load_image(data).image, "cat-sha"


def test_one_map_has_one_key_however_its_parameters_were_given(lite0):
    spelled_out = map_request(lite0, "abc", 281, "gradcam", {"layer": lite0.target_layer})
    implied = map_request(lite0, "abc", 281, "gradcam", {})
    assert spelled_out == implied
    assert spelled_out.key == implied.key
    assert dict(implied.params)["layer"] == lite0.target_layer  # the CAM layer resolved
    ig = map_request(lite0, "abc", 281, "integrated_gradients", {"steps": 32})
    assert set(ig.settings) == {p.name for p in METHODS["integrated_gradients"].params}
    assert ig.key != map_request(lite0, "abc", 281, "integrated_gradients", {"steps": 16}).key
    assert ig.key != map_request(lite0, "abc", 282, "integrated_gradients", {"steps": 32}).key
    assert ig.key != map_request(lite0, "abd", 281, "integrated_gradients", {"steps": 32}).key


def test_a_network_of_the_same_name_with_other_weights_never_shares_a_map(lite0, photo):
    """A randomly initialised Lite0 is also called "efficientnet_lite0": its maps (and the
    work its methods share) are its own."""
    image, key = photo
    untrained = load_model("efficientnet_lite0", pretrained=False)
    trained_request = map_request(lite0, key, 281, "gradcam")
    untrained_request = map_request(untrained, key, 281, "gradcam")
    assert trained_request.model == untrained_request.model
    assert trained_request.key != untrained_request.key
    trained = compute_map(lite0, lite0.crop(image), trained_request)
    random = compute_map(untrained, untrained.crop(image), untrained_request)
    assert isinstance(trained, Attribution)
    assert isinstance(random, Attribution)
    assert not np.allclose(trained.heatmap, random.heatmap)


@pytest.mark.parametrize(
    ("method", "params", "target"),
    [("gradcam", {"layerz": 1}, 1), ("occlusion", {"patch": 0}, 1), ("nope", {}, 1),
     ("saliency", {}, -1)],
)  # fmt: skip
def test_bad_requests_are_refused_before_anything_runs(lite0, method, params, target):
    with pytest.raises((ValueError, TypeError)):
        map_request(lite0, "abc", target, method, params)


def test_one_error_policy():
    assert outcome_of_error(MethodNotApplicable("no SiLU")) == NotApplicable("no SiLU")
    bad = outcome_of_error(ValueError("target 5000 is out of range"))
    assert isinstance(bad, Failed)
    assert not bad.retry
    crash = outcome_of_error(MemoryError("out of memory"))
    assert isinstance(crash, Failed)
    assert crash.retry
    assert crash.error == "MemoryError"
    assert cacheable(bad)
    assert not cacheable(crash)
    assert cacheable(NotApplicable("x"))


def test_an_out_of_range_class_is_a_failed_outcome_not_an_exception(lite0, photo):
    image, key = photo
    outcome = compute_map(lite0, lite0.crop(image), map_request(lite0, key, 5000, "saliency"))
    assert isinstance(outcome, Failed)
    assert not outcome.retry
    assert "5000" in outcome.reason


@pytest.mark.parametrize("method", ["gradcam", "saliency", "occlusion"])
def test_the_pipeline_computes_what_explain_computes(lite0, photo, method):
    image, key = photo
    params = PANEL[method]
    outcome = compute_map(lite0, lite0.crop(image), map_request(lite0, key, 281, method, params))
    assert isinstance(outcome, Attribution)
    reference = explain(lite0, image, method, 281, **params)
    np.testing.assert_allclose(outcome.heatmap, reference, rtol=1e-4, atol=1e-6 * abs(
        reference).max())  # fmt: skip


def panel_through(scheduler: Scheduler, session: str, model, image, key, target=281):
    crop = model.crop(image)
    requests = [map_request(model, key, target, m, p) for m, p in PANEL.items()]
    jobs = submit_maps(session, ("test", key), model, crop, requests, scheduler)
    deadline = time.monotonic() + 300
    while any(job.ticket.pending for job in jobs):
        assert time.monotonic() < deadline
        scheduler.wait(session, [job.ticket for job in jobs], 0.5)
    return {job.request.method: job.outcome for job in jobs}


def test_a_panel_is_the_same_alone_and_under_load(lite0, photo, monkeypatch):
    """Four sessions ask for the same and for other classes at once on two workers: every
    map equals the one computed for a single session (same worker threads, same kernels),
    and identical requests were computed once."""
    image, key = photo
    map_cache().clear()
    alone = Scheduler(workers=2)
    try:
        single = panel_through(alone, "only", lite0, image, key)
    finally:
        alone.shutdown()
    assert all(isinstance(o, Attribution) for o in single.values())
    map_cache().clear()
    loaded = Scheduler(workers=2)
    results: dict[str, dict] = {}
    computed: list[str] = []

    def counting(model, crop, request, progress=None):
        computed.append(request.key)
        return compute_map(model, crop, request, progress)

    monkeypatch.setattr("core.pipeline.service.compute_map", counting)

    def student(name: str, target: int) -> None:
        results[name] = panel_through(loaded, name, lite0, image, key, target)

    try:
        threads = [
            threading.Thread(target=student, args=(f"s{i}", 281 if i % 2 == 0 else 285))
            for i in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        loaded.shutdown()
    for name in ("s0", "s2"):
        for method, outcome in single.items():
            np.testing.assert_array_equal(results[name][method].heatmap, outcome.heatmap)
    assert len(computed) == len(set(computed)) == 2 * len(PANEL)  # two classes, each once
    assert loaded.peak_running <= 4


def test_estimates_learn_a_method_s_real_cost_without_compounding(lite0, monkeypatch):
    """Many requests of a method are in flight at once in a class: each observation
    corrects towards cost / uncorrected estimate, so twenty maps that each cost twice the
    estimate make the estimate twice as large, not 2^20 times."""
    monkeypatch.setattr("core.pipeline.maps._RATIOS", {})
    request = map_request(lite0, "abc", 281, "saliency")
    base = estimate(lite0, request)
    for _ in range(20):
        observe(lite0, request, 2 * base)
    assert estimate(lite0, request) == pytest.approx(2 * base, rel=1e-4)
    for _ in range(20):
        observe(lite0, request, base / 2)
    assert estimate(lite0, request) == pytest.approx(base / 2, rel=1e-4)


def test_shared_work_taken_from_another_thread_counts_at_what_it_cost_there():
    """Grad-CAM that takes the gradient pass Grad-CAM++ did is charged that pass's CPU
    time: estimates are of a method alone (they fell to 0.00 s in a class)."""
    work = SharedWork()

    def burn() -> str:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass
        return "pass"

    seen: dict[str, float] = {}

    def computes() -> None:
        before = reused_seconds()
        assert work.get(("gradients",), burn) == "pass"
        seen["computer"] = reused_seconds() - before

    def takes() -> None:
        before = reused_seconds()
        assert work.get(("gradients",), lambda: pytest.fail("computed twice"))
        seen["taker"] = reused_seconds() - before

    for job in (computes, takes):
        thread = threading.Thread(target=job)
        thread.start()
        thread.join()
    assert seen["computer"] == 0.0
    assert 0.05 <= seen["taker"] < 1.0
