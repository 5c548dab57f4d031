"""The digits lab's "how was this number computed" and softmax views, under the
activations: one cell of any layer of the digit CNN back to the pixels and kernels it
came from, and the ten logits turned into probabilities at a temperature. The sections
themselves are "Inside the network"'s (:mod:`ui.inside.cell`, :mod:`ui.inside.softmax`).
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import digits
from core.common.layout import fast_layout
from ui.digits.cache import digit_key
from ui.inside import CellSource, cell_section, softmax_panel
from ui.inside.cache import cached_feature_maps, cached_layers
from ui.inside.softmax import cached_logits

NETWORK = "digits"  # the cache key "Inside the network" uses for the digit CNN too
DEFAULT_LAYER = "relu2"


def arithmetic_panel(digit: np.ndarray) -> None:
    """Pick a layer and a cell of the digit CNN: every step to its value; the softmax.

    Args:
        digit: ``(28, 28)`` the preprocessed digit.
    """
    net = digits.digit_net()
    x = digits.as_batch(digit)  # (1, 1, 28, 28)
    key = digit_key(digit)
    layers = cached_layers(NETWORK, net, fast_layout(x))
    shapes = dict(layers)
    names = [name for name, _ in layers]
    st.divider()
    layer = st.selectbox(
        "Layer of the cell to explain", names, index=names.index(DEFAULT_LAYER),
        key="digits_cell_layer",
        format_func=lambda n: f"{n}  ({' x '.join(str(s) for s in shapes[n][1:])})",
        help="The digit CNN was trained with batch norm, folded into each convolution's "
        "weights and bias: its convolutions' numbers already include it.",
    )  # fmt: skip
    layer = layer or DEFAULT_LAYER
    maps = cached_feature_maps(NETWORK, key, layer, 4, net, x)
    source = CellSource(NETWORK, key, net, x, "the digit's pixels: 0 = paper, 1 = ink")
    cell_section(source, layer, maps.shape, "digits_cell", int(maps.order[0]), maps_above=False)
    st.divider()
    st.markdown("#### From logits to probabilities: the softmax")
    logits = cached_logits(NETWORK, key, net, x)  # (10,) fc2's output
    softmax_panel(logits, [str(d) for d in range(10)], "digits_softmax")
