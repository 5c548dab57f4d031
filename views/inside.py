"""Inside the network: the loaded model's layer table (shapes, parameters, receptive fields)."""

from __future__ import annotations

import streamlit as st

from core.arithmetic import COLUMNS, format_shape, summarize_table
from ui.arithmetic import cached_layer_table, layer_frame
from ui.common import model_picker

# the receptive-field columns (what torchinfo lacks) next to the shapes, then the rest
SHOWN = [*COLUMNS[:7], "receptive_field", "jump", *COLUMNS[7:12]]
assert sorted(SHOWN) == sorted(COLUMNS)

st.title("Inside the network")
st.markdown(
    "Every layer the model runs, in the order it runs them: one forward pass on a blank "
    "image, with temporary hooks that record what goes in and out. Like torchinfo, plus "
    "each layer's **receptive field** (how many input pixels one of its cells can see) "
    "and **jump** (how many pixels apart neighbouring cells look), followed along the "
    "real data flow so residual branches are counted correctly."
)

model = model_picker(key="model")
rows = cached_layer_table(model.name, model)
summary = summarize_table(rows, model.net)
table = layer_frame(rows)

total = summary.params
largest = summary.largest_field_row
cols = st.columns(4)
cols[0].metric("Layer calls", summary.calls)
cols[1].metric("Parameters", f"{total / 1e6:.2f} M" if total >= 1e5 else f"{total:,}")
cols[2].metric("Input", format_shape((3, *model.input_size)))
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
    shown[SHOWN],
    hide_index=True,
    width="stretch",
    height=560,
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
)
if shown.empty:
    st.info("No layer matches these filters.")
unused = (
    f"every parameter of {model.title}."
    if summary.uncalled_params == 0
    else f"{summary.uncalled_params:,} of {model.title}'s parameters sit in layers this pass "
    "never calls."
)
st.caption(
    f"{len(shown)} of {len(table)} rows. A module used twice (e.g. one activation shared "
    f"by two steps) has one row per call; its parameters count once. Total {total:,}: {unused}"
)
st.download_button(
    "Download CSV", shown[list(COLUMNS)].to_csv(index=False), file_name=f"{model.name}_layers.csv",
    mime="text/csv", key="inside_csv",
)  # fmt: skip
