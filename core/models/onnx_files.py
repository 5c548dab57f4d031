"""An ONNX classifier: ONNX Runtime for forward passes, its torch conversion for gradients.

ONNX holds no code: a graph of standard operators and tensors. The file runs on the
forward engine's own ONNX Runtime session (:func:`core.models.engine.onnx_session`),
which then *is* the network's forward engine (forward-only methods and curves). For the
gradient methods, the graph is converted to torch modules by ``onnx2torch`` (when an
operator of a recent opset is missing there, once more after ``onnx``'s own version
converter has rewritten the graph to opset 17). The conversion is used only when its
logits equal ONNX Runtime's on the forward engine's probe batch within the engine's
tolerance, the check the engine makes of its own exports; otherwise the network is
:class:`OnnxRuntimeNet` and gradient methods say why they cannot run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from core.common.networks import LOGITS_TOLERANCE
from core.models.engine import (
    ENGINE_BATCH,
    ONNX_RUNTIME,
    PROBE_BATCH,
    ForwardEngine,
    first_line,
    network_difference,
    onnx_runner,
    onnx_session,
    probe_batch,
)
from core.models.files import (
    Found,
    ModelFileError,
    OneImageAtATime,
    Settings,
    check_input_shape,
)

log = logging.getLogger(__name__)

CONVERSION_OPSET = 17  # the newest opset onnx2torch 1.5 converts every common operator of


class OnnxRuntimeNet(nn.Module):
    """An ONNX graph run by ONNX Runtime, as a module with no parameters and no autograd.

    Forward-only methods run on it (through the forward engine, the same session);
    gradient methods cannot, and :attr:`no_gradients` says why. Copies (the attribution
    code's private copies) share the session: it is read-only and thread-safe.

    Args:
        run: ``run(x) -> logits`` on the session.
        reason: Why there is no torch version of the graph.
    """

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor], reason: str) -> None:
        super().__init__()
        self.run = run
        self.no_gradients = reason

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> logits ``(B, K)`` from ONNX Runtime (no gradient)."""
        return self.run(x)

    def __deepcopy__(self, memo: dict[int, Any]) -> OnnxRuntimeNet:
        return OnnxRuntimeNet(self.run, self.no_gradients).train(self.training)


def _reshape_allowzero_off(model: Any) -> Any:
    """Drop ``allowzero=1`` from Reshape nodes whose target shape is a constant without a
    0 (where it changes nothing): torch's exporter writes it, onnx2torch refuses it."""
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    constants[node.output[0]] = numpy_helper.to_array(attribute.t)
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        shape = constants.get(node.input[1])
        for attribute in list(node.attribute):
            zero_free = shape is not None and (shape != 0).all()
            if attribute.name == "allowzero" and attribute.i == 1 and zero_free:
                node.attribute.remove(attribute)
    return model


def to_torch(model: Any) -> tuple[nn.Module | None, str]:
    """The graph as torch modules, or None and why not.

    Args:
        model: An ``onnx.ModelProto`` (not modified).
    """
    try:
        import onnx
        import onnx2torch
    except ImportError:
        return None, "onnx2torch, which converts ONNX to torch, is not installed"

    def copy() -> Any:
        twin = onnx.ModelProto()
        twin.CopyFrom(model)
        return twin

    try:
        return onnx2torch.convert(copy()), ""
    except Exception as first:  # noqa: BLE001 - the converter raises many types
        try:
            older = onnx.version_converter.convert_version(
                _reshape_allowzero_off(copy()), CONVERSION_OPSET
            )
            return onnx2torch.convert(older), ""
        except Exception:  # noqa: BLE001
            return None, f"onnx2torch cannot convert it to torch ({first_line(first)})"


def _fixed(dim: Any) -> int | None:
    return int(dim.dim_value) if dim.HasField("dim_value") and dim.dim_value > 0 else None


def load_onnx(data: bytes, file_name: str, settings: Settings) -> Found:
    """Read an ONNX classifier.

    Args:
        data: The file's bytes.
        file_name: For messages.
        settings: The user's settings (the input size of a graph whose size is dynamic).

    Returns:
        What was found; the network and the engine are made by ``Found.finish`` once
        the input shape is settled.

    Raises:
        ModelFileError: not ONNX, several inputs or outputs, not a float image input,
            a batch fixed above 1, or ONNX Runtime cannot open it.
    """
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # noqa: BLE001 - protobuf's decode errors
        raise ModelFileError(
            f"{file_name} is not a readable ONNX model ({first_line(err)})"
        ) from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not model.graph.node or not inputs:
        raise ModelFileError(f"{file_name} is not a readable ONNX model (no graph in it)")
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise ModelFileError(
            f"the model takes {len(inputs)} inputs ({names}); a classifier for this app "
            "takes one image tensor (batch, channels, height, width)"
        )
    if len(model.graph.output) != 1:
        raise ModelFileError(
            f"the model returns {len(model.graph.output)} outputs; a classifier for this app "
            "returns one tensor of logits (1, classes)"
        )
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        kind = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
        raise ModelFileError(f"the model takes {kind} inputs; this app feeds float32 images")
    dims = list(tensor.shape.dim) if tensor.HasField("shape") else []
    fixed = check_input_shape(tuple(_fixed(d) for d in dims), "model", settings)
    try:
        session = onnx_session(data)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
        raise ModelFileError(f"ONNX Runtime cannot open {file_name}: {first_line(err)}") from None
    one_at_a_time = fixed.one_at_a_time

    def finish(shape: tuple[int, int, int]) -> tuple[nn.Module, ForwardEngine, tuple[str, ...]]:
        start = time.perf_counter()
        run = onnx_runner(session)
        probe = probe_batch(shape, 1 if one_at_a_time else PROBE_BATCH)
        try:
            out = run(probe)
        except Exception as err:  # noqa: BLE001
            raise ModelFileError(
                f"ONNX Runtime cannot run the model on an input of shape "
                f"{tuple(probe.shape)} (its shape is dynamic and pinned to that): "
                f"{first_line(err)}. Set the input size and channels it was trained on."
            ) from None
        if out.dim() != 2 or out.shape[0] != probe.shape[0]:
            raise ModelFileError(
                f"the model's output has shape {tuple(out.shape)} for {probe.shape[0]} "
                "image(s); a classifier for this app returns logits (batch, classes)"
            )
        converted, reason = to_torch(model)
        difference = 0.0
        if converted is not None:
            torch_net = OneImageAtATime(converted) if one_at_a_time else converted
            torch_net.eval().requires_grad_(False)
            try:
                difference = network_difference(torch_net, run, probe)
            except Exception as err:  # noqa: BLE001 - a conversion that does not run
                difference, reason = float("inf"), f"its torch conversion fails ({first_line(err)})"
            if difference <= LOGITS_TOLERANCE:
                note = (
                    "gradient methods run on its conversion to torch (onnx2torch), whose "
                    f"logits equal ONNX Runtime's (within {max(difference, 1e-9):.0e} of "
                    "the largest)"
                )
            else:
                reason = reason or (
                    f"its conversion to torch (onnx2torch) gives other logits than ONNX "
                    f"Runtime ({difference:.1e} of the largest; allowed {LOGITS_TOLERANCE:.0e})"
                )
        net: nn.Module
        if converted is None or difference > LOGITS_TOLERANCE:
            net = OnnxRuntimeNet(run, f"gradient methods need torch, and {reason}")
            note = f"forward-only methods only: {reason}"
            log.warning("%s: %s", file_name, reason)
        else:
            net = torch_net
        max_batch = 1 if one_at_a_time else ENGINE_BATCH
        seconds = time.perf_counter() - start
        engine = ForwardEngine(
            ONNX_RUNTIME, shape, run, None, difference, None, seconds, 0, max_batch
        )
        return net, engine, (note,)

    return Found(
        net=None, channels=fixed.channels, input_size=fixed.size, finish=finish,
        preset_from="the ONNX file",
    )  # fmt: skip
