"""The process-wide caches of the "Explain an image" page: maps, trust results, pass times.

Not ``st.cache_data``: a cached function that draws (our progress bar moves while a map
is computed) has its drawing replayed on every cache hit. The cache is
:class:`core.common.LRUCache`, bounded by entries and by bytes; values are never
mutated by the page.
"""

from __future__ import annotations

import streamlit as st

from core.attribution import Attribution, PassTimes, calibrate
from core.common import LRUCache
from core.models.engine import existing_engine
from ui.common import cached_model

MAX_MAPS = 256
MAX_BYTES = 32 * 2**20  # a 224 x 224 float32 map is 196 kB: ~160 maps, ~27 panels


@st.cache_resource
def map_cache() -> LRUCache[Attribution]:
    """The one map cache of this process, shared by every session."""
    return LRUCache(max_entries=MAX_MAPS, max_bytes=MAX_BYTES)


@st.cache_resource
def trust_cache() -> LRUCache[object]:
    """Faithfulness tables, agreement and sanity cascades, shared by every session."""
    return LRUCache(max_entries=64, max_bytes=24 * 2**20)


@st.cache_resource(show_spinner="Measuring one forward and one backward pass...")
def _pass_times(model_name: str, engine_built: bool) -> PassTimes:
    return calibrate(cached_model(model_name))


def pass_times(model_name: str) -> PassTimes:
    """The model's pass times on this machine, measured once per process (cost estimates),
    and once more when its forward engine has been built."""
    model = cached_model(model_name)
    built = existing_engine(model.net, model.input_shape) is not None
    return _pass_times(model_name, built)
