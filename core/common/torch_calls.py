"""Reading the arguments of an intercepted torch call, in one place.

Shared by the two ``TorchFunctionMode`` users: the attribution interceptor
(:mod:`core.attribution.ops`, which rewrites backward rules) and the layer table's
receptive-field tracker (:mod:`core.arithmetic.field_tracker`). A torch function receives
its arguments positionally or by keyword; these helpers read either.
"""

from __future__ import annotations

from collections.abc import Iterable
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
