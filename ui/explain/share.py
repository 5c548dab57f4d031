"""The view of "Explain an image" in the URL: restored when a link is opened, written
back after every run, and shown as a share link.

Parsing and validation live in :mod:`core.reports.share`; this module moves the values
between the query string and the widgets' session state.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

import streamlit as st

from core.attribution import METHODS
from core.reports import ViewState, parse_view, view_query
from ui.explain.params import param_key
from ui.present import PRESENT, PRESENT_SEEN, presenting
from ui.state import APPLIED, keep, link_notice, set_query, signature

PAGE = "explain"  # its entry in ui.state's APPLIED: the query its widgets already reflect
NOTICES = "explain_url_notices"
PENDING_CLASS = "explain_url_class"  # a class from the link, set once the image is known
# Settings kept when the user visits another page (ui.state.keep); the method settings,
# the photo and the class are kept where their widgets are drawn.
KEPT = ("explain_methods", "explain_opacity", "explain_cmap", "explain_top",
        "explain_same_scale")  # fmt: skip


def restore_from_url() -> None:
    """Put an opened link's view into the widgets (before they are drawn), once per link;
    back from another page, the page's settings as the user left them.

    Unknown or out-of-range values are left at their defaults; the notices say which.
    """
    keep(KEPT)
    query = {k: v for k, v in st.query_params.to_dict().items() if k != PRESENT}
    applied: dict[str, str] = st.session_state.setdefault(APPLIED, {})
    if applied.get(PAGE) == signature(query):
        return
    applied[PAGE] = signature(query)
    if not query:
        return
    state, notices = parse_view(query)
    st.session_state["model"] = state.model
    st.session_state["explain_methods"] = list(state.methods)
    for method, values in state.params.items():
        for name, value in values.items():
            declared = next(p for p in METHODS[method].params if p.name == name)
            st.session_state[param_key(method, declared, state.model)] = value
    if state.sample is not None:
        st.session_state["explain_image_sample"] = state.sample
    if state.target is not None:
        st.session_state[PENDING_CLASS] = state.target
    st.session_state[NOTICES] = notices


def show_notices() -> None:
    """The notices of the link just opened (shown once)."""
    for notice in st.session_state.pop(NOTICES, []):
        link_notice(notice)


def pending_class(target_key: str) -> None:
    """Give the class widget (``target_key``) the link's class, once, before it is drawn."""
    target = st.session_state.pop(PENDING_CLASS, None)
    if target is not None:
        st.session_state[target_key] = int(target)


def write_url(state: ViewState, default_layer: str) -> str:
    """Write the current view into the browser's URL; returns the share link.

    A CAM layer equal to the model's default is left out (the link stays short and
    follows the model if the link's model is changed).
    """
    params = {
        method: {k: v for k, v in values.items() if not (k == "layer" and v == default_layer)}
        for method, values in state.params.items()
    }
    query = view_query(dataclasses.replace(state, params=params))
    st.session_state.setdefault(APPLIED, {})[PAGE] = signature(query)
    shown = {**query, PRESENT: "1"} if presenting() else query  # the mode stays on
    st.session_state[PRESENT_SEEN] = shown.get(PRESENT)
    set_query(shown)
    base = (st.context.url or "").split("?", 1)[0]
    return f"{base}?{urlencode(query)}" if query else base


def share_box(link: str, uploaded: bool) -> None:
    """The share link, with a note when the photo is an upload."""
    st.sidebar.subheader("Share")
    st.sidebar.code(
        link or "(open the app in a browser to get a link)", language=None, wrap_lines=True
    )
    if uploaded:
        st.sidebar.caption(
            "An uploaded photo cannot travel in a URL: the link restores the model, methods, "
            "settings and class; the person who opens it uploads the photo again."
        )
    else:
        st.sidebar.caption("The link restores the model, methods, settings, photo and class.")
