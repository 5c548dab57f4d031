"""Rewriting the backward pass of a network, op by op, without touching the network.

Guided backpropagation, DeconvNet and LRP each replace the backward rule of some
operations (rectifiers; convolutions, linear layers, pooling, additions). Hooking
``nn.ReLU`` modules, as Captum and pytorch-grad-cam do, misses ``nn.ReLU6`` (our default
EfficientNet-Lite0), functional activations (``F.relu``, ``torch.clamp``) and silently
returns the plain gradient for them. Instead, :class:`Interceptor` is a
``torch.overrides.TorchFunctionMode``: while it is active, *every* torch call of the
forward pass (module or functional, reused modules included, since each call is seen
separately) goes through one handler, which swaps in a ``torch.autograd.Function`` with
the method's backward rule.

Properties this relies on (tested in ``tests/test_attribution_guided.py`` and
``tests/test_attribution_lrp.py``):

- The torch-function mode stack is thread-local: a mode entered in one thread does not
  see another thread's calls, so a shared cached model explained by two threads at
  once gives each the single-thread answer. Nothing is attached to the model.
- Inside the handler the mode is disabled, so a functional op that calls other torch
  functions (``F.relu`` -> ``torch.relu``) is seen once.
- Operations are classified by an allow-list (:data:`OP_KINDS`). An operation on the
  input's autograd path that is not on the list (a SiLU, a sigmoid gate, a custom
  ``autograd.Function``) raises :class:`MethodNotApplicable` naming it: a method is
  right or it says it does not apply; it is never silently wrong.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from core.attribution.base import MethodNotApplicable
from core.common.torch_calls import call_arg, tensors_in

# ------------------------------------------------------------------ classification

# Kinds of operation on the input's path:
#   "rectifier": ReLU-type (relu, relu6, hardtanh/clamp with lower bound 0, threshold 0)
#   "affine":    convolutions and linear layers (weight, bias)
#   "batch_norm": F.batch_norm in eval mode (an affine map per channel)
#   "pool":      linear maps with positive weights and no parameters (average pools, mean, sum)
#   "add":       addition of two tensors (residual connections) or of a constant
#   "scale":     multiplication or division by a constant
#   "route":     moves or copies values (reshape, pad, slicing, concatenation, max pooling,
#                dropout in eval mode): the plain gradient is right for every method here
_NAMES: dict[str, tuple[str, ...]] = {
    "rectifier": (
        "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "clamp", "clamp_", "clip",
        "clip_", "clamp_min", "clamp_min_", "threshold", "threshold_",
    ),
    "affine": ("conv1d", "conv2d", "conv3d", "linear"),
    "pool": (
        "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
        "adaptive_avg_pool3d", "mean", "sum",
    ),
    "add": ("add", "add_", "__add__", "__radd__", "__iadd__"),
    "scale": (
        "mul", "mul_", "__mul__", "__rmul__", "__imul__", "div", "div_", "__truediv__",
        "__itruediv__",
    ),
    "route": (
        "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "contiguous",
        "permute", "transpose", "t", "squeeze", "unsqueeze", "__getitem__", "narrow", "select",
        "cat", "concat", "concatenate", "stack", "clone", "pad", "constant_pad_nd", "chunk",
        "split", "unbind", "expand", "expand_as", "to", "float", "type_as", "max_pool1d",
        "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "dropout", "dropout1d", "dropout2d",
        "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    ),
}  # fmt: skip

_NAMESPACES: tuple[Any, ...] = (torch, F, torch._C.TensorBase, torch.Tensor, torch._C._nn)


def _build_table() -> dict[Callable[..., Any], tuple[str, str]]:
    table: dict[Callable[..., Any], tuple[str, str]] = {}
    for kind, names in _NAMES.items():
        for name in names:
            for namespace in _NAMESPACES:
                func = getattr(namespace, name, None)
                if func is not None and func not in table:
                    table[func] = (kind, name)
    # Only the functional batch norm (what nn.BatchNorm calls): torch.batch_norm has a
    # different argument order and is left unknown (so it raises rather than misparses).
    table[F.batch_norm] = ("batch_norm", "batch_norm")
    return table


OP_KINDS: dict[Callable[..., Any], tuple[str, str]] = _build_table()
_DROPOUTS = {
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
}


def op_name(func: Callable[..., Any]) -> str:
    """A readable name for a torch function, for messages."""
    known = OP_KINDS.get(func)
    if known is not None:
        return known[1]
    name = getattr(func, "__name__", None) or getattr(func, "__qualname__", None) or repr(func)
    return str(name)


_ACTIVE = threading.local()  # the Interceptor of this thread's current forward pass


def on_path(t: Any) -> bool:
    """A tensor computed from the explained input in the current intercepted pass.

    Provenance, not ``requires_grad``: with a network whose parameters require grad (the
    public ``attribute()`` accepts one), a tensor computed from parameters alone (a scaled
    weight, a mask) also requires grad but is not on the input's path.
    """
    active: Interceptor | None = getattr(_ACTIVE, "mode", None)
    return isinstance(t, torch.Tensor) and active is not None and active.on_path(t)


def _floating_result(result: Any) -> bool:
    return any(t.is_floating_point() for t in tensors_in([result]))


# --------------------------------------------------------------- parsed call views


@dataclass(frozen=True)
class Rectifier:
    """A ReLU-type call: ``clamp(x, lower, upper)`` with ``lower == 0``."""

    x: torch.Tensor
    lower: float
    upper: float  # math.inf for ReLU
    inplace: bool


def parse_rectifier(
    name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Rectifier:
    """Read a rectifier call; raise when it is not ReLU-type (lower bound 0).

    Raises:
        MethodNotApplicable: e.g. ``hardtanh(-1, 1)`` or a clamp with tensor bounds.
    """
    x = args[0]
    inplace = name.endswith("_")
    if name in ("relu", "relu_"):
        lower, upper = 0.0, math.inf
        inplace = inplace or bool(call_arg(args, kwargs, 1, "inplace", False))
    elif name == "relu6":
        lower, upper = 0.0, 6.0
        inplace = bool(call_arg(args, kwargs, 1, "inplace", False))
    elif name in ("hardtanh", "hardtanh_"):
        lower = call_arg(args, kwargs, 1, "min_val", -1.0)
        upper = call_arg(args, kwargs, 2, "max_val", 1.0)
        inplace = inplace or bool(call_arg(args, kwargs, 3, "inplace", False))
    elif name in ("threshold", "threshold_"):
        level = call_arg(args, kwargs, 1, "threshold", None)
        value = call_arg(args, kwargs, 2, "value", None)
        inplace = inplace or bool(call_arg(args, kwargs, 3, "inplace", False))
        if level != 0 or value != 0:
            raise MethodNotApplicable(
                f"threshold({level}, {value}) is not a ReLU; this method handles ReLU-type "
                "activations only"
            )
        lower, upper = 0.0, math.inf
    elif name in ("clamp_min", "clamp_min_"):
        lower, upper = call_arg(args, kwargs, 1, "min", None), math.inf
    else:  # clamp, clip and their in-place forms
        lower = call_arg(args, kwargs, 1, "min", None)
        upper = call_arg(args, kwargs, 2, "max", None)
        upper = math.inf if upper is None else upper
    if isinstance(lower, torch.Tensor) or isinstance(upper, torch.Tensor):
        raise MethodNotApplicable(f"{name} with tensor bounds is not a ReLU-type activation")
    if lower is None or float(lower) != 0.0 or float(upper) <= 0.0:
        raise MethodNotApplicable(
            f"{name}(min={lower}, max={upper}) is not a ReLU-type activation (lower bound 0); "
            "this method handles ReLU, ReLU6 and clamps at 0 only"
        )
    return Rectifier(x=x, lower=0.0, upper=float(upper), inplace=inplace)


def check_dropout(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Dropout is a plain copy only in eval mode."""
    default = name not in ("alpha_dropout", "feature_alpha_dropout")
    if name in _DROPOUTS and bool(call_arg(args, kwargs, 2, "training", default)):
        raise MethodNotApplicable(
            "the network applies dropout in training mode during the forward pass"
        )


# ------------------------------------------------------------------------ the mode

Rule = Callable[[str, str, Any, tuple[Any, ...], dict[str, Any]], Any]


class Interceptor(TorchFunctionMode):
    """Route every torch call of a forward pass on the input's path through ``rule``.

    Args:
        method: Method title, for messages.
        rules: kind -> ``rule(kind, name, func, args, kwargs)`` returning the call's
            result (normally a ``torch.autograd.Function`` applied to the arguments).
            Kinds not given run unchanged (plain gradient); operations of no known kind
            raise :class:`MethodNotApplicable`.

    Use only as ``with Interceptor(...):`` around the forward pass, in the thread that
    runs it; run the backward pass after the block.
    """

    def __init__(self, method: str, rules: dict[str, Rule], inputs: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.method = method
        self.rules = rules
        self._path: dict[int, weakref.ref[torch.Tensor]] = {}
        for tensor in inputs:
            self.mark(tensor)

    def mark(self, tensor: torch.Tensor) -> None:
        """Record a tensor as computed from the input."""
        self._path[id(tensor)] = weakref.ref(tensor)

    def on_path(self, tensor: torch.Tensor) -> bool:
        """True for the inputs and every tensor computed from them in this pass."""
        ref = self._path.get(id(tensor))
        return ref is not None and ref() is tensor

    def __enter__(self) -> Interceptor:
        self._outer = getattr(_ACTIVE, "mode", None)
        _ACTIVE.mode = self
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        _ACTIVE.mode = self._outer

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if not any(self.on_path(t) for t in tensors_in((*args, *kwargs.values()))):
            return func(*args, **kwargs)
        result = self._on_path_call(func, args, kwargs)
        for tensor in tensors_in([result]):
            if tensor.is_floating_point():
                self.mark(tensor)  # results of an op on the path are on the path
        return result

    def _on_path_call(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        known = OP_KINDS.get(func)
        if not torch.is_grad_enabled():
            # An op on the input's path with autograd off: the network computes part of
            # its forward pass in a custom autograd.Function (or under no_grad), whose
            # backward rule we cannot see or rewrite.
            result = func(*args, **kwargs)
            if _floating_result(result):
                raise MethodNotApplicable(
                    f"{self.method} cannot rewrite the backward pass of this network: part "
                    f"of its forward pass ({op_name(func)}) runs outside autograd (a custom "
                    "autograd.Function?)"
                )
            return result
        if known is None:
            result = func(*args, **kwargs)
            if _floating_result(result):
                raise MethodNotApplicable(
                    f"{self.method} has no rule for the operation `{op_name(func)}` in this "
                    "network; it supports convolutions, linear layers, batch norm, pooling, "
                    "additions and ReLU-type activations (ReLU, ReLU6, clamp at 0)"
                )
            return result
        kind, name = known
        if kind == "route":
            check_dropout(name, args, kwargs)
        rule = self.rules.get(kind)
        if rule is None:
            return func(*args, **kwargs)
        return rule(kind, name, func, args, kwargs)


# ------------------------------------------------------------- rectifier backward


class _Rectifier(torch.autograd.Function):
    """``clamp(x, 0, upper)`` forward with a chosen backward rule.

    Rules, for incoming gradient ``g`` (Springenberg et al. 2015,
    https://arxiv.org/abs/1412.6806; Zeiler & Fergus 2014, https://arxiv.org/abs/1311.2901):

    - ``"guided"``: ``max(g, 0) * [0 < x < upper]``: the ReLU's own gate (for ReLU6,
      zero where the unit saturates at 6, as its gradient is) and only positive signal.
    - ``"deconvnet"``: ``max(g, 0)``: the signal is rectified, the forward pass ignored.
    - ``"relevance"``: ``g`` unchanged (LRP passes relevance through activations).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, upper: float, rule: str, inplace: bool) -> torch.Tensor:
        ctx.rule = rule
        ctx.gate = ((x > 0) & (x < upper)) if rule == "guided" else None  # bool, x's shape
        bound = None if math.isinf(upper) else upper
        if inplace:
            ctx.mark_dirty(x)
            return x.clamp_(min=0.0, max=bound)
        return x.clamp(min=0.0, max=bound)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if ctx.rule == "guided":
            grad = grad.clamp(min=0.0) * ctx.gate
        elif ctx.rule == "deconvnet":
            grad = grad.clamp(min=0.0)
        return grad, None, None, None


def rectifier_rule(backward: str) -> Rule:
    """An :class:`Interceptor` rule replacing every ReLU-type call's backward.

    Args:
        backward: ``"guided"``, ``"deconvnet"`` or ``"relevance"`` (see :class:`_Rectifier`).
    """

    def rule(kind: str, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = parse_rectifier(name, func, args, kwargs)
        return _Rectifier.apply(call.x, call.upper, backward, call.inplace)

    return rule
