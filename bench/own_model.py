"""Your own model (issue 24): how long a ~50 MB model file takes to read, per format, and
forward-only methods on an uploaded ONNX model against the same network registered.

    python bench/own_model.py [--repeats 3]

1. A ResNet-18 with 2,600 classes (12.5 M parameters: 50 MB in float32, the upload limit)
   written as safetensors and ``.pt`` weights (+ ``--arch resnet18``), as ONNX and as a
   ``.pt2`` program; :func:`core.models.load_model_file` times for each (the best of
   ``--repeats`` reads; the first read of ONNX includes its conversion to torch and the
   check of its logits).
2. EfficientNet-Lite0 registered (its forward engine: ONNX Runtime on the app's own
   export) and the same network uploaded as ONNX (exported as a user would, with a
   dynamic batch axis): occlusion and RISE on the cat photo, seconds per forward pass
   (the engine's pass counter), the best of ``--repeats`` runs taken in turns.

Timings depend on the machine and its load: compare the two rows of one run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.attribution import attributor_for  # noqa: E402
from core.common.samples import sample_path  # noqa: E402
from core.models import ModelSource, Settings, load_model, load_model_file  # noqa: E402
from core.models.engine import forward_engine  # noqa: E402

CLASSES = 2600  # ResNet-18's backbone (11.2 M) + a 513 x 2600 head: 12.5 M parameters


def _export_onnx(net: torch.nn.Module, size: int, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        net, (torch.rand(2, 3, size, size),), dynamo=True, input_names=["input"],
        output_names=["logits"], dynamic_shapes=({0: batch},), verbose=False,
    )  # fmt: skip
    assert program is not None
    program.save(str(path))


def load_times(folder: Path, repeats: int) -> None:
    """Part 1: reading a 50 MB model in each format."""
    import torchvision
    from safetensors.torch import save_file

    net = torchvision.models.resnet18(num_classes=CLASSES).eval()
    files = {
        "safetensors + resnet18": (folder / "r18.safetensors", "resnet18"),
        ".pt state dict + resnet18": (folder / "r18.pt", "resnet18"),
        "ONNX": (folder / "r18.onnx", None),
        "torch.export .pt2": (folder / "r18.pt2", None),
    }
    save_file(net.state_dict(), files["safetensors + resnet18"][0])
    torch.save(net.state_dict(), files[".pt state dict + resnet18"][0])
    _export_onnx(net, 224, files["ONNX"][0])
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(net, (torch.rand(2, 3, 224, 224),), dynamic_shapes=({0: batch},))
    torch.export.save(program, files["torch.export .pt2"][0])
    print(f"1. Reading a {sum(p.numel() for p in net.parameters()) / 1e6:.1f} M-parameter "
          f"ResNet-18 (best of {repeats}):")  # fmt: skip
    for label, (path, arch) in files.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model = load_model_file(ModelSource(str(path), arch=arch))
            best = min(best, time.perf_counter() - start)
            del model
        print(f"   {label:28s} {path.stat().st_size / 1e6:6.1f} MB  {best:6.2f} s")


def per_pass(model: object, method: str, params: dict[str, int], repeats: int) -> float:
    """Seconds per forward pass of a forward-only method (the best of ``repeats``)."""
    from PIL import Image

    image = Image.open(sample_path("cat.jpg"))
    engine = forward_engine(model.net, model.input_shape, model.name)  # type: ignore[attr-defined]
    best = float("inf")
    for _ in range(repeats):
        run = attributor_for(model, image)  # type: ignore[arg-type]
        run.logits()
        passes = engine.passes
        start = time.perf_counter()
        run.attribute(method, None, **params)
        best = min(best, (time.perf_counter() - start) / max(1, engine.passes - passes))
    return best


def forward_speed(folder: Path, repeats: int) -> None:
    """Part 2: forward-only methods, registered vs uploaded EfficientNet-Lite0."""
    registered = load_model("efficientnet_lite0")
    path = folder / "lite0.onnx"
    _export_onnx(registered.net, 224, path)
    settings = Settings(crop=224 / 256, mean=registered.mean, std=registered.std)
    uploaded = load_model_file(ModelSource(str(path), settings=settings))
    print(f"2. Forward-only methods on EfficientNet-Lite0, ms per pass (best of {repeats}):")
    for method, params in (("occlusion", {"patch": 32, "stride": 16}), ("rise", {"masks": 200})):
        times = [float("inf"), float("inf")]
        for _ in range(repeats):  # interleaved: a burst of load hits both alike
            for i, model in enumerate((registered, uploaded)):
                times[i] = min(times[i], per_pass(model, method, params, 1) * 1e3)
        print(f"   {method:10s} registered {times[0]:6.2f}  uploaded ONNX {times[1]:6.2f}  "
              f"(uploaded / registered {times[1] / times[0]:.2f})")  # fmt: skip
    engines = [forward_engine(m.net, m.input_shape, m.name) for m in (registered, uploaded)]
    print(f"   engines: registered {engines[0].name}, uploaded {engines[1].name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="own-model-bench-") as folder:
        load_times(Path(folder), args.repeats)
        forward_speed(Path(folder), args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
