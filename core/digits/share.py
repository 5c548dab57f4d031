"""The digits lab's state in its URL: the digit (drawn, or a held-out MNIST digit and
its number) and the tab below it (read and written by :mod:`core.common.query`)."""

from __future__ import annotations

from core.common.query import QueryField, choice_field, int_field
from core.digits.data import HELD_OUT_PER_CLASS

# The tabs under the digit: name -> what it shows.
PANELS = {
    "Activations": "every layer's response; the neurons that decided; how one number was "
    "computed; the softmax",
    "Heatmaps": "which pixels mattered: saliency, occlusion, LRP",
    "Adversarial": "the smallest change that fools it: FGSM, DeepFool",
    "Prototypes": "the image each digit's logit likes best",
    "Seven segments": "what it says when the input is no digit at all",
    "Kernels learning": "train a LeNet live and watch its kernels form",
}
SOURCES = {"draw": "Draw", "mnist": "MNIST digit"}
HELD_OUT = 10 * HELD_OUT_PER_CLASS  # held-out digits, numbered from 0
# ?source=mnist&digit=42&tab=heatmaps
DIGITS_FIELDS: tuple[QueryField, ...] = (
    choice_field("source", "Draw", SOURCES, label="digit source"),
    int_field("digit", 0, 0, HELD_OUT - 1, "held-out digit number"),
    choice_field("tab", "Activations", list(PANELS), slugs=True),
)
