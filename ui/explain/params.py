"""Parameter widgets of the "Explain an image" page, built from the methods' declarations.

Widgets are built from the attribution methods' declared parameters (no per-method code).
Any :class:`core.attribution.Param` becomes a widget: ``int``/``float`` -> slider (or a
number box for wide ranges, a decade slider for ``log`` ranges), ``choice`` -> select
box, ``bool`` -> checkbox, ``layer`` -> a select box over the model's feature-map layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from core.attribution import InputShape, Method, Param
from core.models import ImageModel
from core.pipeline import model_shape
from ui.common import cached_model
from ui.state import current, keep


def model_input_shape(model_name: str) -> InputShape:
    """The model's input size and feature-map channels (for costs and layer pickers)."""
    return model_shape(cached_model(model_name))


def layer_choices(model_name: str) -> list[str]:
    """The model's layers with a spatial feature map, deepest first (CAM candidates)."""
    return list(reversed(list(model_input_shape(model_name).channels)))


def _label(param: Param) -> str:
    words = param.label or param.name.replace("_", " ").capitalize()
    return f"{words} ({param.unit})" if param.unit else words


def param_key(method: str, param: Param, model: str) -> str:
    """The widget key of a parameter (shared links set it before the widget is drawn)."""
    return f"explain_{method}_{param.name}_{model if param.kind == 'layer' else ''}"


def param_widget(method: Method, param: Param, model: ImageModel, where: Any = st) -> Any:
    """One widget for one parameter; returns its value.

    A value already in session state (from a shared link, or set before) is used as it
    is, and the widget declares it as its default (``ui.state.current``: a browser
    that loses the value under load falls back to it, not to the slider's minimum).

    Args:
        method: The method the parameter belongs to (for the widget key).
        param: The declared parameter.
        model: The current model (for ``layer`` parameters).
        where: Streamlit container to draw in.
    """
    key = param_key(method.name, param, model.name)
    keep([key])  # back from another page: the setting as the user left it
    preset = key in st.session_state
    label, help_ = _label(param), param.help
    common: dict[str, Any] = {"key": key, "help": help_}
    if param.kind in ("layer", "choice"):
        choices = layer_choices(model.name) if param.kind == "layer" else list(param.choices)
        if not choices:  # no layer torch can see: a model that runs on ONNX Runtime only
            where.caption(f"{label}: {model.title} has no layers to choose from.")
            return None
        default = str(param.default) if param.kind == "choice" else (
            model.target_layer if model.target_layer in choices else choices[0]
        )  # fmt: skip
        if preset and st.session_state[key] not in choices:
            where.warning(f"{label}: {st.session_state[key]!r} is not a layer of {model.title}.")
            st.session_state[key] = default
        index = choices.index(current(key, default))
        return where.selectbox(label, choices, index=index, **common)
    if param.kind == "bool":
        return where.checkbox(label, value=bool(current(key, param.default)), **common)
    low, high, start = param.numeric_range()
    if param.log:
        decades = [
            float(f"{v:.0e}")
            for v in np.logspace(
                np.log10(low), np.log10(high), int(round(np.log10(high / low))) + 1
            )
        ]
        nearest = min(decades, key=lambda v: abs(np.log10(v) - np.log10(start)))
        if preset and st.session_state[key] not in decades:
            st.session_state[key] = min(
                decades, key=lambda v: abs(np.log10(v) - np.log10(float(st.session_state[key])))
            )
        value = current(key, nearest)
        return where.select_slider(
            label, decades, value=value, format_func="{:.0e}".format, **common
        )
    number = int if param.kind == "int" else float
    value = min(max(number(current(key, start)), number(low)), number(high))
    if param.kind == "int" and high - low > 1000 * (param.step or 1):
        return int(where.number_input(label, int(low), int(high), value=value, **common))
    step = number(param.step or (1 if param.kind == "int" else 0.01))
    return where.slider(label, number(low), number(high), value=value, step=step, **common)


def method_params(method: Method, model: ImageModel, where: Any = st) -> dict[str, Any]:
    """A method's parameters as widgets (in ``where``); returns name -> value.

    A parameter that does not apply to the values chosen before it
    (:meth:`core.attribution.Param.applies`: LRP's epsilon under the alpha-beta rule)
    gets no widget and its default.
    """
    values: dict[str, Any] = {}
    for param in method.params:
        if param.applies(values):
            values[param.name] = param_widget(method, param, model, where)
        else:
            values[param.name] = param.default
    return values
