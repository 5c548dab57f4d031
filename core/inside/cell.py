"""How was this number computed: one cell of a feature map, back to the window of input
numbers it was computed from (CNN Explainer's idea, Wang et al. 2020,
https://arxiv.org/abs/2004.15004, on real networks).

:func:`explain_cell` records one forward pass operation by operation
(:mod:`core.inside.trace`), walks back from the cell through the operations that made
it (an activation, a batch norm, a residual addition, zero padding, a concatenation)
to the window operation that read a neighbourhood (a convolution or a pooling), then
runs the pass again to read each of those operations' real numbers at the right cell,
and recomputes each step (:mod:`core.inside.cell_steps`) next to the network's own
value. An operation it cannot recompute is named and the steps after it are shown.

A grouped or depthwise convolution reads only its group's input channels
(``groups`` = ``C_in``: one channel); a batch norm uses its running statistics (the
network is in eval mode); a value changed in place (``nn.ReLU(inplace=True)``,
``out += identity``) is read before the change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.common.torch_calls import batch_norm_call, call_arg
from core.inside.cell_steps import (
    Cell,
    Operand,
    Site,
    Step,
    Window,
    activation,
    activation_step,
    average_pool_step,
    batch_norm_step,
    combine_step,
    convolution_step,
    copy_step,
    max_pool_step,
    number,
    uncovered_step,
)
from core.inside.trace import INPUT, After, OpNode, Probe, Slot, Trace, record, replay

MAX_STEPS = 8  # operations followed back from the cell
CONVOLUTIONS = {"conv2d"}
POOLS = {
    "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d",
    "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
}  # fmt: skip
COMBINE = {
    "add": "+", "add_": "+", "__add__": "+", "__iadd__": "+", "__radd__": "+",
    "sub": "-", "sub_": "-", "__sub__": "-", "__isub__": "-",
    "mul": "×", "mul_": "×", "__mul__": "×", "__imul__": "×", "__rmul__": "×",
}  # fmt: skip
COPIES = {"clone", "contiguous", "to", "float", "detach", "dropout", "dropout2d", "alpha_dropout"}
CONCATENATIONS = {"cat", "concat", "concatenate"}


@dataclass(frozen=True)
class CellExplanation:
    """How one cell of a layer's output was computed.

    Attributes:
        layer: The module clicked. layer_type: Its class.
        cell: ``(channel, row, column)`` of its output.
        shape: ``(C, H, W)`` of its output.
        steps: The operations, from the window of input numbers to the cell.
        value: The last step's value recomputed here (float64), or None when the
            operation that made the cell is not covered.
        network: The cell's value as the network computed it (float32).
        plane: ``(H, W)`` float32: the whole channel, as the network computed it.
        made_by: The layer whose output the clicked module returns when it is another
            one (a block returning its last layer's output), else ``""``.
        notes: What the steps take as given: an operand not followed back, the input
            of the first step when it is not a window, an operation not covered.
    """

    layer: str
    layer_type: str
    cell: Cell
    shape: tuple[int, int, int]
    steps: tuple[Step, ...]
    value: float | None
    network: float
    plane: np.ndarray
    made_by: str
    notes: tuple[str, ...]

    @property
    def difference(self) -> float | None:
        """``|value - network|``: float32 rounding of the network's own arithmetic."""
        return None if self.value is None else abs(self.value - self.network)


@dataclass(frozen=True)
class _Link:
    """One operation on the way back from the cell, and the cell of its output."""

    node: int
    cell: Cell
    follow: int | None = None  # the tensor argument followed further back
    pad_view: tuple[int, int, int, int] | None = None  # see through a zero pad: t, l, h, w
    source: str = ""  # what a window operation reads


def _pair(value: Any, default: Any = None) -> tuple[int, int]:
    """An int or a sequence argument as ``(h, w)``; ``default`` if None or empty."""
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        value = default
    if isinstance(value, list | tuple):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def _kind(node: OpNode) -> str:
    """What an operation is, for the walk back."""
    if node.index == INPUT:
        return "input"
    if node.op in CONVOLUTIONS or node.op in POOLS:
        return "window"
    if node.op == "batch_norm":
        return "batch norm"
    if activation(node.op, {}) is not None:
        return "activation"
    if node.op == "pad" and len(call_arg(node.args, node.kwargs, 1, "pad", ())) == 4:
        return "padding"
    if node.op in COMBINE and len(node.args) >= 2:
        return "combine"
    if node.op in CONCATENATIONS:
        return "concatenation"
    if node.op in COPIES and not (node.op.endswith("dropout") and _training(node)):
        return "copy"
    return "other"


def _training(node: OpNode) -> bool:
    """A dropout call's ``training`` flag (True drops values at random)."""
    return bool(call_arg(node.args, node.kwargs, 2, "training", True))


def _slot(value: Any) -> int | None:
    """The tensor-argument index of an argument, None when it is not a tensor."""
    return value.index if isinstance(value, Slot) else None


class _Walk:
    """Follows a cell back through a recorded pass."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def describe(self, node: int | None) -> str:
        """What a node's value is, for the page."""
        if node is None:
            return "a value made by code this explanation did not see"
        if node == INPUT:
            return "the network's input"
        found = self.trace.nodes[node]
        if not found.layer:
            return f"torch.{found.op} in the code of {self.enclosing(node)}"
        blocks = [name for name in found.named_by if found.layer.startswith(name + ".")]
        block = f", the output of {blocks[-1]}" if blocks else ""
        return f"{found.layer} ({found.layer_type}){block}"

    def enclosing(self, node: int) -> str:
        """The module whose ``forward()`` made an unnamed value: the parent of the first
        named layer that uses it (or the whole network)."""
        for later in self.trace.nodes[node + 1 :]:
            if node in later.producers and later.layer:
                parent = later.layer.rpartition(".")[0]
                kind = self.trace.types.get(parent, "")
                return f"{parent} ({kind})" if parent else "the network's forward()"
        return "the network's forward()"

    def chain(self, target: int, cell: Cell) -> tuple[list[_Link], list[str]]:
        """The operations from the cell back to a window operation, output first."""
        links: list[_Link] = []
        notes: list[str] = []
        node: int | None = target
        while node is not None and len(links) < MAX_STEPS:
            current = self.trace.nodes[node]
            kind = _kind(current)
            if kind == "input":
                break
            if kind == "window":
                links.append(self._window_link(current, cell))
                return links, notes
            if kind in ("batch norm", "activation", "copy"):
                links.append(_Link(node, cell))
                node = current.producers[0] if current.producers else None
            elif kind == "padding":
                source = self._unpadded(current, cell)
                links.append(_Link(node, cell))
                if source is None:
                    return links, notes
                node, cell = current.producers[0], source
            elif kind == "combine":
                follow = self._follow(current)
                links.append(_Link(node, cell, follow))
                if follow is None:
                    notes.append("No operand of this operation is followed further back.")
                    return links, notes
                node = current.producers[follow]
                cell = _broadcast(cell, current.shapes[follow])
            elif kind == "concatenation":
                found = self._concatenated(current, cell)
                links.append(_Link(node, cell, None if found is None else found[0]))
                if found is None:
                    return links, notes
                node, cell = current.producers[found[0]], found[1]
            else:
                links.append(_Link(node, cell))
                return links, notes
        if links and node is not None and node != INPUT and len(links) >= MAX_STEPS:
            notes.append(f"Followed back {MAX_STEPS} operations; the first one's input is "
                         "taken as it is.")  # fmt: skip
        elif links:
            notes.append(
                f"The first step's input, {self.describe(node)}, is taken as it is "
                "(no window operation before it)."
            )
        return links, notes

    def _window_link(self, node: OpNode, cell: Cell) -> _Link:
        """A convolution or pooling, seeing through a zero pad that fed it."""
        source = node.producers[0] if node.producers else None
        if source is not None and source != INPUT:
            pad = self.trace.nodes[source]
            if _kind(pad) == "padding" and _constant_zero(pad):
                left, _, top, _ = (int(v) for v in call_arg(pad.args, pad.kwargs, 1, "pad", ()))
                height, width = pad.shapes[0][2:]
                where = self.describe(pad.producers[0]) + " (zero-padded by " + (
                    pad.layer or "torch.nn.functional.pad") + ")"  # fmt: skip
                return _Link(node.index, cell, pad_view=(top, left, height, width), source=where)
        return _Link(node.index, cell, source=self.describe(source))

    def _unpadded(self, node: OpNode, cell: Cell) -> Cell | None:
        """The input cell a padded cell copies, None when it is constant padding."""
        left, _, top, _ = (int(v) for v in call_arg(node.args, node.kwargs, 1, "pad", ()))
        height, width = node.shapes[0][2:]
        mode = call_arg(node.args, node.kwargs, 2, "mode", "constant")
        c, y, x = cell
        row, col = _pad_source(y - top, height, mode), _pad_source(x - left, width, mode)
        return None if row is None or col is None else (c, row, col)

    def _follow(self, node: OpNode) -> int | None:
        """The operand of a sum or product to follow back: of two full-size tensors, the
        one with the longer way back to where both start (a residual block's branch,
        not its shortcut); a ``(1, C, 1, 1)`` gate or a number is never followed."""
        candidates = []
        for position in (0, 1):
            slot = _slot(node.args[position])
            if slot is None or node.shapes[slot] != node.shape:
                continue
            producer = node.producers[slot]
            if producer is not None and producer != INPUT:
                candidates.append((slot, self._path(producer)))
        if len(candidates) == 2:
            (first, path_a), (second, path_b) = candidates
            common = set(path_a) & set(path_b)
            if common:
                start = max(common)
                return second if path_b.index(start) > path_a.index(start) else first
        return candidates[0][0] if candidates else None

    def _path(self, node: int, limit: int = 64) -> list[int]:
        """Nodes back from ``node`` along each operation's first tensor argument."""
        path = [node]
        while len(path) < limit:
            producers = self.trace.nodes[path[-1]].producers
            if not producers or producers[0] is None:
                break
            path.append(producers[0])
        return path

    def _concatenated(self, node: OpNode, cell: Cell) -> tuple[int, Cell] | None:
        """The input a concatenation took a channel from, and the channel there."""
        dim = int(call_arg(node.args, node.kwargs, 1, "dim", 0))
        if dim not in (1, -3):
            return None
        c, y, x = cell
        for slot, shape in enumerate(node.shapes):
            if c < shape[1]:
                return slot, (c, y, x)
            c -= shape[1]
        return None


def _constant_zero(node: OpNode) -> bool:
    """An ``F.pad`` with zeros (the default) and no cropping."""
    pads = call_arg(node.args, node.kwargs, 1, "pad", ())
    mode = call_arg(node.args, node.kwargs, 2, "mode", "constant")
    value = call_arg(node.args, node.kwargs, 3, "value", None)
    return mode == "constant" and not value and all(int(p) >= 0 for p in pads)


def _pad_source(index: int, size: int, mode: str) -> int | None:
    """The input index a padded position copies (``F.pad``'s modes), None for constant
    padding."""
    if 0 <= index < size:
        return index
    if mode == "reflect":
        return -index if index < 0 else 2 * (size - 1) - index
    if mode == "replicate":
        return min(max(index, 0), size - 1)
    if mode == "circular":
        return index % size
    return None


def _broadcast(cell: Cell, shape: tuple[int, ...]) -> Cell:
    """The cell of a broadcast operand: index 0 along its size-1 dimensions."""
    sizes = (shape + (1, 1, 1, 1))[1:4] if len(shape) == 4 else (1, 1, 1)
    c, y, x = cell
    return (c if sizes[0] > 1 else 0, y if sizes[1] > 1 else 0, x if sizes[2] > 1 else 0)


def _at(tensor: Any, cell: Cell) -> float:
    """A ``(1, C, H, W)`` tensor's value at a cell (broadcast dimensions read at 0); the
    first tensor of a tuple (``max_pool2d`` with indices)."""
    if isinstance(tensor, tuple | list):
        tensor = tensor[0]
    if not isinstance(tensor, torch.Tensor):
        return float(tensor)
    if tensor.dim() != 4:
        return float(tensor.reshape(-1)[0]) if tensor.numel() == 1 else math.nan
    c, y, x = _broadcast(cell, tuple(tensor.shape))
    return float(tensor[0, c, y, x])


def _window(
    planes: torch.Tensor, rows: np.ndarray, cols: np.ndarray, fill: float, link: _Link,
    channels: np.ndarray,
) -> Window:  # fmt: skip
    """The numbers of ``planes`` ``(K, H, W)`` under a window; ``fill`` off the input."""
    height, width = planes.shape[1:]
    inside_rows = (rows >= 0) & (rows < height)
    inside_cols = (cols >= 0) & (cols < width)
    values = np.full((planes.shape[0], len(rows), len(cols)), fill, np.float64)
    picked = planes[:, torch.from_numpy(rows[inside_rows])][
        :, :, torch.from_numpy(cols[inside_cols])
    ]
    values[np.ix_(np.arange(planes.shape[0]), np.flatnonzero(inside_rows),
                  np.flatnonzero(inside_cols))] = picked.double().numpy()  # fmt: skip
    padding = ~(inside_rows[:, None] & inside_cols[None, :])
    size = (int(height), int(width))
    if link.pad_view is not None:  # show the rows and columns of the tensor before F.pad
        top, left, height, width = link.pad_view
        rows, cols, size = rows - top, cols - left, (height, width)
        padding = padding | ~(
            ((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :]
        )
    return Window(link.source, channels, rows, cols, values, padding, size)


class _Probes:
    """Builds, for each link, the probe that reads its numbers in the second pass."""

    def __init__(self, walk: _Walk, links: list[_Link]) -> None:
        self.walk = walk
        self.links = links
        self.steps: dict[int, Step] = {}
        self.notes: list[str] = []

    def probes(self) -> dict[int, Probe]:
        return {link.node: self._probe(link) for link in self.links}

    def _site(self, node: OpNode, cell: Cell) -> Site:
        where = f"{node.layer} ({node.layer_type})"
        if not node.layer:
            where = "the code of " + self.walk.enclosing(node.index)
        return Site(node.op, node.layer, node.layer_type, cell, where)

    def _probe(self, link: _Link) -> Probe:
        node = self.walk.trace.nodes[link.node]
        kind = _kind(node)
        site = self._site(node, link.cell)
        if kind == "window" and node.op in CONVOLUTIONS:
            return self._convolution(node, link, site)
        if kind == "window":
            return self._pool(node, link, site)
        if kind == "batch norm":
            return self._batch_norm(node, site)
        if kind == "activation":
            return self._activation(node, site)
        if kind == "combine":
            return self._combine(node, link, site)
        if kind in ("padding", "concatenation", "copy"):
            return self._copy(node, link, site, kind)
        return self._uncovered(node, site)

    def _store(self, node: OpNode, make: Callable[[float], Step]) -> After:
        """What runs after the call: the step, made with the network's value."""
        cell = next(link.cell for link in self.links if link.node == node.index)

        def after(out: Any) -> None:
            self.steps[node.index] = make(_at(out, cell))

        return after

    def _convolution(self, node: OpNode, link: _Link, site: Site) -> Probe:
        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> After:
            x = call_arg(args, kwargs, 0, "input", None)  # (1, C_in, H, W)
            weight = call_arg(args, kwargs, 1, "weight", None)  # (C_out, C_in / g, kh, kw)
            bias = call_arg(args, kwargs, 2, "bias", None)  # (C_out,) or None
            stride = _pair(call_arg(args, kwargs, 3, "stride", 1))
            padding = call_arg(args, kwargs, 4, "padding", 0)
            dilation = _pair(call_arg(args, kwargs, 5, "dilation", 1))
            groups = int(call_arg(args, kwargs, 6, "groups", 1))
            c, y, x_ = link.cell
            per_group = int(weight.shape[1])
            group = c // (weight.shape[0] // groups)
            kernel = (int(weight.shape[2]), int(weight.shape[3]))
            top, left = _before(padding, kernel, dilation)
            rows = y * stride[0] - top + np.arange(kernel[0]) * dilation[0]
            cols = x_ * stride[1] - left + np.arange(kernel[1]) * dilation[1]
            first = group * per_group
            channels = np.arange(first, first + per_group)
            window = _window(x[0, first : first + per_group], rows, cols, 0.0, link, channels)
            weights = weight[c].double().numpy()  # (C_in / g, kh, kw)
            value = None if bias is None else float(bias[c])
            name = f"{node.tensor_names[1] or 'weight'}[{c}]"
            return self._store(node, lambda network: convolution_step(
                site, window, weights, value, network, name, groups, stride, dilation))  # fmt: skip

        return before

    def _pool(self, node: OpNode, link: _Link, site: Site) -> Probe:
        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> After:
            x = call_arg(args, kwargs, 0, "input", None)  # (1, C, H, W)
            c, y, x_ = link.cell
            height, width = int(x.shape[2]), int(x.shape[3])
            plane = x[0, c : c + 1]
            channels = np.array([c])
            if node.op.startswith("adaptive"):
                size = call_arg(args, kwargs, 1, "output_size", None)
                sizes = list(size) if isinstance(size, list | tuple) else [size, size]
                oh, ow = (
                    int(s) if s is not None else d
                    for s, d in zip(sizes, (height, width), strict=True)
                )
                rows = np.arange(y * height // oh, -(-(y + 1) * height // oh))
                cols = np.arange(x_ * width // ow, -(-(x_ + 1) * width // ow))
                window = _window(plane, rows, cols, math.nan, link, channels)
                if node.op.startswith("adaptive_max"):
                    return self._store(node, lambda n: max_pool_step(site, window, n))
                divisor = float(len(rows) * len(cols))
                return self._store(node, lambda n: average_pool_step(site, window, divisor, n))
            kernel = _pair(call_arg(args, kwargs, 1, "kernel_size", 1))
            stride = _pair(call_arg(args, kwargs, 2, "stride", None), kernel)
            padding = _pair(call_arg(args, kwargs, 3, "padding", 0))
            if node.op == "avg_pool2d":
                return self._average(node, link, site, plane, kernel, stride, padding, args, kwargs)
            dilation = _pair(call_arg(args, kwargs, 4, "dilation", 1))
            rows = y * stride[0] - padding[0] + np.arange(kernel[0]) * dilation[0]
            cols = x_ * stride[1] - padding[1] + np.arange(kernel[1]) * dilation[1]
            window = _window(plane, rows, cols, math.nan, link, channels)
            return self._store(node, lambda n: max_pool_step(site, window, n))

        return before

    def _average(
        self, node: OpNode, link: _Link, site: Site, plane: torch.Tensor,
        kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
        args: tuple[Any, ...], kwargs: dict[str, Any],
    ) -> After:  # fmt: skip
        """``nn.AvgPool2d``'s divisor, as PyTorch's kernel computes it: the window clipped
        to the padded input, counted with or without its padding, or overridden."""
        include_pad = bool(call_arg(args, kwargs, 5, "count_include_pad", True))
        override = call_arg(args, kwargs, 6, "divisor_override", None)
        c, y, x_ = link.cell
        height, width = int(plane.shape[1]), int(plane.shape[2])
        rows = y * stride[0] - padding[0] + np.arange(kernel[0])
        cols = x_ * stride[1] - padding[1] + np.arange(kernel[1])
        rows = rows[rows < height + padding[0]]
        cols = cols[cols < width + padding[1]]
        window = _window(plane, rows, cols, math.nan, link, np.array([c]))
        if override:
            divisor = float(override)
        elif include_pad:
            divisor = float(len(rows) * len(cols))
        else:
            divisor = float((~window.padding).sum())
        return self._store(node, lambda n: average_pool_step(site, window, divisor, n))

    def _batch_norm(self, node: OpNode, site: Site) -> Probe:
        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> After:
            call = batch_norm_call(args, kwargs)
            c = site.cell[0]
            if call.training or call.running_mean is None or call.running_var is None:
                reason = ("a batch norm in training mode (it uses the statistics of the "
                          "batch, not its running ones): not covered")  # fmt: skip
                return self._store(node, lambda n: uncovered_step(site, reason, n))
            gamma = 1.0 if call.weight is None else float(call.weight[c])
            beta = 0.0 if call.bias is None else float(call.bias[c])
            numbers = (
                _at(call.input, site.cell), float(call.running_mean[c]),
                float(call.running_var[c]), call.eps, gamma, beta,
            )  # fmt: skip
            return self._store(node, lambda n: batch_norm_step(site, *numbers, n))

        return before

    def _activation(self, node: OpNode, site: Site) -> Probe:
        names = {"hardtanh": ("min_val", "max_val"), "leaky_relu": ("negative_slope",),
                 "elu": ("alpha",)}  # fmt: skip

        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> After:
            options = dict(kwargs)
            for position, name in enumerate(names.get(node.op.removesuffix("_"), ()), 1):
                options[name] = call_arg(args, kwargs, position, name, options.get(name))
            options = {k: v for k, v in options.items() if v is not None}
            act = activation(node.op, options)
            assert act is not None  # _kind said so
            x = _at(call_arg(args, kwargs, 0, "input", None), site.cell)
            return self._store(node, lambda n: activation_step(site, act, x, n))

        return before

    def _combine(self, node: OpNode, link: _Link, site: Site) -> Probe:
        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> After:
            operands = []
            for position in (0, 1):
                value = args[position]
                slot = _slot(node.args[position])
                if slot is None:
                    operands.append(Operand(f"the number {number(float(value))}", float(value), ()))
                    continue
                source = self.walk.describe(node.producers[slot])
                operands.append(Operand(source, _at(value, site.cell), node.shapes[slot]))
            alpha = float(kwargs.get("alpha", 1.0))
            symbol = COMBINE[node.op]
            for position, operand in enumerate(operands):
                if position != link.follow and operand.shape:
                    self.notes.append(_operand_note(operand, symbol))
            return self._store(node, lambda n: combine_step(
                site, symbol, tuple(operands), link.follow, n, alpha))  # fmt: skip

        return before

    def _copy(self, node: OpNode, link: _Link, site: Site, kind: str) -> Probe:
        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> After:
            if kind == "padding":
                source = self.walk._unpadded(node, site.cell)
                tensor, producer = call_arg(args, kwargs, 0, "input", None), node.producers[0]
            elif kind == "concatenation":
                found = self.walk._concatenated(node, site.cell)
                assert found is not None  # the walk stopped otherwise
                slot, source = found
                tensor, producer = (
                    call_arg(args, kwargs, 0, "tensors", ())[slot],
                    node.producers[slot],
                )
            else:
                source = site.cell
                tensor, producer = call_arg(args, kwargs, 0, "input", None), node.producers[0]
            if source is None:
                value = float(call_arg(args, kwargs, 3, "value", None) or 0.0)
            else:
                value = _at(tensor, source)
            described = self.walk.describe(producer)
            return self._store(node, lambda n: copy_step(kind, site, described, source, value, n))

        return before

    def _uncovered(self, node: OpNode, site: Site) -> Probe:
        where = node.layer or "in the code of " + self.walk.enclosing(node.index)
        reason = f"torch.{node.op} ({where}): an operation this explanation does not recompute"

        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> After:
            return self._store(node, lambda n: uncovered_step(site, reason, n))

        return before


def _operand_note(operand: Operand, symbol: str) -> str:
    """What the page says about an operand it does not follow back."""
    if operand.shape[2:] == (1, 1):
        return (
            f"{operand.source} gives one number per channel ({number(operand.value)} here), "
            "computed from the whole feature map (a squeeze-and-excitation gate, Hu et al. "
            "2018, when it multiplies): how it was computed is not shown."
        )
    if symbol == "+":
        return (
            f"{operand.source} ({number(operand.value)} here) is the shorter way to this sum "
            "(in a residual block, the shortcut: the block's input, or its projection, added "
            "back; He et al. 2016): taken as it is, how it was computed is not shown."
        )
    return (
        f"{operand.source} ({number(operand.value)} here) is taken as it is: how it was "
        "computed is not shown."
    )


def _before(padding: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """Rows and columns of padding before the input (top, left), as ``F.conv2d`` pads:
    ``"same"`` puts the odd one at the end."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return (dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2)
    return _pair(padding)


def explain_cell(
    net: nn.Module, x: torch.Tensor, layer: str, channel: int,
    row: int | None = None, col: int | None = None,
) -> CellExplanation:  # fmt: skip
    """How the network computed one cell of a layer's output, with the real numbers.

    Two forward passes of ``net`` on ``x``: one records every operation, one reads the
    numbers of those on the way to the cell. A module called several times is
    explained at its last call (as :func:`core.inside.feature_maps` shows it).

    Args:
        net: The network (not modified; no hook is left behind; only this thread's
            calls are seen).
        x: ``(1, C, H, W)``: the network's input.
        layer: Module name, as in ``net.named_modules()``.
        channel: Output channel.
        row, col: The cell; None (both): the channel's largest value.

    Returns:
        The :class:`CellExplanation`.

    Raises:
        KeyError: no module of that name.
        ValueError: the layer did not run, its output is no ``(1, C, H, W)`` feature
            map, or the channel or cell is outside it.
    """
    modules = dict(net.named_modules())
    if layer not in modules:
        raise KeyError(f"no layer called {layer!r}")
    trace = record(net, x, keep=layer)
    output = trace.kept
    if output is None or not trace.calls.get(layer):
        raise ValueError(f"{layer} did not run on this input")
    if output.dim() != 4 or output.shape[0] != 1:
        raise ValueError(f"{layer} outputs {tuple(output.shape)}, not a (1, C, H, W) feature map")
    channels, height, width = (int(s) for s in output.shape[1:])
    if not 0 <= channel < channels:
        raise ValueError(f"{layer} has {channels} channels, not {channel + 1}")
    plane = output[0, channel].float().numpy()  # (H, W)
    if row is None or col is None:
        row, col = (int(i) for i in np.unravel_index(int(np.argmax(plane)), plane.shape))
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"{layer} is {height} x {width}: no row {row}, column {col}")
    cell: Cell = (channel, row, col)
    network = float(plane[row, col])
    target = trace.calls[layer][-1]
    walk = _Walk(trace)
    if target is None:
        reason = f"{layer} returned a value no operation of the pass made: not covered"
        step = uncovered_step(Site("", layer, type(modules[layer]).__name__, cell), reason, network)
        return CellExplanation(
            layer, type(modules[layer]).__name__, cell, (channels, height, width), (step,),
            None, network, plane, "", (),
        )  # fmt: skip
    links, notes = walk.chain(target, cell)
    probes = _Probes(walk, links)
    replay(net, x, probes.probes(), trace)
    steps = tuple(probes.steps[link.node] for link in reversed(links))
    made_by = trace.nodes[target].layer
    return CellExplanation(
        layer=layer,
        layer_type=type(modules[layer]).__name__,
        cell=cell,
        shape=(channels, height, width),
        steps=steps,
        value=steps[-1].value if steps else None,
        network=network,
        plane=plane,
        made_by="" if made_by == layer else made_by,
        notes=tuple(probes.notes + notes),
    )
