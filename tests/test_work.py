"""Waiting for the scheduler's work in a page (ui/work.py): every ticket is drawn, and
drawn again in its final state, however quickly its work ends."""

from __future__ import annotations

import threading
from typing import Any

from core.common.scheduler import Progress, Scheduler, Ticket
from ui.work import wait_for


def test_work_that_ends_while_the_page_draws_is_drawn_again_in_its_final_state() -> None:
    scheduler = Scheduler(workers=1)
    try:
        release, started = threading.Event(), threading.Event()

        def hold(_progress: Progress) -> str:
            started.set()
            release.wait(10)
            return "slow"

        slow = scheduler.submit("page", "test", "slow", hold, 1.0)
        assert started.wait(10)
        cheap = scheduler.submit("page", "test", "cheap", lambda _progress: "cheap", 0.01)
        assert cheap.state == "queued"
        drawn: list[tuple[str, str]] = []

        def draw(ticket: Ticket[Any]) -> None:
            drawn.append((str(ticket.key), ticket.state))
            if len(drawn) == 1:  # the first tile is being drawn: both pieces of work end
                release.set()
                scheduler.wait("page", [cheap], 10)
                while cheap.pending:
                    scheduler.wait("page", [cheap], 10)

        wait_for([slow, cheap], draw, scheduler)
        last = dict(drawn)  # each ticket's last drawing
        assert last == {"slow": "done", "cheap": "done"}, drawn
        assert drawn[:2] == [("slow", "running"), ("cheap", "done")]  # each drawn at the start
    finally:
        scheduler.shutdown()
