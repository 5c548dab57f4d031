"""Exporting a network to ONNX, run in a child process by :mod:`core.models.engine`.

Why a child process: ``torch.onnx.export`` (the dynamo exporter) imports torch's
compiler stack, which adds ~130 MB to a process for good, and an export can take
seconds of CPU or fail badly on an odd network. The server pays none of that: it
saves a private copy of the network to a temporary file, and this module, started as
``python -m core.models.onnx_export NET.pt OUT.onnx C H W``, exports it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch import nn

PROBE_BATCH = 2


def export_onnx(net: nn.Module, input_shape: tuple[int, int, int], path: Path) -> None:
    """Export ``net`` with a dynamic batch axis (input ``"input"``, output ``"logits"``).

    Written atomically: to a temporary name in the same folder, then renamed.

    Args:
        net: The network, in eval mode.
        input_shape: ``(C, H, W)``.
        path: Where the graph goes.
    """
    example = torch.zeros(PROBE_BATCH, *input_shape)
    batch = torch.export.Dim("batch", min=1, max=4096)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    try:
        with torch.no_grad():
            program = torch.onnx.export(
                net.eval(),
                (example,),
                dynamo=True,
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: batch},),
                verbose=False,
            )
        if program is None:  # pragma: no cover - dynamo=True always returns a program
            raise RuntimeError("the exporter returned no program")
        program.save(str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """``NET.pt OUT.onnx C H W`` -> exit code 0, or 1 with the error on stderr."""
    net_file, out_file, *shape = argv
    net = torch.load(net_file, map_location="cpu", weights_only=False)  # our own file
    channels, height, width = (int(v) for v in shape)
    export_onnx(net, (channels, height, width), Path(out_file))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
