"""Infrastructure shared by every domain: scoped, thread-filtered hooks and a layer's
output (stop early, replace), per-network memos and the one logits tolerance, the
process-wide fair scheduler, single-threaded workers, image decoding, the sample photos,
a network's blocks, batch-norm folding, the LRU cache and torch-call helpers.

Imports nothing else of ``core`` (see ``docs/architecture.md``).
"""

from core.common.batchnorm import batch_norm_affine, fold_affine, fold_conv_bn
from core.common.blocks import block_outputs, has_parameters, network_units
from core.common.hooks import (
    LayerTap,
    NoSuchLayer,
    StopForward,
    call_order,
    count_hooks,
    forward_hooks,
    layer_output,
    named_layers,
    private_copy,
    record_outputs,
    tap_layers,
)
from core.common.images import (
    SUPPORTED_EXTENSIONS,
    ImageLoadError,
    LoadedImage,
    data_uri,
    encode_image,
    load_image,
    to_rgb,
)
from core.common.layout import fast_layout
from core.common.lru import LRUCache, nbytes
from core.common.memory import limit_malloc_arenas, release_memory
from core.common.networks import (
    LOGITS_TOLERANCE,
    MAX_PARAMETERS,
    PerNetwork,
    logits_difference,
    parameter_count,
    same_logits,
)
from core.common.samples import SAMPLES, sample_path
from core.common.single_thread import run_single_threaded, single_threaded, torch_threads
from core.common.torch_calls import BatchNormCall, batch_norm_call, call_arg, tensors_in

__all__ = [
    "SAMPLES",
    "BatchNormCall",
    "SUPPORTED_EXTENSIONS",
    "LOGITS_TOLERANCE",
    "MAX_PARAMETERS",
    "ImageLoadError",
    "LRUCache",
    "LayerTap",
    "LoadedImage",
    "NoSuchLayer",
    "PerNetwork",
    "StopForward",
    "batch_norm_affine",
    "batch_norm_call",
    "block_outputs",
    "call_arg",
    "call_order",
    "count_hooks",
    "data_uri",
    "encode_image",
    "fold_affine",
    "fast_layout",
    "fold_conv_bn",
    "forward_hooks",
    "has_parameters",
    "layer_output",
    "limit_malloc_arenas",
    "load_image",
    "logits_difference",
    "named_layers",
    "nbytes",
    "network_units",
    "parameter_count",
    "private_copy",
    "record_outputs",
    "release_memory",
    "run_single_threaded",
    "same_logits",
    "sample_path",
    "single_threaded",
    "tap_layers",
    "tensors_in",
    "to_rgb",
    "torch_threads",
]
