"""Panels of "Inside the network": the layer table, feature maps and kernels."""

from __future__ import annotations

import streamlit as st
import torch

from core.arithmetic import COLUMNS, LayerRow, format_shape, layer_table, summarize_table
from core.common.blocks import block_outputs
from core.inside import conv_layers
from ui.arithmetic import cached_layer_table, layer_frame
from ui.inside.cache import cached_feature_maps, cached_kernels, cached_layers
from ui.inside.cell import cell_section, cell_source, feature_map_chart
from ui.inside.plots import kernels_figure
from ui.inside.subject import Subject
from ui.present import presenting
from ui.state import check_choice, from_link
from ui.widgets import labelled_selectbox

# the receptive-field columns (what torchinfo lacks) next to the shapes, then the rest
SHOWN = [*COLUMNS[:7], "receptive_field", "jump", *COLUMNS[7:12]]
assert sorted(SHOWN) == sorted(COLUMNS)
EARLY = 0.1  # feature maps start early: edges and textures a person recognises
MIDDLE = 0.55  # what a channel likes: a middle block (parts of objects, not 7 x 7 cells)


@st.cache_data(show_spinner=False, max_entries=4)
def _digit_layer_table(name: str, _subject: Subject) -> list[LayerRow]:
    return layer_table(_subject.net, (1, *_subject.spec.size))


def layer_table_panel(subject: Subject) -> None:
    """Every layer the network runs, with shapes, parameters and receptive fields."""
    if subject.model is not None:
        rows = cached_layer_table(subject.name, subject.model)
    else:
        rows = _digit_layer_table(subject.name, subject)
    summary = summarize_table(rows, subject.net)
    table = layer_frame(rows)
    total = summary.params
    largest = summary.largest_field_row
    cols = st.columns(4)
    cols[0].metric("Layer calls", summary.calls)
    cols[1].metric("Parameters", f"{total / 1e6:.2f} M" if total >= 1e5 else f"{total:,}")
    cols[2].metric("Input", format_shape((subject.spec.channels, *subject.spec.size)))
    cols[3].metric(
        "Largest receptive field",
        f"{largest.receptive_field} px" if largest else "- px",
        help=f"At {largest.name} (classic size, padding counted as pixels)" if largest else None,
    )
    filters = st.columns([2, 3])
    types = filters[0].multiselect(
        "Layer types", sorted(table["type"].unique()), key="inside_types",
        placeholder="All types",
    )  # fmt: skip
    search = filters[1].text_input("Name contains", key="inside_search", placeholder="e.g. layer3")
    shown = table
    if types:
        shown = shown[shown["type"].isin(types)]
    if search:
        shown = shown[shown["name"].str.contains(search, case=False, regex=False)]
    st.dataframe(
        shown[SHOWN], hide_index=True, width="stretch", height=360 if presenting() else 560,
        column_config={
            "index": st.column_config.NumberColumn("#", width="small"),
            "call": st.column_config.NumberColumn("call", help="2 = second use of a reused module"),
            "params": st.column_config.NumberColumn("params", format="localized"),
            "input_shape": "input (C x H x W)",
            "output_shape": "output",
            "padding": st.column_config.TextColumn(
                "padding", help="A (left, right, top, bottom) tuple comes from a ZeroPad2d"
            ),
            "receptive_field": st.column_config.TextColumn(
                "receptive field", help="Classic size in input pixels; blank when not defined"
            ),
        },
    )  # fmt: skip
    if shown.empty:
        st.info("No layer matches these filters.")
    unused = (
        f"every parameter of {subject.title}."
        if summary.uncalled_params == 0
        else f"{summary.uncalled_params:,} of {subject.title}'s parameters sit in layers this "
        "pass never calls."
    )
    st.caption(
        f"{len(shown)} of {len(table)} rows. A module used twice (e.g. one activation shared "
        f"by two steps) has one row per call; its parameters count once. Total {total:,}: "
        f"{unused}"
    )
    st.download_button(
        "Download CSV", shown[list(COLUMNS)].to_csv(index=False),
        file_name=f"{subject.name}_layers.csv", mime="text/csv", key="inside_csv",
    )  # fmt: skip


def layer_choice(subject: Subject, label: str, key: str, depth: float = EARLY) -> tuple[str, int]:
    """A select box over the block outputs with a spatial output; returns (name, channels).

    Lists the network's blocks (:func:`core.common.blocks.block_outputs`: ``stem``,
    ``blocks.0``, ...) unless "Show every layer" is on; a BatchNorm inside a block is no
    place to start (issue 25). The default is the block ``depth`` of the way through:
    early blocks show edges and textures a person recognises, late ones are 7 x 7.
    """
    probe = subject.normalise(
        torch.full((1, subject.spec.channels, *subject.spec.size), subject.spec.background)
    )
    shapes = dict(cached_layers(subject.name, subject.net, probe))
    blocks = [name for name in block_outputs(subject.net) if name in shapes] or list(shapes)
    linked = st.session_state.get(f"{key}_{subject.name}__option")
    if from_link(f"{key}_{subject.name}__option") and linked in shapes and linked not in blocks:
        st.session_state[f"{key}_every_{subject.name}"] = True  # a link to a layer in a block
    every = st.toggle(
        "Show every layer", False, key=f"{key}_every_{subject.name}",
        help=f"Off: the {len(blocks)} block outputs. On: all {len(shapes)} layers with a "
        "feature map, the ones inside the blocks too.",
    )  # fmt: skip
    names = list(shapes) if every else blocks
    check_choice(f"{key}_{subject.name}__option", names, "layer")
    default = blocks[round(depth * (len(blocks) - 1))]
    name = labelled_selectbox(
        label, names, lambda n: f"{n}  ({format_shape(shapes[n][1:])})",
        key=f"{key}_{subject.name}", index=names.index(default),
    )  # fmt: skip
    return name, shapes[name][1]


def feature_maps_panel(subject: Subject) -> None:
    """A layer's channels for the user's image, strongest mean first."""
    if subject.x is None:
        st.info("Pick an image (sidebar) to see what each layer answers to it.")
        return
    left, right = st.columns([3, 1])
    with left:
        layer, channels = layer_choice(subject, "Layer", "inside_fm_layer", EARLY)
    top = right.slider("Channels shown", 4, min(64, channels), min(32, channels), 4,
                       key="inside_fm_top")  # fmt: skip
    maps = cached_feature_maps(
        subject.name, subject.image_key or "", layer, top, subject.net, subject.x
    )
    stride = feature_map_chart(maps, top, "inside_fm_chart", "inside_cell")
    strongest = ", ".join(f"{c} ({maps.means[c]:.2f})" for c in maps.order[:5])
    coarse = f" (maps this large: one cell in {stride} along each side)" if stride > 1 else ""
    st.caption(
        f"{layer}: {maps.shape[0]} channels of {maps.shape[1]} x {maps.shape[2]} for "
        f"**{subject.image_label}**, the {top} with the largest mean activation shown, "
        f"strongest first (one colour scale). Strongest: {strongest}. Hover a cell for its "
        f"channel, mean and value; click it{coarse} to see below how it was computed."
    )
    cell_section(cell_source(subject), layer, maps.shape, "inside_cell", int(maps.order[0]))


def kernels_panel(subject: Subject) -> None:
    """A convolution's kernels: RGB tiles for the first layer, grey per input channel."""
    names = conv_layers(subject.net)
    check_choice(f"inside_k_layer_{subject.name}", names, "convolution")
    left, middle, right = st.columns([3, 1, 1])
    layer = left.selectbox("Convolution", names, key=f"inside_k_layer_{subject.name}") or names[0]
    module = dict(subject.net.named_modules())[layer]
    per_group = int(module.weight.shape[1])  # a Conv2d: (C_out, C_in / groups, k, k)
    in_channel = 0
    if per_group > 1 and not (per_group == 3 and subject.spec.channels == 3 and layer == names[0]):
        in_channel = int(middle.number_input("Input channel", 0, per_group - 1, 0,
                                             key="inside_k_in"))  # fmt: skip
    shared = right.toggle("One scale for all", True, key="inside_k_shared",
                          help="Off: each kernel stretched to its own largest weight.")  # fmt: skip
    kernels = cached_kernels(subject.name, layer, in_channel, shared, subject.net)
    count = kernels.tiles.shape[0]
    columns = min(16, count)
    st.plotly_chart(kernels_figure(kernels, columns), key="inside_k_chart",
                    config={"displayModeBar": False})  # fmt: skip
    kind = (
        "colour tiles: each kernel's weights on the red, green and blue input"
        if kernels.rgb
        else f"input channel {kernels.in_channel} of {kernels.in_channels} per kernel, in grey"
    )
    st.caption(
        f"{layer}: {count} kernels of {kernels.tiles.shape[1]} x {kernels.tiles.shape[2]}, "
        f"{kind}. Grey 50% is a zero weight; white is +{kernels.scale:.3f}, black "
        f"-{kernels.scale:.3f}"
        + (" (one scale for all)." if shared else " (each its own).")
        + " Weights as stored (before any batch norm that follows)."
    )
