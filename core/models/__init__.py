"""Image classifiers: the registry, the embedded EfficientNet-Lite0 and torchvision's zoo.

``from core.models import load_model, classify, list_models, ImageModel, ModelUnavailable``.
Adding a model is one :func:`register` call (see ``docs/architecture.md``).
"""

from core.models import lite0, zoo  # noqa: F401 - importing them registers their models
from core.models.engine import ForwardEngine, built_engines, forward_engine
from core.models.registry import (
    DEFAULT_MODEL,
    LOAD_COUNTS,
    ImageModel,
    ModelSpec,
    ModelUnavailable,
    Prediction,
    classify,
    classify_batch,
    classify_tensor,
    imagenet_labels,
    list_models,
    load_model,
    model_spec,
    register,
    titles,
    top_k,
    weights_available,
)

__all__ = [
    "DEFAULT_MODEL",
    "ForwardEngine",
    "LOAD_COUNTS",
    "ImageModel",
    "ModelSpec",
    "ModelUnavailable",
    "Prediction",
    "classify",
    "classify_batch",
    "built_engines",
    "classify_tensor",
    "forward_engine",
    "imagenet_labels",
    "list_models",
    "load_model",
    "model_spec",
    "register",
    "titles",
    "top_k",
    "weights_available",
]
