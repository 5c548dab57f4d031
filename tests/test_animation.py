"""Convolution animations: frame counts, what each frame highlights, GIF export, formulas."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import assume, given, reject, settings
from PIL import Image

from core.arithmetic import (
    GeometryError,
    animation_gif,
    frame_layout,
    output_shapes,
    output_size_formula,
    plan_animation,
    readable_input_size,
    receptive_field,
    render_frame,
    render_frames,
    to_gif,
)
from core.arithmetic.animation_frames import (
    _COLOURS,
    _CURRENT,
    _DONE,
    _TAP_ON_EMPTY,
    _TAP_ON_INPUT,
)
from tests.strategies import DETERMINISTIC, KERNEL_OPS, Stack, layer_stacks

# one exact conv, transposed conv or pooling row on a 1..7 x 1..7 input
KERNEL_ROWS = layer_stacks(
    ops=KERNEL_OPS, layers=(1, 1), channels=(1,), sides=(1, 7), out_channels=1
)
FRAME_EXAMPLES = 40
MAX_TESTED_FRAMES = 120  # keeps the test quick; any size works the same way


def _pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    return image.getpixel(xy)


@settings(DETERMINISTIC, max_examples=FRAME_EXAMPLES)
@given(KERNEL_ROWS)
def test_frames_show_the_cells_each_output_reads(stack: Stack) -> None:
    (_, *hw), (layer,) = stack
    try:
        plan = plan_animation(layer, hw)
    except GeometryError:
        reject()
    assume(plan.n_frames <= MAX_TESTED_FRAMES)
    _, out_h, out_w = output_shapes((1, *hw), [layer])[0]
    assert plan.n_frames == out_h * out_w
    frames = render_frames(plan)
    assert len(frames) == plan.n_frames
    assert len({f.size for f in frames}) == 1
    layout = frame_layout(plan)
    c = layout.cell
    rows, cols = plan.axes
    for index in range(0, plan.n_frames, max(1, plan.n_frames // 4)):
        frame = frames[index]
        y, x = plan.cell(index)
        assert (y, x) == divmod(index, out_w)
        # the current output cell and the ones already written
        out_x, out_y = layout.out_origin
        assert _pixel(frame, (out_x + x * c + c // 2, out_y + y * c + c // 2)) == _CURRENT
        done = sum(
            _pixel(frame, (out_x + dx * c + c // 2, out_y + dy * c + c // 2)) == _DONE
            for dy in range(out_h)
            for dx in range(out_w)
        )
        assert done == index
        # every tap is drawn, in the "on input" colour exactly where the input is real
        for ty in rows.taps[y]:
            for tx in cols.taps[x]:
                gy, gx = int(ty) - rows.lo, int(tx) - cols.lo
                centre = (
                    layout.in_origin[0] + gx * c + c // 2,
                    layout.in_origin[1] + gy * c + c // 2,
                )
                real = rows.sources[gy] >= 0 and cols.sources[gx] >= 0
                assert _pixel(frame, centre) == (_TAP_ON_INPUT if real else _TAP_ON_EMPTY)
        # the input cells a frame names are exactly the cell's receptive field
        in_rows, in_cols = plan.input_cells(index)
        box = receptive_field([layer], hw, 0, y, x)
        if in_rows and in_cols:
            assert (in_rows[0], in_rows[-1] + 1, in_cols[0], in_cols[-1] + 1) == box
        else:
            assert box == (0, 0, 0, 0)


def test_transposed_convolution_inserts_zeros_and_pads() -> None:
    """k=3, s=2, p=1, output_padding=1 on 3x3: zeros between cells, 1 px padding, 6x6 out."""
    plan = plan_animation(
        {
            "op": "convtranspose2d",
            "out_channels": 1,
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "output_padding": 1,
        },
        (3, 3),
    )
    assert plan.output_hw == (6, 6)
    row_kinds = plan.axes[0].kinds
    assert row_kinds == ("padding", "input", "zero", "input", "zero", "input", "padding", "padding")
    assert plan.axes[0].sources[1::2][:3] == (0, 1, 2)


def test_gif_round_trip() -> None:
    layer = {
        "op": "conv2d",
        "out_channels": 1,
        "kernel_size": (3, 2),
        "stride": (2, 1),
        "padding": (1, 0),
        "dilation": (1, 2),
    }
    data = animation_gif(layer, (7, 6), ms_per_frame=200)
    assert data[:6] == b"GIF89a"
    gif = Image.open(io.BytesIO(data))
    plan = plan_animation(layer, (7, 6))
    assert gif.n_frames == plan.n_frames == 4 * 4
    assert gif.info["duration"] == 200
    gif.seek(9)
    decoded = np.asarray(gif.convert("RGB"))
    drawn = np.asarray(render_frame(plan, 9))
    assert decoded.shape == drawn.shape
    # the palette keeps every flat colour exactly (only anti-aliased text may shift)
    assert (decoded == drawn).all(axis=2).mean() > 0.95
    for colour in (_DONE, _CURRENT, _TAP_ON_INPUT, _TAP_ON_EMPTY, *_COLOURS.values()):
        where = (drawn == colour).all(axis=2)
        assert (decoded[where] == colour).all()
    assert (drawn == _DONE).all(axis=2).any()
    with pytest.raises(ValueError, match="no frames"):
        to_gif([])
    with pytest.raises(IndexError):
        render_frame(plan, plan.n_frames)


def test_invalid_and_unanimated_layers() -> None:
    with pytest.raises(GeometryError, match="padding 2 is more than half the kernel 3"):
        plan_animation({"op": "maxpool2d", "kernel_size": 3, "padding": 2}, (5, 5))
    with pytest.raises(ValueError, match="no kernel to animate"):
        plan_animation({"op": "upsample", "scale_factor": 2}, (5, 5))


def test_formula_numbers_match_torch() -> None:
    conv = {"op": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 2, "padding": 1}
    assert output_size_formula(conv, (5, 7)) == [
        "H_{out} = \\left\\lfloor\\frac{5 + 2\\cdot1 - 1\\cdot(3-1) - 1}{2}\\right\\rfloor + 1 = 3",
        "W_{out} = \\left\\lfloor\\frac{7 + 2\\cdot1 - 1\\cdot(3-1) - 1}{2}\\right\\rfloor + 1 = 4",
    ]
    pool = {"op": "maxpool2d", "kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}
    # ceil((5 + 2 - 1 - 1) / 2) + 1 = 4, but the fourth window would start in the padding
    lines = output_size_formula(pool, (5, 5))
    assert lines[0].endswith("+ 1 - 1 = 3\\ \\text{(last window would start in the padding)}")
    assert output_shapes((1, 5, 5), [pool])[0] == (1, 3, 3)
    transposed = {"op": "convtranspose2d", "out_channels": 1, "kernel_size": 3, "stride": 2}
    assert output_size_formula(transposed, (3, 3))[0] == (
        "H_{out} = (3 - 1)\\cdot2 - 2\\cdot0 + 1\\cdot(3-1) + 0 + 1 = 7"
    )


def test_readable_input_size() -> None:
    alexnet_conv1 = {
        "op": "conv2d",
        "out_channels": 64,
        "kernel_size": 11,
        "stride": 4,
        "padding": 2,
    }
    # three output cells per axis: (15 + 2 * 2 - 11) // 4 + 1 = 3
    assert readable_input_size(alexnet_conv1, (224, 224)) == (15, 15)
    assert readable_input_size({"op": "maxpool2d", "kernel_size": 2}, (4, 300)) == (4, 9)
    # a transposed conv with stride 3 grows 9 -> 27: keep its output to 12 or fewer
    up = {"op": "convtranspose2d", "out_channels": 1, "kernel_size": 3, "stride": 3}
    assert readable_input_size(up, (50, 2)) == (4, 2)  # 3 * 3 + 3 = 12
    with pytest.raises(ValueError, match="more than 400 frames"):
        plan_animation(up, (50, 50))
