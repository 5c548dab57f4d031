"""Benchmark: the CNN-arithmetic core (geometry, animation GIF, layer table).

Targets (issue 3), on the 2-core development machine:

- geometry of a 50-row stack: <= 5 ms (``output_shapes``);
- GIF of a 7 x 7 input with a 3 x 3 kernel: <= 1 s (plan, draw 25 frames, encode);
- layer table of ResNet-50 (random init, 224 x 224): <= 1 s.

References measured in the same run:

- geometry: PyTorch's own shape inference, i.e. the same 50 modules run on a ``meta``
  tensor (no data, shapes only), and ``analyze_stack`` / ``field_spans`` (what the pages
  call: shapes plus classic and exact receptive fields);
- GIF: drawing alone vs encoding alone;
- layer table: a bare forward pass (``torch.inference_mode``) and ``torchinfo.summary``
  (if installed) on the same network. Both with torch's default intra-op thread count
  and with one thread: on a machine shared with other busy processes, two OpenMP threads
  can be many times slower than one.

Run: ``python bench/arithmetic.py [--repeats 200]``
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.timing import median_seconds  # noqa: E402
from core.arithmetic import (  # noqa: E402
    analyze_stack,
    field_spans,
    layer_table,
    output_shapes,
    plan_animation,
    render_frames,
    to_gif,
    torch_stack,
)
from core.models import load_model  # noqa: E402


def stack_of_50() -> list[dict]:
    """A 50-row stack mixing every spatial op (valid on 3 x 224 x 224)."""
    block = [
        {"op": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1},
        {"op": "conv2d", "out_channels": 32, "kernel_size": "3x5", "padding": "1x2", "dilation": 1},
        {"op": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        {"op": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": "same", "groups": 4},
        {"op": "avgpool2d", "kernel_size": 2, "stride": 1},
        {"op": "convtranspose2d", "out_channels": 32, "kernel_size": 2, "stride": 2},
        {"op": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1},
        {"op": "upsample", "scale_factor": 1},
    ]
    layers = (block * 7)[:48] + [{"op": "flatten"}, {"op": "linear", "out_features": 10}]
    assert len(layers) == 50
    return layers


def bench_geometry(repeats: int) -> None:
    layers = stack_of_50()
    shape = (3, 224, 224)
    ours = median_seconds(lambda: output_shapes(shape, layers), repeats)
    report = median_seconds(lambda: analyze_stack(shape, layers), repeats)
    spans = median_seconds(lambda: field_spans(layers[:48], shape), max(5, repeats // 10))
    net = torch_stack(shape, layers).to("meta")
    meta_input = torch.zeros(1, *shape, device="meta")
    with torch.inference_mode():
        meta = median_seconds(lambda: net(meta_input), max(5, repeats // 4))
    with torch.inference_mode():
        assert tuple(net(meta_input).shape[1:]) == output_shapes(shape, layers)[-1]
    print("geometry of a 50-row stack (3 x 224 x 224)")
    print(f"  output_shapes                  {ours * 1e3:8.3f} ms   target 5 ms")
    print(f"  analyze_stack (+ params, r/j)  {report * 1e3:8.3f} ms")
    print(f"  exact cell boxes, 48 rows      {spans * 1e3:8.3f} ms   (field_spans)")
    ratio = meta / ours
    print(f"  torch on a meta tensor         {meta * 1e3:8.3f} ms   ratio torch/ours {ratio:.1f}x")


def bench_gif(repeats: int) -> None:
    layer = {"op": "conv2d", "out_channels": 1, "kernel_size": 3}
    plan = plan_animation(layer, (7, 7))
    frames = render_frames(plan)
    total = median_seconds(lambda: to_gif(render_frames(plan_animation(layer, (7, 7)))), repeats)
    draw = median_seconds(lambda: render_frames(plan_animation(layer, (7, 7))), repeats)
    encode = median_seconds(lambda: to_gif(frames), repeats)
    size = len(to_gif(frames))
    print(f"GIF of a 7 x 7 input, 3 x 3 kernel ({plan.n_frames} frames, {size / 1e3:.0f} kB)")
    print(f"  plan + draw + encode           {total * 1e3:8.1f} ms   target 1000 ms")
    print(f"  draw only                      {draw * 1e3:8.1f} ms")
    print(f"  encode only (PIL GIF writer)   {encode * 1e3:8.1f} ms")


def bench_layer_table(repeats: int) -> None:
    model = load_model("resnet50", pretrained=False)
    net = model.net
    x = torch.zeros(1, 3, 224, 224)
    try:
        import torchinfo
    except ImportError:
        torchinfo = None
    default_threads = torch.get_num_threads()
    print(f"layer table of ResNet-50 (random init, 3 x 224 x 224), {repeats} repeats")
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        table = median_seconds(lambda: layer_table(net, (3, 224, 224)), repeats)

        def forward() -> None:
            with torch.inference_mode():
                net(x)

        bare = median_seconds(forward, repeats)
        line = (
            f"  {threads} thread(s): table {table * 1e3:7.1f} ms (target 1000 ms), "
            f"bare forward {bare * 1e3:7.1f} ms, table/forward {table / bare:.2f}x"
        )
        if torchinfo is not None:
            summary = median_seconds(
                lambda: torchinfo.summary(net, input_size=(1, 3, 224, 224), verbose=0), repeats
            )
            line += f", torchinfo {summary * 1e3:7.1f} ms, table/torchinfo {table / summary:.2f}x"
        print(line)
    torch.set_num_threads(default_threads)
    rows = layer_table(net, (3, 224, 224))
    print(f"  {len(rows)} rows; last spatial receptive field {rows[-3].receptive_field} px")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="geometry/GIF repeats")
    parser.add_argument("--table-repeats", type=int, default=5, help="layer-table repeats")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} "
        f"intra-op threads, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    bench_geometry(args.repeats)
    bench_gif(max(3, args.repeats // 20))
    bench_layer_table(args.table_repeats)


if __name__ == "__main__":
    main()
