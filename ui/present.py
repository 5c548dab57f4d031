"""Presenter mode: the app on a projector (``?present=1``, or the sidebar's toggle).

The sidebar (the settings) starts collapsed, page descriptions are left out, titles and
spacing shrink and pages draw their key picture larger and first, so each page's main
content fits a 1280 x 720 screen without scrolling. The mode is in the URL of every
page (:mod:`ui.state` writes it), so it survives moving between pages and a shared link.
"""

from __future__ import annotations

import streamlit as st

from core.common.query import parse_bool

PRESENT = "present"  # the URL parameter, and the sidebar toggle's key
PRESENT_SEEN = "present_seen"  # the URL's present= the session last applied or wrote

# Streamlit's main block starts 6rem down and its title is 2.75rem high: on a 720 px
# projector that is a fifth of the screen before any picture.
CSS = """<style>
[data-testid='stMainBlockContainer'] {padding-top: 3.75rem; padding-bottom: 1rem;}
[data-testid='stMain'] h1 {font-size: 1.9rem; padding-top: 0.25rem;}
[data-testid='stMain'] h2 {font-size: 1.35rem;}
[data-testid='stMain'] h3 {font-size: 1.15rem;}
[data-testid='stMain'] [data-testid='stVerticalBlock'] {gap: 0.6rem;}
[data-testid='stMain'] [data-testid='stMetricValue'] {font-size: 1.6rem;}
</style>"""


def presenting() -> bool:
    """Whether the app is in presenter mode."""
    return bool(st.session_state.get(PRESENT, False))


def presenter_mode_from_url() -> str | None:
    """The router, first thing in a run: a URL's ``present=`` sets the mode (once per
    value, so turning the toggle off is not undone by the URL of the run before).

    Returns:
        A notice when the value is not true or false, else None.
    """
    text = st.query_params.get(PRESENT)
    if text is None or text == st.session_state.get(PRESENT_SEEN):
        return None
    st.session_state[PRESENT_SEEN] = text
    try:
        st.session_state[PRESENT] = parse_bool(text, "present")
    except ValueError as err:
        return f"{err}: presenter mode stays off."
    return None


def presenter_toggle() -> None:
    """The sidebar's switch (the router draws it on every page); and the mode's CSS."""
    st.sidebar.toggle(
        "Presenter mode", key=PRESENT,
        help="For a projector: settings collapsed into this sidebar, no page descriptions, "
        "bigger pictures; each page's main content fits 1280 x 720. In the URL as "
        "?present=1, so a link opens it.",
    )  # fmt: skip
    if presenting():
        st.html(CSS)


def intro(text: str, caption: bool = False) -> None:
    """A page's description under its title (left out in presenter mode).

    Args:
        text: Markdown.
        caption: Small grey text (``st.caption``) instead of body text.
    """
    if not presenting():
        (st.caption if caption else st.markdown)(text)
