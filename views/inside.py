"""Inside the network: the layer table, feature maps, kernels, feature visualisation,
dataset examples and the dataset embedding, for an ImageNet model or the digit CNN."""

from __future__ import annotations

import streamlit as st

from core.inside.share import SECTIONS
from core.models import gradients_unavailable
from ui.inside import (
    embedding_panel,
    examples_panel,
    feature_maps_panel,
    feature_vis_panel,
    kernels_panel,
    layer_table_panel,
    pick_subject,
    softmax_section,
)
from ui.inside.links import inside_state
from ui.present import intro
from ui.state import current, declare

st.title("Inside the network")
declare(inside_state())  # ?section=feature_maps&model=resnet18&layer=layer2&channel=7
section = st.segmented_control(
    "Look at", list(SECTIONS), default=current("inside_section", "Layer table"), required=True,
    key="inside_section",
) or "Layer table"  # fmt: skip
subject = pick_subject(section)  # dataset examples and the embedding start on 5,000 digits
if (no_layers := gradients_unavailable(subject.net)) is not None:  # ONNX Runtime only
    st.info(f"{subject.title} runs on ONNX Runtime only, with no layers to look into here: "
            f"{no_layers}. Explain an image runs its forward-only methods.")  # fmt: skip
    st.stop()
intro(f"**{section}**: {SECTIONS[section]}")

if section == "Layer table":
    layer_table_panel(subject)
elif section == "Feature maps":
    feature_maps_panel(subject)
elif section == "Kernels":
    kernels_panel(subject)
elif section == "Feature visualisation":
    feature_vis_panel(subject)
elif section == "Dataset examples":
    examples_panel(subject)
elif section == "Softmax":
    softmax_section(subject)
else:
    embedding_panel(subject)
