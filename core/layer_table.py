"""The layer table of any network: one row per leaf layer call, like torchinfo, plus fields.

One forward pass with scoped hooks (always removed) records, for every call of every
leaf layer, its input and output shapes, its own parameter count, its kernel, stride,
padding, dilation and groups, and -- the column torchinfo lacks -- its receptive field
size and jump.

*Leaf layer*: a module without children, or a module with parameters of its own (its
children are then part of it: EfficientNet-Lite's ``Conv2dStaticSamePadding`` is an
``nn.Conv2d`` holding a ``ZeroPad2d``; the table shows one conv row whose padding is the
pad's). A module called several times in one pass (a reused activation) gets one row
per call; its parameters count on the first call only.

Receptive fields follow the data, not the module order, so residual networks come out
right: a ``torch.overrides.TorchFunctionMode`` (thread-local) watches every tensor
operation of the pass and carries the classic ``(size, jump, start)`` per axis (Araujo
et al., Distill 2019, https://distill.pub/2019/computing-receptive-fields/) from the
input to each tensor: convolutions and pooling grow it, ``F.pad`` shifts it, nearest
upsampling divides the jump, element-wise ops (residual additions, concatenation,
activations, batch norm) take the union of their inputs' fields, and global pooling
makes it "global". A tensor made by an op it cannot follow gets no field (blank).
"""

from __future__ import annotations

import csv
import io
import math
import threading
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from core.common.hooks import forward_hooks
from core.geometry import AxisField, transposed_span

Field = tuple[AxisField, AxisField]
GLOBAL = AxisField(math.inf, math.inf, math.nan)  # the cell sees the whole input

COLUMNS = (
    "index",
    "name",
    "call",
    "type",
    "input_shape",
    "output_shape",
    "params",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "receptive_field",
    "jump",
)


@dataclass(frozen=True)
class LayerRow:
    """One call of one leaf layer.

    Attributes:
        index: 1-based position in call order.
        name: Module name as in ``named_modules()``.
        call: 1 for the module's first call in the pass, 2 for its second, ...
        type: The module's class name.
        input_shape: Shape of the first tensor input, without the batch dimension.
        output_shape: Shape of the output tensor, without the batch dimension.
        params: The module's parameters (all of them, including absorbed children's),
            on its first call; 0 on later calls.
        kernel_size: ``"3"`` or ``"3x5"``; "" where the layer has none.
        stride: As ``kernel_size``.
        padding: As ``kernel_size``; an explicit pad (``ZeroPad2d``) is written in its
            (left, right, top, bottom) order.
        dilation: As ``kernel_size``.
        groups: Convolution groups; "" where not a convolution.
        receptive_field: Classic receptive field of the output cells, ``"11"`` or
            ``"11x7"``, ``"global"``, or "" where it cannot be followed.
        jump: Input pixels between neighbouring output cells (same format).
    """

    index: int
    name: str
    call: int
    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    params: int
    kernel_size: str
    stride: str
    padding: str
    dilation: str
    groups: str
    receptive_field: str
    jump: str


# ------------------------------------------------------------------ field tracking


def _pair(value: Any, default: Any = None) -> tuple[int, int]:
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        value = default
    if isinstance(value, list | tuple):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _window(field: Field, kernel, stride, pad_before, dilation) -> Field:
    """A sliding window: Araujo et al. (2019) r, j and start recurrences."""
    out = []
    for axis in range(2):
        f = field[axis]
        extent = dilation[axis] * (kernel[axis] - 1) + 1
        out.append(
            AxisField(
                f.size + (extent - 1) * f.jump,
                f.jump * stride[axis],
                f.start + ((extent - 1) / 2 - pad_before[axis]) * f.jump,
            )
        )
    return (out[0], out[1])


def _transposed(field: Field, kernel, stride, padding, dilation) -> Field:
    """A transposed convolution: the jump shrinks by the stride (as core.geometry)."""
    out = []
    for axis in range(2):
        f = field[axis]
        k, s, p, d = kernel[axis], stride[axis], padding[axis], dilation[axis]
        span = transposed_span(k, s, p, d)
        out.append(
            AxisField(
                f.size + (span - 1) * f.jump,
                f.jump / s,
                f.start + f.jump * (p - d * (k - 1) / 2) / s,
            )
        )
    return (out[0], out[1])


def _union(fields: list[Field]) -> Field | None:
    """The smallest field covering every input's field (element-wise ops)."""
    if any(f[0].size == math.inf or f[1].size == math.inf for f in fields):
        return (GLOBAL, GLOBAL)
    out = []
    for axis in range(2):
        axis_fields = [f[axis] for f in fields]
        jumps = {f.jump for f in axis_fields}
        if len(jumps) != 1:
            return None
        low = min(f.start - (f.size - 1) / 2 for f in axis_fields)
        high = max(f.start + (f.size - 1) / 2 for f in axis_fields)
        out.append(AxisField(high - low + 1, axis_fields[0].jump, (low + high) / 2))
    return (out[0], out[1])


def _tensors(values: Iterable[Any]) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, list | tuple):
            found.extend(v for v in value if isinstance(v, torch.Tensor))
    return found


class FieldTracker(TorchFunctionMode):
    """Carries receptive fields from an input tensor to every tensor computed from it.

    Use as a context manager around one forward pass, after :meth:`watch` on the input.
    Torch function modes are thread-local: other threads' passes are not seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[int, tuple[weakref.ref, Field | None]] = {}

    def watch(self, tensor: torch.Tensor) -> None:
        """Mark ``tensor`` ``(B, C, H, W)`` as the input: field 1 pixel, jump 1, start 0."""
        one = AxisField(1.0, 1.0, 0.0)
        self._set(tensor, (one, one))

    def field(self, tensor: Any) -> Field | None:
        """The tracked field of a tensor, or None."""
        if not isinstance(tensor, torch.Tensor):
            return None
        entry = self._fields.get(id(tensor))
        if entry is None or entry[0]() is not tensor:
            return None
        return entry[1]

    def _set(self, tensor: torch.Tensor, field: Field | None) -> None:
        self._fields[id(tensor)] = (weakref.ref(tensor), field)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        result = out[0] if isinstance(out, tuple) and out else out
        if isinstance(result, torch.Tensor) and result.dim() == 4:
            inputs = _tensors(args) + _tensors(kwargs.values())
            if any(id(t) in self._fields for t in inputs):
                self._set(result, self._propagate(func, args, kwargs, inputs, result))
        return out

    def _propagate(self, func, args, kwargs, inputs, out: torch.Tensor) -> Field | None:
        name = getattr(func, "__name__", "")
        source = inputs[0]
        field = self.field(source)
        if name in ("conv2d", "conv_transpose2d") and field is not None:
            kernel = tuple(args[1].shape[2:])
            stride = _pair(_arg(args, kwargs, 3, "stride", 1))
            if name == "conv_transpose2d":
                padding = _pair(_arg(args, kwargs, 4, "padding", 0))
                dilation = _pair(_arg(args, kwargs, 7, "dilation", 1))
                return _transposed(field, kernel, stride, padding, dilation)
            dilation = _pair(_arg(args, kwargs, 5, "dilation", 1))
            padding = _arg(args, kwargs, 4, "padding", 0)
            if padding == "valid":
                padding = 0
            if padding == "same":
                before = tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel, strict=True))
            else:
                before = _pair(padding)
            return _window(field, kernel, stride, before, dilation)
        if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices") and field:
            kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
            stride = _pair(_arg(args, kwargs, 2, "stride", None), kernel)
            padding = _pair(_arg(args, kwargs, 3, "padding", 0))
            dilation = _pair(_arg(args, kwargs, 4, "dilation", 1))
            return _window(field, kernel, stride, padding, dilation)
        if name == "avg_pool2d" and field is not None:
            kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
            stride = _pair(_arg(args, kwargs, 2, "stride", None), kernel)
            padding = _pair(_arg(args, kwargs, 3, "padding", 0))
            return _window(field, kernel, stride, padding, (1, 1))
        if name == "pad" and field is not None:
            pads = list(_arg(args, kwargs, 1, "pad", ())) + [0, 0, 0, 0]
            left, top = pads[0], pads[2]
            return (
                AxisField(field[0].size, field[0].jump, field[0].start - top * field[0].jump),
                AxisField(field[1].size, field[1].jump, field[1].start - left * field[1].jump),
            )
        spatial_in = tuple(source.shape[2:]) if source.dim() == 4 else None
        spatial_out = tuple(out.shape[2:])
        if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "amax", "sum"):
            if spatial_out == (1, 1) and spatial_in != (1, 1) and field is not None:
                return (GLOBAL, GLOBAL)
            if spatial_out == spatial_in:
                return field
            return None
        if name == "interpolate" and field is not None and spatial_in:
            mode = _arg(args, kwargs, 3, "mode", "nearest")
            if mode != "nearest":
                return None
            return tuple(  # type: ignore[return-value]
                AxisField(f.size, f.jump * n_in / n_out, f.start)
                for f, n_in, n_out in zip(field, spatial_in, spatial_out, strict=True)
            )
        # element-wise (activations, batch norm, additions, concatenation, channel slices)
        fields: list[Field] = []
        for tensor in inputs:
            if tensor.dim() != 4:
                continue
            tracked = self.field(tensor)
            if tuple(tensor.shape[2:]) == spatial_out:
                if tracked is None:
                    return None
                fields.append(tracked)
            elif tuple(tensor.shape[2:]) == (1, 1) and tracked is not None:
                fields.append(tracked)  # broadcast gate, e.g. squeeze-excitation
            elif tracked is not None:
                return None  # a spatial change we do not know how to follow
        return _union(fields) if fields else None


# ------------------------------------------------------------------------ the table


def leaf_layers(net: nn.Module) -> dict[str, nn.Module]:
    """The modules that get rows: childless ones, and ones with parameters of their own.

    Args:
        net: Any network.

    Returns:
        name -> module, in registration order; children of a module with its own
        parameters are left out (they belong to it).
    """
    leaves: dict[str, nn.Module] = {}
    absorbed: list[str] = []
    for name, module in net.named_modules():
        if not name or any(name.startswith(prefix + ".") for prefix in absorbed):
            continue
        own_params = next(module.parameters(recurse=False), None) is not None
        has_children = next(module.children(), None) is not None
        if own_params and has_children:
            absorbed.append(name)
            leaves[name] = module
        elif not has_children:
            leaves[name] = module
    return leaves


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        items = [_number(v) for v in value]
        if len(items) == 2:
            return items[0] if items[0] == items[1] else f"{items[0]}x{items[1]}"
        return "(" + ", ".join(items) + ")"
    return _number(value)


def _number(value: Any) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "global"
        return str(int(value)) if value.is_integer() else f"{value:.2f}"
    return str(value)


def _explicit_padding(module: nn.Module) -> tuple[int, ...] | None:
    """(left, right, top, bottom) of a pad module, or of one absorbed in a conv."""
    pads = [module] + list(module.children())
    for pad in pads:
        if isinstance(pad, nn.ZeroPad2d | nn.ConstantPad2d | nn.ReflectionPad2d):
            return tuple(int(p) for p in pad.padding)
    return None


def _geometry(module: nn.Module) -> dict[str, str]:
    explicit = _explicit_padding(module)
    padding = getattr(module, "padding", None)
    if explicit is not None and (padding is None or _text(padding) in ("0", "")):
        padding_text = _text(explicit)
    else:
        padding_text = _text(padding)
    groups = (
        getattr(module, "groups", None) if isinstance(module, nn.modules.conv._ConvNd) else None
    )
    return {
        "kernel_size": _text(getattr(module, "kernel_size", None)),
        "stride": _text(getattr(module, "stride", None)),
        "padding": padding_text,
        "dilation": _text(getattr(module, "dilation", None))
        if isinstance(module, nn.modules.conv._ConvNd | nn.MaxPool2d)
        else "",
        "groups": _text(groups),
    }


def _field_text(field: Field | None) -> tuple[str, str]:
    if field is None:
        return "", ""
    if field[0].size == math.inf:
        return "global", ""
    return _text((field[0].size, field[1].size)), _text((field[0].jump, field[1].jump))


def _shape(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, tuple | list):
        value = next((v for v in value if isinstance(v, torch.Tensor)), None)
    if isinstance(value, torch.Tensor):
        return tuple(value.shape[1:])
    return None


def layer_table(net: nn.Module, input_shape: tuple[int, int, int]) -> list[LayerRow]:
    """One forward pass of ``net`` on zeros; one row per call of each leaf layer.

    The network is not modified: hooks live only during the pass (removed even if it
    raises) and only this thread's calls are recorded.

    Args:
        net: Any network taking ``(1, C, H, W)``; should be in eval mode.
        input_shape: ``(C, H, W)``.

    Returns:
        The rows in call order.
    """
    leaves = leaf_layers(net)
    owner = threading.get_ident()
    tracker = FieldTracker()
    calls: dict[str, int] = {}
    rows: list[LayerRow] = []

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if threading.get_ident() != owner:
                return
            calls[name] = calls.get(name, 0) + 1
            first = calls[name] == 1
            result = output[0] if isinstance(output, tuple | list) and output else output
            rf, jump = _field_text(tracker.field(result))
            rows.append(
                LayerRow(
                    index=len(rows) + 1,
                    name=name,
                    call=calls[name],
                    type=type(module).__name__,
                    input_shape=_shape(inputs),
                    output_shape=_shape(output),
                    params=sum(p.numel() for p in module.parameters()) if first else 0,
                    receptive_field=rf,
                    jump=jump,
                    **_geometry(module),
                )
            )

        return hook

    x = torch.zeros(1, *input_shape)
    with (
        torch.inference_mode(),
        forward_hooks((module, make_hook(name)) for name, module in leaves.items()),
        tracker,
    ):
        tracker.watch(x)
        net(x)
    return rows


def model_layer_table(model: Any) -> list[LayerRow]:
    """:func:`layer_table` of a :class:`core.models.ImageModel` at its input size."""
    height, width = model.input_size
    return layer_table(model.net, (3, height, width))


def rows_to_records(rows: list[LayerRow]) -> list[dict[str, Any]]:
    """Rows as dicts with shapes written ``"64x56x56"`` (for tables and CSV)."""
    records = []
    for row in rows:
        record = asdict(row)
        for key in ("input_shape", "output_shape"):
            shape = record[key]
            record[key] = "" if shape is None else "x".join(map(str, shape))
        records.append(record)
    return records


def to_csv(rows: list[LayerRow]) -> str:
    """The table as CSV text (the golden files' format)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows_to_records(rows))
    return buffer.getvalue()
