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

from core.attribution import InputShape, Method, Param, input_shape_for
from core.models import ImageModel
from ui.common import cached_model


@st.cache_data(show_spinner=False, max_entries=16)
def model_input_shape(model_name: str) -> InputShape:
    """The model's input size and feature-map channels (for costs and layer pickers)."""
    return input_shape_for(cached_model(model_name))


def layer_choices(model_name: str) -> list[str]:
    """The model's layers with a spatial feature map, deepest first (CAM candidates)."""
    return list(reversed(list(model_input_shape(model_name).channels)))


def _label(param: Param) -> str:
    words = param.name.replace("_", " ").capitalize()
    return f"{words} ({param.unit})" if param.unit else words


def param_widget(method: Method, param: Param, model: ImageModel, where: Any = st) -> Any:
    """One widget for one parameter; returns its value.

    Args:
        method: The method the parameter belongs to (for the widget key).
        param: The declared parameter.
        model: The current model (for ``layer`` parameters).
        where: Streamlit container to draw in.
    """
    key = f"explain_{method.name}_{param.name}_{model.name if param.kind == 'layer' else ''}"
    label, help_ = _label(param), param.help
    if param.kind == "layer":
        choices = layer_choices(model.name)
        layer = model.target_layer if model.target_layer in choices else choices[0]
        return where.selectbox(label, choices, index=choices.index(layer), key=key, help=help_)
    if param.kind == "choice":
        choices = list(param.choices)
        return where.selectbox(
            label, choices, index=choices.index(str(param.default)), key=key, help=help_
        )
    if param.kind == "bool":
        return where.checkbox(label, value=bool(param.default), key=key, help=help_)
    low, high, start = param.numeric_range()
    if param.log:
        decades = [
            float(f"{v:.0e}")
            for v in np.logspace(
                np.log10(low), np.log10(high), int(round(np.log10(high / low))) + 1
            )
        ]
        default = min(decades, key=lambda v: abs(np.log10(v) - np.log10(start)))
        return where.select_slider(
            label, decades, value=default, key=key, help=help_, format_func="{:.0e}".format
        )
    if param.kind == "int" and high - low > 1000 * (param.step or 1):
        return int(where.number_input(label, int(low), int(high), int(start), key=key, help=help_))
    number = int if param.kind == "int" else float
    return where.slider(
        label,
        number(low),
        number(high),
        number(start),
        number(param.step or (1 if param.kind == "int" else 0.01)),
        key=key,
        help=help_,
    )


def method_params(method: Method, model: ImageModel, where: Any = st) -> dict[str, Any]:
    """All of a method's parameters as widgets (in ``where``); returns name -> value."""
    return {param.name: param_widget(method, param, model, where) for param in method.params}
