"""The digits lab's cached computations (Streamlit caches around core.digits).

The network is core's one process-wide :func:`core.digits.digit_net` (no second cache
of it here). Results are ``st.cache_data`` keyed on hashable arguments only: a digit is
keyed on the SHA-1 of its bytes (:func:`digit_key`) and passed itself as an
``_underscore`` argument, which Streamlit does not hash; no tensor is ever a key.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import streamlit as st

from core import digits
from core.common.scheduler import Progress
from core.common.single_thread import run_single_threaded
from ui.inside.cache import visualised

PROTOTYPE_STEP_COST = 0.03  # seconds per step of ten 28 x 28 images, one thread (300: ~9 s)

# A method's parameters as a hashable cache key: ((name, value), ...).
MethodParams = tuple[tuple[str, Any], ...]


def digit_key(digit: np.ndarray) -> str:
    """Cache key of a preprocessed digit: the hash of its bytes."""
    return hashlib.sha1(np.ascontiguousarray(digit, np.float32).tobytes()).hexdigest()


@st.cache_data(show_spinner=False, max_entries=64)
def cached_probabilities(key: str, _digit: np.ndarray) -> np.ndarray:
    """:func:`core.digits.classify` of a ``(28, 28)`` digit: ``(10,)`` probabilities."""
    return digits.classify(_digit, digits.digit_net())


@st.cache_data(show_spinner=False, max_entries=64)
def cached_activations(
    key: str, _digit: np.ndarray, target: int | None
) -> list[digits.LayerActivation]:
    """:func:`core.digits.layer_activations` of a digit for the ``target`` logit."""
    return digits.layer_activations(digits.digit_net(), _digit, target)


@st.cache_data(show_spinner=False, max_entries=128)
def cached_heatmap(
    key: str, _digit: np.ndarray, method: str, target: int, params: MethodParams
) -> np.ndarray:
    """A registered attribution method's ``(28, 28)`` map of one class logit.

    Raises:
        MethodNotApplicable: the method cannot explain this network.
    """
    from core.attribution import attribute

    x = digits.as_batch(_digit)  # (1, 1, 28, 28)
    method_params: dict[str, Any] = dict(params)

    def heatmap() -> np.ndarray:
        return attribute(digits.digit_net(), x, method, target, **method_params)

    return run_single_threaded(heatmap)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_fgsm(key: str, _digit: np.ndarray, epsilon: float) -> digits.AdversarialExample:
    """:func:`core.digits.fgsm` of a digit."""
    return digits.fgsm(digits.digit_net(), _digit, epsilon)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_deepfool(
    key: str, _digit: np.ndarray, overshoot: float, max_iterations: int
) -> digits.AdversarialExample:
    """:func:`core.digits.deepfool` of a digit."""
    return digits.deepfool(digits.digit_net(), _digit, overshoot, max_iterations)


def prototypes(
    key: str | None,
    start: np.ndarray | None,
    l2_weight: float,
    steps: int,
    seed: int,
    regularisers: tuple[str, ...] = digits.DIGIT_REGULARISERS,
) -> digits.Prototypes:
    """:func:`core.digits.class_prototypes`, from noise (``key`` None) or from a digit:
    cached process-wide, or computed under a progress bar (300 steps: 5-10 s)."""
    cache_key = ("prototypes", key, l2_weight, steps, seed, regularisers)

    def compute(progress: Progress) -> digits.Prototypes:
        def step_done(step: int, total: int, _shot: np.ndarray | None) -> None:
            progress(step / total)

        return digits.class_prototypes(
            digits.digit_net(), start=start, steps=steps, l2_weight=l2_weight, seed=seed,
            regularisers=regularisers, progress=step_done,
        )  # fmt: skip

    label = f"Optimising ten images ({steps} steps)"
    value, _ = visualised(cache_key, compute, steps * PROTOTYPE_STEP_COST, label)
    assert isinstance(value, digits.Prototypes)
    return value


@st.cache_data(show_spinner="Classifying the 128 patterns...")
def cached_seven_segment_summary() -> digits.SevenSegmentSummary:
    """:func:`core.digits.seven_segment_summary`: all 128 patterns, once per process."""
    return digits.seven_segment_summary(digits.digit_net())


@st.cache_data(show_spinner=False, max_entries=128)
def cached_seven_segment_reading(segments: str) -> digits.SevenSegmentReading:
    """:func:`core.digits.seven_segment_reading` of one pattern (at most 128 entries)."""
    return digits.seven_segment_reading(digits.digit_net(), segments)
