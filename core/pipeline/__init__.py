"""The panel pipeline: one way to ask for a map, one cache key, one outcome type.

``map_request(model, image_hash, target, method, params)`` -> a :class:`MapRequest`
(parameters resolved, the CAM layer included; ``request.key`` is the one cache key);
``compute_map(model, crop, request)`` -> a map, :class:`NotApplicable` or
:class:`Failed` (one error policy); ``submit_maps(session, ...)`` runs requests on the
process-wide fair scheduler (:mod:`core.common.scheduler`) behind the map cache.
Explain, Compare, the trust section, the command line (both engines) and the reports
all go through here.
"""

from core.pipeline.maps import (
    attributor,
    compute_map,
    estimate,
    forget_work,
    is_map,
    known_pass_times,
    map_cache,
    measure_pass_times,
    observe,
    shared_work,
)
from core.pipeline.outcomes import Failed, MapOutcome, NotApplicable, cacheable, outcome_of_error
from core.pipeline.requests import MapRequest, cam_layer, map_request, model_shape, weights_id
from core.pipeline.service import (
    MAPS,
    MapJob,
    keep_only,
    pass_times,
    submit_maps,
    submit_top_k,
    submit_work,
)

__all__ = [
    "MAPS",
    "Failed",
    "MapJob",
    "MapOutcome",
    "MapRequest",
    "NotApplicable",
    "attributor",
    "cacheable",
    "cam_layer",
    "compute_map",
    "estimate",
    "forget_work",
    "is_map",
    "keep_only",
    "known_pass_times",
    "map_cache",
    "map_request",
    "measure_pass_times",
    "model_shape",
    "observe",
    "outcome_of_error",
    "pass_times",
    "shared_work",
    "submit_maps",
    "submit_top_k",
    "submit_work",
    "weights_id",
]
