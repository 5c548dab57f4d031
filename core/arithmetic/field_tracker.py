"""Receptive fields of a real network, followed along the data of one forward pass.

Receptive fields follow the data, not the module order, so residual networks come out
right: a ``torch.overrides.TorchFunctionMode`` (thread-local) watches every tensor
operation of the pass and carries the classic ``(size, jump, start)`` per axis (Araujo
et al., Distill 2019, https://distill.pub/2019/computing-receptive-fields/; the
recurrences are :mod:`core.arithmetic.fields`, shared with the stack calculator) from the
input to each tensor: convolutions and pooling grow it, ``F.pad`` shifts it, nearest
upsampling divides the jump, element-wise ops (residual additions, concatenation,
activations, batch norm) take the union of their inputs' fields, and global pooling
makes it "global". A tensor made by an op it cannot follow gets no field (blank).

The layer table (:mod:`core.arithmetic.tables`) reads each layer's output field.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from core.arithmetic.fields import (
    GLOBAL,
    INPUT_FIELD,
    Field,
    per_axis,
    resized_field,
    shifted_field,
    transposed_field,
    union_field,
    window_field,
)
from core.common.torch_calls import call_arg, tensors_in

Pair = tuple[int, int]


def _pair(value: Any, default: Any = None) -> Pair:
    """An int or a sequence argument of a torch call as ``(h, w)``; ``default`` if empty."""
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        value = default
    if isinstance(value, list | tuple):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


class FieldTracker(TorchFunctionMode):
    """Carries receptive fields from an input tensor to every tensor computed from it.

    Use as a context manager around one forward pass, after :meth:`watch` on the input.
    Torch function modes are thread-local: other threads' passes are not seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[int, tuple[weakref.ref[torch.Tensor], Field | None]] = {}

    def watch(self, tensor: torch.Tensor) -> None:
        """Mark ``tensor`` ``(B, C, H, W)`` as the input: field 1 pixel, jump 1, start 0."""
        self._set(tensor, (INPUT_FIELD, INPUT_FIELD))

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

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Collection[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        result = out[0] if isinstance(out, tuple) and out else out
        if isinstance(result, torch.Tensor) and result.dim() == 4:
            inputs = tensors_in(args) + tensors_in(kwargs.values())
            if any(id(t) in self._fields for t in inputs):
                self._set(result, self._propagate(func, args, kwargs, inputs, result))
        return out

    def _propagate(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        inputs: list[torch.Tensor],
        out: torch.Tensor,
    ) -> Field | None:
        """The field of ``out`` (``(B, C, H, W)``), made by ``func`` from ``inputs``."""
        name = getattr(func, "__name__", "")
        source = inputs[0]
        field = self.field(source)
        if field is not None:
            windowed = _windowed_field(name, args, kwargs, field)
            if windowed is not None:
                return windowed
        spatial_in = tuple(source.shape[2:]) if source.dim() == 4 else None
        spatial_out = tuple(out.shape[2:])
        if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "mean", "amax", "sum"):
            if spatial_out == (1, 1) and spatial_in != (1, 1) and field is not None:
                return (GLOBAL, GLOBAL)
            if spatial_out == spatial_in:
                return field
            return None
        if name == "interpolate" and field is not None and spatial_in:
            mode = call_arg(args, kwargs, 3, "mode", "nearest")
            if mode != "nearest":
                return None
            return per_axis(resized_field, field, spatial_in, spatial_out)
        return self._elementwise(inputs, spatial_out)

    def _elementwise(
        self, inputs: list[torch.Tensor], spatial_out: tuple[int, ...]
    ) -> Field | None:
        """Activations, batch norm, additions, concatenation, channel slices: the union."""
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
        return union_field(fields) if fields else None


def _windowed_field(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], field: Field
) -> Field | None:
    """The field after a convolution, pooling or ``F.pad`` call; None for other ops."""
    if name in ("conv2d", "conv_transpose2d"):
        weight = call_arg(args, kwargs, 1, "weight", None)  # (C_out, C_in / g, kh, kw)
        kernel = _pair(tuple(weight.shape[2:]))
        stride = _pair(call_arg(args, kwargs, 3, "stride", 1))
        if name == "conv_transpose2d":
            padding = _pair(call_arg(args, kwargs, 4, "padding", 0))
            dilation = _pair(call_arg(args, kwargs, 7, "dilation", 1))
            return per_axis(transposed_field, field, kernel, stride, padding, dilation)
        dilation = _pair(call_arg(args, kwargs, 5, "dilation", 1))
        padding_arg = call_arg(args, kwargs, 4, "padding", 0)
        if padding_arg == "same":
            before = (dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2)
        else:
            before = _pair(0 if padding_arg == "valid" else padding_arg)
        return per_axis(window_field, field, kernel, stride, before, dilation)
    if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
        kernel = _pair(call_arg(args, kwargs, 1, "kernel_size", 1))
        stride = _pair(call_arg(args, kwargs, 2, "stride", None), kernel)
        padding = _pair(call_arg(args, kwargs, 3, "padding", 0))
        dilation = (1, 1)  # avg_pool2d has none (its argument 4 is ceil_mode)
        if name != "avg_pool2d":
            dilation = _pair(call_arg(args, kwargs, 4, "dilation", 1))
        return per_axis(window_field, field, kernel, stride, padding, dilation)
    if name == "pad":
        pads = [*call_arg(args, kwargs, 1, "pad", ()), 0, 0, 0, 0]
        left, top = pads[0], pads[2]
        return per_axis(shifted_field, field, (top, left))
    return None
