"""The state of "Inside the network" in its URL: the section, the network and its input
(a photo model with a sample, or the digit CNN with a held-out digit), the layer and
channel the section looks at, and on the feature maps the cell it explains (read and
written by :mod:`core.common.query`; whether the network has the layer, the channel and
the cell is checked by the page)."""

from __future__ import annotations

from core.common.query import QueryField, choice_field, int_field, parse_module_name, text_field
from core.common.samples import SAMPLE_FIELD
from core.models import MODEL_FIELD

# The page's sections: name -> what it shows.
SECTIONS = {
    "Layer table": "every layer the model runs, in the order it runs them: one forward pass "
    "with temporary hooks that record what goes in and out. Like torchinfo, plus each "
    "layer's **receptive field** (how many input pixels one of its cells can see) and "
    "**jump** (how many pixels apart neighbouring cells look), followed along the real "
    "data flow so residual branches are counted correctly.",
    "Feature maps": "what one layer answers to the image: every channel, strongest first.",
    "Kernels": "the convolutions' weights: the first layer's in colour, deeper ones one "
    "input channel at a time.",
    "Feature visualisation": "the image a neuron, channel, layer or class likes best, "
    "found by gradient ascent on the image; switch regularisers on and off to see why "
    "naive optimisation gives noise (Olah et al. 2017, "
    "[Feature Visualization](https://distill.pub/2017/feature-visualization/)).",
    "Dataset examples": "the patches of real images that excite a channel most, beside "
    "what the channel likes in the abstract.",
    "Embedding": "where the network puts each image: its penultimate-layer activations "
    "in two dimensions (t-SNE or PCA).",
    "Softmax": "from the last layer's logits to probabilities, and what a temperature does.",
}
NETWORK_CHOICES = {"imagenet": "ImageNet model", "digits": "Digit CNN"}
HELD_OUT_DIGITS = 1000  # the digits lab's held-out MNIST digits


# ?section=feature_maps&network=imagenet&model=resnet18&sample=espresso.jpg&layer=layer2
# &channel=7&row=3&col=5
INSIDE_FIELDS: tuple[QueryField, ...] = (
    choice_field("section", "Layer table", list(SECTIONS), slugs=True),
    choice_field("network", None, NETWORK_CHOICES),
    MODEL_FIELD,
    SAMPLE_FIELD,
    int_field("digit", 0, 0, HELD_OUT_DIGITS - 1, "held-out digit number"),
    text_field("layer", None, parse_module_name, str),
    int_field("channel", None, 0, 100_000),
    int_field("row", None, 0, 100_000, "cell row"),  # the feature maps' explained cell
    int_field("col", None, 0, 100_000, "cell column"),
)
