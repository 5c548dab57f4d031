"""Scoped PyTorch hooks: every hook lives inside a ``with`` block and is always removed.

A cached model is shared by every Streamlit session and thread, so nothing may stay
attached to it. Use these context managers instead of calling ``register_*_hook``
directly, and :func:`count_hooks` in tests to prove nothing was left behind.

Note on threads: a hook registered on a shared module fires for *every* forward pass
through that module, including another thread's. :func:`forward_hooks` (which every
helper here builds on) therefore runs a hook only for calls made from the thread that
opened the ``with`` block.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from core.common.critical import uninterruptible

ForwardHook = Callable[[nn.Module, tuple[Any, ...], Any], Any]


@contextmanager
def forward_hooks(hooks: Iterable[tuple[nn.Module, ForwardHook]]) -> Iterator[None]:
    """Attach forward hooks for the duration of a ``with`` block, for this thread only.

    Every hook is wrapped so that it runs only for forward passes of the thread that
    opened the block (another session's pass through the same shared module is left
    alone). A hook that returns a value replaces the module's output, as in
    ``nn.Module.register_forward_hook``.

    Args:
        hooks: ``(module, hook)`` pairs; ``hook(module, inputs, output)``.

    Yields:
        Nothing; all hooks are removed on exit, also when the block raises.
    """
    owner = threading.get_ident()
    handles: list[RemovableHandle] = []

    def this_thread(hook: ForwardHook) -> ForwardHook:
        def filtered(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            if threading.get_ident() != owner:
                return None
            return hook(module, inputs, output)

        return filtered

    def remove_all() -> None:
        for handle in handles:
            handle.remove()

    # No other work inline on this thread while the hooks are on: they would fire in its
    # passes too (see core.common.critical).
    with ExitStack() as stack, uninterruptible():
        stack.callback(remove_all)
        handles.extend(module.register_forward_hook(this_thread(hook)) for module, hook in hooks)
        yield


@contextmanager
def record_outputs(
    modules: dict[str, nn.Module], detach: bool = True
) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Record the output of named modules during forward passes in this thread.

    A module called several times in one forward pass (a reused activation) gets one
    entry per call, in call order.

    Args:
        modules: name -> module to watch.
        detach: Store detached tensors (False keeps them in the autograd graph, e.g. to
            take gradients with respect to them).

    Yields:
        name -> list of output tensors, filled as the forward passes run.
    """
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in modules}

    def make_hook(name: str) -> ForwardHook:
        def hook(_module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
            if isinstance(output, torch.Tensor):
                recorded[name].append(output.detach() if detach else output)

        return hook

    with forward_hooks((module, make_hook(name)) for name, module in modules.items()):
        yield recorded


# ----------------------------------------------------- the output of a layer, early


class NoSuchLayer(KeyError, ValueError):
    """A module name the network does not have (a KeyError for lookups, a ValueError
    for parameter checks; the message is shown as is)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StopForward(Exception):
    """Raised by a hook to end a forward pass once everything needed has run."""


def named_layers(
    net: nn.Module, names: Iterable[str], network: str = "the network"
) -> dict[str, nn.Module]:
    """name -> module for the given module names (as in ``net.named_modules()``).

    Raises:
        NoSuchLayer: a name that is no module of ``net`` (``network`` names it).
    """
    modules = dict(net.named_modules())
    wanted = list(dict.fromkeys(names))
    missing = [name for name in wanted if name not in modules]
    if missing:
        raise NoSuchLayer(f"{network} has no layer called {missing[0]!r}")
    return {name: modules[name] for name in wanted}


LayerCall = tuple[str, int]  # (module name, n): the n-th call of that module in a pass
Replace = Callable[[str, torch.Tensor], torch.Tensor]


@dataclass
class LayerTap:
    """What :func:`tap_layers` yields: run the network and read the tapped layers.

    Attributes:
        net: The network.
        outputs: Each tapped layer's output at its latest call of the last :meth:`run`
            (absent when that call returned no tensor), with its autograd graph.
        calls: How many times each tapped layer ran in the last :meth:`run`.
    """

    net: nn.Module
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def run(self, x: torch.Tensor) -> Any:
        """One forward pass; returns the network's output, or None if it stopped early."""
        self.outputs.clear()
        self.calls.clear()
        try:
            return self.net(x)
        except StopForward:
            return None


@contextmanager
def tap_layers(
    net: nn.Module,
    names: Sequence[str],
    stop_after: LayerCall | None = None,
    replace: Replace | None = None,
    network: str = "the network",
) -> Iterator[LayerTap]:
    """Read (and optionally replace) named layers' outputs in this thread's passes.

    The one mechanism for "the output of layer X": feature visualisation, dataset
    examples, receptive fields and the CAM methods' layer capture all use it.

    Args:
        net: The network (not modified; the hooks are removed on exit, also when the
            block raises).
        names: Module names to tap.
        stop_after: ``(name, n)``: end the pass right after the n-th call of that module
            (nothing after it is needed: the rest of the network is not run).
        replace: ``replace(name, output) -> tensor`` used instead of each tensor output
            of a tapped layer (e.g. a detached copy that requires grad, so that the
            backward pass starts at the layer).
        network: How messages name the network.

    Yields:
        The :class:`LayerTap`.

    Raises:
        NoSuchLayer: a name that is no module of ``net``.
    """
    modules = named_layers(net, names, network)
    tap = LayerTap(net)

    def make_hook(name: str) -> ForwardHook:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            tap.calls[name] = tap.calls.get(name, 0) + 1
            replaced = None
            if isinstance(output, torch.Tensor):
                if replace is not None:
                    output = replaced = replace(name, output)
                tap.outputs[name] = output
            else:
                tap.outputs.pop(name, None)
            if stop_after == (name, tap.calls[name]):
                raise StopForward
            return replaced

        return hook

    with forward_hooks((module, make_hook(name)) for name, module in modules.items()):
        yield tap


def layer_output(net: nn.Module, inputs: torch.Tensor, layer: str, call: int = 0) -> torch.Tensor:
    """Run ``net`` until module ``layer`` has been called ``call + 1`` times.

    The forward pass stops there; only this thread's calls count, so other sessions
    sharing the network are unaffected.

    Args:
        net: Any network (not modified).
        inputs: Its input; the output keeps its autograd graph back to it.
        layer: Module name as in ``net.named_modules()``.
        call: Which call of the module (0 = the first), for modules used several times.

    Returns:
        That call's output tensor.

    Raises:
        NoSuchLayer: no such module.
        ValueError: the module is called fewer than ``call + 1`` times, or that call
            returns no tensor.
    """
    with tap_layers(net, [layer], stop_after=(layer, call + 1)) as tap:
        tap.run(inputs)
    ran = tap.calls.get(layer, 0)
    if ran <= call:
        raise ValueError(f"{layer!r} ran {ran} time(s); call {call + 1} does not exist")
    if layer not in tap.outputs:
        raise ValueError(f"{layer!r} does not return a tensor")
    return tap.outputs[layer]


def call_order(net: nn.Module, x: torch.Tensor, names: Sequence[str]) -> list[LayerCall]:
    """The calls of the named modules in one forward pass, in order: ``(name, n)`` is the
    n-th call of that module. Used to know where a pass may stop early.

    Args:
        net: The network (not modified; the hooks are removed on return).
        x: An input ``(B, C, H, W)``.
        names: Module names to watch.

    Returns:
        ``(name, call number)`` pairs in the order the calls ran, in this thread.

    Raises:
        NoSuchLayer: a name that is no module of ``net``.
    """
    modules = named_layers(net, names)
    order: list[LayerCall] = []
    counts: dict[str, int] = {}

    def make_hook(name: str) -> ForwardHook:
        def hook(_module: nn.Module, _inputs: Any, _output: Any) -> None:
            counts[name] = counts.get(name, 0) + 1
            order.append((name, counts[name]))

        return hook

    with forward_hooks((m, make_hook(n)) for n, m in modules.items()), torch.no_grad():
        net(x)
    return order


def count_hooks(net: nn.Module) -> int:
    """Total number of hooks attached to ``net`` and all its sub-modules.

    Counts forward, forward-pre, backward and backward-pre hooks, and hooks on
    parameters. Tests assert this is unchanged after every operation.
    """
    total = 0
    for module in net.modules():
        total += len(module._forward_hooks) + len(module._forward_pre_hooks)
        total += len(module._backward_hooks) + len(module._backward_pre_hooks)
        total += len(getattr(module, "_state_dict_hooks", {}))
    for param in net.parameters():
        total += len(param._backward_hooks or {})
    return total


def private_copy(net: nn.Module) -> nn.Module:
    """A deep copy of a shared network, without any of its hooks, in eval mode.

    ``copy.deepcopy`` alone also copies every module's live hook dictionaries: if another
    thread is inside a hooked pass at that moment (Grad-CAM, the layer table, ...), the
    copy keeps those hooks for ever (their handles point at the original) and iterating
    a dictionary that thread is changing can fail. Here each hook dictionary (of modules
    and of parameters) is swapped for a new empty one through deepcopy's ``memo``, so it
    is neither read nor copied.

    Args:
        net: The network (never modified).

    Returns:
        An independent copy: same parameters and buffers (copied), no hooks, eval mode.
    """
    memo: dict[int, Any] = {}
    for module in net.modules():
        for name, value in vars(module).items():
            if "hooks" in name and isinstance(value, dict):
                memo[id(value)] = type(value)() if isinstance(value, OrderedDict) else {}
    for tensor in [*net.parameters(), *net.buffers()]:
        hooks = getattr(tensor, "_backward_hooks", None)
        if isinstance(hooks, dict):
            memo[id(hooks)] = OrderedDict()
    twin = copy.deepcopy(net, memo)
    return twin.eval()
