"""What "Explain an image" keeps besides the pipeline's map cache: trust results shared
by every session, and each session's failed maps (shown until the user tries again).

The maps themselves live in :func:`core.pipeline.map_cache` (process-wide, bounded),
shared with Compare, the trust section and the reports.
"""

from __future__ import annotations

import streamlit as st

from core.common import LRUCache
from core.common.scheduler import completed
from core.pipeline import Failed, MapJob, MapRequest

FAILED = "explain_failed_maps"  # session state: request key -> Failed (retryable ones)


@st.cache_resource
def trust_cache() -> LRUCache[object]:
    """Faithfulness tables, agreement and sanity cascades, shared by every session."""
    return LRUCache(max_entries=64, max_bytes=24 * 2**20)


def retryable_failures() -> dict[str, Failed]:
    """This session's maps that failed in a way that may not happen again: shown as
    failed (with "Try again") instead of being recomputed on every rerun."""
    return dict(st.session_state.get(FAILED, {}))


def remember_failure(request: MapRequest, outcome: Failed) -> None:
    """Keep a failure that trying again may fix (others are in the map cache)."""
    if outcome.retry:
        st.session_state.setdefault(FAILED, {})[request.key] = outcome


def forget_failure(request: MapRequest) -> None:
    """The user asked to try again."""
    st.session_state.get(FAILED, {}).pop(request.key, None)


def failed_job(outcome: Failed, request: MapRequest) -> MapJob:
    """A remembered failure as a finished job (drawn like any other outcome)."""
    return MapJob(request, completed(request.key, request.method, outcome, False), 0.0)
