"""The attribution engine: one contract (:class:`Method`), one registry (:data:`METHODS`).

Tensor level: ``attribute(net, x, method, target=None, **params) -> (H, W) map``.
Image level: ``explain(model, image, method, target=None, **params) -> (H, W) map``.
Several methods on one input, sharing work: ``Attributor`` + ``run_method``.
See ``registry.py`` for the entry points and ``base.py`` for the contract.
"""

from core.attribution.base import (
    AttributionContext,
    Attributor,
    Method,
    MethodNotApplicable,
    Param,
)
from core.attribution.cam import feature_map_layers
from core.attribution.registry import (
    DEFAULT_METHODS,
    METHODS,
    Timed,
    attribute,
    attributor_for,
    by_cost,
    context_for,
    explain,
    get_method,
    run_method,
    run_timed,
)

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "AttributionContext",
    "Attributor",
    "Method",
    "MethodNotApplicable",
    "Param",
    "Timed",
    "attribute",
    "attributor_for",
    "by_cost",
    "context_for",
    "explain",
    "feature_map_layers",
    "get_method",
    "run_method",
    "run_timed",
]
