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
right: :class:`~core.arithmetic.field_tracker.FieldTracker` watches the pass and gives
each output its classic field; global pooling makes it "global", and an output made by an
op the tracker cannot follow gets no field (blank).

Rows keep numbers (shapes as tuples, fields as :class:`~core.arithmetic.fields.AxisField`);
:func:`rows_to_records` and :func:`to_csv` write them as the table's text.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.arithmetic.field_tracker import FieldTracker
from core.arithmetic.fields import Field
from core.arithmetic.formatting import format_number, format_pair, format_shape
from core.common.hooks import forward_hooks
from core.common.networks import parameter_count

if TYPE_CHECKING:
    from core.models import ImageModel

Hook = Callable[[nn.Module, tuple[Any, ...], Any], None]
TABLE_DECIMALS = 2  # fractional numbers (a jump after upsampling) are written 0.50

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
        field: Classic receptive field of the output cells, per axis (height, width):
            size, jump and start in input pixels; :data:`~core.arithmetic.fields.GLOBAL`
            on both axes when a cell sees the whole input; None where it cannot be
            followed.
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
    field: Field | None

    @property
    def is_global(self) -> bool:
        """Whether each output cell sees the whole input (after global pooling)."""
        return self.field is not None and self.field[0].size == math.inf

    @property
    def receptive_field(self) -> str:
        """The field's size as table text: ``"11"``, ``"11x7"``, ``"global"`` or ""."""
        if self.field is None:
            return ""
        if self.is_global:
            return "global"
        return _field_pair((self.field[0].size, self.field[1].size))

    @property
    def jump(self) -> str:
        """Input pixels between neighbouring output cells, as table text ("" if global)."""
        if self.field is None or self.is_global:
            return ""
        return _field_pair((self.field[0].jump, self.field[1].jump))

    @property
    def finite_field_size(self) -> tuple[float, float] | None:
        """``(h, w)`` of the classic field when it is a finite size, else None."""
        if self.field is None or not all(math.isfinite(f.size) for f in self.field):
            return None
        return (self.field[0].size, self.field[1].size)


def _field_pair(values: tuple[float, float]) -> str:
    """Field sizes or jumps as text; infinite ones (a cell that sees everything) "global"."""
    if math.isinf(values[0]) and math.isinf(values[1]):
        return "global"
    return format_pair(values, TABLE_DECIMALS)


@dataclass(frozen=True)
class TableSummary:
    """The headline numbers of a layer table.

    Attributes:
        calls: Rows of the table (layer calls).
        params: Parameters of the layers the pass called, each module counted once.
        model_params: Every parameter of the network, called or not.
        largest_field: The largest finite classic receptive field of any row, ``(h, w)``
            in input pixels, by area; None when no row has one (global fields do not count).
        largest_field_row: The (first) row with that field, or None.
    """

    calls: int
    params: int
    model_params: int
    largest_field: tuple[float, float] | None
    largest_field_row: LayerRow | None

    @property
    def uncalled_params(self) -> int:
        """Parameters in layers this forward pass never calls."""
        return self.model_params - self.params


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
    """A module attribute (kernel_size, stride, ...) as table text: ``"3"``, ``"3x5"``,
    ``"(0, 1, 0, 1)"`` for other lengths, "" for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        if len(value) == 2:
            return format_pair(value, TABLE_DECIMALS)
        return "(" + ", ".join(map(_number, value)) + ")"
    return _number(value)


def _number(value: Any) -> str:
    """One number of a module attribute; floats with :data:`TABLE_DECIMALS` decimals."""
    return format_number(value, TABLE_DECIMALS) if isinstance(value, float) else str(value)


def _explicit_padding(module: nn.Module) -> tuple[int, ...] | None:
    """(left, right, top, bottom) of a pad module, or of one absorbed in a conv."""
    pads = [module] + list(module.children())
    for pad in pads:
        if isinstance(pad, nn.ZeroPad2d | nn.ConstantPad2d | nn.ReflectionPad2d):
            return tuple(int(p) for p in pad.padding)
    return None


def _geometry(module: nn.Module) -> dict[str, str]:
    """The kernel_size, stride, padding, dilation and groups cells of a module's row."""
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


def _shape(value: Any) -> tuple[int, ...] | None:
    """Shape (without the batch dimension) of a tensor, or of the first tensor in a tuple."""
    if isinstance(value, tuple | list):
        value = next((v for v in value if isinstance(v, torch.Tensor)), None)
    if isinstance(value, torch.Tensor):
        return tuple(value.shape[1:])
    return None


def layer_table(
    net: nn.Module, input_shape: tuple[int, int, int], modules: Sequence[str] | None = None
) -> list[LayerRow]:
    """One forward pass of ``net`` on zeros; one row per call of each leaf layer.

    The network is not modified: hooks live only during the pass (removed even if it
    raises) and only this thread's calls are recorded.

    Args:
        net: Any network taking ``(1, C, H, W)``; should be in eval mode.
        input_shape: ``(C, H, W)``.
        modules: Module names to give rows to instead of the leaf layers (e.g. the
            block outputs of :func:`core.common.blocks.block_outputs`: a block's row has
            all its parameters and the field of its real output, residual sum included).

    Returns:
        The rows in call order.
    """
    named = dict(net.named_modules())
    leaves = leaf_layers(net) if modules is None else {name: named[name] for name in modules}
    tracker = FieldTracker()
    calls: dict[str, int] = {}
    rows: list[LayerRow] = []

    def make_hook(name: str) -> Hook:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            first = calls[name] == 1
            result = output[0] if isinstance(output, tuple | list) and output else output
            rows.append(
                LayerRow(
                    index=len(rows) + 1,
                    name=name,
                    call=calls[name],
                    type=type(module).__name__,
                    input_shape=_shape(inputs),
                    output_shape=_shape(output),
                    params=parameter_count(module) if first else 0,
                    field=tracker.field(result),
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


def model_layer_table(model: ImageModel, modules: Sequence[str] | None = None) -> list[LayerRow]:
    """:func:`layer_table` of a :class:`core.models.ImageModel` at its input size."""
    return layer_table(model.net, model.input_shape, modules)


def summarize_table(rows: Sequence[LayerRow], net: nn.Module) -> TableSummary:
    """The headline numbers of a network's layer table.

    Args:
        rows: From :func:`layer_table` of ``net``.
        net: The network (for the parameters of layers the pass never called).

    Returns:
        A :class:`TableSummary`; its largest field is the largest of all rows (a late
        row, e.g. a strided shortcut, can see less than an earlier one).
    """
    largest: LayerRow | None = None
    largest_field: tuple[float, float] | None = None
    for row in rows:
        size = row.finite_field_size
        if size is not None and (largest_field is None or _area(size) > _area(largest_field)):
            largest, largest_field = row, size
    return TableSummary(
        calls=len(rows),
        params=sum(row.params for row in rows),
        model_params=parameter_count(net),
        largest_field=largest_field,
        largest_field_row=largest,
    )


def _area(size: tuple[float, float]) -> float:
    """Input pixels in a classic receptive field of ``(h, w)``."""
    return size[0] * size[1]


def row_record(row: LayerRow) -> dict[str, Any]:
    """One row as table cells (:data:`COLUMNS`): shapes written ``"64x56x56"``, fields as text."""
    record = {column: getattr(row, column) for column in COLUMNS}
    for key in ("input_shape", "output_shape"):
        shape = record[key]
        record[key] = "" if shape is None else format_shape(shape, "x")
    return record


def rows_to_records(rows: Sequence[LayerRow]) -> list[dict[str, Any]]:
    """Rows as dicts with shapes written ``"64x56x56"`` (for tables and CSV)."""
    return [row_record(row) for row in rows]


def to_csv(rows: Sequence[LayerRow]) -> str:
    """The table as CSV text (the golden files' format)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows_to_records(rows))
    return buffer.getvalue()
