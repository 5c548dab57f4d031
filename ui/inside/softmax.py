"""The softmax view: a network's logits, its probabilities, and the same at a
temperature T of the user's choice (the numbers from :func:`core.inside.softmax_at`).
Used by "Inside the network" and the digits lab."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch
from torch import nn

from core import inside
from core.common.single_thread import torch_threads
from core.inside.cell_steps import number
from ui.inside.cell_plots import softmax_figure
from ui.inside.subject import Subject

TEMPERATURES = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
SHOWN = 10  # classes in the chart and the table


@st.cache_data(show_spinner=False, max_entries=64)
def cached_logits(name: str, image_key: str, _net: nn.Module, _x: torch.Tensor) -> np.ndarray:
    """:func:`core.inside.network_logits` of the user's image."""
    with torch_threads(1):
        return inside.network_logits(_net, _x)


def softmax_section(subject: Subject) -> None:
    """The softmax of the subject's image (a section of "Inside the network")."""
    if subject.x is None:
        st.info("Pick an image (sidebar) to see its logits and probabilities.")
        return
    logits = cached_logits(subject.name, subject.image_key or "", subject.net, subject.x)
    softmax_panel(logits, subject.labels, "inside_softmax")


def softmax_panel(logits: np.ndarray, labels: list[str], key: str) -> None:
    """Logits, probabilities at T = 1 and at a chosen T, the formula and its numbers.

    Args:
        logits: ``(K,)`` the network's logits.
        labels: ``K`` class names.
        key: Widget key prefix.
    """
    left, right = st.columns([2, 3], gap="medium")
    with left:
        temperature = float(
            st.select_slider(
                "Temperature T", TEMPERATURES, value=1.0, key=f"{key}_temperature",
                help="T = 1 is the network's own answer. T > 1 flattens the probabilities "
                "(used to soften a teacher's answers in knowledge distillation), T < 1 "
                "sharpens them; the order of the classes never changes.",
            )
        )  # fmt: skip
        st.latex(r"p_i = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}")
        view = inside.softmax_at(logits, temperature)
        reference = inside.softmax_at(logits, 1.0)
        top = int(view.order[0])
        total = float(view.exponentials.sum())
        st.markdown(
            f"z: the logits (the network's last layer, before the softmax). The top class, "
            f"**{labels[top]}**, at T = {number(temperature, 3)}: its e^((z - z_max) / T) = "
            f"{number(float(view.exponentials[top]), 4)} divided by the sum of all "
            f"{len(logits):,} such numbers, {number(total, 5)}, gives "
            f"**{view.probabilities[top]:.2%}** (at T = 1: {reference.probabilities[top]:.2%})."
        )
        uniform = np.log2(len(logits))
        st.caption(
            f"Subtracting the largest z / T before e^ changes nothing (it cancels) and keeps "
            f"the numbers finite. Entropy: {view.entropy:.2f} bits at T = "
            f"{number(temperature, 3)}, {reference.entropy:.2f} at T = 1 (uniform: "
            f"{uniform:.2f})."
        )
    shown = view.order[:SHOWN]
    with right:
        st.plotly_chart(
            softmax_figure(view, reference, labels, shown), key=f"{key}_chart",
            config={"displayModeBar": False},
        )  # fmt: skip
        if len(logits) > SHOWN:
            rest = 1 - float(view.probabilities[shown].sum())
            st.caption(f"The other {len(logits) - SHOWN:,} classes share {rest:.2%} at this T.")
    st.dataframe(
        pd.DataFrame({
            "class": [labels[i] for i in shown], "logit z": view.logits[shown],
            "z / T": view.scaled[shown], "e^((z - z_max) / T)": view.exponentials[shown],
            "p at T = 1": reference.probabilities[shown], "p at T": view.probabilities[shown],
        }),
        hide_index=True, key=f"{key}_table",
        column_config={
            "logit z": st.column_config.NumberColumn(format="%.4g"),
            "z / T": st.column_config.NumberColumn(format="%.4g"),
            "e^((z - z_max) / T)": st.column_config.NumberColumn(format="%.4g"),
            "p at T = 1": st.column_config.NumberColumn(format="percent"),
            "p at T": st.column_config.NumberColumn(format="percent"),
        },
    )  # fmt: skip
