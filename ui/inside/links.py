"""The state of "Inside the network" in its URL: the section, the network and its input,
the section's layer and channel, and the feature maps' explained cell (the fields:
:mod:`core.inside.share`).

The layer and channel live under each section's own widget keys (one per network, and
a channel per layer), so their bindings find the key from the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.inside.share import INSIDE_FIELDS
from core.models import DEFAULT_MODEL
from ui.common import model_binding, sample_binding
from ui.inside.subject import CHOSEN_KEY, DIGIT_CNN, NETWORK_KEY
from ui.state import Bound, PageState, Session, bind

FIELDS = {f.name: f for f in INSIDE_FIELDS}
# section -> the widget key prefix of its layer choice (":" a plain select box)
LAYER_KEYS = {
    "Feature maps": "inside_fm_layer",
    "Feature visualisation": "inside_fv_layer",
    "Dataset examples": "inside_ex_layer",
    "Kernels": ":inside_k_layer",
}
CELL = "inside_cell"  # the feature maps' "how was this number computed" section


def _photo(session: Mapping[str, Any]) -> bool:
    return session.get(NETWORK_KEY, "ImageNet model") == "ImageNet model"


def _subject(session: Mapping[str, Any]) -> str:
    return str(session.get("model", DEFAULT_MODEL)) if _photo(session) else DIGIT_CNN


def _section(session: Mapping[str, Any]) -> str:
    return str(session.get("inside_section", "Layer table"))


def _layer_key(session: Mapping[str, Any]) -> str:
    prefix = LAYER_KEYS.get(_section(session), "inside_fm_layer")
    if prefix.startswith(":"):
        return f"{prefix[1:]}_{_subject(session)}"
    return f"{prefix}_{_subject(session)}__option"  # ui.widgets.labelled_selectbox's value


def _channel_key(session: Mapping[str, Any]) -> str:
    section = _section(session)
    if section == "Feature maps":
        return f"{CELL}_channel"
    layer = session.get(_layer_key(session), "")
    return f"inside_{'fv' if section == 'Feature visualisation' else 'ex'}_channel_{layer}"


def _cell_scope(session: Session) -> None:
    """The cell section keeps a cell the link set for the link's layer (None: for the
    layer the page shows first: ui.inside.cell.cell_section)."""
    session[f"{CELL}_scope"] = (_subject(session), session.get(_layer_key(session)))


def _put_channel(session: Session, channel: int) -> None:
    session[_channel_key(session)] = channel
    if _section(session) == "Feature maps":
        _cell_scope(session)
        session[f"{CELL}_row"] = session[f"{CELL}_col"] = -1  # its strongest cell


def _cell_binding(name: str) -> Bound:
    """The explained cell's row or column (``row=3&col=5``), on the feature maps; -1
    (the channel's strongest cell, not found yet) is not written."""
    key = f"{CELL}_{name}"

    def get(session: Mapping[str, Any]) -> int | None:
        value = session.get(key)
        return value if isinstance(value, int) and value >= 0 else None

    def put(session: Session, value: int) -> None:
        _cell_scope(session)
        session[key] = value

    return Bound(FIELDS[name], key, lambda s: _section(s) == "Feature maps", get, put)


def _put_network(session: Session, network: str) -> None:
    session[NETWORK_KEY], session[CHOSEN_KEY] = network, True


def inside_state() -> PageState:
    """The page's declaration (call :func:`ui.state.declare` with it)."""
    has_channel = ("Feature maps", "Feature visualisation", "Dataset examples")
    return PageState("inside", bind(
        INSIDE_FIELDS, "inside_", section="inside_section",
        network=Bound(FIELDS["network"], NETWORK_KEY, lambda s: CHOSEN_KEY in s,
                      put=_put_network),
        model=model_binding(when=_photo),
        sample=sample_binding("inside_image", _photo),
        digit=Bound(FIELDS["digit"], "inside_digit_index", lambda s: not _photo(s) and s.get(
            "inside_digit_source", "MNIST digit") == "MNIST digit"),
        layer=Bound(FIELDS["layer"], _layer_key, lambda s: _section(s) in LAYER_KEYS),
        channel=Bound(FIELDS["channel"], _channel_key, lambda s: _section(s) in has_channel,
                      put=_put_channel),
        row=_cell_binding("row"), col=_cell_binding("col"),
    ))  # fmt: skip
