"""Image classifiers: the registry, the embedded EfficientNet-Lite0/1/2, torchvision's
zoo, and models read from the user's own files (ONNX, torch.export, weights + an
architecture name: :func:`load_model_file`).

``from core.models import load_model, classify, list_models, ImageModel, ModelUnavailable``.
Adding a model is one :func:`register` call (see ``docs/architecture.md``).
"""

from core.models import lite0, zoo  # noqa: F401 - importing them registers their models
from core.models.engine import ForwardEngine, built_engines, forward_engine
from core.models.files import (
    IMAGENET,
    LABEL_EXTENSIONS,
    MODEL_EXTENSIONS,
    ModelFileError,
    ModelSource,
    Settings,
    gradients_unavailable,
    load_model_file,
    read_labels,
    source_name,
)
from core.models.registry import (
    DEFAULT_MODEL,
    FILE_MODEL_PREFIX,
    LOAD_COUNTS,
    MODEL_FIELD,
    ImageModel,
    ModelSpec,
    ModelUnavailable,
    Prediction,
    classify,
    classify_batch,
    classify_tensor,
    imagenet_labels,
    is_file_model_name,
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
    "IMAGENET",
    "LABEL_EXTENSIONS",
    "MODEL_EXTENSIONS",
    "ModelFileError",
    "ModelSource",
    "Settings",
    "gradients_unavailable",
    "load_model_file",
    "read_labels",
    "source_name",
    "LOAD_COUNTS",
    "MODEL_FIELD",
    "FILE_MODEL_PREFIX",
    "is_file_model_name",
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
