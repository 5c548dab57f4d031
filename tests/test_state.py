"""State that follows the user (ui/state.py), on a plain dict standing for the session.

Streamlit drops a widget's value when a run does not draw it (a run of another page);
AppTest cannot show that (one AppTest runs one page, and two AppTests share no
session), so the restore mechanism is tested here on a fake session that drops widget
keys the way Streamlit does. The URL round trip of each page is in
tests/test_page_links.py, the real browser trip in tests/browser/test_state.py.
"""

from __future__ import annotations

from typing import Any

from core.common.query import bool_field, choice_field, int_field, pair_field
from ui.present import PRESENT
from ui.state import (
    FROM_LINK,
    KEPT,
    KEPT_KEYS,
    PAGE_SHOWN,
    Bound,
    PageState,
    bind,
    carried_over,
    current,
    from_link,
    keep,
    page_query,
    remember_kept,
    signature,
    sync,
)

FIELDS = (
    choice_field("op", "conv2d", ["conv2d", "maxpool2d"]),
    int_field("n", 4, 1, 9),
    bool_field("square", True),
)
STATE = PageState("demo", bind(FIELDS, "demo_"))
WIDGETS = ("demo_op", "demo_n", "demo_square")


def other_page_run(session: dict[str, Any]) -> None:
    """A run of another page: what Streamlit does to this page's widget keys (the
    router remembers them first, as streamlit_app.py does)."""
    remember_kept(session)
    for key in WIDGETS:
        session.pop(key, None)


def test_settings_survive_a_run_of_another_page() -> None:
    session: dict[str, Any] = {}
    sync(STATE, session, {})  # first visit: nothing to restore
    session.update({"demo_op": "maxpool2d", "demo_n": 7})  # the user sets two widgets
    sync(STATE, session, {})  # the rerun the change starts
    other_page_run(session)
    assert "demo_op" not in session  # Streamlit dropped them
    written, notices = sync(STATE, session, {})  # back on the page, before its widgets
    assert session["demo_op"] == "maxpool2d"
    assert session["demo_n"] == 7
    assert "demo_square" not in session  # never set: the widget's own default
    assert written == {"op": "maxpool2d", "n": "7"}
    assert notices == []


def test_the_last_change_before_leaving_is_kept() -> None:
    """A change made in the very run that leaves (the router's remember_kept at the
    start of the next page's run sees it, while the widget is still in the session)."""
    session: dict[str, Any] = {}
    sync(STATE, session, {})
    session["demo_n"] = 3  # set, then the user clicks another page at once
    other_page_run(session)
    sync(STATE, session, {})
    assert session["demo_n"] == 3


def test_keep_is_the_same_mechanism_for_any_key() -> None:
    session: dict[str, Any] = {"explain_methods": ["gradcam"]}
    keep(["explain_methods", "never_drawn"], session)
    del session["explain_methods"]
    keep(["explain_methods", "never_drawn"], session)
    assert session["explain_methods"] == ["gradcam"]
    assert "never_drawn" not in session
    assert session[KEPT] == {"explain_methods": ["gradcam"]}
    assert session[KEPT_KEYS] == {"explain_methods", "never_drawn"}


def test_a_link_is_applied_once_and_wins_over_kept_values() -> None:
    session: dict[str, Any] = {}
    sync(STATE, session, {})
    session["demo_n"] = 2
    sync(STATE, session, {})
    other_page_run(session)
    written, notices = sync(STATE, session, {"op": "maxpool2d", "n": "8"})
    assert (session["demo_op"], session["demo_n"]) == ("maxpool2d", 8)
    assert written == {"op": "maxpool2d", "n": "8"}
    assert from_link("demo_n", session)
    session["demo_n"] = 5  # the user moves on; the URL still says n=8 until rewritten
    written, _ = sync(STATE, session, written)
    assert session["demo_n"] == 5  # the link is not applied again
    assert written["n"] == "5"
    assert session[FROM_LINK] == []


def test_bad_values_fall_back_to_defaults_with_notices() -> None:
    session: dict[str, Any] = {}
    written, notices = sync(STATE, session, {"op": "conv9d", "n": "99", "what": "1"})
    assert "demo_op" not in session  # the widgets' defaults
    assert "demo_n" not in session
    assert written == {}
    assert len(notices) == 3
    assert "op=conv9d" in notices[0]
    assert "n=99" in notices[1]
    assert "'what'" in notices[2]


def test_custom_bindings_and_conditions() -> None:
    """A pair kept under two widget keys, written only while a condition holds."""

    def get(session: Any) -> tuple[int, int] | None:
        return (session["demo_h"], session["demo_w"]) if "demo_h" in session else None

    def put(session: Any, pair: tuple[int, int]) -> None:
        session["demo_h"], session["demo_w"] = pair

    pair = Bound(pair_field("k", (3, 3), 1, 5), "demo_h", lambda s: s.get("demo_op", "conv2d")
                 == "conv2d", get, put, ("demo_w",))  # fmt: skip
    state = PageState("pair", (*bind(FIELDS, "demo_"), pair))
    session: dict[str, Any] = {}
    written, _ = sync(state, session, {"k": "3x5"})
    assert (session["demo_h"], session["demo_w"]) == (3, 5)
    assert written == {"k": "3x5"}
    session["demo_op"] = "maxpool2d"
    assert page_query(state, session) == {"op": "maxpool2d"}  # k: not a pooling setting
    for key in ("demo_h", "demo_w"):  # both keys follow the user
        del session[key]
    sync(state, session, {"op": "maxpool2d"})
    assert (session["demo_h"], session["demo_w"]) == (3, 5)


def test_presenter_mode_is_in_every_pages_url() -> None:
    session: dict[str, Any] = {PRESENT: True}
    written, notices = sync(STATE, session, {"present": "1"})
    assert written == {"present": "1"}
    assert notices == []  # present= is the router's, not an unknown setting
    other = PageState("other", bind((int_field("m", 1, 0, 5),), "other_"))
    assert sync(other, session, {})[0] == {"present": "1"}  # after a move: still there
    session[PRESENT] = False
    assert sync(other, session, {"present": "1"})[0] == {}


def test_a_query_the_previous_page_left_is_no_link_to_the_next() -> None:
    """A move to another page that keeps the URL's query (AppTest's switch_page does)
    must not read the last page's settings as a link to this one."""
    left = {"sample": "espresso.jpg", "methods": "gradcam"}
    session: dict[str, Any] = {PAGE_SHOWN: ("explain", signature(left))}
    assert carried_over("inside", session, left)
    assert not carried_over("explain", session, left)  # a rerun of the same page
    assert not carried_over("inside", session, {"sample": "espresso.jpg"})  # a real link
    assert not carried_over("inside", {}, left)  # the session's first run: a link


def test_a_widget_declares_its_current_value_as_its_default() -> None:
    """What a browser that lost a widget's value falls back to (see ui.state.current)."""
    session: dict[str, Any] = {"methods": ["gradcam"]}
    assert current("methods", ["saliency", "lime"], session) == ["gradcam"]
    assert current("opacity", 0.55, session) == 0.55
    session["source"] = None  # a segmented control the user cleared stays cleared
    assert current("source", "Sample", session) is None
