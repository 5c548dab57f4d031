"""Run small-network torch work on worker threads where torch uses one CPU thread.

Used by the digits lab and the perceptron playground. Why: their networks are small
(28 x 28 inputs, batches of 1-10; MLPs of a few dozen units), so each operation is
short and, with torch's default two intra-op threads, waits for a second OpenMP
thread. On the busy 2-core machine this made the digits ``classify`` take 6-26 ms
(median) instead of 0.9-1.0 ms on one thread, and a playground 10-16-16-1 training
step 19 ms (median; 256 ms at the 90th percentile) instead of 1.2 ms (measured side
by side in one process; see bench/digits.py and bench/playground.py).

Why not ``torch.set_num_threads``: it sets the calling thread's OpenMP settings *and* a
process-wide default that every thread adopts when it first uses torch. Streamlit runs
each script run on a new thread, so a page that set 1 thread for a block made another
session's run, started during that block, use 1 thread for the whole run (different
reduction order: its Integrated Gradients map changed by 1e-6, seen in CI). Here a
thread's count is set with OpenMP's own ``omp_set_num_threads`` from the runtime torch
loaded, which changes the calling thread only (:func:`set_this_thread_torch_threads`).
"""

from __future__ import annotations

import ctypes
import functools
import os
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


_omp_setter: Callable[[int], None] | None = None
_omp_setter_found = False
_omp_lock = threading.Lock()


def _omp_runtimes() -> list[str]:
    """Paths of the OpenMP runtimes loaded in this process, torch's own first (other
    packages bring theirs: scikit-learn ships its own libgomp, which torch does not use)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return []
    names = ("libgomp", "libomp", "libiomp")
    found = [path for path in paths if os.path.basename(path).startswith(names)]
    torch_dir = os.path.dirname(torch.__file__)
    return sorted(found, key=lambda path: (not path.startswith(torch_dir), path))


def _find_omp_setter() -> Callable[[int], None] | None:
    """``omp_set_num_threads`` of the OpenMP runtime torch uses (GNU, LLVM or Intel),
    chosen by trying each loaded runtime on this thread and keeping the one torch then
    reports; None where there is none (no /proc, or a torch built without OpenMP)."""
    global _omp_setter, _omp_setter_found
    with _omp_lock:
        if _omp_setter_found:
            return _omp_setter
        _omp_setter_found = True
        current = torch.get_num_threads()  # also initialises this thread's settings
        probe = current + 1
        for path in _omp_runtimes():
            try:
                function = ctypes.CDLL(path).omp_set_num_threads  # the loaded copy
            except (OSError, AttributeError):
                continue
            function.argtypes = [ctypes.c_int]
            function.restype = None
            function(probe)
            responds = torch.get_num_threads() == probe
            function(current)
            if responds:
                _omp_setter = function
                break
        return _omp_setter


def set_this_thread_torch_threads(count: int) -> bool:
    """Give the calling thread ``count`` torch intra-op threads, leaving every other thread
    and the process default alone.

    Args:
        count: Threads (>= 1).

    Returns:
        False when that cannot be done without touching the process default (then nothing
        is changed).
    """
    setter = _find_omp_setter()
    if setter is None:
        return False
    torch.get_num_threads()  # let torch initialise this thread's settings first...
    setter(count)  # ...then change them: torch reads omp_get_max_threads() per operation
    return torch.get_num_threads() == count


def _start_worker(ready: threading.Barrier) -> None:
    if not set_this_thread_torch_threads(1):
        torch.set_num_threads(1)  # also the process default: put back by the pool's creator
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
            if _find_omp_setter() is None:  # the workers had to set the process default
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

    Only the calling thread changes (see the module's docstring); where that cannot be
    done, the block runs with the threads it has.

    Used around forward-only methods on ONNX Runtime: ONNX Runtime runs its passes on its
    own threads, and torch's OpenMP threads, woken by the small tensor operations between
    two passes, would spin on the same two cores (measured: LIME 6.1 s -> 5.4 s, RISE
    12.7 s -> 9.3 s, bench/explain.py).

    Args:
        count: Threads for the block.
    """
    before = torch.get_num_threads()
    if before == count or not set_this_thread_torch_threads(count):
        yield
        return
    try:
        yield
    finally:
        set_this_thread_torch_threads(before)
