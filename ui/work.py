"""Waiting for the scheduler's work in a page: who this session is, what a ticket's
state reads like, and one loop that redraws whatever changed.

The work itself runs on the process-wide scheduler's workers
(:mod:`core.common.scheduler`); the page's own thread only submits, waits and draws. A
rerun (the user moved a slider) interrupts the wait, not the work: the next run asks
for the same keys and joins the same tickets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar, cast

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.common.lru import LRUCache
from core.common.scheduler import Progress, Scheduler, Ticket, default_scheduler
from core.pipeline import submit_work

T = TypeVar("T")

POLL_SECONDS = 0.25  # how often a waiting page looks again (it wakes early on any change)
PLACE_EVERY = 1.0  # how often the places in line are refreshed


def session_id() -> str:
    """This browser session's id (one per tab), or ``"local"`` outside a running app."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


CONTEXT = "work_context"  # session state: what this session's page is working on


def enter(context: Hashable) -> None:
    """This run works on ``context`` (page, photo, model, class): the session's work for
    any other context stops, and :func:`run_work` files its work under this one."""
    st.session_state[CONTEXT] = context
    default_scheduler().enter(session_id(), context)


def current_context() -> Hashable:
    """The context of this session's page (see :func:`enter`)."""
    return st.session_state.get(CONTEXT)


def describe(ticket: Ticket[Any], estimate: float, scheduler: Scheduler | None = None) -> str:
    """A ticket's state for people: place in line and wait, progress, time, cache."""
    scheduler = scheduler or default_scheduler()
    if ticket.state == "queued":
        place = scheduler.place(ticket)
        line = "next in line" if place.ahead == 0 else f"{place.ahead} ahead in line"
        return f"queued ({line}; about {place.seconds:.1f} s)"
    if ticket.state == "running":
        left = max(0.0, estimate * (1 - ticket.progress))
        return f"running: {ticket.progress:.0%} (about {left:.1f} s left)"
    if ticket.state == "cancelled":
        return "stopped: nobody waits for it any more"
    if ticket.from_cache:
        return "cached"
    seconds = ticket.seconds
    return f"done in {seconds:.2f} s" if seconds is not None else "done"


COMPUTED_HERE = "work_computed_here"  # session state: keys computed while this session waited
MAX_REMEMBERED = 512


def provenance(key: Hashable, from_cache: bool, estimate: float) -> str:
    """Where a finished result came from, for its caption: ``"computed; estimated 0.3 s"``
    for a result this session saw computed (also on later reruns, when it comes back
    from the cache; with the estimate it had before it ran), ``"cached"`` for one that
    was already there (computed earlier, for another photo or another session)."""
    seen: dict[Hashable, float] = st.session_state.setdefault(COMPUTED_HERE, {})
    if not from_cache and key not in seen:
        seen[key] = estimate
        while len(seen) > MAX_REMEMBERED:
            seen.pop(next(iter(seen)))
    if key not in seen:
        return "cached"
    return f"computed; estimated {seen[key]:.2f} s"


def wait_for(
    tickets: Sequence[Ticket[Any]],
    on_change: Callable[[Ticket[Any]], None],
    scheduler: Scheduler | None = None,
) -> None:
    """Draw every ticket, then block this script run until every ticket has ended,
    redrawing what changed.

    Args:
        tickets: The work the page shows.
        on_change: Called with every ticket once at the start, then with a ticket
            whenever its state or progress changed (and every :data:`PLACE_EVERY`
            seconds for queued ones, whose place moves).
        scheduler: Default: the process's.
    """
    scheduler = scheduler or default_scheduler()
    session = session_id()
    # Each state is read just before its first drawing: work that ends while the page
    # draws (cheap maps end in milliseconds, on other threads) is drawn again. Read after
    # it, a tile drawn "queued" stayed queued once its map was done. (A ticket that ends
    # between the reading and the drawing is drawn twice in its final state: pages draw
    # an ended ticket once per run.)
    seen: dict[int, tuple[str, float]] = {}
    for ticket in tickets:
        seen[id(ticket)] = (ticket.state, round(ticket.progress, 2))
        on_change(ticket)
    last_places = time.monotonic()
    while True:
        # Whether anything is left is read before the changes are: work that ends while
        # they are drawn is drawn once more on the next turn, not left behind.
        pending = any(t.pending for t in tickets)
        refresh_places = time.monotonic() - last_places >= PLACE_EVERY
        if refresh_places:
            last_places = time.monotonic()
        for ticket in tickets:
            now = (ticket.state, round(ticket.progress, 2))
            if now != seen[id(ticket)] or (refresh_places and ticket.state == "queued"):
                seen[id(ticket)] = now
                on_change(ticket)
        if not pending:
            return
        scheduler.wait(session, tickets, POLL_SECONDS)


def run_work(
    scope: str,
    key: Hashable,
    work: Callable[[Progress], T],
    cost: float,
    label: str,
    cache: LRUCache[Any] | None = None,
    on_change: Callable[[Ticket[Any]], None] | None = None,
) -> T:
    """Heavy work of a page on the scheduler, with a progress bar; returns its result.

    Args:
        scope: Which of the page's work this is (a new key drops the old one).
        key: Identifies the work (and its result in ``cache``).
        work: ``work(progress)``.
        cost: Estimated seconds on one worker.
        label: What the progress bar says.
        cache: Where the result is kept (a cached result comes back at once).
        on_change: Called on this page's thread whenever the work moved on (to draw what
            the work left for it: a live preview, runs that are done), after the bar.

    Raises:
        Whatever the work raised (a page shows it as a message).
    """
    ticket = submit_work(session_id(), scope, key, work, cost, label, cache, current_context())
    if ticket.pending:
        bar = st.progress(0.0, text=label)

        def redraw(changed: Ticket[Any]) -> None:
            bar.progress(changed.progress, text=f"{label}: {describe(changed, cost)}")
            if on_change is not None:
                on_change(changed)

        wait_for([ticket], redraw)
        bar.empty()
        if on_change is not None:
            on_change(ticket)
    if ticket.state == "failed" and ticket.error is not None:
        raise ticket.error
    if ticket.state != "done":
        raise RuntimeError(f"{label} was stopped before it finished; try again")
    return cast(T, ticket.result)  # done: the work's return value, whatever its type
