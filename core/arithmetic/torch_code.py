"""The PyTorch side of a layer stack: the modules its rows stand for, and their source code.

The tests build these modules to check the arithmetic against PyTorch itself; the
calculator page shows :func:`pytorch_code` so a stack can be pasted into a project.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from torch import nn

from core.arithmetic.formatting import format_shape
from core.arithmetic.layers import PARAMETERS, TORCH_NAMES, LayerLike, parse_layer
from core.arithmetic.shapes import analyze_stack


def torch_module(layer: LayerLike, in_size: int) -> nn.Module:
    """The PyTorch module a row stands for.

    Args:
        layer: The row.
        in_size: Input channels (spatial input) or features (flat input).

    Returns:
        A freshly built module (random weights; only the shapes matter).
    """
    layer = parse_layer(layer)
    op = layer.op
    padding: Any = layer.padding if isinstance(layer.padding, str) else (layer.padding or (0, 0))
    if op == "conv2d":
        return nn.Conv2d(
            in_size,
            layer.out_channels or 0,
            layer.kernel,
            layer.strides,
            padding,
            layer.dilations,
            layer.n_groups,
            layer.has_bias,
        )
    if op == "convtranspose2d":
        return nn.ConvTranspose2d(
            in_size,
            layer.out_channels or 0,
            layer.kernel,
            layer.strides,
            padding,
            layer.output_paddings,
            layer.n_groups,
            layer.has_bias,
            layer.dilations,
        )
    if op == "maxpool2d":
        return nn.MaxPool2d(
            layer.kernel, layer.strides, padding, layer.dilations, ceil_mode=bool(layer.ceil_mode)
        )
    if op == "avgpool2d":
        return nn.AvgPool2d(layer.kernel, layer.strides, padding, ceil_mode=bool(layer.ceil_mode))
    if op == "upsample":
        return nn.Upsample(scale_factor=layer.scales, mode="nearest")
    if op == "flatten":
        return nn.Flatten()
    return nn.Linear(in_size, layer.out_features or 0, layer.has_bias)


def torch_stack(input_shape: Sequence[int], layers: Iterable[LayerLike]) -> nn.Sequential:
    """The stack as an ``nn.Sequential`` of fresh PyTorch modules.

    Args:
        input_shape: ``(C, H, W)``.
        layers: The rows; only the valid ones before the first invalid row are built.

    Returns:
        The modules, in order (random weights; only the shapes matter).
    """
    report = analyze_stack(input_shape, layers)
    return nn.Sequential(*(torch_module(r.layer, r.input_shape[0]) for r in report.results))


def _code_value(value: Any) -> str:
    """A keyword argument's value as Python source: ``3``, or ``(3, 5)`` for a pair."""
    if isinstance(value, tuple):
        a, b = value
        return repr(a) if a == b else f"({a!r}, {b!r})"
    return repr(value)


def module_code(layer: LayerLike, in_size: int) -> str:
    """The PyTorch constructor call for one row, e.g. ``nn.Conv2d(3, 8, kernel_size=3)``.

    Only the parameters the row gives are written (the rest are PyTorch's defaults).

    Args:
        layer: The row.
        in_size: Input channels (spatial input) or features (flat input).

    Returns:
        One line of Python source.
    """
    layer = parse_layer(layer)
    name = TORCH_NAMES[layer.op]
    args: list[str] = []
    if layer.op in ("conv2d", "convtranspose2d"):
        args += [str(in_size), str(layer.out_channels)]
    elif layer.op == "linear":
        args += [str(in_size), str(layer.out_features)]
    for parameter in PARAMETERS[layer.op]:
        if parameter in ("out_channels", "out_features"):
            continue
        value = getattr(layer, parameter)
        if value is not None:
            args.append(f"{parameter}={_code_value(value)}")
    if layer.op == "upsample":
        args.append("mode='nearest'")
    return f"nn.{name}({', '.join(args)})"


def pytorch_code(input_shape: Sequence[int], layers: Iterable[LayerLike]) -> str:
    """The valid rows as PyTorch code (``nn.Sequential(...)``), for the page to show.

    Args:
        input_shape: ``(C, H, W)``.
        layers: The rows; code stops before the first invalid one, and a comment in
            the code says which row and why (so a stack whose first row is invalid does
            not read as an empty network).

    Returns:
        Python source text.
    """
    layers = list(layers)
    report = analyze_stack(input_shape, layers)
    lines = ["import torch.nn as nn", "", "net = nn.Sequential("]
    for result in report.results:
        shape = format_shape(result.output_shape)
        lines.append(f"    {module_code(result.layer, result.input_shape[0])},  # -> {shape}")
    error = report.error
    if error is not None:
        where = "the input shape" if error.row is None else f"row {error.row}"
        lines.append(f"    # stopped at {where}, which is invalid: {error.reason}")
        if error.row is not None:
            last = len(layers)
            left_out = f"row {error.row}" if last == error.row else f"rows {error.row}-{last}"
            lines.append(f"    # {left_out} left out until it is fixed")
    lines.append(")")
    return "\n".join(lines)
