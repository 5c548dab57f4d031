"""Scoped PyTorch hooks: every hook lives inside a ``with`` block and is always removed.

A cached model is shared by every Streamlit session and thread, so nothing may stay
attached to it. Use these context managers instead of calling ``register_*_hook``
directly, and :func:`count_hooks` in tests to prove nothing was left behind.

Note on threads: a hook registered on a shared module fires for *every* forward pass
through that module, including another thread's. The recorders below therefore only
record calls made from the thread that opened the ``with`` block.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from core.common.critical import uninterruptible

ForwardHook = Callable[[nn.Module, tuple[Any, ...], Any], Any]


@contextmanager
def forward_hooks(hooks: Iterable[tuple[nn.Module, ForwardHook]]) -> Iterator[None]:
    """Attach forward hooks for the duration of a ``with`` block.

    Args:
        hooks: ``(module, hook)`` pairs; ``hook(module, inputs, output)`` as in
            ``nn.Module.register_forward_hook``.

    Yields:
        Nothing; all hooks are removed on exit, also when the block raises.
    """
    handles: list[RemovableHandle] = []

    def remove_all() -> None:
        for handle in handles:
            handle.remove()

    # No other work inline on this thread while the hooks are on: they would fire in its
    # passes too (see core.common.critical).
    with ExitStack() as stack, uninterruptible():
        stack.callback(remove_all)
        handles.extend(module.register_forward_hook(hook) for module, hook in hooks)
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
    owner = threading.get_ident()
    recorded: dict[str, list[torch.Tensor]] = {name: [] for name in modules}

    def make_hook(name: str) -> ForwardHook:
        def hook(_module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
            if threading.get_ident() == owner and isinstance(output, torch.Tensor):
                recorded[name].append(output.detach() if detach else output)

        return hook

    with forward_hooks((module, make_hook(name)) for name, module in modules.items()):
        yield recorded


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
