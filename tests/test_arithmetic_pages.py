"""AppTests of the CNN-arithmetic pages: calculator, animation, receptive field, layer table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.arithmetic import PRESETS, plan_animation, receptive_field
from ui.widgets import text_width

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _download(app: AppTest, media: dict[str, bytes], label: str) -> bytes:
    button = next(b for b in app.get("download_button") if b.proto.label == label)
    file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    return media[file_id]


def _page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "views" / name), default_timeout=TIMEOUT)


def _no_trouble(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]


# --------------------------------------------------------------- geometry calculator


def _editor_key(app: AppTest) -> str:
    """The data_editor's key (ui.arithmetic.editor_key: it changes with each new table)."""
    return f"arith_editor_{app.session_state['arith_stack_version']}"


def _results(app: AppTest):
    return next(d.value for d in app.dataframe if "status" in d.value.columns)


def test_calculator_shows_each_row_and_marks_an_invalid_row(media) -> None:
    app = _page("geometry.py").run()
    _no_trouble(app)
    assert not app.error
    results = _results(app)
    assert list(results["output"]) == [
        "6 x 28 x 28", "6 x 14 x 14", "16 x 10 x 10", "16 x 5 x 5", "400", "120", "84", "10",
    ]  # fmt: skip
    assert list(results["params"])[:3] == ["156", "0", "2,416"]
    assert list(results["receptive field"])[:4] == ["5", "6", "14", "16"]
    assert app.metric[0].value == "61,706"
    # the first conv row animates by default: a GIF, downloadable
    gif = _download(app, media, "Download GIF")
    assert gif[:6] == b"GIF89a"
    assert Image.open(io.BytesIO(gif)).n_frames == 25  # 9x9 corner, 5x5 kernel: 5x5 cells

    # row 2 (avgpool, kernel 2) gets padding 2: invalid, with its reason, rows after wait
    key = _editor_key(app)
    app.session_state[key] = {"edited_rows": {1: {"padding": "2"}}, "added_rows": [],
                              "deleted_rows": []}  # fmt: skip
    app.run()
    _no_trouble(app)
    assert [e.value for e in app.error] == ["**row 2**: padding 2 is more than half the kernel 2"]
    results = _results(app)
    assert results["status"][1] == "invalid: padding 2 is more than half the kernel 2"
    assert set(results["status"][2:]) == {"not computed (fix the row above)"}
    assert list(results["op"][2:4]) == ["conv2d", "avgpool2d"]


def test_calculator_presets_reorder_and_unparseable_cells() -> None:
    app = _page("geometry.py").run()
    app.sidebar.selectbox(key="arith_preset").set_value("AlexNet").run()
    app.sidebar.button(key="arith_load").click().run()
    _no_trouble(app)
    assert [n.value for n in app.number_input][:3] == [3, 224, 224]
    results = _results(app)
    assert len(results) == len(PRESETS["AlexNet"].layers)
    assert results["output"].iloc[0] == "64 x 55 x 55"
    assert app.metric[0].value == "61,100,840"
    # move row 2 (maxpool) above row 1: the pool now runs on the image
    app.number_input(key="arith_move").set_value(2).run()
    app.button(key="arith_up").click().run()
    _no_trouble(app)
    assert list(_results(app)["op"][:2]) == ["maxpool2d", "conv2d"]
    assert _results(app)["output"].iloc[0] == "3 x 111 x 111"
    # a typo in a cell: a message, not a traceback
    key = _editor_key(app)
    app.session_state[key] = {"edited_rows": {0: {"kernel_size": "three"}}, "added_rows": [],
                              "deleted_rows": []}  # fmt: skip
    app.run()
    _no_trouble(app)
    assert "kernel_size 'three' is not a whole number" in app.error[0].value


def test_calculator_add_and_delete_rows() -> None:
    app = _page("geometry.py").run()
    key = _editor_key(app)
    app.session_state[key] = {
        "edited_rows": {},
        "added_rows": [{"op": "linear", "out_features": 2}],
        "deleted_rows": [7],
    }
    app.run()
    _no_trouble(app)
    results = _results(app)
    assert list(results["output"])[-2:] == ["84", "2"]


def _widths(app: AppTest) -> dict[str, int]:
    """The results table's column widths, as configured for the browser."""
    frame = next(d for d in app.dataframe if "status" in d.value.columns)
    return {n: c["width"] for n, c in json.loads(frame.proto.columns).items() if "width" in c}


def test_results_table_columns_hold_their_longest_text() -> None:
    """Issue 25: "64 x 224 x 22": the output column was cut."""
    app = _page("geometry.py").run()
    app.sidebar.selectbox(key="arith_preset").set_value("VGG block").run()
    app.sidebar.button(key="arith_load").click().run()
    results = _results(app)
    assert results["output"].iloc[0] == "64 x 224 x 224"
    widths = _widths(app)
    for column in results.columns:
        longest = max([column, *map(str, results[column])], key=len)
        assert widths[column] >= text_width(longest) >= 8 * len(longest), column


def test_animate_a_row_names_the_rows_of_the_preset_just_loaded() -> None:
    """Issue 25: after the VGG preset the box still read LeNet's "row 1: conv2d, 6, k 5"
    (the browser kept the label of a kept value): the value is now the label itself."""
    app = _page("geometry.py").run()
    assert app.selectbox(key="arith_animate").value == "row 1: conv2d, 6, k 5"
    app.selectbox(key="arith_animate").set_value("row 3: conv2d, 16, k 5").run()
    app.sidebar.selectbox(key="arith_preset").set_value("VGG block").run()
    app.sidebar.button(key="arith_load").click().run()
    _no_trouble(app)
    box = app.selectbox(key="arith_animate")
    assert box.options == ["row 1: conv2d, 64, k 3, p 1", "row 2: conv2d, 64, k 3, p 1",
                           "row 3: maxpool2d, k 2, s 2"]  # fmt: skip
    assert box.value == "row 3: maxpool2d, k 2, s 2"  # the same row number, its new label


def test_an_invalid_first_row_leaves_no_final_shape_and_no_empty_code() -> None:
    """Issue 25: "Final shape" showed the input and the code was an empty Sequential."""
    app = _page("geometry.py").run()
    key = _editor_key(app)
    app.session_state[key] = {"edited_rows": {0: {"kernel_size": "0"}}, "added_rows": [],
                              "deleted_rows": []}  # fmt: skip
    app.run()
    _no_trouble(app)
    captions = [c.value for c in app.caption]
    assert "Final shape: not reached: row 1 is invalid, so no row has an output yet." in captions
    assert not any(c.startswith("Final shape: 1 x 32 x 32") for c in captions)
    assert not app.code  # no empty nn.Sequential()
    assert "No code yet: row 1 (conv2d): kernel_size 0 must be at least 1" in app.warning[0].value
    assert set(_results(app)["params"]) == {""}  # blank, not a literal "None"


# -------------------------------------------------------------- convolution animation


def test_animation_page_plays_steps_and_downloads(media) -> None:
    app = _page("convolution.py").run()
    _no_trouble(app)
    assert not app.error
    gif = _download(app, media, "Download GIF")
    assert Image.open(io.BytesIO(gif)).n_frames == 25  # 5x5, kernel 3, padding 1: 5x5 out
    assert app.latex[0].value.strip("$\n").endswith("+ 1 = 5")
    # a non-square transposed convolution (per-axis sliders start from the square values)
    app.sidebar.radio(key="anim_op").set_value("convtranspose2d").run()
    app.sidebar.toggle(key="anim_square").set_value(False).run()
    app.slider(key="anim_s_h").set_value(2).run()
    app.slider(key="anim_op_pad_h").set_value(1).run()
    _no_trouble(app)
    gif = _download(app, media, "Download GIF")
    layer = {"op": "convtranspose2d", "out_channels": 1, "kernel_size": 3, "stride": (2, 1),
             "padding": 1, "output_padding": (1, 0)}  # fmt: skip
    expected = plan_animation(layer, (5, 5))
    assert expected.output_hw == (10, 5)
    assert Image.open(io.BytesIO(gif)).n_frames == expected.n_frames
    # step through: frame 7 = output cell (1, 1)
    app.segmented_control(key="anim_mode").set_value("Step through").run()
    app.slider(key="anim_frame").set_value(7).run()
    _no_trouble(app)
    assert app.caption[0].value.startswith("Output cell (1, 1) reads input")
    # an impossible pooling: the reason, no traceback
    app.sidebar.radio(key="anim_op").set_value("maxpool2d").run()
    app.slider(key="anim_p_h").set_value(3).run()
    assert "padding 3 (height) is more than half the kernel 3" in app.error[0].value


# -------------------------------------------------------------------- receptive field


def test_receptive_field_on_the_stack_shows_the_box() -> None:
    app = _page("receptive_field.py").run()
    _no_trouble(app)
    assert not app.error
    app.selectbox(key="rf_stack_row").set_value("row 3: conv2d, 16, k 5 -> 16 x 10 x 10").run()
    app.number_input(key="rf_stack_y").set_value(9).run()
    app.number_input(key="rf_stack_x").set_value(0).run()
    _no_trouble(app)
    y0, y1, x0, x1 = receptive_field(list(PRESETS["LeNet-5"].layers), (1, 32, 32), 2, 9, 0)
    assert (y0, y1, x0, x1) == (18, 32, 0, 14)
    assert app.success[0].value == (
        "Cell (9, 0) of row 3 sees input rows 18-31 and columns 0-13: 14 x 14 pixels."
    )
    assert len(app.image) == 1
    table = next(d.value for d in app.dataframe if "jump" in d.value.columns)
    assert list(table["receptive field (classic)"])[:4] == ["5", "6", "14", "16"]


def test_a_cell_of_inserted_zeros_is_not_called_padding() -> None:
    """Issue 25: in a transposed convolution with stride 3 and kernel 2, output column 2
    falls between two input cells."""
    app = _page("receptive_field.py")
    app.session_state["arith_stack"] = [
        {"op": "convtranspose2d", "out_channels": 1, "kernel_size": 2, "stride": 3}
    ]
    app.session_state["arith_input"] = (1, 4, 4)
    app.run()
    app.number_input(key="rf_stack_y").set_value(0).run()
    app.number_input(key="rf_stack_x").set_value(2).run()
    _no_trouble(app)
    assert app.info[0].value == (
        "Cell (0, 2) of row 1 reads no input pixel: along the width its kernel falls only "
        "on zeros the transposed convolution inserts between input cells (stride 3)."
    )


def test_receptive_field_on_a_real_network_shows_the_box() -> None:
    app = _page("receptive_field.py").run()
    app.segmented_control(key="rf_mode").set_value("Real network").run()
    _no_trouble(app)
    assert not app.error
    layers = app.selectbox(key="rf_model_layer_efficientnet_lite0")
    # the blocks first (issue 25): a middle block, not a BatchNorm of 135 layers
    assert layers.value == "blocks.5 - MBConvBlock -> 80x14x14"
    assert layers.label == "Layer (19 blocks)"
    assert not any("BatchNorm" in option for option in layers.options)
    app.toggle(key="rf_model_every_layer").set_value(True).run()
    layers = app.selectbox(key="rf_model_layer_efficientnet_lite0")
    assert len(layers.options) > 100  # every leaf layer's output with a feature map
    # blocks.0._depthwise_conv: 3x3 depthwise after the stem
    layers.set_value("blocks.0._depthwise_conv - Conv2dStaticSamePadding -> 32x112x112").run()
    app.number_input(key="rf_model_y").set_value(50).run()
    app.number_input(key="rf_model_x").set_value(60).run()
    _no_trouble(app)
    text = app.success[0].value
    # stem 3x3/2 (TF "same": pad 0 before, 1 after, so stem cell c reads 2c..2c+2), then a
    # depthwise 3x3: cell 50 reads stem cells 49..51 = pixels 98..104
    assert text.startswith("Cell (50, 60) of blocks.0._depthwise_conv depends on rows 98-104 and")
    assert "columns 118-124 of this image: 7 x 7 pixels (classic receptive field: 7" in text
    assert len(app.image) == 1


# --------------------------------------------------------------------- layer table


def test_inside_the_network_lists_every_layer() -> None:
    app = _page("inside.py").run()
    _no_trouble(app)
    assert not app.error
    table = app.dataframe[0].value
    assert len(table) == 135
    assert table["params"].sum() == 4_652_008
    assert table.iloc[0]["type"] == "Conv2dStaticSamePadding"
    app.multiselect(key="inside_types").set_value(["ReLU6"]).run()
    assert set(app.dataframe[0].value["type"]) == {"ReLU6"}
    # one ReLU6 used twice in each block with an expansion: blocks 1-15 (block 0 has none)
    assert (app.dataframe[0].value["call"] == 2).sum() == 15
