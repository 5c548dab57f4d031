"""Geometry calculator: shapes, parameters and receptive fields of a layer stack, row by row."""

from __future__ import annotations

import streamlit as st

from core.arithmetic import (
    ANIMATED_OPS,
    PRESETS,
    GeometryError,
    StackReport,
    analyze_stack,
    final_shape_text,
    output_size_formula,
    pytorch_code,
    readable_input_size,
    total_params,
)
from ui.arithmetic import (
    cached_gif,
    init_stack,
    input_shape_inputs,
    layer_key,
    load_preset,
    replace_stack,
    results_table,
    stack_bindings,
    stack_editor,
)
from ui.present import intro
from ui.state import PageState, declare
from ui.widgets import fitted_columns, labelled_selectbox

st.title("Geometry calculator")
intro(
    "Stack PyTorch layers on an input **C x H x W** and see what comes out of each row: "
    "the shape, the number of parameters and the receptive field (how many input pixels "
    "one output cell sees, and how far apart neighbouring cells look). The numbers are "
    "PyTorch's own formulas; an impossible row says why, and the rows after it wait. "
    "Pairs like `3x5` set height and width separately; blank cells take PyTorch's defaults."
)

init_stack()
declare(PageState("geometry", stack_bindings()))  # ?input=1x32x32&layers=conv2d_o6_k5~...

# ---------------------------------------------------------------- presets and input
with st.sidebar:
    st.subheader("Presets")
    preset_name = st.selectbox("Classic stack", list(PRESETS), key="arith_preset")
    st.caption(PRESETS[preset_name].note)
    if st.button("Load preset", key="arith_load", help="Replaces the table below"):
        load_preset(preset_name)

input_shape = input_shape_inputs()

# ------------------------------------------------------------------------ the table
left, right = st.columns([1, 1])
with left:
    st.subheader("Layers")
    rows = stack_editor()  # also kept for the receptive-field page
    move_cols = st.columns([4, 3, 3])  # room for "Move down" in a half-width column
    if rows:
        to_move = move_cols[0].number_input("Row to move", 1, len(rows), 1, key="arith_move")
        up = move_cols[1].button("Move up", disabled=to_move == 1, key="arith_up")
        down = move_cols[2].button("Move down", disabled=to_move == len(rows), key="arith_down")
        if up or down:
            i = to_move - 1
            j = i - 1 if up else i + 1
            rows[i], rows[j] = rows[j], rows[i]
            replace_stack(rows)
            st.rerun()
    st.caption("Add rows with the + under the table; select rows and press Delete to remove.")

report: StackReport = analyze_stack(input_shape, rows)


with right:
    st.subheader("What comes out")
    if report.error is not None:
        where = "the input" if report.error.row is None else f"row {report.error.row}"
        st.error(f"**{where}**: {report.error.reason}", icon=":material/error:")
    if rows:
        results = results_table(report, rows)
        st.dataframe(results, hide_index=True, column_config=fitted_columns(results))
        st.metric("Parameters (valid rows)", f"{total_params(report):,}")
        st.caption(final_shape_text(report))
    else:
        st.info("The table is empty: add a row, or load a preset from the sidebar.")

with st.expander("The same stack in PyTorch"):
    if report.error is not None and not report.results:
        st.warning(f"No code yet: {report.error}. Fix it to see the stack in PyTorch.")
    else:
        st.code(pytorch_code(input_shape, rows), language="python")

# -------------------------------------------------------------------- animate a row
st.subheader("Animate a row")
kernel_rows = [r for r in report.results if r.layer.op in ANIMATED_OPS]
if not kernel_rows:
    st.info("No valid convolution or pooling row to animate yet.")
else:
    choice = labelled_selectbox(
        "Row",
        [r.row for r in kernel_rows],
        lambda n: f"row {n}: {report.results[n - 1].layer.describe()}",
        key="arith_animate",
    )
    result = report.results[choice - 1]
    real_hw = tuple(result.input_shape[1:])
    try:
        small_hw = readable_input_size(result.layer, real_hw)
        gif = cached_gif(layer_key(result.layer), small_hw, 500)
    except (GeometryError, ValueError) as err:
        st.warning(f"Cannot animate this row: {err}")
    else:
        if small_hw != real_hw:
            st.caption(
                f"Shown on a {small_hw[0]} x {small_hw[1]} corner of the real "
                f"{real_hw[0]} x {real_hw[1]} input, with the same kernel, stride, padding "
                "and dilation, so every cell stays readable."
            )
        st.image(gif, caption="One frame per output cell", width="content")
        st.download_button(
            "Download GIF", gif, file_name=f"row{choice}_{result.layer.op}.gif",
            mime="image/gif", key="arith_gif_download",
        )  # fmt: skip
    for line in output_size_formula(result.layer, real_hw):
        st.latex(line)
