"""Reading the arguments of an intercepted torch call, in one place.

Shared by the ``TorchFunctionMode`` users: the attribution interceptor
(:mod:`core.attribution.ops`, which rewrites backward rules), the layer table's
receptive-field tracker (:mod:`core.arithmetic.field_tracker`) and the operation tracer
of "how was this number computed" (:mod:`core.inside.trace`). A torch function receives
its arguments positionally or by keyword; these helpers read either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch


def call_arg(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any
) -> Any:
    """Argument ``index`` (positional) or ``name`` (keyword) of a call, else ``default``."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def tensors_in(values: Iterable[Any]) -> list[torch.Tensor]:
    """Every tensor among ``values``, looking inside (nested) lists and tuples."""
    found: list[torch.Tensor] = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, list | tuple):
            found.extend(tensors_in(value))
    return found


@dataclass(frozen=True)
class BatchNormCall:
    """The arguments of one ``F.batch_norm`` call (None where not given).

    Attributes:
        input: ``(B, C, ...)``. running_mean, running_var: ``(C,)`` or None.
        weight, bias: ``(C,)`` gamma and beta, or None. training: Batch statistics
        (True) or running ones. eps: Added to the variance.
    """

    input: Any
    running_mean: Any
    running_var: Any
    weight: Any
    bias: Any
    training: bool
    eps: float


def batch_norm_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> BatchNormCall:
    """Read ``F.batch_norm(input, running_mean, running_var, weight, bias, training,
    momentum, eps)``'s arguments, positional or keyword."""
    return BatchNormCall(
        input=call_arg(args, kwargs, 0, "input", None),
        running_mean=call_arg(args, kwargs, 1, "running_mean", None),
        running_var=call_arg(args, kwargs, 2, "running_var", None),
        weight=call_arg(args, kwargs, 3, "weight", None),
        bias=call_arg(args, kwargs, 4, "bias", None),
        training=bool(call_arg(args, kwargs, 5, "training", False)),
        eps=float(call_arg(args, kwargs, 7, "eps", 1e-5)),
    )
