"""One process-wide, fair scheduler for the heavy work of every session.

Why: Streamlit runs every session's script as a thread of one process. When each
session computes its own maps on its own thread, a class of 8 students shares two cores
between 8 x (Integrated Gradients + ...) at once: every student's cheap Grad-CAM waits
behind everybody's expensive maps, and memory grows with the number of sessions
computing at once (issue 21: first map 11.6-14.0 s instead of 0.34 s, 2.2 GB).

Here sessions *submit* work and wait for it; a bounded pool of worker threads
(:func:`available_cpus` workers of one torch thread each: workers x threads = cores)
runs it:

- **Priority by cost** across every session: cheap work first. Costs are compared by
  half-octave buckets (within ~40%: "equal cost"), and at equal cost the sessions take
  turns (a session's n-th item of a bucket waits behind every other session's earlier
  ones), then first come, first served.
- **Identical work is computed once**: a key already queued or running gets one more
  subscriber instead of a second copy.
- **Stale work is dropped**: a session says which keys of a scope it still wants
  (:meth:`Scheduler.retain`); work nobody wants any more leaves the queue before it
  starts, or stops at its next progress call when running (:class:`Cancelled`). Work
  of sessions that stopped asking (a closed tab) is dropped once their lease lapses.
- **Cheap work overtakes long work**: a worker running a long item looks at the queue
  at each of its progress calls and first runs the queued items that are much cheaper,
  inline (not while its thread holds scoped hooks or a lock on shared work, see
  :mod:`core.common.critical`). So a student's first map does
  not wait for another student's Integrated Gradients to finish, and no more than
  twice the pool's work is ever in memory.

Memory is bounded by the pool (at most ``2 x workers`` computations alive), not by the
number of sessions. Nothing here knows about maps: :mod:`core.pipeline` builds the
map pipeline on it.

Why one torch thread per worker, also for a student alone on an idle server: two torch
threads did not make a worker faster. Measured here (a MobileNet-V3's forward and
backward, batch 2, ten times): 0.35 s on two threads in the main thread, 0.4 s on one,
but 0.9 s on two in a second thread once the main thread had used two (0.35 s when no
other thread had). Likely cause: with more OpenMP threads than CPUs, libgomp stops
spinning and puts its team to sleep between parallel regions, and Streamlit never
computes in the main thread. Giving a lone worker the idle core (threads set again at
each progress call) was tried: the default panel took 2.9-3.7 s either way.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import torch

from core.common.critical import interruptible
from core.common.lru import LRUCache
from core.common.single_thread import set_this_thread_torch_threads

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[float], None]
State = Literal["queued", "running", "done", "failed", "cancelled"]

WORKERS_ENV = "CNN_EXPLAINER_WORKERS"  # overrides the number of workers
LEASE_SECONDS = 30.0  # a session that has not asked for anything this long has left
NOTIFY_EVERY = 0.2  # progress is reported to waiting pages at most this often (s)
PREEMPT_RATIO = 4.0  # inline: a queued item at least this many times cheaper...
PREEMPT_MAX_COST = 1.0  # ...and costing at most this many seconds
EXIT_WAIT = 30.0  # seconds each worker gets to stop when the process exits


class Cancelled(Exception):
    """Raised at a progress call of work that nobody waits for any more."""


def available_cpus() -> int:
    """CPUs this process may really use: its CPU affinity, capped by a cgroup CPU quota.

    A container (Streamlit Community Cloud, Docker) often sees all of the host's CPUs in
    ``os.cpu_count()`` while its quota (``/sys/fs/cgroup/cpu.max``) allows one or two.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def cost_bucket(seconds: float) -> int:
    """Half-octave bucket of an estimated cost: costs within ~40% are "equal"."""
    return math.floor(2 * math.log2(max(seconds, 1e-3)))


@dataclass(eq=False)
class Ticket(Generic[T]):
    """One piece of work, shared by every session that asked for it.

    Attributes:
        key: What identifies the work (identical keys are computed once).
        label: For people ("Grad-CAM on cat.jpg").
        cost: Estimated seconds when run alone on one worker.
        state: ``queued``, ``running``, ``done``, ``failed`` or ``cancelled``.
        progress: Fraction done (0..1) while running.
        result: The function's return value once ``done``.
        error: Its exception once ``failed``.
        from_cache: The result was already there when it was asked for.
        submitted: ``time.monotonic()`` at submission.
        started: When a worker took it (None until then).
        finished: When it ended (None until then).
    """

    key: Hashable
    label: str
    cost: float
    state: State = "queued"
    progress: float = 0.0
    result: T | None = None
    error: BaseException | None = None
    from_cache: bool = False
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    _fn: Callable[[Progress], T] | None = field(default=None, repr=False)
    _order: tuple[int, int, int] = (0, 0, 0)
    _subscribers: set[tuple[str, str, Hashable]] = field(default_factory=set, repr=False)
    _cancel: bool = False
    _cache: LRUCache[Any] | None = field(default=None, repr=False)
    _cacheable: Callable[[T], bool] | None = field(default=None, repr=False)
    _notified: float = 0.0
    _inline: float = 0.0  # seconds its worker spent on cheaper work at its progress calls

    @property
    def pending(self) -> bool:
        """Queued or running."""
        return self.state in ("queued", "running")

    @property
    def seconds(self) -> float | None:
        """Its own run time once it ended (cheaper work run inline at its progress calls
        not counted)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started - self._inline


def completed(key: Hashable, label: str, value: T, from_cache: bool = True) -> Ticket[T]:
    """A ticket that is already done (a cache hit): pages handle one kind of object."""
    now = time.monotonic()
    return Ticket(key, label, 0.0, "done", 1.0, value, None, from_cache, now, now, now)


@dataclass(frozen=True)
class Place:
    """Where a queued ticket stands.

    Attributes:
        ahead: Items that will start before it (running ones included).
        seconds: Estimated seconds until it is done (its own cost included).
    """

    ahead: int
    seconds: float


class Scheduler:
    """A bounded pool of workers running submitted work by cost, fairly between sessions.

    Args:
        workers: Worker threads (default :func:`available_cpus`, or ``$CNN_EXPLAINER_WORKERS``).
        threads_per_worker: Torch intra-op threads of each worker (workers x threads
            should equal the cores).
        lease: Seconds after which a session that asked for nothing has left.
        preempt: Let long work run much cheaper queued work inline at its progress calls.
    """

    def __init__(
        self,
        workers: int | None = None,
        threads_per_worker: int = 1,
        lease: float = LEASE_SECONDS,
        preempt: bool = True,
    ) -> None:
        env = os.environ.get(WORKERS_ENV)
        self.workers = max(1, workers or (int(env) if env else available_cpus()))
        self.threads_per_worker = max(1, threads_per_worker)
        self.lease = lease
        self.preempt = preempt
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queued: dict[Hashable, Ticket[Any]] = {}
        self._running: dict[Hashable, Ticket[Any]] = {}
        self._seen: dict[str, float] = {}  # session -> last time it asked for anything
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._closed = False
        self.peak_running = 0  # most items computing at once (tests and benchmarks)
        self.completed = 0

    # ------------------------------------------------------------------ sessions

    def enter(self, session: str, context: Hashable) -> None:
        """The session now works on ``context`` (a page with its photo, model, class...):
        its interest in work asked for under any other context is dropped."""
        with self._lock:
            self._seen[session] = time.monotonic()
            for ticket in [*self._queued.values(), *self._running.values()]:
                ticket._subscribers = {
                    s for s in ticket._subscribers if s[0] != session or s[2] == context
                }
            self._drop_unwanted()

    def submit(
        self,
        session: str,
        scope: str,
        key: Hashable,
        fn: Callable[[Progress], T],
        cost: float,
        label: str = "",
        cache: LRUCache[Any] | None = None,
        cacheable: Callable[[T], bool] | None = None,
        context: Hashable = None,
    ) -> Ticket[T]:
        """Ask for a piece of work (or join the identical one already asked for).

        Args:
            session: Who asks (a browser session).
            scope: Which of its requests this belongs to (``"maps"``, ``"curves"``...):
                :meth:`retain` works per scope.
            key: What identifies the work: identical keys are computed once, and the
                result is stored under it in ``cache``.
            fn: The work: ``fn(progress)``, calling ``progress(fraction)`` now and then
                (where it may be cancelled, or let cheaper work run first).
            cost: Estimated seconds on one worker (its priority).
            label: For people.
            cache: Where finished results are kept: a cached key is returned done at
                once, without queueing.
            cacheable: Which results may be cached (default: all).
            context: What the session was working on (see :meth:`enter`).

        Returns:
            The ticket (possibly already done).
        """
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                self.touch(session)
                return completed(key, label, hit)
        with self._lock:
            self._seen[session] = time.monotonic()
            ticket = self._queued.get(key) or self._running.get(key)
            if ticket is not None:
                ticket._subscribers.add((session, scope, context))
                ticket._cancel = False
                if ticket.state == "queued":
                    ticket._order = min(ticket._order, self._order(session, cost))
                return ticket
            # Again under the lock: the identical work may have finished since the first
            # look (a worker caches its result before it leaves ``_running`` under this
            # lock), and it would be computed twice (seen under one slow thread).
            hit = None if cache is None else cache.get(key)
            if hit is not None:
                return completed(key, label, hit)
            ticket = Ticket(key, label or str(key), float(cost), _fn=fn)
            ticket._order = self._order(session, cost)
            ticket._subscribers.add((session, scope, context))
            ticket._cache, ticket._cacheable = cache, cacheable
            self._queued[key] = ticket
            self._start_workers()
            self._changed.notify_all()
            return ticket

    def retain(self, session: str, scope: str, keys: Iterable[Hashable]) -> None:
        """The session now wants only ``keys`` of this scope: drop its interest in the rest.

        Work nobody wants any more leaves the queue (state ``cancelled``) or, if running,
        stops at its next progress call.
        """
        wanted = set(keys)
        with self._lock:
            self._seen[session] = time.monotonic()
            for ticket in [*self._queued.values(), *self._running.values()]:
                if ticket.key not in wanted:
                    ticket._subscribers = {
                        s for s in ticket._subscribers if s[0] != session or s[1] != scope
                    }
            self._drop_unwanted()

    def forget(self, session: str) -> None:
        """The session has left: drop all its interest."""
        with self._lock:
            for ticket in [*self._queued.values(), *self._running.values()]:
                ticket._subscribers = {s for s in ticket._subscribers if s[0] != session}
            self._seen.pop(session, None)
            self._drop_unwanted()

    def touch(self, session: str) -> None:
        """The session is still here (renews its lease)."""
        with self._lock:
            self._seen[session] = time.monotonic()

    def wait(self, session: str, tickets: Iterable[Ticket[Any]], timeout: float) -> None:
        """Block until one of ``tickets`` changes (state or progress) or ``timeout`` passes.

        Also renews the session's lease.
        """
        watched = list(tickets)
        with self._lock:
            self._seen[session] = time.monotonic()
            if all(not t.pending for t in watched):
                return
            before = [(t.state, t.progress) for t in watched]
            deadline = time.monotonic() + timeout
            while [(t.state, t.progress) for t in watched] == before:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)

    def place(self, ticket: Ticket[Any]) -> Place:
        """How many items will start before a queued ticket, and when it should be done.

        The estimate spreads the work ahead (what is left of the running items, then the
        queued items before it) over the workers.
        """
        with self._lock:
            if ticket.state != "queued":
                left = ticket.cost * (1 - ticket.progress) if ticket.pending else 0.0
                return Place(0, left)
            now = time.monotonic()
            ahead = [t for t in self._queued.values() if t._order < ticket._order]
            running = [
                max(0.0, t.cost - (now - (t.started or now))) for t in self._running.values()
            ]
            work = sum(running) + sum(t.cost for t in ahead)
            return Place(len(ahead) + len(running), work / self.workers + ticket.cost)

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel everything queued, stop running work at its next progress call, and
        wait for the workers to end (tests, and the process's exit).

        Args:
            timeout: Seconds to wait for each worker (None: as long as it takes).
        """
        with self._lock:
            self._closed = True
            for ticket in list(self._queued.values()):
                self._finish(ticket, "cancelled")
            self._queued.clear()
            for ticket in self._running.values():
                ticket._cancel = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def status(self) -> dict[str, int]:
        """Counts for status lines and benchmarks: queued, running, workers, sessions."""
        with self._lock:
            now = time.monotonic()
            alive = sum(1 for seen in self._seen.values() if now - seen < self.lease)
            return {
                "queued": len(self._queued),
                "running": len(self._running),
                "workers": self.workers,
                "sessions": alive,
            }

    # ------------------------------------------------------------------ internals

    def _order(self, session: str, cost: float) -> tuple[int, int, int]:
        """Priority (smaller first): cost bucket, this session's turn in it, arrival."""
        bucket = cost_bucket(cost)
        turn = sum(
            1
            for t in [*self._queued.values(), *self._running.values()]
            if t._order[0] == bucket and any(s[0] == session for s in t._subscribers)
        )
        return bucket, turn, next(self._seq)

    def _wanted(self, ticket: Ticket[Any], now: float) -> bool:
        return any(now - self._seen.get(s[0], -math.inf) < self.lease for s in ticket._subscribers)

    def _drop_unwanted(self) -> None:
        """Under the lock: cancel queued work nobody wants; flag running work to stop."""
        now = time.monotonic()
        for key, ticket in list(self._queued.items()):
            if not self._wanted(ticket, now):
                del self._queued[key]
                self._finish(ticket, "cancelled")
        for ticket in self._running.values():
            if not self._wanted(ticket, now):
                ticket._cancel = True

    def _next(self, cheaper_than: float | None = None) -> Ticket[Any] | None:
        """Under the lock: take the queued ticket with the best priority (optionally only
        one much cheaper than a running one), dropping unwanted ones on the way."""
        self._drop_unwanted()
        candidates: list[Ticket[Any]] = list(self._queued.values())
        if cheaper_than is not None:
            limit = min(PREEMPT_MAX_COST, cheaper_than / PREEMPT_RATIO)
            candidates = [t for t in candidates if t.cost <= limit]
        best = min(candidates, key=lambda t: t._order, default=None)
        if best is not None:
            del self._queued[best.key]
            best.state, best.started = "running", time.monotonic()
            self._running[best.key] = best
            self.peak_running = max(self.peak_running, len(self._running))
            self._changed.notify_all()
        return best

    def _finish(self, ticket: Ticket[Any], state: State) -> None:
        ticket.state, ticket.finished = state, time.monotonic()
        ticket._fn = None  # the closure may hold a photo and a model input
        self._changed.notify_all()

    def _start_workers(self) -> None:
        """Under the lock: start the pool on first use."""
        if self._threads:
            return
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"scheduler-{number}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        if not set_this_thread_torch_threads(self.threads_per_worker):
            log.warning("scheduler: cannot set this worker's torch threads alone")
        self._local.depth = 0
        while True:
            with self._lock:
                ticket = self._next()
                while ticket is None and not self._closed:
                    self._changed.wait()
                    ticket = self._next()
            if ticket is None:
                return
            self._run(ticket)

    def _run(self, ticket: Ticket[Any]) -> None:
        """Run one ticket on this thread and record how it ended."""
        fn = ticket._fn
        assert fn is not None
        state: State = "done"
        try:
            result = fn(lambda fraction: self._progress(ticket, fraction))
            ticket.result = result
            if ticket._cache is not None and (
                ticket._cacheable is None or ticket._cacheable(result)
            ):
                ticket._cache.put(ticket.key, result)
        except Cancelled:
            state = "cancelled"
        except Exception as err:  # noqa: BLE001 - a failure is the ticket's outcome
            ticket.error, state = err, "failed"
            log.warning("scheduler: %s failed: %s", ticket.label, err)
        with self._lock:
            self._running.pop(ticket.key, None)
            self.completed += 1
            self._finish(ticket, state)

    def _progress(self, ticket: Ticket[Any], fraction: float) -> None:
        """A running ticket's progress call: report it, stop it if unwanted, and let much
        cheaper queued work run first (inline, on this thread)."""
        now = time.monotonic()
        with self._lock:
            ticket.progress = max(0.0, min(1.0, float(fraction)))
            if ticket._cancel or not self._wanted(ticket, now):
                raise Cancelled(ticket.label)
            if now - ticket._notified >= NOTIFY_EVERY or fraction >= 1.0:
                ticket._notified = now
                self._changed.notify_all()
        depth = getattr(self._local, "depth", None)
        if not self.preempt or depth != 0 or not interruptible():
            return  # not a worker's own item, already inline, or holding hooks or locks
        self._local.depth = 1
        start, start_cpu = time.perf_counter(), time.thread_time()
        try:
            while True:
                with self._lock:
                    cheaper = self._next(cheaper_than=ticket.cost)
                if cheaper is None:
                    return
                with torch.inference_mode(False), torch.enable_grad():
                    self._run(cheaper)
        finally:
            self._local.depth = 0
            spent = time.perf_counter() - start
            ticket._inline += spent
            _INLINE.seconds = inline_seconds() + spent
            _INLINE.cpu = inline_seconds(cpu=True) + time.thread_time() - start_cpu


_INLINE = threading.local()


def inline_seconds(cpu: bool = False) -> float:
    """Seconds this thread has spent so far running other work inline at progress calls
    (subtract the difference from a run time measured around work that reports progress,
    so that it counts only its own computing).

    Args:
        cpu: This thread's CPU seconds (``time.thread_time``) instead of wall seconds.
    """
    return float(getattr(_INLINE, "cpu" if cpu else "seconds", 0.0))


_DEFAULT: Scheduler | None = None
_DEFAULT_LOCK = threading.Lock()


def default_scheduler() -> Scheduler:
    """The process's one scheduler (every session of the app shares it)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Scheduler()
            # Workers still inside torch when the interpreter exits abort the process
            # ("terminate called without an active exception"): stop them first.
            atexit.register(_DEFAULT.shutdown, EXIT_WAIT)
            log.info("scheduler: %d worker(s) x %d torch thread(s)", _DEFAULT.workers, 1)
        return _DEFAULT
