"""The attribution engine: one contract (:class:`Method`), one registry (:data:`METHODS`).

Tensor level: ``attribute(net, x, method, target=None, **params) -> (H, W) map``.
Image level: ``explain(model, image, method, target=None, **params) -> (H, W) map``.
Several methods on one input, sharing work: ``attributor_for(model, image)`` (or
``Attributor(net, x, context)``) then ``.attribute(method, target, **params)``.
Display (normalisation, colour maps, overlays): :mod:`core.attribution.display`.
See ``base.py`` for the contract and ``registry.py`` for the list of methods.
"""

from core.attribution.base import (
    AttributionContext,
    InputShape,
    Method,
    MethodNotApplicable,
    Param,
    Params,
    ParamValue,
)
from core.attribution.calibration import PassTimes, by_cost, calibrate, estimate_seconds
from core.attribution.cam import feature_map_layers
from core.attribution.registry import DEFAULT_METHODS, METHODS, get_method
from core.attribution.runner import (
    Attribution,
    Attributor,
    SharedWork,
    attribute,
    attributor_for,
    context_for,
    explain,
    input_shape_for,
)

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "Attribution",
    "AttributionContext",
    "InputShape",
    "Attributor",
    "SharedWork",
    "Method",
    "MethodNotApplicable",
    "Param",
    "ParamValue",
    "Params",
    "PassTimes",
    "attribute",
    "attributor_for",
    "by_cost",
    "calibrate",
    "context_for",
    "estimate_seconds",
    "explain",
    "feature_map_layers",
    "get_method",
    "input_shape_for",
]
