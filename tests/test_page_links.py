"""AppTest: every page's main state is in its URL (issue 25). A teacher's deep link
opens each page with its widgets set; bad values fall back to the defaults with a
notice; a widget the user sets is written back into the URL; presenter mode stays in
it. (Explain's own links: tests/test_share_page.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.present import PRESENT

VIEWS = Path(__file__).resolve().parent.parent / "views"
TIMEOUT = 240


def open_link(page: str, query: dict[str, str], **session: object) -> AppTest:
    """Run ``views/<page>.py`` opened with ``?query`` (and session values set first)."""
    app = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=TIMEOUT)
    for key, value in query.items():
        app.query_params[key] = value
    for key, value in session.items():
        app.session_state[key] = value
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def notices(app: AppTest) -> str:
    return " ".join(w.value for w in app.warning)


def test_geometry_link_restores_the_table_and_its_input() -> None:
    app = open_link(
        "geometry", {"input": "3x64x64", "layers": "conv2d_o8_k3_p1~maxpool2d_k2~conv2d_o16_k3x5"}
    )
    assert not app.warning
    assert [app.number_input(key=k).value for k in ("arith_c", "arith_h", "arith_w")] == [3, 64, 64]
    results = app.dataframe[1].value  # what comes out of each row (0: the editor)
    assert list(results["output"]) == ["8 x 64 x 64", "8 x 32 x 32", "16 x 30 x 28"]
    assert dict(app.query_params) == {
        "input": "3x64x64", "layers": "conv2d_o8_k3_p1~maxpool2d_k2~conv2d_o16_k3x5"
    }  # fmt: skip
    app.number_input(key="arith_c").set_value(1).run()
    assert app.query_params["input"] == "1x64x64"


def test_geometry_bad_link_keeps_the_default_stack_with_notices() -> None:
    app = open_link("geometry", {"input": "3x0x64", "layers": "conv9d_o8", "zoom": "2"})
    text = notices(app)
    assert "input=3x0x64" in text
    assert "between 1 and 4096" in text
    assert "unknown op 'conv9d'" in text
    assert "'zoom'" in text
    assert [app.number_input(key=k).value for k in ("arith_c", "arith_h", "arith_w")] == [1, 32, 32]
    assert len(app.dataframe[1].value) == 8  # LeNet-5
    assert dict(app.query_params) == {}


def test_geometry_link_with_a_row_pytorch_refuses_says_why() -> None:
    """A teacher may share a stack that does not work; the page says why, as when the
    row is typed (it used to raise when such a stack came back to the table)."""
    app = open_link("geometry", {"layers": "conv2d_o6~flatten"})
    assert "kernel_size is required for conv2d" in " ".join(e.value for e in app.error)


def test_convolution_link_sets_every_slider() -> None:
    app = open_link("convolution", {"op": "maxpool2d", "k": "3x2", "s": "2", "in": "7",
                                    "view": "step", "frame": "4", "speed": "800"})  # fmt: skip
    assert not app.warning
    assert app.sidebar.radio(key="anim_op").value == "maxpool2d"
    assert app.sidebar.toggle(key="anim_square").value is False  # 3x2 is not square
    assert (app.slider(key="anim_k_h").value, app.slider(key="anim_k_w").value) == (3, 2)
    assert (app.slider(key="anim_s_h").value, app.slider(key="anim_s_w").value) == (2, 2)
    assert app.slider(key="anim_frame").value == 4
    assert app.select_slider(key="anim_speed").value == 800
    # 7 x 7 input, window 3 x 2, stride 2: 3 x 3 cells; the 4th is (1, 0)
    assert "Output cell (1, 0) reads input rows 2, 3, 4 and columns 0, 1." in [
        c.value for c in app.caption
    ]  # fmt: skip
    app.slider(key="anim_s_w").set_value(1).run()
    assert app.query_params["s"] == "2x1"
    assert app.query_params["k"] == "3x2"


def test_convolution_bad_link_gives_notices_and_defaults() -> None:
    app = open_link("convolution", {"op": "conv3d", "k": "9", "view": "step", "frame": "300"})
    text = notices(app)
    assert "op=conv3d" in text
    assert "k=9" in text
    assert "frame 300" in text  # 25 frames only: known once the layer is
    assert app.sidebar.radio(key="anim_op").value == "conv2d"
    assert app.slider(key="anim_k_both").value == 3
    assert app.slider(key="anim_frame").value == 1


def test_receptive_field_link_on_the_calculators_stack() -> None:
    app = open_link("receptive_field", {
        "layers": "conv2d_o4_k3~maxpool2d_k2~conv2d_o8_k3", "input": "1x16x16", "row": "3",
        "y": "1", "x": "2"})  # fmt: skip
    assert not app.warning
    assert app.selectbox(key="rf_stack_row").value.startswith("row 3: conv2d, 8, k 3")
    assert [s.value for s in app.success] == [
        "Cell (1, 2) of row 3 sees input rows 2-9 and columns 4-11: 8 x 8 pixels."
    ]
    app.number_input(key="rf_stack_x").set_value(0).run()
    assert app.query_params["x"] == "0"


def test_receptive_field_link_on_a_real_network() -> None:
    app = open_link("receptive_field", {"network": "network", "model": "efficientnet_lite1",
                                        "sample": "espresso.jpg", "layer": "blocks.3", "y": "5",
                                        "x": "6"})  # fmt: skip
    assert not app.warning
    assert app.selectbox(key="model").value == "efficientnet_lite1"
    assert app.selectbox(key="rf_image_sample").value == "espresso.jpg"
    assert app.selectbox(key="rf_model_layer_efficientnet_lite1").value.startswith("blocks.3 ")
    assert app.success[0].value.startswith("Cell (5, 6) of blocks.3 depends on rows")
    assert "layers" not in app.query_params  # the stack is not this view's


def test_receptive_field_bad_layer_and_cell_fall_back_with_notices() -> None:
    app = open_link("receptive_field", {"network": "network", "layer": "nope.9", "y": "500",
                                        "row": "x"})  # fmt: skip
    text = notices(app)
    assert "row=x" in text
    assert "layer 'nope.9'" in text
    assert "cell row 500" in text
    assert app.success or app.info  # the default layer and cell are traced


def test_digits_link_opens_a_held_out_digit_and_a_tab() -> None:
    app = open_link("digits", {"source": "mnist", "digit": "42", "tab": "heatmaps"})
    assert not app.warning
    assert app.number_input(key="digits_index").value == 42
    assert app.session_state["digits_panel"] == "Heatmaps"
    assert any("which pixels mattered" in c.value for c in app.caption)
    app.number_input(key="digits_index").set_value(7).run()
    assert app.query_params["digit"] == "7"


def test_digits_bad_link_gives_notices_and_the_drawing_canvas() -> None:
    app = open_link("digits", {"source": "paint", "digit": "1000", "tab": "zz"})
    text = notices(app)
    for word in ("source=paint", "digit=1000", "tab=zz"):
        assert word in text
    assert app.session_state["digits_source"] == "Draw"
    assert app.session_state["digits_panel"] == "Activations"


def test_playground_link_sets_up_the_run() -> None:
    link = {"data": "xor", "hidden": "16,4", "act": "relu", "init": "he", "lr": "0.03",
            "batch": "8", "noise": "0.2", "seed": "7"}  # fmt: skip
    app = open_link("playground", link)
    assert not app.warning
    spec = app.session_state["pg_trainer"].spec
    assert (spec.hidden, spec.activation, spec.init) == ((16, 4), "relu", "he")
    assert app.session_state["pg_trainer"].lr == 0.03
    assert app.sidebar.select_slider(key="pg_batch").value == 8
    app.sidebar.selectbox(key="pg_act").set_value("sigmoid").run()
    assert app.query_params["act"] == "sigmoid"
    assert app.query_params["hidden"] == "16,4"


def test_playground_bad_link_gives_notices_and_defaults() -> None:
    app = open_link("playground", {"data": "regression", "inputs": "40", "hidden": "99",
                                   "lr": "7"})  # fmt: skip
    text = notices(app)
    assert "inputs=40" in text
    assert "at most 32 units per layer" in text
    assert "lr=7" in text
    assert app.session_state["pg_trainer"].spec.hidden == (8, 8)
    assert app.session_state["pg_trainer"].lr == 0.1
    assert dict(app.query_params) == {"data": "regression"}


def test_inside_link_opens_a_section_a_layer_and_a_channel() -> None:
    link = {"section": "feature_maps", "model": "efficientnet_lite1", "sample": "espresso.jpg",
            "layer": "blocks.3", "channel": "7"}  # fmt: skip
    app = open_link("inside", link)
    assert not app.warning
    assert app.selectbox(key="inside_fm_layer_efficientnet_lite1").value.startswith("blocks.3 ")
    assert app.number_input(key="inside_cell_channel").value == 7
    assert app.sidebar.selectbox(key="inside_image_sample").value == "espresso.jpg"
    # the strongest cell, found while the page ran, is written by the router's finish()
    assert dict(app.query_params) == link


def test_inside_link_opens_the_explained_cell_and_a_bad_row_falls_back() -> None:
    link = {"section": "feature_maps", "layer": "blocks.1", "channel": "3", "row": "2",
            "col": "5"}  # fmt: skip
    app = open_link("inside", link)
    assert not app.warning
    assert app.selectbox(key="inside_fm_layer_efficientnet_lite0").value.startswith("blocks.1 ")
    cell = [app.number_input(key=f"inside_cell_{k}").value for k in ("channel", "row", "col")]
    assert cell == [3, 2, 5]
    assert "blocks.1: channel 3, row 2, column 5" in [m.label for m in app.metric]
    assert dict(app.query_params) == link
    app = open_link("inside", {**link, "row": "999"})
    assert "cell row 999" in notices(app)
    assert app.number_input(key="inside_cell_row").value < 999  # the channel's strongest cell


def test_a_link_to_a_model_from_another_sessions_file_says_so() -> None:
    for page in ("inside", "explain"):
        app = open_link(page, {"model": "file-0123456789ab"})
        assert "model file cannot travel in a link" in notices(app), page
        assert app.sidebar.selectbox(key="model").value == "efficientnet_lite0"
    app = open_link("inside", {"model": "resnet999"})
    assert "model must be one of" in notices(app)


def test_inside_link_to_the_digit_cnns_kernels_and_a_bad_layer() -> None:
    app = open_link("inside", {"section": "kernels", "network": "digits", "layer": "conv2"})
    assert not app.warning
    assert app.session_state["inside_network"] == "Digit CNN"
    assert app.selectbox(key="inside_k_layer_digits").value == "conv2"
    app = open_link("inside", {"section": "kernels", "network": "digits", "layer": "fc9"})
    assert "convolution 'fc9'" in notices(app)


def test_compare_link_restores_models_methods_class_and_photo() -> None:
    app = open_link("compare", {"models": "efficientnet_lite0,efficientnet_lite1",
                                "methods": "gradcam", "same_class": "true", "class": "968",
                                "sample": "espresso.jpg"})  # fmt: skip
    assert not app.warning
    assert app.sidebar.multiselect(key="compare_models").value == [
        "efficientnet_lite0", "efficientnet_lite1"
    ]  # fmt: skip
    assert app.sidebar.multiselect(key="compare_methods").value == ["gradcam"]
    assert app.selectbox(key="compare_class").value == 968
    rows = [m.value for m in app.markdown if "(embedded)**" in m.value]
    assert len(rows) == 2
    assert all("\ncup: " in row for row in rows), rows  # class 968 in both rows


def test_compare_link_to_models_not_on_this_machine_leaves_them_out() -> None:
    app = open_link("compare", {"models": "efficientnet_lite0,vgg99", "methods": "gradcam"},
                    compare_same_scale=False)  # fmt: skip
    assert "vgg99" in notices(app)
    assert app.sidebar.multiselect(key="compare_models").value == ["efficientnet_lite0"]


@pytest.mark.parametrize("page", ["geometry", "convolution", "digits"])
def test_presenter_mode_stays_in_the_url_and_trims_the_description(page: str) -> None:
    plain = open_link(page, {})
    presenting = open_link(page, {}, **{PRESENT: True})
    assert presenting.query_params["present"] == "1"
    shown = [m.value for m in plain.markdown] + [c.value for c in plain.caption]
    trimmed = [m.value for m in presenting.markdown] + [c.value for c in presenting.caption]
    assert len(" ".join(trimmed)) < len(" ".join(shown))  # the page's description is gone


def test_explain_keeps_presenter_mode_in_its_own_url() -> None:
    app = open_link("explain", {"present": "1", "methods": "gradcam"}, **{PRESENT: True})
    assert not app.warning  # present= is no unknown setting of Explain's link
    assert app.query_params["present"] == "1"
    assert app.query_params["methods"] == "gradcam"
    assert "present" not in app.sidebar.get("code")[0].value  # the share link: the view only
