"""Write the digit CNN as example model files, to try "Your own model..." with.

    python scripts/make_example_models.py [--out examples/models]

Writes, from the digits lab's shipped network (``core/digits/weights/digits_cnn.pt``):

- ``digit_cnn.onnx``: ONNX (torch's dynamo exporter, dynamic batch axis);
- ``digit_cnn.pt2``: a torch.export program (``torch.export.save``, dynamic batch);
- ``digit_cnn.safetensors``: its weights alone (architecture name: ``digit_cnn``);
- ``digit_labels.txt``: its ten labels, one a line.

A 1-channel, 10-class, 28 x 28 model: each file is checked to give the same logits as
the network it came from before the script ends.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.digits import load_digit_net  # noqa: E402
from core.models.files import ModelSource, load_model_file  # noqa: E402

LABELS = [f"digit {d}" for d in range(10)]


def write_examples(out: Path) -> list[Path]:
    """Write the four files into ``out``; returns their paths."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    net = load_digit_net().eval()
    example = torch.rand(2, 1, 28, 28)  # a batch of 2: a batch of 1 would be fixed to 1
    batch = torch.export.Dim("batch", min=1, max=4096)
    onnx_path, pt2_path = out / "digit_cnn.onnx", out / "digit_cnn.pt2"
    weights_path, labels_path = out / "digit_cnn.safetensors", out / "digit_labels.txt"
    with torch.no_grad():
        program = torch.onnx.export(
            net, (example,), dynamo=True, input_names=["input"], output_names=["logits"],
            dynamic_shapes=({0: batch},), verbose=False,
        )  # fmt: skip
    assert program is not None
    program.save(str(onnx_path))
    torch.export.save(torch.export.export(net, (example,), dynamic_shapes=({0: batch},)), pt2_path)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights_path)
    labels_path.write_text("\n".join(LABELS) + "\n")
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = net(x)
    for path, arch in ((onnx_path, None), (pt2_path, None), (weights_path, "digit_cnn")):
        model = load_model_file(ModelSource(str(path), arch=arch, labels=str(labels_path)))
        with torch.no_grad():
            got = model.net(x)
        error = float((got - expected).abs().max())
        assert error < 1e-4, f"{path.name}: logits differ by {error}"
        assert (model.channels, model.input_size, len(model.labels)) == (1, (28, 28), 10)
    return [onnx_path, pt2_path, weights_path, labels_path]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "examples" / "models"), type=Path)
    args = parser.parse_args()
    for path in write_examples(args.out):
        print(f"{path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
