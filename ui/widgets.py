"""Widget helpers that work around how Streamlit's browser side keeps widget state.

Everything here renders; nothing computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import streamlit as st

T = TypeVar("T")


def labelled_selectbox(
    label: str,
    options: Sequence[T],
    format_func: Callable[[T], str],
    key: str,
    index: int = 0,
    where: Any = st,
    **kwargs: Any,
) -> T:
    """A select box whose option labels may change while the chosen option stays.

    Streamlit's browser keeps showing the label a kept value had when it was chosen: a
    keyed select box over row numbers still read "row 1: conv2d, 6, k 5" after a preset
    had replaced row 1 with a 64-channel conv (issue 25). Here the widget's value is the
    label itself, so a changed label is a changed value, which Streamlit resets and sends
    to the browser; the chosen option is kept by its position in ``options``.

    Args:
        label: The widget's label.
        options: The values to choose from (not empty); their labels must be distinct.
        format_func: Value -> the text shown for it.
        key: Widget key (the value kept under ``f"{key}__option"`` is the chosen option).
        index: The default option's position, used until the user chooses.
        where: The container to draw in (``st``, ``st.sidebar``, a column).
        **kwargs: Passed on to ``selectbox`` (``help``, ``disabled``...).

    Returns:
        The chosen value (one of ``options``).
    """
    labels = [format_func(option) for option in options]
    remembered = f"{key}__option"
    previous = st.session_state.get(remembered)
    if previous is not None and previous in options:
        index = list(options).index(previous)
    index = min(max(index, 0), len(options) - 1)
    text = where.selectbox(label, labels, index=index, key=key, **kwargs)
    chosen = options[labels.index(text)] if text in labels else options[index]
    st.session_state[remembered] = chosen
    return chosen


CHAR_PIXELS = 8  # width of one character of the data grid's 14 px font, rounded up
CELL_PADDING = 28  # the grid's left and right cell padding, and room for a sort arrow


def text_width(text: str) -> int:
    """Pixels a cell needs to show ``text`` whole in ``st.dataframe``'s grid."""
    return CHAR_PIXELS * len(text) + CELL_PADDING


def fitted_columns(frame: Any, helps: dict[str, str] | None = None) -> dict[str, Any]:
    """``st.dataframe`` column widths that show every header and cell whole.

    The grid's automatic widths cut long cells ("64 x 224 x 22" in a narrow column,
    issue 25); fixed widths from the longest text make the grid scroll sideways instead.

    Args:
        frame: A pandas DataFrame (as shown: numbers are measured as they print).
        helps: Column -> tooltip of its header.

    Returns:
        ``column_config`` for ``st.dataframe``: column -> ``st.column_config.Column``.
    """
    config: dict[str, Any] = {}
    for column in frame.columns:
        cells = [str(column), *("" if value is None else str(value) for value in frame[column])]
        config[str(column)] = st.column_config.Column(
            width=max(map(text_width, cells)), help=(helps or {}).get(str(column))
        )
    return config


def multiselects_show_every_tag() -> None:
    """Let every multiselect grow with its chosen tags instead of clipping them.

    Streamlit caps a multiselect's tag box at about five rows of tags and hides the rest
    behind a scroll bar that only shows on hover: the sixth default method of "Explain
    an image" was out of sight in the sidebar (issue 25). The router calls this once per
    run, for every page.
    """
    st.html(
        "<style>"
        "[data-testid='stMultiSelect'] div:has(> [data-testid='stMultiSelectTagsContainer'])"
        "{max-height: none;}"
        "[data-testid='stMultiSelectTagsContainer']{overflow: visible;}"
        "</style>"
    )
