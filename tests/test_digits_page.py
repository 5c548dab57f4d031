"""AppTest of the Digits lab page: empty canvas, a held-out digit through every panel,
the seven-segment toggles and the live-training controls."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import digits

PAGE = str(Path(__file__).resolve().parent.parent / "views" / "digits.py")
TIMEOUT = 120


def start() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def rerun_ok(app: AppTest) -> AppTest:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]
    return app


def with_mnist_digit(index: int) -> AppTest:
    app = start()
    app.button_group(key="digits_source").set_value("MNIST digit").run()
    app.number_input(key="digits_index").set_value(index).run()
    return rerun_ok(app)


def show_panel(app: AppTest, panel: str) -> AppTest:
    app.button_group(key="digits_panel").set_value(panel).run()
    return rerun_ok(app)


def texts(app: AppTest) -> str:
    return "\n".join(m.value for m in app.markdown)


def test_empty_canvas_asks_for_a_drawing_and_guesses_nothing():
    app = start()
    assert any("Draw a digit" in info.value for info in app.info)
    assert not app.metric  # no prediction for nothing
    assert not app.get("plotly_chart")
    # The panels that explain a drawing ask for one too.
    for panel in ("Activations", "Heatmaps", "Adversarial"):
        show_panel(app, panel)
        assert any("draw a digit first" in info.value for info in app.info)


def test_a_held_out_digit_is_classified_with_its_activations():
    data = digits.mnist_subset()
    index = 123
    app = with_mnist_digit(index)
    assert app.metric[0].value == str(data.test_labels[index])
    # issue 25: the left column shows the digit as stored (it was empty in MNIST mode)
    assert (
        app.get("image")[0]
        .captions[0]
        .startswith(f"Held-out MNIST digit {index}, a {data.test_labels[index]}, as stored")
    )
    assert "What the network sees" in app.get("image")[1].captions[0]
    # Activations (default panel): 4 conv grids + the two digits, and the dense layers' bars.
    assert len(app.get("image")) == 6
    keys = [chart.proto.id.rsplit("-", 1)[-1] for chart in app.get("plotly_chart")]
    assert keys[:3] == ["digits_probabilities", "digits_units_relu5", "digits_logits"]
    assert {"digits_cell_map", "digits_softmax_chart"} <= set(keys[3:])  # tests/test_cell_page
    assert "Decisive channels" in "\n".join(c.value for c in app.caption)
    box = app.selectbox(key="digits_activation_target")
    assert box.value == f"the predicted digit ({data.test_labels[index]})"
    box.set_value("3").run()
    rerun_ok(app)
    assert "digit-3 logit" in "\n".join(c.value for c in app.caption)


def test_heatmaps_panel_draws_three_maps():
    app = show_panel(with_mnist_digit(7), "Heatmaps")
    titles = [m.value for m in app.markdown if m.value.startswith("**")]
    assert titles[-3:] == ["**Saliency**", "**Occlusion**", "**LRP alpha=2, beta=1**"]
    assert not app.warning, [w.value for w in app.warning]
    # Each map is a figure (picture, colour bar with its unit, every pixel's value), after
    # the ten probabilities' chart.
    assert len(app.get("plotly_chart")) == 4
    units = "\n".join(c.value for c in app.caption)
    assert "|gradient|" in units
    assert "relevance" in units
    app.selectbox(key="digits_heatmap_target").set_value("0").run()
    app.slider(key="digits_occ_patch").set_value(4).run()
    assert len(rerun_ok(app).get("plotly_chart")) == 4  # the probabilities + three maps


def test_the_lab_s_settings_declare_their_current_values():
    """Under a class's load the browser can lose a widget's value and report the default
    the widget declared (issue 21, seen on "Explain an image"): the lab's sliders and
    toggles declare their current values, so such a loss changes nothing."""
    app = show_panel(with_mnist_digit(7), "Heatmaps")
    app.slider(key="digits_occ_patch").set_value(4).run()
    app.slider(key="digits_opacity").set_value(0.5).run()
    rerun_ok(app)
    assert list(app.slider(key="digits_occ_patch").proto.default) == [4]
    assert list(app.slider(key="digits_opacity").proto.default) == [0.5]
    show_panel(app, "Adversarial")
    app.slider(key="digits_eps").set_value(0.25).run()
    assert list(rerun_ok(app).slider(key="digits_eps").proto.default) == [0.25]
    show_panel(app, "Seven segments")
    app.toggle(key="digits_seg_a").set_value(False).run()
    assert rerun_ok(app).toggle(key="digits_seg_a").proto.default is False


def test_adversarial_panel_fgsm_and_deepfool():
    app = show_panel(with_mnist_digit(11), "Adversarial")
    app.slider(key="digits_eps").set_value(0.0).run()
    assert "**not fooled**" in texts(rerun_ok(app))
    assert "L2 = 0.000, L-inf = 0.000" in texts(app)
    app.button_group(key="digits_attack").set_value("DeepFool").run()
    assert "**fooled**" in texts(rerun_ok(app))


def test_prototypes_panel_shows_ten_images():
    app = show_panel(start(), "Prototypes")
    app.slider(key="digits_proto_steps").set_value(20).run()
    captions = [caption for image in rerun_ok(app).get("image") for caption in image.captions]
    assert [c.split(":")[0] for c in captions[-10:]] == [str(d) for d in range(10)]
    # issue 25: "L2 weight" was shown with L2 off; it comes with its regulariser
    assert "l2" not in app.button_group(key="digits_proto_regs").value
    assert not [n for n in app.number_input if n.label == "L2 weight"]
    app.button_group(key="digits_proto_regs").set_value(["l2"]).run()
    assert [n.label for n in rerun_ok(app).number_input] == ["L2 weight"]


def test_mnist_mode_picks_a_random_digit_or_one_the_network_gets_wrong():
    """Issue 25, teaching defaults: "random digit" and "a digit it gets wrong"."""
    data = digits.mnist_subset()
    app = with_mnist_digit(0)
    app.button(key="digits_index_wrong").click().run()
    index = rerun_ok(app).number_input(key="digits_index").value
    assert index == digits.held_out_mistakes()[0]
    assert app.metric[0].value != str(data.test_labels[index])  # wrong, as promised
    assert "The network gets this one wrong." in app.get("image")[0].captions[0]
    app.button(key="digits_index_wrong").click().run()  # the next mistake
    assert rerun_ok(app).number_input(key="digits_index").value == digits.held_out_mistakes()[1]
    seen = set()
    for _ in range(3):
        app.button(key="digits_index_random").click().run()
        seen.add(rerun_ok(app).number_input(key="digits_index").value)
    assert all(0 <= i < len(data.test_labels) for i in seen)
    assert len(seen) > 1  # 3 draws of 1,000: all equal has probability 1e-6


def test_seven_segment_toggles_classify_the_display():
    app = show_panel(start(), "Seven segments")
    table = digits.seven_segment_table(digits.digit_net())
    for segment in "abcdefg":  # light "bc": the digit 1
        app.toggle(key=f"digits_seg_{segment}").set_value(segment in "bc")
    app.run()
    row = table[0b0000110]
    assert f"shows **the digit 1**. The network says **{row.predicted}**" in texts(rerun_ok(app))
    assert "of the 10 proper digits it reads" in texts(app)
    app.toggle(key="digits_seg_g").set_value(True).run()  # "bcg": no digit
    assert "shows **no digit at all**" in texts(rerun_ok(app))
    for segment in "bcg":
        app.toggle(key=f"digits_seg_{segment}").set_value(False)
    app.run()
    assert any("nothing to classify" in info.value for info in rerun_ok(app).info)


def test_training_controls_step_start_pause_reset():
    app = show_panel(start(), "Kernels learning")
    assert "**not started**, step 0" in texts(app)
    app.button(key="digits_train_step").click().run()
    assert "**paused**, step 10" in texts(rerun_ok(app))
    app.button(key="digits_train_toggle").click().run()  # start: one tick runs at once
    assert "**running**, step 20" in texts(rerun_ok(app))
    assert app.button(key="digits_train_step").disabled
    app.button(key="digits_train_toggle").click().run()  # pause
    assert "**paused**" in texts(rerun_ok(app))
    app.button(key="digits_train_reset").click().run()
    assert "**not started**, step 0" in texts(rerun_ok(app))
    assert len(app.get("plotly_chart")) == 2  # kernels and curves


def test_channel_grid_layout_and_highlight():
    import numpy as np

    from ui.digits.plots import GRID, HIGHLIGHT, LABEL_BAND, pixels, tile_channels

    maps = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    grid = tile_channels(maps, highlight=[1], columns=2, scale=2, frame=2)
    band = LABEL_BAND  # each cell: its channel number above the framed map
    cell = band + 3 * 2 + 4
    assert grid.shape == (3 * cell, 2 * (4 * 2 + 4), 3)  # 3 rows x 2 columns of cells
    assert (grid[band, 12] == HIGHLIGHT).all()
    assert (grid[band, 0] == GRID).all()
    # Cell (row 1, column 0) holds channel 2, enlarged, scaled to the layer's maximum.
    inner = grid[cell + band + 2 : 2 * cell - 2, 2 : 12 - 2, 0]
    np.testing.assert_array_equal(inner, pixels(maps[2] / maps.max(), 2))
    assert (grid[2 * cell :, 12:] == GRID).all()  # the empty sixth cell


def test_every_channel_of_a_grid_carries_its_number():
    """Issue 25: the captions cite "#14, #20" but the grids had no channel numbers."""
    import numpy as np

    from ui.digits.plots import GRID, LABEL_BAND, LABEL_INK, channel_label, tile_channels

    maps = np.ones((24, 28, 28), np.float32)
    grid = tile_channels(maps, highlight=[], columns=12)  # conv1 as the panel draws it
    cell_h, cell_w = LABEL_BAND + 28 + 2, 28 + 2
    bands = [grid[r * cell_h : r * cell_h + LABEL_BAND, c * cell_w : (c + 1) * cell_w, 0]
             for r in range(2) for c in range(12)]  # fmt: skip
    for channel, band in enumerate(bands):
        ink = channel_label(channel, cell_w)  # (band, w) in [0, 1]
        assert (ink > 0.5).sum() > 10, channel  # a number, not a speck
        expected = np.round(ink * LABEL_INK[0] + (1 - ink) * GRID[0])  # the ink over the grid
        np.testing.assert_array_equal(band, expected)
    assert len({band.tobytes() for band in bands}) == 24  # 24 different numbers


def test_the_logits_are_labelled_by_digit_every_one():
    """Issue 25: the logits' axis said "unit" and labelled every other digit."""
    import numpy as np

    from ui.digits.plots import units_figure

    figure = units_figure(np.arange(10.0), [3], "logit", unit="digit")
    assert figure.layout.xaxis.title.text == "digit"
    assert list(figure.layout.xaxis.tickvals) == list(range(10))
    assert units_figure(np.arange(128.0), [], "activation").layout.xaxis.title.text == "unit"


def test_the_predicted_digit_label_follows_a_new_digit():
    """The select box's label names the prediction; the browser kept showing the old
    label of a kept value (issue 25's stale "Animate a row" label, here too)."""
    data = digits.mnist_subset()
    app = with_mnist_digit(0)
    first = app.selectbox(key="digits_activation_target").value
    assert first == f"the predicted digit ({data.test_labels[0]})"
    other = 150  # the held-out digits come 100 per class, in class order: a 1
    assert data.test_labels[other] != data.test_labels[0]
    assert other not in digits.held_out_mistakes()
    app.number_input(key="digits_index").set_value(other).run()
    assert rerun_ok(app).selectbox(key="digits_activation_target").value == (
        f"the predicted digit ({data.test_labels[other]})"
    )
