"""Cached computations of "Inside the network" (Streamlit caches around core.inside).

Keys are strings (network name, image hash, layer, settings); tensors and networks are
passed as ``_underscore`` arguments, which Streamlit does not hash. Long computations
(feature visualisations, set embeddings, the digits lab's prototypes) are computed while
the page draws a progress bar, so they live in a process-wide
:class:`~core.common.lru.LRUCache` instead of ``st.cache_data``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st
import torch
from torch import nn

from core import inside
from core.attribution.cam import feature_map_layers
from core.common.lru import LRUCache
from core.common.scheduler import Progress, Ticket
from core.common.single_thread import torch_threads
from ui.work import run_work

BATCH = 250  # images per forward pass over a set
PHOTO_COST = 0.02  # seconds per 224 x 224 x 3 image forward, one thread (EfficientNet-Lite0)


def image_cost(inputs: torch.Tensor) -> float:
    """Rough seconds per image of a forward pass over a set, by its size (a queue place)."""
    return 5e-4 + PHOTO_COST * inputs[0].numel() / (3 * 224 * 224)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_layers(
    name: str, _net: nn.Module, _x: torch.Tensor
) -> list[tuple[str, tuple[int, ...]]]:
    """The layers with a spatial output, in run order, with their output shapes."""
    return feature_map_layers(_net, _x)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_feature_maps(
    name: str, image_key: str, layer: str, top: int, _net: nn.Module, _x: torch.Tensor
) -> inside.FeatureMaps:
    """:func:`core.inside.feature_maps` of the user's image."""
    with torch_threads(1):
        return inside.feature_maps(_net, _x, layer, top)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_kernels(
    name: str, layer: str, in_channel: int, shared: bool, _net: nn.Module
) -> inside.Kernels:
    """:func:`core.inside.kernels`."""
    return inside.kernels(_net, layer, in_channel, shared)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_examples(
    name: str, set_key: str, layer: str, channel: int, count: int,
    _net: nn.Module, _inputs: torch.Tensor, _maxima: inside.ChannelMaxima,
) -> list[inside.Patch]:  # fmt: skip
    """:func:`core.inside.dataset_examples` of one channel."""
    with torch_threads(1):
        return inside.dataset_examples(_net, lambda idx: _inputs[idx], _maxima, channel, count)


@st.cache_data(show_spinner="Penultimate-layer features of every image...", max_entries=8)
def cached_features(name: str, set_key: str, _net: nn.Module, _inputs: torch.Tensor) -> np.ndarray:
    """:func:`core.inside.penultimate_features` of a whole set."""
    with torch_threads(1):
        return inside.penultimate_features(_net, _inputs.split(BATCH))


@st.cache_resource
def visualisation_cache() -> LRUCache[object]:
    """Long computations that draw their own progress bar, shared by every session:
    feature visualisations and comparisons, set embeddings (features and points) and the
    digits lab's prototypes (64 MB: a visualisation's 16 snapshots at 128 x 128 are
    0.8 MB, the 5,000 digits' features 2.6 MB)."""
    return LRUCache(max_entries=64, max_bytes=64 * 2**20)


def visualised(
    key: tuple[object, ...],
    work: Callable[[Progress], object],
    cost: float,
    label: str,
    on_change: Callable[[Ticket[Any]], None] | None = None,
) -> tuple[object, bool]:
    """A cached visualisation, or ``work(progress)`` run on the server's scheduler (fair
    to every session, memory bounded by its workers) under a progress bar, and stored.

    Args:
        key: The cache key.
        work: The computation; ``progress(fraction)`` now and then. It runs on a worker
            thread: it may not draw (leave what to draw for ``on_change``).
        cost: Estimated seconds on one worker (its place in the queue).
        label: What the progress bar says.
        on_change: Draws what the work left behind while it ran (a live preview).

    Returns:
        ``(value, was_cached)``.
    """
    cache = visualisation_cache()
    value = cache.get(key)
    if value is not None:
        return value, True
    return run_work("inside", key, work, cost, label, cache, on_change), False


def set_maxima(
    name: str, set_key: str, layer: str, net: nn.Module, inputs: torch.Tensor
) -> inside.ChannelMaxima:
    """:func:`core.inside.channel_maxima` of a whole image set at one layer: cached, or
    computed under a progress bar (the 5,000 digits: 3-8 s)."""

    count = inputs.shape[0]

    def compute(progress: Progress) -> inside.ChannelMaxima:
        def done(images: int) -> None:
            progress(images / count)

        return inside.channel_maxima(net, inputs.split(BATCH), layer, done)

    label = f"Running {count:,} images through the network, up to {layer}"
    value, _ = visualised(
        ("maxima", name, set_key, layer), compute, count * image_cost(inputs), label
    )
    assert isinstance(value, inside.ChannelMaxima)
    return value
