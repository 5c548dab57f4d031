"""Cached calls of core.arithmetic for the CNN-arithmetic pages (Streamlit caches).

Keys are hashable arguments only: a layer is keyed on its JSON text (:func:`layer_key`),
a model on its registry name and an image on the hash of its bytes; the objects
themselves are passed as ``_underscore`` arguments, which Streamlit does not hash.
"""

from __future__ import annotations

import io
import json

import streamlit as st
from PIL import Image

from core.arithmetic import (
    Layer,
    LayerRow,
    ModelField,
    animation_gif,
    model_layer_table,
    model_receptive_field,
    plan_animation,
    render_frame,
)
from core.common.blocks import block_outputs
from core.models import ImageModel


def layer_key(layer: Layer) -> str:
    """A hashable, stable text form of a layer (cache key)."""
    return json.dumps(layer.to_row(), sort_keys=True)


@st.cache_data(show_spinner="Drawing the animation...", max_entries=64)
def cached_gif(layer_json: str, input_hw: tuple[int, int], ms_per_frame: int) -> bytes:
    """GIF bytes of one layer's animation, cached on the layer and the input size."""
    return animation_gif(json.loads(layer_json), input_hw, ms_per_frame)


@st.cache_data(show_spinner=False, max_entries=256)
def cached_frame_png(layer_json: str, input_hw: tuple[int, int], index: int) -> bytes:
    """One frame as PNG bytes."""
    plan = plan_animation(json.loads(layer_json), input_hw)
    buffer = io.BytesIO()
    render_frame(plan, index).save(buffer, format="PNG")
    return buffer.getvalue()


@st.cache_data(show_spinner="Running one forward pass to list the layers...", max_entries=16)
def cached_layer_table(model_name: str, _model: ImageModel, blocks: bool = False) -> list[LayerRow]:
    """The layer table of a loaded model (numbers, not text), cached on its registry name.

    Args:
        model_name: Registry name of ``_model`` (cache key).
        _model: The loaded model (not hashed).
        blocks: One row per block output (:func:`core.common.blocks.block_outputs`)
            instead of one per leaf layer call.
    """
    return model_layer_table(_model, block_outputs(_model.net) if blocks else None)


@st.cache_data(show_spinner="Back-propagating from the cell to the image...", max_entries=64)
def cached_model_field(
    model_name: str,
    image_key: str,
    layer: str,
    call: int,
    y: int,
    x: int,
    _model: ImageModel,
    _image: Image.Image,
) -> ModelField:
    """The gradient receptive field of one cell, cached on (model, image, layer, cell).

    Args:
        model_name: Registry name of ``_model`` (cache key).
        image_key: Hash of the image's bytes (cache key).
        layer: Module name.
        call: 1-based call of the module (as in the layer table).
        y: Cell row.
        x: Cell column.
        _model: The loaded model (not hashed).
        _image: The RGB image (not hashed).
    """
    inputs = _model.preprocess(_image)  # (1, 3, H, W)
    return model_receptive_field(_model.net, inputs, layer, y, x, call - 1)
