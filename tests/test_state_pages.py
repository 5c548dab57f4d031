"""AppTest through the router (streamlit_app.py): settings follow the user to another
page and back in one session, where Streamlit drops the widgets a run does not draw
(issue 25). The mechanism on its own: tests/test_state.py."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.pipeline import map_cache

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 240


def visit(app: AppTest, page: str) -> AppTest:
    """Move to ``views/<page>.py`` as the sidebar's page list does."""
    app.switch_page(f"views/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def start(page: str) -> AppTest:
    return visit(AppTest.from_file(APP, default_timeout=TIMEOUT).run(), page)


def test_explain_keeps_photo_methods_settings_and_class_after_another_page() -> None:
    map_cache().clear()
    app = start("explain")
    app.selectbox(key="explain_image_sample").set_value("espresso.jpg").run()
    app.sidebar.multiselect(key="explain_methods").set_value(["gradcam", "occlusion"]).run()
    app.sidebar.slider(key="explain_occlusion_patch_").set_value(48).run()
    app.sidebar.slider(key="explain_opacity").set_value(0.8).run()
    app.selectbox(key="explain_target_efficientnet_lite0").set_value(968).run()
    visit(app, "geometry")
    assert "explain_methods" not in app.session_state  # Streamlit dropped the widget
    visit(app, "explain")
    assert app.selectbox(key="explain_image_sample").value == "espresso.jpg"
    assert app.sidebar.multiselect(key="explain_methods").value == ["gradcam", "occlusion"]
    assert app.sidebar.slider(key="explain_occlusion_patch_").value == 48
    assert app.sidebar.slider(key="explain_opacity").value == 0.8
    assert "Why “cup”?" in [s.value for s in app.subheader]  # class 968
    assert app.query_params["sample"] == "espresso.jpg"
    assert app.query_params["occlusion.patch"] == "48"


def test_arithmetic_settings_follow_the_user() -> None:
    app = start("convolution")
    app.sidebar.radio(key="anim_op").set_value("maxpool2d").run()
    app.slider(key="anim_k_both").set_value(2).run()
    visit(app, "receptive_field")
    app.segmented_control(key="rf_mode").set_value("Real network").run()
    visit(app, "convolution")
    assert app.sidebar.radio(key="anim_op").value == "maxpool2d"
    assert app.slider(key="anim_k_both").value == 2
    assert dict(app.query_params) == {"op": "maxpool2d", "k": "2"}
    visit(app, "receptive_field")
    assert app.segmented_control(key="rf_mode").value == "Real network"


def test_digits_playground_and_inside_settings_follow_the_user() -> None:
    app = start("digits")
    app.segmented_control(key="digits_source").set_value("MNIST digit").run()
    app.number_input(key="digits_index").set_value(42).run()
    app.segmented_control(key="digits_panel").set_value("Seven segments").run()
    visit(app, "playground")
    app.sidebar.selectbox(key="pg_act").set_value("relu").run()
    app.sidebar.text_input(key="pg_hidden").set_value("16, 4").run()
    visit(app, "inside")
    app.segmented_control(key="inside_section").set_value("Kernels").run()
    visit(app, "digits")
    assert app.number_input(key="digits_index").value == 42
    assert app.session_state["digits_panel"] == "Seven segments"
    visit(app, "playground")
    assert app.sidebar.selectbox(key="pg_act").value == "relu"
    assert app.session_state["pg_trainer"].spec.hidden == (16, 4)
    visit(app, "inside")
    assert app.session_state["inside_section"] == "Kernels"
    # What a browser that lost a value under load falls back to is the value (issue 21)
    assert declared(app.segmented_control(key="inside_section")) == ["Kernels"]
    visit(app, "digits")
    assert declared(app.segmented_control(key="digits_source")) == ["MNIST digit"]
    assert declared(app.segmented_control(key="digits_panel")) == ["Seven segments"]


def declared(widget) -> list[str]:  # type: ignore[no-untyped-def]
    """The options a choice widget declares as its default (its proto's indices)."""
    return [widget.options[i] for i in widget.proto.default]


def test_presenter_mode_follows_the_user_and_leaves_when_switched_off() -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params["present"] = "1"
    app.run()
    assert app.sidebar.toggle(key="present").value is True
    visit(app, "geometry")
    assert app.query_params["present"] == "1"
    assert not any("PyTorch layers on an input" in m.value for m in app.markdown)  # trimmed
    app.sidebar.toggle(key="present").set_value(False).run()
    assert "present" not in app.query_params
    visit(app, "convolution")
    assert "present" not in app.query_params
    assert app.sidebar.toggle(key="present").value is False


def test_a_bad_presenter_value_gives_a_notice() -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params["present"] = "maybe"
    app.run()
    assert "present must be true or false" in " ".join(w.value for w in app.warning)
    assert app.sidebar.toggle(key="present").value is False
