"""One forward pass, operation by operation: which torch call made each tensor value.

"How was this number computed" needs more than a layer's input and output: the value of
a cell passes through a convolution, a batch norm, an activation, sometimes a residual
addition written in a block's ``forward()`` (no layer of its own), and modules change
tensors in place (``nn.ReLU(inplace=True)``, ``out += identity``). Module hooks alone
cannot see an addition, nor the value a tensor had before an in-place change.

So a ``torch.overrides.TorchFunctionMode`` (thread-local: another thread's passes are
not seen) records every torch call that returns a tensor as an :class:`OpNode`: its
function, which earlier node produced each tensor argument (a tensor is known by its
``id`` and its version counter, so an in-place change makes a new node), and which
parameter each other tensor argument is. Scoped, thread-filtered module hooks
(:func:`core.common.hooks.forward_hooks`) name the nodes after the layers whose output
they are. A second pass of the same network on the same input makes the same calls in
the same order, so a node is found again by its index; :func:`trace` then lets a probe
read an operation's arguments *before* it runs (in-place safe) and its result after.

Written by hand because no library does this: ``torch.fx`` cannot trace a network whose
Python code branches on its input, and forward hooks see modules, not operations.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from core.common.hooks import forward_hooks
from core.common.layout import fast_layout
from core.common.torch_calls import tensors_in

INPUT = 0  # the index of the node standing for the network's input


@dataclass(frozen=True)
class Slot:
    """Stands for the ``index``-th tensor argument of a recorded call."""

    index: int


@dataclass
class OpNode:
    """One torch call of the pass that returned a tensor (or changed one in place).

    Attributes:
        index: Position in the pass (0 is the network's input).
        op: The torch function's name, e.g. ``"conv2d"``, ``"batch_norm"``, ``"add_"``.
        args: Positional arguments, each tensor replaced by a :class:`Slot` (numbers,
            strides, paddings kept as they were).
        kwargs: Keyword arguments, likewise.
        producers: For each tensor argument, in call order: the node whose output it
            is, or None (a parameter, a buffer, a constant).
        tensor_names: For each tensor argument: the parameter or buffer name (e.g.
            ``"conv1.weight"``), or None.
        shapes: For each tensor argument: its shape.
        shape: The output's shape.
        layer: The innermost module whose output this is (``""`` for a value made
            inside a module's ``forward()`` and not returned by any module).
        layer_type: That module's class name.
        named_by: Every module that returned this value, innermost first (a block
            returning its last layer's output names it too).
    """

    index: int
    op: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    producers: tuple[int | None, ...]
    tensor_names: tuple[str | None, ...]
    shapes: tuple[tuple[int, ...], ...]
    shape: tuple[int, ...]
    layer: str = ""
    layer_type: str = ""
    named_by: list[str] = field(default_factory=list)


# A probe runs before a call (it gets the real args and kwargs) and returns what to run
# after it (with the call's output).
After = Callable[[Any], None]
Probe = Callable[[tuple[Any, ...], dict[str, Any]], After]


def _version(tensor: torch.Tensor) -> int:
    """The tensor's version counter (bumped by every in-place change); -1 when it has
    none (an inference-mode tensor)."""
    try:
        return int(tensor._version)
    except RuntimeError:
        return -1


def _sanitise(value: Any, slots: dict[int, int]) -> Any:
    """``value`` with every tensor replaced by its :class:`Slot` (lists and tuples too)."""
    if isinstance(value, torch.Tensor):
        return Slot(slots[id(value)])
    if isinstance(value, list | tuple):
        return type(value)(_sanitise(v, slots) for v in value)
    return value


class Tracer(TorchFunctionMode):
    """Records every tensor-returning torch call of the passes run inside it.

    Args:
        names: ``id(tensor)`` -> name of the network's parameters and buffers.
        probes: Node index -> (the op expected there, the probe to run around that call)
            for the second pass. A call that returns no tensor gets no node; a probe
            runs before every call of its op at its index, and its ``after`` only for
            the call that becomes the node.
    """

    def __init__(
        self, names: Mapping[int, str], probes: Mapping[int, tuple[str, Probe]] | None = None
    ) -> None:
        super().__init__()
        self.nodes: list[OpNode] = []
        self.paused = False  # True: calls run unrecorded (a hook's own bookkeeping)
        self._names = names
        self._probes = dict(probes or {})
        self._known: dict[int, tuple[weakref.ref[torch.Tensor], int, int]] = {}

    def watch_input(self, x: torch.Tensor) -> None:
        """Make ``x`` node 0, the network's input."""
        self.nodes.append(OpNode(INPUT, "input", (), {}, (), (), (), tuple(x.shape), "input"))
        self._remember(x, INPUT)

    def producer(self, tensor: Any) -> int | None:
        """The node whose output ``tensor`` holds now, or None (unknown, or changed in
        place by something this tracer did not see)."""
        if not isinstance(tensor, torch.Tensor):
            return None
        entry = self._known.get(id(tensor))
        if entry is None or entry[0]() is not tensor or entry[1] != _version(tensor):
            return None
        return entry[2]

    def _remember(self, tensor: torch.Tensor, node: int) -> None:
        self._known[id(tensor)] = (weakref.ref(tensor), _version(tensor), node)

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Collection[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if self.paused:
            return func(*args, **kwargs)
        op = getattr(func, "__name__", type(func).__name__)
        inputs = tensors_in(args) + tensors_in(kwargs.values())
        producers = tuple(self.producer(t) for t in inputs)
        versions = [_version(t) for t in inputs]
        expected, probe = self._probes.get(len(self.nodes), ("", None))
        after = probe(args, kwargs) if probe is not None and expected == op else None
        out = func(*args, **kwargs)
        result = out[0] if isinstance(out, tuple | list) and out else out
        if not isinstance(result, torch.Tensor):
            return out
        for tensor, version in zip(inputs, versions, strict=True):
            if result is tensor and _version(result) == version:
                return out  # the same value handed on (dropout in eval, contiguous, ...)
        slots: dict[int, int] = {}
        for k, tensor in enumerate(inputs):
            slots.setdefault(id(tensor), k)
        node = OpNode(
            index=len(self.nodes),
            op=op,
            args=_sanitise(args, slots),
            kwargs={key: _sanitise(value, slots) for key, value in kwargs.items()},
            producers=producers,
            tensor_names=tuple(self._names.get(id(t)) for t in inputs),
            shapes=tuple(tuple(t.shape) for t in inputs),
            shape=tuple(result.shape),
        )
        self.nodes.append(node)
        self._remember(result, node.index)
        if after is not None:
            after(out)
        return out


@dataclass(frozen=True)
class Trace:
    """The operations of one forward pass and the layers that named them.

    Attributes:
        nodes: Every recorded call, in order (node 0 is the input).
        calls: Module name -> the node of its output at each call, in call order (None
            when a call returned something the tracer did not make).
        types: Module name -> its class name, for every module of the network.
        kept: The last output of the module asked for (a detached copy), or None.
    """

    nodes: list[OpNode]
    calls: dict[str, list[int | None]]
    types: dict[str, str]
    kept: torch.Tensor | None


def parameter_names(net: nn.Module) -> dict[int, str]:
    """``id(tensor)`` -> name, for every parameter and buffer of ``net``."""
    named = [*net.named_parameters(remove_duplicate=False), *net.named_buffers()]
    return {id(tensor): name for name, tensor in named}


def _prepared(x: torch.Tensor) -> torch.Tensor:
    """The input as the pages pass it (channels last), never an inference tensor (those
    have no version counter)."""
    return fast_layout(x.clone() if x.is_inference() else x)


def record(net: nn.Module, x: torch.Tensor, keep: str | None = None) -> Trace:
    """Every operation of one forward pass, named after the layers that return them.

    Args:
        net: The network (not modified: its hooks live only during the pass and record
            only this thread's calls).
        x: ``(1, C, H, W)``: the network's input.
        keep: A module whose (last) output to keep a copy of.

    Returns:
        The :class:`Trace`.
    """
    owner = threading.get_ident()
    tracer = Tracer(parameter_names(net))
    calls: dict[str, list[int | None]] = {}
    kept: list[torch.Tensor] = []

    def make_hook(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
            if threading.get_ident() != owner:
                return
            node = tracer.producer(output)
            calls.setdefault(name, []).append(node)
            if name == keep and isinstance(output, torch.Tensor):
                tracer.paused = True  # the copy is no operation of the network
                try:
                    kept[:] = [output.detach().clone()]
                finally:
                    tracer.paused = False
            if node is not None:
                tracer.nodes[node].named_by.append(name)
                if not tracer.nodes[node].layer:
                    tracer.nodes[node].layer = name
                    tracer.nodes[node].layer_type = type(module).__name__

        return hook

    x = _prepared(x)
    modules = [(name, module) for name, module in net.named_modules() if name]
    with torch.no_grad(), forward_hooks((m, make_hook(name)) for name, m in modules), tracer:
        tracer.watch_input(x)
        net(x)
    types = {name: type(module).__name__ for name, module in modules}
    return Trace(tracer.nodes, calls, types, kept[0] if kept else None)


def replay(net: nn.Module, x: torch.Tensor, probes: Mapping[int, Probe], expected: Trace) -> None:
    """Run the pass again with ``probes`` around the calls of the given node indices.

    Args:
        net: The network of ``expected`` (not modified; no hook is attached).
        x: The same input.
        probes: Node index -> probe.
        expected: The first pass, to check the second made the same calls.

    Raises:
        RuntimeError: the network made different calls this time (its code depends on
            something other than its input).
    """
    ops = {index: (expected.nodes[index].op, probe) for index, probe in probes.items()}
    tracer = Tracer(parameter_names(net), ops)
    x = _prepared(x)
    with torch.no_grad(), tracer:
        tracer.watch_input(x)
        net(x)
    same = len(tracer.nodes) == len(expected.nodes) and all(
        (a.op, a.shape) == (b.op, b.shape)
        for a, b in zip(tracer.nodes, expected.nodes, strict=True)
    )
    if not same:
        raise RuntimeError("the network made different operations on a second pass")
