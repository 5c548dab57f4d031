"""What the torch build costs in memory: this interpreter's torch against another's (issue 15).

``bench/memory.py`` measures the server with whatever torch is installed; on the
development machine that is the CUDA build, while Streamlit Community Cloud should get
the CPU wheel (README, "Deploying"). This script runs one probe in both interpreters, one
after the other, and prints their resident memory side by side and the difference: after
``import torch``, and after an EfficientNet-Lite0 forward and backward pass of 32 images
(about what the default panel's Integrated Gradients batch does), with the peak. The
difference is what to subtract from ``bench/memory.py``'s figures.

Usage: ``python bench/torch_build.py --other /path/to/cpu-venv/bin/python`` (that
interpreter needs torch, psutil and efficientnet-lite-pytorch).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BATCH = 32


def probe() -> dict[str, Any]:
    """RSS in MB of this process after importing torch and after the passes, and its peak."""
    import psutil

    def rss() -> float:
        return psutil.Process().memory_info().rss / 2**20

    import torch

    torch.set_num_threads(2)
    imported = rss()
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0").eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    pixels = torch.rand(BATCH, 3, 224, 224, requires_grad=True)  # (B, 3, H, W)
    net(pixels)[:, 0].sum().backward()
    worked = rss()
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
    return {
        "torch": torch.__version__,
        "import": imported,
        "passes": worked,
        "peak": peak,
    }


def run(python: str) -> dict[str, Any]:
    """The probe in a fresh process of ``python``."""
    output = subprocess.run(
        [python, __file__, "--probe"], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--other", help="the other interpreter (e.g. a venv with the CPU wheel)")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe()))
        return
    if not args.other:
        parser.error("--other is required")
    this, other = run(sys.executable), run(args.other)
    print(f"{'RSS, MB':34s} {this['torch']:>16s} {other['torch']:>16s} {'difference':>11s}")
    rows = [
        ("after import torch", "import"),
        (f"after a forward+backward of {BATCH}", "passes"),
        ("peak (VmHWM)", "peak"),
    ]
    for label, key in rows:
        mine, theirs = float(this[key]), float(other[key])
        print(f"{label:34s} {mine:16.0f} {theirs:16.0f} {mine - theirs:+11.0f}")


if __name__ == "__main__":
    main()
