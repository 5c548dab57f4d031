"""Keeping the server's memory bounded: glibc's malloc arenas and returning freed memory.

Why: Streamlit runs each script run in a new thread, and glibc gives busy threads their
own malloc arenas (up to 8 per core). A map computation allocates hundreds of MB of
activations (Integrated Gradients' batches keep every layer's output for the backward
pass); once freed, that memory stays in the thread's arena instead of going back to the
OS, so the server's RSS climbs by a few hundred MB per new photo until arenas are reused
(measured: 1.26-2.74 GB over 50 uploads; ``bench/memory.py``). Capping the number of
arenas and trimming after heavy work brings the RSS back down after every panel.

Both calls are no-ops where glibc is not the C library (macOS, musl, Windows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)
DEFAULT_ARENAS = 2


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _glibc()
_CAPPED: int | None = None  # the cap set so far (the router calls this on every run)


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas for the rest of the process (like ``MALLOC_ARENA_MAX``).

    Args:
        arenas: The most arenas glibc may create.

    Returns:
        True when the cap was set (glibc), False elsewhere.
    """
    global _CAPPED
    if _LIBC is None:
        return False
    if arenas != _CAPPED:
        _CAPPED = arenas if _LIBC.mallopt(M_ARENA_MAX, arenas) else None
        log.info("malloc arenas capped at %d: %s", arenas, arenas == _CAPPED)
    return arenas == _CAPPED


def release_memory() -> bool:
    """Collect garbage and give freed heap memory back to the OS (``malloc_trim``).

    Returns:
        True when glibc returned some memory.
    """
    gc.collect()
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
