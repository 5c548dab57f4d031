"""Run small-network torch work on worker threads where torch uses one CPU thread.

Used by the digits lab and the perceptron playground. Why: their networks are small
(28 x 28 inputs, batches of 1-10; MLPs of a few dozen units), so each operation is
short and, with torch's default two intra-op threads, waits for a second OpenMP
thread. On the busy 2-core machine this made the digits ``classify`` take 6-26 ms
(median) instead of 0.9-1.0 ms on one thread, and a playground 10-16-16-1 training
step 19 ms (median; 256 ms at the 90th percentile) instead of 1.2 ms (measured side
by side in one process; see bench/digits.py and bench/playground.py).

``torch.set_num_threads`` sets the calling thread's OpenMP/MKL settings and also a
process-wide default that threads read when they first use torch; the pool's workers
set 1 for themselves and the creating thread puts the default back at once, so no other
thread (and no other page) is affected.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
T = TypeVar("T")

WORKERS = 2  # two sessions' requests can run at once (one per core)

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_worker_ids: set[int] = set()


def _start_worker(ready: threading.Barrier) -> None:
    torch.get_num_threads()  # let torch initialise this thread's settings first...
    torch.set_num_threads(1)  # ...then make them single-threaded
    _worker_ids.add(threading.get_ident())
    ready.wait()  # hold this thread until every worker exists (one start per thread)


def run_single_threaded(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` on a single-threaded torch worker and return its result.

    Calls made from a worker run directly (no deadlock on nested calls).

    Args:
        fn: The function.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.

    Returns:
        What ``fn`` returns; its exceptions are raised here.
    """
    global _pool
    if threading.get_ident() in _worker_ids:
        return fn(*args, **kwargs)
    with _pool_lock:
        if _pool is None:
            default = torch.get_num_threads()
            pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="torch1")
            ready = threading.Barrier(WORKERS)
            for started in [pool.submit(_start_worker, ready) for _ in range(WORKERS)]:
                started.result()
            torch.set_num_threads(default)
            _pool = pool
    return _pool.submit(fn, *args, **kwargs).result()


def single_threaded(fn: Callable[P, T]) -> Callable[P, T]:
    """Decorator: every call of ``fn`` runs through :func:`run_single_threaded`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_single_threaded(fn, *args, **kwargs)

    return wrapper


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads in this thread, then restore.

    Used around forward-only methods on ONNX Runtime: ONNX Runtime runs its passes on its
    own threads, and torch's OpenMP threads, woken by the small tensor operations between
    two passes, would spin on the same two cores (measured: LIME 6.1 s -> 5.4 s, RISE
    12.7 s -> 9.3 s, bench/explain.py). Note: ``torch.set_num_threads`` also sets the
    default of threads that first use torch during the block.

    Args:
        count: Threads for the block.
    """
    before = torch.get_num_threads()
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
