"""Inside the network: feature maps, kernels, feature visualisation (activation
maximisation with regularisers), dataset embeddings and dataset examples, how one cell
of a feature map was computed, and the softmax at a temperature.

``from core.inside import feature_maps, kernels, visualise, Objective, Settings, ...``;
the modules:

- :mod:`~core.inside.spec`: how display pixels become a network's input;
- :mod:`~core.inside.feature_maps`: one layer's channels for one image, the kernels;
- :mod:`~core.inside.objectives`: neuron, channel, layer, logit and probability
  objectives (the layers are read by ``core.common.hooks.tap_layers``, handed on here);
- :mod:`~core.inside.parameterisation`: pixels, or a Fourier spectrum in decorrelated
  colour;
- :mod:`~core.inside.regularisers`: L2, L1, total variation, blur, jitter, rotation,
  scale, and their :class:`Settings`;
- :mod:`~core.inside.visualise`: the optimisation (:func:`visualise`, :func:`compare`);
- :mod:`~core.inside.embedding`: penultimate features, t-SNE or PCA, placing new points;
- :mod:`~core.inside.examples`: the patches of a set that excite a channel most;
- :mod:`~core.inside.trace`: one forward pass, operation by operation;
- :mod:`~core.inside.cell_steps`: the arithmetic of a cell, one operation at a time;
- :mod:`~core.inside.cell`: how a cell was computed (:func:`explain_cell`);
- :mod:`~core.inside.softmax`: logits to probabilities at a temperature.

Every function takes the network as it is shared (eval mode, parameters frozen) and
leaves it so: gradients are taken with respect to images only, and every hook lives in
a ``with`` block that removes it, also on error.

Imports, of ``core``, only ``core.common`` and ``core.models``.
"""

from core.common.hooks import tap_layers
from core.inside.cell import CellExplanation, explain_cell
from core.inside.cell_steps import (
    ActivationStep,
    BatchNormStep,
    CombineStep,
    ConvolutionStep,
    CopyStep,
    PoolStep,
    Step,
    Window,
)
from core.inside.embedding import (
    METHODS,
    Embedding,
    classifier_layer,
    embed,
    penultimate_features,
    place,
)
from core.inside.examples import ChannelMaxima, Patch, channel_maxima, dataset_examples, patch_box
from core.inside.feature_maps import FeatureMaps, Kernels, conv_layers, feature_maps, kernels
from core.inside.objectives import KINDS, LAYER_KINDS, Objective
from core.inside.parameterisation import FourierImage, PixelImage
from core.inside.regularisers import ALL, COMPARISON, LUCID, REGULARISERS, TITLES, Settings
from core.inside.softmax import SoftmaxView, network_logits, softmax_at
from core.inside.spec import DIGITS_INPUT, InputSpec, input_spec
from core.inside.visualise import (
    Progress,
    Visualisation,
    compare,
    comparison_summary,
    snapshot_steps,
    visualise,
)

__all__ = [
    "ALL",
    "COMPARISON",
    "DIGITS_INPUT",
    "KINDS",
    "LAYER_KINDS",
    "LUCID",
    "METHODS",
    "REGULARISERS",
    "TITLES",
    "ActivationStep",
    "BatchNormStep",
    "CellExplanation",
    "ChannelMaxima",
    "CombineStep",
    "ConvolutionStep",
    "CopyStep",
    "Embedding",
    "FeatureMaps",
    "FourierImage",
    "InputSpec",
    "Kernels",
    "Objective",
    "Patch",
    "PixelImage",
    "PoolStep",
    "Progress",
    "Settings",
    "SoftmaxView",
    "Step",
    "Visualisation",
    "Window",
    "channel_maxima",
    "classifier_layer",
    "compare",
    "comparison_summary",
    "conv_layers",
    "dataset_examples",
    "embed",
    "explain_cell",
    "feature_maps",
    "input_spec",
    "kernels",
    "network_logits",
    "patch_box",
    "penultimate_features",
    "place",
    "snapshot_steps",
    "softmax_at",
    "tap_layers",
    "visualise",
]
