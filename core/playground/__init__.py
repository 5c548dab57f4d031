"""Perceptron playground: small MLPs whose initialisation, activations and gradients you can see.

Public API (``from core.playground import ...``), by module:

- :mod:`~core.playground.inits`: :data:`INITS`, :func:`init_weights` -- the eight weight
  initialisations, each defined exactly (see :class:`InitSpec` and the table there).
- :mod:`~core.playground.activations`: :data:`ACTIVATIONS` -- sigmoid, tanh, ReLU, leaky
  ReLU, PReLU, ELU, Swish (beta = 1).
- :mod:`~core.playground.mlp`: :class:`NetSpec`, :class:`MLP` -- a fully connected network
  built from a spec; :func:`set_neuron_weights`, :func:`neuron_weights` -- read or
  hand-edit one neuron.
- :mod:`~core.playground.datasets`: :data:`DATASETS`, :func:`make_dataset` -- a synthetic
  regression and four seeded 2-D classification sets (two blobs, circles, XOR, spiral).
- :mod:`~core.playground.records`: :class:`StepRecord`, :class:`StepSummary` and
  :func:`record_batch` -- each neuron's pre- and post-activation values on a batch, the
  gradient arriving at it, and per-layer activation / gradient statistics.
- :mod:`~core.playground.trainer`: :class:`Trainer` -- plain SGD, one mini-batch per
  :meth:`Trainer.step`, every step recorded.
- :mod:`~core.playground.surface`: :func:`decision_surface` -- the classifier's
  probability on a grid (2-D data).
- :mod:`~core.playground.tips`: :func:`what_to_try` -- what to look for with a given
  initialisation and activation.
- :mod:`~core.playground.config`: :class:`PlaygroundConfig`, :func:`parse_hidden`,
  :func:`build_trainer` -- the page's settings and its one entry point;
  :data:`PLAYGROUND_FIELDS` -- those settings in the page's URL.

Imports only ``core.common`` of ``core`` (see ``tests/test_architecture.py``).
"""

from core.playground.activations import ACTIVATIONS, SATURATION_MARGIN, ActivationSpec
from core.playground.config import (
    BATCH_SIZES,
    LEARNING_RATES,
    PLAYGROUND_FIELDS,
    SPEEDS,
    PlaygroundConfig,
    build_trainer,
    parse_hidden,
)
from core.playground.datasets import (
    DATASETS,
    Dataset,
    DatasetSpec,
    Task,
    loss_function,
    make_dataset,
)
from core.playground.inits import GLOROT_2010, HE_2015, INITS, LECUN_1998, InitSpec, init_weights
from core.playground.mlp import MLP, NetSpec, neuron_weights, set_neuron_weights
from core.playground.records import LayerRecord, LayerStats, StepRecord, StepSummary, record_batch
from core.playground.surface import DecisionSurface, decision_surface
from core.playground.tips import ACTIVATION_TIPS, COMBINATION_TIPS, INIT_TIPS, what_to_try
from core.playground.trainer import Trainer

__all__ = [
    "SPEEDS",
    "PLAYGROUND_FIELDS",
    "LEARNING_RATES",
    "BATCH_SIZES",
    "ACTIVATIONS",
    "ACTIVATION_TIPS",
    "COMBINATION_TIPS",
    "DATASETS",
    "GLOROT_2010",
    "HE_2015",
    "INITS",
    "INIT_TIPS",
    "LECUN_1998",
    "MLP",
    "SATURATION_MARGIN",
    "ActivationSpec",
    "Dataset",
    "DatasetSpec",
    "DecisionSurface",
    "InitSpec",
    "LayerRecord",
    "LayerStats",
    "NetSpec",
    "PlaygroundConfig",
    "StepRecord",
    "StepSummary",
    "Task",
    "Trainer",
    "build_trainer",
    "decision_surface",
    "init_weights",
    "loss_function",
    "make_dataset",
    "neuron_weights",
    "parse_hidden",
    "record_batch",
    "set_neuron_weights",
    "what_to_try",
]
