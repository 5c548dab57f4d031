"""Stretches of a thread's work during which the scheduler may not run other work inline.

The scheduler (:mod:`core.common.scheduler`) lets a long item run much cheaper queued
items on its own thread at its progress calls. That is only safe when the long item
holds nothing the inline item could trip over: scoped hooks (they fire for every pass
of their thread: :func:`core.common.hooks.forward_hooks`), or a lock on shared work the
inline item may need too (:class:`core.attribution.SharedWork`: a thread waiting for a
lock it holds itself would wait for ever). Such code runs inside
:func:`uninterruptible`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_DEPTH = threading.local()


@contextmanager
def uninterruptible() -> Iterator[None]:
    """No inline work on this thread until the block ends (blocks may nest)."""
    _DEPTH.value = getattr(_DEPTH, "value", 0) + 1
    try:
        yield
    finally:
        _DEPTH.value -= 1


def interruptible() -> bool:
    """True when this thread is inside no :func:`uninterruptible` block."""
    return getattr(_DEPTH, "value", 0) == 0
