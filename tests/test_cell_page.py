"""AppTests of "how was this number computed" and of the softmax view, on "Inside the
network" (EfficientNet-Lite0 and the cat) and in the digits lab: a cell is picked with
the channel, row and column inputs (clicks on the charts: tests/browser/test_inside.py)
and the value shown must be the network's, read here by a separate hooked forward pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import digits
from core.common.hooks import count_hooks, record_outputs
from core.common.layout import fast_layout
from core.common.samples import sample_path
from core.inside import softmax_at
from core.inside.cell_steps import number
from tests.test_inside_page import ok
from ui.common import default_model

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def network_value(net: torch.nn.Module, x: torch.Tensor, layer: str, cell: tuple) -> float:
    """The layer's output at the cell, from a hooked forward pass as the page runs it."""
    module = dict(net.named_modules())[layer]
    with record_outputs({layer: module}) as recorded, torch.inference_mode():
        net(fast_layout(x))
    c, y, x_ = cell
    return float(recorded[layer][-1][0, c, y, x_])


def pick(app: AppTest, key: str, cell: tuple[int, int, int]) -> AppTest:
    for name, value in zip(("channel", "row", "col"), cell, strict=True):
        app.number_input(key=f"{key}_{name}").set_value(value)
    return ok(app.run())


def shown_values(app: AppTest) -> tuple[float, float]:
    """The recomputed value and the network's value the page reports."""
    text = "\n".join(s.value for s in app.success)
    match = re.search(r"Recomputed: \*\*(\S+)\*\*; the network's own value: \*\*(\S+)\*\*", text)
    assert match, text
    return float(match.group(1)), float(match.group(2))


def choose_layer(app: AppTest, name: str, every: bool = False) -> None:
    """Pick a feature-map layer by its name (the options are labelled with their shapes);
    ``every``: from every layer, not only the block outputs."""
    if every:
        app.toggle(key="inside_fm_layer_every_efficientnet_lite0").set_value(True).run()
    box = app.selectbox(key="inside_fm_layer_efficientnet_lite0")
    box.set_value(next(o for o in box.options if o.split()[0] == name)).run()


def test_inside_a_clicked_cell_shows_the_networks_value_and_its_steps():
    app = AppTest.from_file(str(ROOT / "views" / "inside.py"), default_timeout=TIMEOUT).run()
    app.button_group(key="inside_section").set_value("Feature maps").run()
    choose_layer(app, "stem.2", every=True)
    cell = (5, 40, 61)
    pick(ok(app), "inside_cell", cell)
    model = default_model()
    x = model.preprocess(Image.open(sample_path("cat.jpg")))
    expected = network_value(model.net, x, "stem.2", cell)
    metric = next(m for m in app.metric if m.label.startswith("stem.2: channel 5"))
    assert metric.label == "stem.2: channel 5, row 40, column 61"
    assert metric.value == number(expected, 6)
    recomputed, network = shown_values(app)
    assert network == pytest.approx(expected, rel=1e-6)
    assert recomputed == pytest.approx(expected, rel=1e-5, abs=1e-6)  # 7 digits shown
    assert [tab.label for tab in app.tabs] == ["1. Convolution", "2. Batch norm", "3. ReLU6"]
    markdown = "\n".join(m.value for m in app.markdown)
    window = (
        "reads a 3 x 3 window of **the network's input (pixels in [0, 1] normalised: "
        "(pixel - mean) / std, per colour channel) (zero-padded by stem.0.static_padding)**"
    )
    assert window in markdown
    assert "all 3 input channels" in markdown
    assert count_hooks(model.net) == 0


def test_inside_a_residual_block_names_its_shortcut():
    app = AppTest.from_file(str(ROOT / "views" / "inside.py"), default_timeout=TIMEOUT).run()
    app.button_group(key="inside_section").set_value("Feature maps").run()
    choose_layer(app, "blocks.2")
    pick(ok(app), "inside_cell", (3, 10, 10))
    assert [tab.label for tab in app.tabs] == ["1. Convolution", "2. Batch norm", "3. Sum"]
    captions = "\n".join(c.value for c in app.caption)
    assert "the shortcut" in captions
    markdown = "\n".join(m.value for m in app.markdown)
    assert "b = **" in markdown  # the shortcut's value at the cell
    assert "depthwise" not in markdown  # a 1 x 1 projection reads every channel


def test_inside_softmax_at_a_temperature():
    app = AppTest.from_file(str(ROOT / "views" / "inside.py"), default_timeout=TIMEOUT).run()
    app.button_group(key="inside_section").set_value("Softmax").run()
    app.select_slider(key="inside_softmax_temperature").set_value(2.0).run()
    model = default_model()
    x = model.preprocess(Image.open(sample_path("cat.jpg")))
    with torch.inference_mode():
        logits = model.net(fast_layout(x))[0].double()  # as the page runs it
    at_two = torch.softmax(logits / 2, 0)
    top = int(at_two.argmax())
    markdown = "\n".join(m.value for m in ok(app).markdown)
    assert f"**{model.labels[top]}**, at T = 2" in markdown
    assert (
        f"**{float(at_two[top]):.2%}** (at T = 1: {float(torch.softmax(logits, 0)[top]):.2%})"
        in (markdown)
    )
    table = app.dataframe[0].value
    assert table["class"].iloc[0] == model.labels[top]
    expected = at_two.sort(descending=True).values[:3].numpy()
    np.testing.assert_allclose(table["p at T"].iloc[:3], expected, rtol=1e-6)


def test_digits_lab_explains_a_cell_and_softens_the_softmax():
    app = AppTest.from_file(str(ROOT / "views" / "digits.py"), default_timeout=TIMEOUT).run()
    app.button_group(key="digits_source").set_value("MNIST digit").run()
    app.number_input(key="digits_index").set_value(11).run()
    app.selectbox(key="digits_cell_layer").set_value("relu1").run()
    cell = (7, 12, 14)
    pick(ok(app), "digits_cell", cell)
    digit = digits.mnist_subset().test_images[11]
    expected = network_value(digits.digit_net(), digits.as_batch(digit), "relu1", cell)
    recomputed, network = shown_values(app)
    assert network == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert recomputed == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert [tab.label for tab in app.tabs] == ["1. Convolution", "2. ReLU"]
    app.select_slider(key="digits_softmax_temperature").set_value(0.5).run()
    logits = digits.layer_activations(digits.digit_net(), digit)[-1].activation
    sharp = softmax_at(logits, 0.5)
    top = int(sharp.order[0])
    markdown = "\n".join(m.value for m in ok(app).markdown)
    assert f"The top class, **{top}**, at T = 0.5" in markdown
    assert f"**{sharp.probabilities[top]:.2%}**" in markdown
