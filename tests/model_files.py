"""Model files for the tests of "your own model": good ones in every format, and bad ones.

Every file is made here, from small networks with known weights; nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "models"


def tiny_rgb_net(classes: int = 5, seed: int = 0) -> nn.Module:
    """A 3-channel CNN with batch norm and a residual-free path, ``(B, 3, 32, 32)``."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(16, classes),
    )  # fmt: skip
    with torch.no_grad():  # batch-norm statistics that are not the identity
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 1.5)
    return net.eval()


def export_onnx(net: nn.Module, shape: tuple[int, ...], path: Path, dynamic: bool = True) -> Path:
    """``torch.onnx.export`` (dynamo) with a dynamic batch axis unless told otherwise."""
    example = torch.rand(2 if dynamic else 1, *shape[1:])
    extra = (
        {"dynamic_shapes": ({0: torch.export.Dim("batch", min=1, max=4096)},)} if dynamic else {}
    )
    program = torch.onnx.export(
        net, (example,), dynamo=True, input_names=["input"], output_names=["logits"],
        verbose=False, **extra,
    )  # fmt: skip
    assert program is not None
    program.save(str(path))
    return path


def export_pt2(net: nn.Module, shape: tuple[int, ...], path: Path, dynamic: bool = True) -> Path:
    """``torch.export.save`` of ``torch.export.export`` (dynamic batch unless told otherwise)."""
    example = torch.rand(2 if dynamic else 1, *shape[1:])
    dims = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic else None
    torch.export.save(torch.export.export(net, (example,), dynamic_shapes=dims), path)
    return path


def onnx_graph(
    path: Path,
    nodes: list,
    inputs: list,
    outputs: list,
    initializers: dict[str, np.ndarray],
    opset: int = 17,
) -> Path:
    """An ONNX file made by hand with ``onnx.helper``."""
    graph = helper.make_graph(
        nodes, "g", inputs, outputs,
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in initializers.items()],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def image_input(name: str = "input", dims: tuple = ("N", 3, 16, 16)) -> object:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))


def shrink_model(path: Path, seed: int = 0) -> tuple[Path, nn.Module]:
    """An ONNX classifier with a Shrink activation, which ONNX Runtime runs and onnx2torch
    cannot convert; and the same network in torch (``nn.Softshrink``) as the reference."""
    rng = np.random.default_rng(seed)
    weight, bias = rng.normal(0, 0.5, (6, 3, 3, 3)), rng.normal(0, 0.1, 6)
    fc_w, fc_b = rng.normal(0, 0.5, (4, 6)), rng.normal(0, 0.1, 4)
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Shrink", ["c"], ["s"], lambd=0.1, bias=0.1),
        helper.make_node("GlobalAveragePool", ["s"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], transB=1),
    ]
    onnx_graph(
        path, nodes, [image_input()],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])],
        {"w": weight, "b": bias, "fw": fc_w, "fb": fc_b},
    )  # fmt: skip
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.Softshrink(0.1), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1), nn.Linear(6, 4),
    )  # fmt: skip
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(weight))
        net[0].bias.copy_(torch.from_numpy(bias))
        net[4].weight.copy_(torch.from_numpy(fc_w))
        net[4].bias.copy_(torch.from_numpy(fc_b))
    return path, net.eval()


def conv_onnx(path: Path, dims: tuple = ("N", 3, 16, 16), out_dims: tuple = ("N", 4)) -> Path:
    """A small ONNX classifier: conv, global pool, flatten, dense."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["logits"], transB=1),
    ]
    return onnx_graph(
        path, nodes, [image_input(dims=dims)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, list(out_dims))],
        {"w": rng.normal(0, 0.5, (6, dims[1] if isinstance(dims[1], int) else 3, 3, 3)),
         "b": np.zeros(6), "fw": rng.normal(0, 0.5, (4, 6)), "fb": np.zeros(4)},
    )  # fmt: skip


class CreatesAFile:
    """A pickle payload: unpickling it would create (truncate) the file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (open, (self.path, "w"))


class RunsACommand:
    """A pickle payload: unpickling it would run a shell command creating ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.path}",))


def malicious_pickle(path: Path, target: Path) -> Path:
    """A plain pickle (not torch's zip format) whose payload creates ``target``."""
    path.write_bytes(pickle.dumps({"weight": CreatesAFile(target)}))
    return path


def malicious_torch_file(path: Path, target: Path) -> Path:
    """A ``torch.save`` zip whose pickle runs a command that creates ``target``."""
    torch.save({"fc.weight": torch.zeros(2, 2), "evil": RunsACommand(target)}, path)
    return path


def malicious_pt2(good: Path, path: Path, target: Path) -> Path:
    """A valid ``.pt2`` whose sample-inputs pickle is replaced by one that creates
    ``target`` (torch.export.load would unpickle it with weights_only=False)."""
    evil = io.BytesIO()
    torch.save(((RunsACommand(target),), {}), evil)
    source = zipfile.ZipFile(good)
    with zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if "/data/sample_inputs/" in info.filename:
                data = evil.getvalue()
            out.writestr(info, data)
    return path


def pt2_with_member(good: Path, path: Path, member: str, data: bytes = b"\x7fELF") -> Path:
    """A copy of a ``.pt2`` archive with one more member (e.g. compiled code)."""
    source = zipfile.ZipFile(good)
    root = source.namelist()[0].split("/", 1)[0]
    with zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            out.writestr(info, source.read(info.filename))
        out.writestr(f"{root}/{member}", data)
    return path
