"""Layer-wise relevance propagation (LRP), epsilon and alpha-beta rules.

Bach et al. 2015, https://doi.org/10.1371/journal.pone.0130140; Montavon et al. 2019,
"Layer-wise relevance propagation: an overview", https://doi.org/10.1007/978-3-030-28954-6_10

Our own code, not Captum's ``LRP``: Captum sets a ``rule`` attribute on every module of
the model (a mutation of our shared cached model), supports neither functional
activations nor residual additions, and treats a module called twice (EfficientNet's
reused ReLU6) as one layer. Here the forward pass runs under
:class:`core.attribution.ops.Interceptor`, which swaps every linear operation on the
input's path for an autograd function whose backward pass is the LRP rule; the
relevance then flows back through autograd, one call at a time.

Rules for a convolution or linear layer ``z_k = sum_j x_j w_jk + b_k`` with incoming
relevance ``R_k``:

- epsilon: ``R_j = x_j * sum_k w_jk R_k / (z_k + eps * sign(z_k))``;
- alpha-beta (alpha=2, beta=1): ``R_j = sum_k (alpha (x_j w_jk)^+ / z_k^+ -
  beta (x_j w_jk)^- / z_k^-) R_k`` with ``z^+``/``z^-`` the sums of positive/negative
  contributions, biases' positive/negative parts included (they absorb relevance).

Pooling, additions and a batch norm that follows no convolution split relevance in
proportion to the contributions under both rules (the epsilon formula).

Supported: convolutions and linear layers; batch norm, folded into the convolution or
linear layer that feeds it (else treated as a per-channel linear map); average pooling,
mean and sum (linear maps, weights 1/n); max pooling (winner takes all); additions,
e.g. residual connections (relevance split in proportion to the summands); scaling by
a constant (relevance unchanged); ReLU-type activations (relevance passed through); and
shape operations. Anything else on the input's path raises :class:`MethodNotApplicable`
naming the operation. The relevance entering the network is the target logit; with
zero biases and the epsilon rule, the map sums to it (conservation; tested).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from core.attribution.base import (
    InputShape,
    Method,
    MethodNotApplicable,
    Param,
    Params,
    Progress,
    sum_over_channels,
)
from core.attribution.guided import check_same_logits
from core.attribution.ops import Interceptor, on_path, op_name, rectifier_rule
from core.common.batchnorm import batch_norm_affine, fold_affine
from core.common.layout import fast_layout
from core.common.torch_calls import call_arg

if TYPE_CHECKING:
    from core.attribution.runner import Attributor

log = logging.getLogger(__name__)

LinearOp = Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], torch.Tensor]


@dataclass(frozen=True)
class LRPRule:
    """Which rule and its constants."""

    name: str  # "epsilon" or "alpha_beta"
    epsilon: float
    alpha: float = 2.0
    beta: float = 1.0


def _stabilize(z: torch.Tensor, eps: float) -> torch.Tensor:
    """``z + eps * sign(z)``, with sign(0) = +1, so nothing is divided by zero."""
    return z + eps * torch.where(z >= 0, 1.0, -1.0).to(z)


def _split(t: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if t is None:
        return None, None
    return t.clamp(min=0), t.clamp(max=0)


def linear_relevance(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    op: LinearOp,
    relevance: torch.Tensor,
    rule: LRPRule,
) -> torch.Tensor:
    """Relevance of the input of ``z = op(x, weight, bias)`` given the output's relevance.

    ``op`` is linear in ``x`` for fixed weight, and in the weight for fixed ``x``; for
    parameter-free maps (pooling) ``weight`` is None and the weights are taken as
    positive. Vector-Jacobian products come from autograd on a recomputation.

    Args:
        x: Input of the operation.
        weight: Its weight, or None.
        bias: Its bias, or None.
        op: ``op(x, weight, bias) -> z``.
        relevance: Relevance of ``z`` (same shape as ``z``).
        rule: The rule.

    Returns:
        Relevance of ``x`` (same shape as ``x``).
    """
    x = x.detach()
    with torch.enable_grad():
        if rule.name == "epsilon":
            xi = x.clone().requires_grad_(True)
            z = op(xi, weight, bias)
            (c,) = torch.autograd.grad(z, xi, relevance / _stabilize(z.detach(), rule.epsilon))
            return x * c

        if weight is None:
            raise ValueError("the alpha-beta rule needs the operation's weights")
        # Positive contributions x_j w_jk > 0 come from x+ w+ and x- w-; negative ones
        # from x+ w- and x- w+. Inputs after a ReLU have no negative part (skipped).
        x_pos, x_neg = x.clamp(min=0), x.clamp(max=0)
        w_pos, w_neg = _split(weight)
        b_pos, b_neg = _split(bias)
        parts = [x_pos, x_neg] if bool((x < 0).any()) else [x_pos]
        leaves = [p.clone().requires_grad_(True) for p in parts]
        z_pos = op(leaves[0], w_pos, b_pos)
        z_neg = op(leaves[0], w_neg, b_neg)
        if len(leaves) == 2:
            z_pos = z_pos + op(leaves[1], w_neg, None)
            z_neg = z_neg + op(leaves[1], w_pos, None)
        s_pos = relevance / (z_pos.detach() + rule.epsilon)
        s_neg = relevance / (z_neg.detach() - rule.epsilon)
        grads_pos = torch.autograd.grad(z_pos, leaves, s_pos)
        grads_neg = torch.autograd.grad(z_neg, leaves, s_neg)
    result = torch.zeros_like(x)
    for part, g_pos, g_neg in zip(parts, grads_pos, grads_neg, strict=True):
        result = result + part * (rule.alpha * g_pos - rule.beta * g_neg)
    return result


class _LinearLRP(torch.autograd.Function):
    """Forward: ``op(x, weight, bias)``. Backward: the LRP rule instead of the gradient."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        op: LinearOp,
        rule: LRPRule,
    ) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.weight, ctx.bias, ctx.op, ctx.rule = weight, bias, op, rule
        return op(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        r = linear_relevance(x, ctx.weight, ctx.bias, ctx.op, relevance, ctx.rule)
        return r, None, None, None, None


class _AddLRP(torch.autograd.Function):
    """Forward: ``a + b`` (in place if asked). Backward: relevance split between the
    summands in proportion to their values, ``R_a = a R / (a + b)`` (stabilised)."""

    @staticmethod
    def forward(
        ctx: Any, a: torch.Tensor, b: torch.Tensor, epsilon: float, inplace: bool
    ) -> torch.Tensor:
        ctx.a, ctx.b, ctx.epsilon = a.detach().clone(), b.detach().clone(), epsilon
        ctx.a_shape, ctx.b_shape = a.shape, b.shape
        if inplace:
            ctx.mark_dirty(a)
            return a.add_(b)
        return a + b

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, b = ctx.a, ctx.b
        s = relevance / _stabilize(a + b, ctx.epsilon)
        ra = (a * s).sum_to_size(ctx.a_shape)
        rb = (b * s).sum_to_size(ctx.b_shape) if ctx.needs_input_grad[1] else None
        return ra, rb, None, None


class _ScaleLRP(torch.autograd.Function):
    """Forward: ``a * c`` or ``a / c`` for a constant ``c``. Backward: relevance unchanged
    (scaling one input does not change its share)."""

    @staticmethod
    def forward(
        ctx: Any, a: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor], inplace: bool
    ) -> torch.Tensor:
        ctx.a_shape = a.shape
        if inplace:
            ctx.mark_dirty(a)
        return compute(a)

    @staticmethod
    def backward(ctx: Any, relevance: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return relevance.sum_to_size(ctx.a_shape), None, None


class _Rules:
    """The LRP interception rules for one forward pass (remembers which tensors came out
    of a convolution or linear layer, to fold a following batch norm into it)."""

    def __init__(self, rule: LRPRule, note: Callable[[str], None]) -> None:
        self.rule = rule
        self.note = note
        # Operations where each output has one input, or all weights are equal and
        # positive (per-channel batch norm, pooling, additions) split relevance in
        # proportion to the contributions under either rule: alpha-beta there would
        # multiply the relevance by alpha wherever no contribution is negative (e.g. 2^8
        # for the 8 residual additions of a ResNet-18). Zennit does the same (its
        # "Norm" rule for pooling and sums).
        self.proportional = LRPRule("epsilon", rule.epsilon)
        # id(output) -> (output, input, weight, bias, op) of affine calls in this pass
        self.produced: dict[
            int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, Any, LinearOp]
        ] = {}

    def table(self) -> dict[str, Any]:
        return {
            "rectifier": rectifier_rule("relevance"),
            "affine": self.affine,
            "batch_norm": self.batch_norm,
            "pool": self.pool,
            "add": self.add,
            "scale": self.scale,
        }

    def affine(
        self, kind: str, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        x = args[0]
        weight = call_arg(args, kwargs, 1, "weight", None)
        bias = call_arg(args, kwargs, 2, "bias", None)
        if on_path(weight) or on_path(bias):
            raise MethodNotApplicable(f"LRP: the weights of a {name} depend on the input")
        if name == "linear":

            def op(
                inp: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None
            ) -> torch.Tensor:
                return func(inp, w, b)
        else:
            rest = tuple(args[3:])
            extra = {k: v for k, v in kwargs.items() if k not in ("input", "weight", "bias")}

            def op(
                inp: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None
            ) -> torch.Tensor:
                return func(inp, w, b, *rest, **extra)

        out = _LinearLRP.apply(x, weight, bias, op, self.rule)
        self.produced[id(out)] = (out, x, weight, bias, op)
        return out

    def batch_norm(
        self, kind: str, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        x = args[0]
        mean = call_arg(args, kwargs, 1, "running_mean", None)
        var = call_arg(args, kwargs, 2, "running_var", None)
        gamma = call_arg(args, kwargs, 3, "weight", None)
        beta = call_arg(args, kwargs, 4, "bias", None)
        training = bool(call_arg(args, kwargs, 5, "training", False))
        eps = float(call_arg(args, kwargs, 7, "eps", 1e-5))
        if training or mean is None or var is None:
            raise MethodNotApplicable("LRP needs batch norm in eval mode with running statistics")
        scale, shift = batch_norm_affine(mean, var, gamma, beta, eps)
        producer = self.produced.get(id(x))
        if producer is not None and producer[0] is x:
            # Fold into the convolution / linear layer that produced x.
            _, inp, weight, bias, op = producer
            fused_w, fused_b = fold_affine(weight, bias, scale, shift)
            out = _LinearLRP.apply(inp, fused_w, fused_b, op, self.rule)
            self.produced[id(out)] = (out, inp, fused_w, fused_b, op)
            return out
        view = (1, -1) + (1,) * (x.dim() - 2)

        def per_channel(
            inp: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None
        ) -> torch.Tensor:
            out = inp * w.view(view) if w is not None else inp
            return out + b.view(view) if b is not None else out

        message = (
            "a batch norm that follows no convolution or linear layer was treated as a "
            "per-channel linear map (relevance split in proportion to its contributions)"
        )
        log.info("LRP: %s", message)
        self.note(message)
        return _LinearLRP.apply(x, scale, shift, per_channel, self.proportional)

    def pool(
        self, kind: str, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        rest = tuple(args[1:])

        def op(inp: torch.Tensor, w: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor:
            out = func(inp, *rest, **kwargs)
            return out + b if b is not None else out

        return _LinearLRP.apply(args[0], None, None, op, self.proportional)

    def add(
        self, kind: str, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        a, b = args[0], call_arg(args, kwargs, 1, "other", None)
        if call_arg(args, kwargs, 2, "alpha", 1) != 1:
            raise MethodNotApplicable("LRP: add with alpha != 1 is not supported")
        inplace = name in ("add_", "__iadd__")
        if not on_path(a):  # constant + path tensor: put the path tensor first
            if inplace:
                raise MethodNotApplicable("LRP: in-place addition into a constant tensor")
            a, b = b, a
        b = b if isinstance(b, torch.Tensor) else torch.as_tensor(b, dtype=a.dtype)
        return _AddLRP.apply(a, b, self.rule.epsilon, inplace)

    def scale(
        self, kind: str, name: str, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        a, other = args[0], call_arg(args, kwargs, 1, "other", None)
        if on_path(a) and on_path(other):
            raise MethodNotApplicable(
                f"LRP has no rule for `{op_name(func)}` of two activations (a gate or "
                "attention); it supports scaling by constants only"
            )
        inplace = (name.endswith("_") and not name.startswith("__")) or name.startswith("__i")
        if not on_path(a):
            if inplace or name in ("div", "__truediv__"):
                raise MethodNotApplicable(
                    f"LRP: `{op_name(func)}` with the activation as divisor or in-place "
                    "target is not supported"
                )
            a, other = other, a
        rest = {k: v for k, v in kwargs.items() if k != "other"}
        return _ScaleLRP.apply(a, lambda t: func(t, other, **rest), inplace)


class LRP(Method):
    """Layer-wise relevance propagation: the class score redistributed layer by layer
    back to the pixels."""

    name = "lrp"
    title = "LRP"
    summary = "The class score passed back layer by layer; red for, blue against."
    paper = "https://doi.org/10.1371/journal.pone.0130140"
    citation = "Bach et al. 2015"
    signed = True
    unit = "relevance"
    scaling = "heavy_tailed"
    params = (
        Param(
            "rule",
            "alpha_beta",
            "epsilon: relevance in proportion to contributions (conserves the score); "
            "alpha_beta: positive contributions x2, negative x1 (alpha=2, beta=1, clearer maps).",
            "choice",
            choices=("epsilon", "alpha_beta"),
        ),
        Param(
            "epsilon", 1e-6, "Stabiliser added to denominators; larger absorbs weak relevance "
            "(epsilon rule; alpha-beta keeps the default as its own stabiliser).",
            "float", 1e-9, 10.0, log=True, applies_when=(("rule", ("epsilon",)),),
        ),
    )  # fmt: skip

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return 1, (2 if params["rule"] == "epsilon" else 4)

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        rules = _Rules(LRPRule(params["rule"], params["epsilon"]), run.note)
        with torch.inference_mode(False), torch.enable_grad():
            x = fast_layout(run.x.clone()).requires_grad_(True)
            with Interceptor(self.title, rules.table(), [x]):
                out = run.net(x)  # (1, K)
            rules.produced.clear()
            run.check_output(out, 1, target)
            check_same_logits(run, out, self.title)
            start = torch.zeros_like(out)
            start[0, target] = out[0, target].detach()  # relevance entering = the logit
            (relevance,) = torch.autograd.grad(out, x, start)
        return sum_over_channels(relevance)
