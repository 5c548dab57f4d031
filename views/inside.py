"""Inside the network: the layer table, feature maps, kernels, feature visualisation,
dataset examples and the dataset embedding, for an ImageNet model or the digit CNN."""

from __future__ import annotations

import streamlit as st

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

SECTIONS = {
    "Layer table": "every layer the model runs, in the order it runs them: one forward pass "
    "with temporary hooks that record what goes in and out. Like torchinfo, plus each "
    "layer's **receptive field** (how many input pixels one of its cells can see) and "
    "**jump** (how many pixels apart neighbouring cells look), followed along the real "
    "data flow so residual branches are counted correctly.",
    "Feature maps": "what one layer answers to the image: every channel, strongest first.",
    "Kernels": "the convolutions' weights: the first layer's in colour, deeper ones one "
    "input channel at a time.",
    "Feature visualisation": "the image a neuron, channel, layer or class likes best, "
    "found by gradient ascent on the image; switch regularisers on and off to see why "
    "naive optimisation gives noise (Olah et al. 2017, "
    "[Feature Visualization](https://distill.pub/2017/feature-visualization/)).",
    "Dataset examples": "the patches of real images that excite a channel most, beside "
    "what the channel likes in the abstract.",
    "Embedding": "where the network puts each image: its penultimate-layer activations "
    "in two dimensions (t-SNE or PCA).",
    "Softmax": "from the last layer's logits to probabilities, and what a temperature does.",
}

st.title("Inside the network")
section = st.segmented_control(
    "Look at", list(SECTIONS), default="Layer table", required=True, key="inside_section"
) or "Layer table"  # fmt: skip
subject = pick_subject(section)  # dataset examples and the embedding start on 5,000 digits
if (no_layers := gradients_unavailable(subject.net)) is not None:  # ONNX Runtime only
    st.info(f"{subject.title} runs on ONNX Runtime only, with no layers to look into here: "
            f"{no_layers}. Explain an image runs its forward-only methods.")  # fmt: skip
    st.stop()
st.markdown(f"**{section}**: {SECTIONS[section]}")

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
