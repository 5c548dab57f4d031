"""Infrastructure shared by every domain: scoped hooks, single-threaded workers, image
decoding, the sample photos, a network's blocks, batch-norm folding, the LRU cache and
torch-call helpers.

Imports nothing else of ``core`` (see ``docs/architecture.md``).
"""

from core.common.batchnorm import batch_norm_affine, fold_affine, fold_conv_bn
from core.common.blocks import block_outputs, has_parameters, network_units
from core.common.hooks import count_hooks, forward_hooks, private_copy, record_outputs
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
from core.common.samples import SAMPLES, sample_path
from core.common.single_thread import run_single_threaded, single_threaded, torch_threads
from core.common.torch_calls import BatchNormCall, batch_norm_call, call_arg, tensors_in

__all__ = [
    "SAMPLES",
    "BatchNormCall",
    "SUPPORTED_EXTENSIONS",
    "ImageLoadError",
    "LRUCache",
    "LoadedImage",
    "batch_norm_affine",
    "batch_norm_call",
    "block_outputs",
    "call_arg",
    "count_hooks",
    "data_uri",
    "encode_image",
    "fold_affine",
    "fast_layout",
    "fold_conv_bn",
    "forward_hooks",
    "has_parameters",
    "limit_malloc_arenas",
    "load_image",
    "nbytes",
    "network_units",
    "private_copy",
    "record_outputs",
    "release_memory",
    "run_single_threaded",
    "sample_path",
    "single_threaded",
    "tensors_in",
    "to_rgb",
    "torch_threads",
]
