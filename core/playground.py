"""Perceptron playground: small MLPs whose initialisation, activations and gradients you can see.

Public API:

- :data:`INITS`, :func:`init_weights` -- the eight weight initialisations, each defined
  exactly (see :class:`InitSpec` and the table below).
- :data:`ACTIVATIONS` -- sigmoid, tanh, ReLU, leaky ReLU, PReLU, ELU, Swish (beta = 1).
- :class:`NetSpec`, :class:`MLP` -- a fully connected network built from a spec.
- :data:`DATASETS`, :func:`make_dataset` -- a synthetic regression and four seeded 2-D
  classification sets (two blobs, circles, XOR, spiral).
- :class:`Trainer` -- plain SGD, one mini-batch per :meth:`Trainer.step`; every step
  records the loss, each neuron's pre- and post-activation values on the batch and the
  gradient arriving at it, and per-layer activation / gradient statistics.
- :func:`set_neuron_weights`, :func:`neuron_weights` -- read or hand-edit one neuron.
- :func:`decision_surface` -- the classifier's probability on a grid (2-D data).
- :func:`what_to_try` -- what to look for with a given initialisation and activation.

Initialisations (``W`` has shape ``(fan_out, fan_in)``; every bias starts at 0):

========  ==========================================  ===================================
name      distribution of each weight                 source
========  ==========================================  ===================================
he        N(0, 2 / fan_in)                            He et al. 2015, arXiv:1502.01852
uniform   U(-1/sqrt(fan_in), +1/sqrt(fan_in))         the common heuristic in Glorot &
                                                      Bengio 2010, eq. (1); also PyTorch's
                                                      default for ``nn.Linear``
normal    N(0, 1)                                     (no scaling at all)
lecun     N(0, 1 / fan_in)                            LeCun et al. 1998, "Efficient
                                                      BackProp", section 4.6
zero      0                                           (symmetry is never broken)
xavier    U(-a, a), a = sqrt(6 / (fan_in + fan_out))  Glorot & Bengio 2010, eq. (16)
small     xavier x 0.01                               (vanishing signals)
large     xavier x 100                                (saturation / exploding signals)
========  ==========================================  ===================================

Papers: Glorot & Bengio 2010, https://proceedings.mlr.press/v9/glorot10a.html;
He et al. 2015, https://arxiv.org/abs/1502.01852; LeCun et al. 1998,
http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf.

"The gradient arriving at a neuron" is dLoss/d(pre-activation) of that neuron for each
example of the batch (the loss being the batch mean); dLoss/d(post-activation) is
recorded too. The forward pass is computed explicitly layer by layer and the gradients
come from one ``torch.autograd.grad`` call on the same graph that trains the network, so
recording never changes what the network learns (tested against a bare training loop).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.common.single_thread import run_single_threaded

Task = Literal["regression", "classification"]

# An output counts as saturated when it is this close to one of the activation's
# horizontal asymptotes (0 or 1 for sigmoid, -1 or 1 for tanh, -1 for ELU).
SATURATION_MARGIN = 0.02


# --------------------------------------------------------------------------- inits


@dataclass(frozen=True)
class InitSpec:
    """One weight initialisation.

    Attributes:
        title: Name shown in the UI.
        definition: The distribution, in words and symbols.
        paper: Where it comes from (URL), or "" when it is not from a paper.
        init: ``init(weight, generator)`` fills a ``(fan_out, fan_in)`` weight in place.
    """

    title: str
    definition: str
    paper: str
    init: Callable[[torch.Tensor, torch.Generator | None], None]


GLOROT_2010 = "https://proceedings.mlr.press/v9/glorot10a.html"
HE_2015 = "https://arxiv.org/abs/1502.01852"
LECUN_1998 = "http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf"


def _fan_in(weight: torch.Tensor) -> int:
    return weight.shape[1]


def _uniform_fan_in(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    bound = 1.0 / math.sqrt(_fan_in(weight))
    nn.init.uniform_(weight, -bound, bound, generator=generator)


INITS: dict[str, InitSpec] = {
    "he": InitSpec(
        "He (Kaiming)",
        "N(0, 2/fan_in): variance doubled to make up for ReLU zeroing half its inputs.",
        HE_2015,
        lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=g),
    ),
    "uniform": InitSpec(
        "Uniform",
        "U(-1/sqrt(fan_in), 1/sqrt(fan_in)), variance 1/(3 fan_in): the common heuristic "
        "(Glorot & Bengio 2010, eq. 1) and PyTorch's nn.Linear default.",
        GLOROT_2010,
        _uniform_fan_in,
    ),
    "normal": InitSpec(
        "Normal N(0, 1)",
        "N(0, 1) for every weight, whatever the fan-in.",
        "",
        lambda w, g: nn.init.normal_(w, 0.0, 1.0, generator=g),
    ),
    "lecun": InitSpec(
        "LeCun",
        "N(0, 1/fan_in): keeps the pre-activation variance equal to the input variance.",
        LECUN_1998,
        # kaiming with the "linear" gain (1) is exactly N(0, 1/fan_in)
        lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="linear", generator=g),
    ),
    "zero": InitSpec(
        "Zero",
        "Every weight 0.",
        "",
        lambda w, g: nn.init.zeros_(w),
    ),
    "xavier": InitSpec(
        "Xavier (Glorot)",
        "U(-a, a) with a = sqrt(6/(fan_in + fan_out)), variance 2/(fan_in + fan_out).",
        GLOROT_2010,
        lambda w, g: nn.init.xavier_uniform_(w, gain=1.0, generator=g),
    ),
    "small": InitSpec(
        "Small (Xavier x 0.01)",
        "U(-a, a) with a = 0.01 sqrt(6/(fan_in + fan_out)).",
        GLOROT_2010,
        lambda w, g: nn.init.xavier_uniform_(w, gain=0.01, generator=g),
    ),
    "large": InitSpec(
        "Large (Xavier x 100)",
        "U(-a, a) with a = 100 sqrt(6/(fan_in + fan_out)).",
        GLOROT_2010,
        lambda w, g: nn.init.xavier_uniform_(w, gain=100.0, generator=g),
    ),
}


def init_weights(weight: torch.Tensor, init: str, generator: torch.Generator | None = None) -> None:
    """Fill a ``(fan_out, fan_in)`` weight matrix in place with one of :data:`INITS`.

    Args:
        weight: The weight to overwrite, shape ``(fan_out, fan_in)``.
        init: A key of :data:`INITS`.
        generator: Random source (seeded for reproducible weights).

    Raises:
        KeyError: unknown initialisation.
    """
    if init not in INITS:
        raise KeyError(f"unknown initialisation {init!r}; have: {', '.join(INITS)}")
    with torch.no_grad():
        INITS[init].init(weight, generator)


# --------------------------------------------------------------------- activations


@dataclass(frozen=True)
class ActivationSpec:
    """One activation function.

    Attributes:
        title: Name shown in the UI.
        formula: The function, in symbols.
        make: ``make(width)`` builds the module for a layer of ``width`` units.
        asymptotes: Horizontal asymptotes (where the function saturates); empty when
            it does not saturate.
        paper: Where it comes from (URL), or "".
    """

    title: str
    formula: str
    make: Callable[[int], nn.Module]
    asymptotes: tuple[float, ...] = ()
    paper: str = ""


ACTIVATIONS: dict[str, ActivationSpec] = {
    "sigmoid": ActivationSpec("Sigmoid", "1 / (1 + exp(-x))", lambda w: nn.Sigmoid(), (0.0, 1.0)),
    "tanh": ActivationSpec("tanh", "tanh(x)", lambda w: nn.Tanh(), (-1.0, 1.0)),
    "relu": ActivationSpec("ReLU", "max(0, x)", lambda w: nn.ReLU()),
    "leaky_relu": ActivationSpec(
        "Leaky ReLU",
        "x if x > 0 else 0.01 x",
        lambda w: nn.LeakyReLU(0.01),
        paper="https://ai.stanford.edu/~amaas/papers/relu_hybrid_icml2013_final.pdf",
    ),
    "prelu": ActivationSpec(
        "PReLU",
        "x if x > 0 else a x, a learnt per unit (starts at 0.25)",
        lambda w: nn.PReLU(num_parameters=w, init=0.25),
        paper=HE_2015,
    ),
    "elu": ActivationSpec(
        "ELU",
        "x if x > 0 else exp(x) - 1",
        lambda w: nn.ELU(alpha=1.0),
        (-1.0,),
        paper="https://arxiv.org/abs/1511.07289",
    ),
    "swish": ActivationSpec(
        "Swish (beta = 1)",
        "x sigmoid(x)",
        lambda w: nn.SiLU(),
        paper="https://arxiv.org/abs/1710.05941",
    ),
}


# ------------------------------------------------------------------------- network


@dataclass(frozen=True)
class NetSpec:
    """The architecture of a fully connected network.

    Attributes:
        n_inputs: Input features.
        hidden: Width of each hidden layer, input side first (may be empty).
        n_outputs: Output units (linear, no activation).
        activation: A key of :data:`ACTIVATIONS`, used by every hidden layer.
        init: A key of :data:`INITS`, used by every weight matrix (biases start at 0).
    """

    n_inputs: int
    hidden: tuple[int, ...]
    n_outputs: int
    activation: str = "tanh"
    init: str = "xavier"

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or self.n_outputs < 1 or any(w < 1 for w in self.hidden):
            raise ValueError("every layer needs at least one unit")
        if self.activation not in ACTIVATIONS:
            raise KeyError(f"unknown activation {self.activation!r}")
        if self.init not in INITS:
            raise KeyError(f"unknown initialisation {self.init!r}")

    @property
    def widths(self) -> tuple[int, ...]:
        """Units per layer, inputs and outputs included."""
        return (self.n_inputs, *self.hidden, self.n_outputs)


class MLP(nn.Module):
    """``Linear -> activation`` for every hidden layer, then a linear output layer.

    Attributes:
        spec: The architecture.
        layers: One ``nn.Linear`` per weight matrix; ``layers[-1]`` is the output layer.
        activations: One module per hidden layer (PReLU has its own slopes).
    """

    def __init__(self, spec: NetSpec, seed: int = 0) -> None:
        """Build the network and initialise it.

        Args:
            spec: The architecture.
            seed: Seed of the weight initialisation.
        """
        super().__init__()
        self.spec = spec
        widths = spec.widths
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.activations = nn.ModuleList(ACTIVATIONS[spec.activation].make(w) for w in spec.hidden)
        generator = torch.Generator().manual_seed(seed)
        for layer in self.layers:
            init_weights(layer.weight, spec.init, generator)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_inputs) -> (B, n_outputs)``."""
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            x = act(layer(x))
        return self.layers[-1](x)

    def forward_layers(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The same forward pass, keeping every layer's values (in the autograd graph).

        Args:
            x: ``(B, n_inputs)``.

        Returns:
            ``(pre, post)``: per layer (hidden layers then output layer), the
            pre-activations ``W h + b`` and the activations, each ``(B, width)``. For the
            output layer ``post[-1] is pre[-1]`` (no activation).
        """
        pre: list[torch.Tensor] = []
        post: list[torch.Tensor] = []
        h = x
        for layer, act in zip(self.layers[:-1], self.activations, strict=True):
            z = layer(h)  # (B, fan_in) -> (B, fan_out)
            h = act(z)
            pre.append(z)
            post.append(h)
        out = self.layers[-1](h)
        pre.append(out)
        post.append(out)
        return pre, post

    def layer_names(self) -> list[str]:
        """``["hidden 1", ..., "output"]``, one per entry of :attr:`layers`."""
        return [f"hidden {i + 1}" for i in range(len(self.spec.hidden))] + ["output"]


def set_neuron_weights(
    model: MLP,
    layer: int,
    neuron: int,
    weights: Sequence[float] | None = None,
    bias: float | None = None,
) -> None:
    """Overwrite one neuron's incoming weights and/or bias (takes effect on the next step).

    Args:
        model: The network (modified in place; never a shared cached model).
        layer: Index into ``model.layers`` (0 = first hidden layer, -1 = output).
        neuron: Unit index within that layer.
        weights: ``fan_in`` new incoming weights, or None to keep them.
        bias: New bias, or None to keep it.

    Raises:
        IndexError: no such layer or neuron.
        ValueError: wrong number of weights, or a value that is not finite.
    """
    linear = model.layers[layer]
    if not 0 <= neuron < linear.out_features:
        raise IndexError(f"layer {layer} has {linear.out_features} units, not {neuron + 1}")
    with torch.no_grad():
        if weights is not None:
            values = torch.as_tensor(list(weights), dtype=linear.weight.dtype)
            if values.shape != (linear.in_features,):
                raise ValueError(
                    f"expected {linear.in_features} weights, got {tuple(values.shape)}"
                )
            if not torch.isfinite(values).all():
                raise ValueError("weights must be finite numbers")
            linear.weight[neuron] = values
        if bias is not None:
            if not math.isfinite(bias):
                raise ValueError("the bias must be a finite number")
            linear.bias[neuron] = bias


def neuron_weights(model: MLP, layer: int, neuron: int) -> tuple[np.ndarray, float]:
    """One neuron's incoming weights ``(fan_in,)`` and its bias, as plain numbers."""
    linear = model.layers[layer]
    return (
        linear.weight[neuron].detach().cpu().numpy().copy(),
        float(linear.bias[neuron].detach()),
    )


# ------------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset generator.

    Attributes:
        title: Name shown in the UI.
        task: ``"regression"`` (MSE on linear outputs) or ``"classification"`` (one
            logit, binary cross-entropy).
        description: How the points are made.
    """

    title: str
    task: Task
    description: str


DATASETS: dict[str, DatasetSpec] = {
    "regression": DatasetSpec(
        "Synthetic regression",
        "regression",
        "X ~ N(0, I); y = X W + noise with W ~ N(0, 1/n_inputs) (so y has about unit "
        "variance) and noise ~ N(0, noise^2).",
    ),
    "blobs": DatasetSpec(
        "Two blobs",
        "classification",
        "Two Gaussian clusters (std 0.5 + noise) centred at (-1, -1) and (1, 1).",
    ),
    "circles": DatasetSpec(
        "Circles",
        "classification",
        "Class 1 inside radius 1, class 0 on a ring of radii 1.4 to 2, plus N(0, noise^2).",
    ),
    "xor": DatasetSpec(
        "XOR",
        "classification",
        "Uniform on [-2, 2]^2 kept 0.1 away from the axes; class 1 where x1 x2 > 0.",
    ),
    "spiral": DatasetSpec(
        "Spiral",
        "classification",
        "Two interleaved spiral arms (1.75 turns, radius 0 to 2), plus N(0, noise^2).",
    ),
}


@dataclass(frozen=True)
class Dataset:
    """A training set.

    Attributes:
        name: Key of :data:`DATASETS`.
        x: Inputs ``(N, n_inputs)``, float32.
        y: Targets ``(N, n_outputs)``, float32 (0./1. labels for classification).
        task: ``"regression"`` or ``"classification"``.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    task: Task

    @property
    def n_inputs(self) -> int:
        return self.x.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.y.shape[1]


def _two_class_2d(name: str, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``(N, 3)`` rows of ``x1, x2, label``.

    Written by hand because these are a few lines each; scikit-learn would add a heavy
    run-time dependency for two of them and has no XOR or spiral generator.
    """
    labels = np.arange(n) % 2  # balanced classes, (N,)
    if name == "blobs":
        centres = np.where(labels[:, None] == 1, 1.0, -1.0)  # (N, 1) -> broadcast to (N, 2)
        points = centres + rng.normal(0.0, 0.5, (n, 2))
    elif name == "circles":
        radius = np.where(labels == 1, rng.uniform(0.0, 1.0, n), rng.uniform(1.4, 2.0, n))
        angle = rng.uniform(0.0, 2 * np.pi, n)
        points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    elif name == "xor":
        points = rng.uniform(-2.0, 2.0, (n, 2))
        points += 0.1 * np.sign(points)  # a small gap along both axes
        labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)
    elif name == "spiral":
        t = rng.uniform(0.0, 1.0, n)
        angle = 1.75 * 2 * np.pi * t + np.pi * labels
        points = 2.0 * t[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    else:
        raise KeyError(f"unknown dataset {name!r}")
    points = points + rng.normal(0.0, noise, points.shape)
    return np.column_stack([points, labels])


def make_dataset(
    name: str,
    n_samples: int = 400,
    seed: int = 0,
    noise: float = 0.1,
    n_inputs: int = 10,
    n_outputs: int = 1,
) -> Dataset:
    """Generate one of :data:`DATASETS`, deterministically from ``seed``.

    Args:
        name: A key of :data:`DATASETS`.
        n_samples: Number of examples (at least 2).
        seed: Random seed.
        noise: Target noise std (regression) or point jitter std (2-D sets).
        n_inputs: Input features (regression only; 2-D sets have 2).
        n_outputs: Targets per example (regression only; classification has 1 logit).

    Returns:
        The dataset, float32.

    Raises:
        KeyError: unknown dataset.
        ValueError: fewer than 2 samples, a negative noise or no features.
    """
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; have: {', '.join(DATASETS)}")
    if n_samples < 2 or noise < 0 or n_inputs < 1 or n_outputs < 1:
        raise ValueError("need n_samples >= 2, noise >= 0 and at least one input and output")
    rng = np.random.default_rng(seed)
    if name == "regression":
        x = rng.normal(0.0, 1.0, (n_samples, n_inputs))
        w_true = rng.normal(0.0, 1.0 / math.sqrt(n_inputs), (n_inputs, n_outputs))
        y = x @ w_true + rng.normal(0.0, noise, (n_samples, n_outputs))  # (N, O)
    else:
        rows = _two_class_2d(name, n_samples, noise, rng)
        x, y = rows[:, :2], rows[:, 2:]
    return Dataset(
        name=name,
        x=torch.as_tensor(x, dtype=torch.float32),
        y=torch.as_tensor(y, dtype=torch.float32),
        task=DATASETS[name].task,
    )


def loss_function(task: Task, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error (regression) or binary cross-entropy on the logit (classification).

    Args:
        task: ``"regression"`` or ``"classification"``.
        output: ``(B, n_outputs)`` network outputs (logits for classification).
        target: ``(B, n_outputs)``.

    Returns:
        The mean over the batch (and outputs), a scalar.
    """
    if task == "classification":
        return F.binary_cross_entropy_with_logits(output, target)
    return F.mse_loss(output, target)


# ------------------------------------------------------------------------- records


@dataclass(frozen=True)
class LayerStats:
    """Summary of one layer on one batch (``B`` examples x ``W`` units).

    Attributes:
        pre_mean, pre_std: Of the pre-activations.
        act_mean, act_std: Of the activations (post-activation values).
        frac_saturated: Fraction of the ``B x W`` activations within
            :data:`SATURATION_MARGIN` of an asymptote of the activation (sigmoid: 0 or 1;
            tanh: -1 or 1; ELU: -1). None for activations that do not saturate and for
            the output layer.
        frac_dead: Fraction of units whose activation derivative is exactly 0 on every
            example of the batch: they pass no gradient at all (dead ReLUs, or fully
            saturated units). 0 for the output layer.
        grad_rms: Root mean square of dLoss/d(pre-activation) over the ``B x W`` values.
        grad_abs_max: Largest |dLoss/d(pre-activation)|.
        weight_rms: RMS of the layer's incoming weights (before this step's update).
        weight_grad_rms: RMS of dLoss/dW for those weights.
    """

    pre_mean: float
    pre_std: float
    act_mean: float
    act_std: float
    frac_saturated: float | None
    frac_dead: float
    grad_rms: float
    grad_abs_max: float
    weight_rms: float
    weight_grad_rms: float


@dataclass(frozen=True)
class LayerRecord:
    """Everything recorded for one layer on one batch; arrays are ``(B, W)`` numpy.

    Attributes:
        name: ``"hidden 1"``, ..., ``"output"``.
        pre: Pre-activations ``W h + b`` (the neuron's input before the activation).
        post: Activations (equal to ``pre`` for the output layer).
        grad_pre: dLoss/d(pre): the gradient arriving at each neuron, per example.
        grad_post: dLoss/d(post).
        derivative: The activation's local derivative f'(pre) (1 for the output layer).
        weight_grad: dLoss/dW, ``(W, fan_in)``.
        stats: Summary statistics.
    """

    name: str
    pre: np.ndarray
    post: np.ndarray
    grad_pre: np.ndarray
    grad_post: np.ndarray
    derivative: np.ndarray
    weight_grad: np.ndarray
    stats: LayerStats


@dataclass(frozen=True)
class StepRecord:
    """What one training step (or an inspection without update) saw.

    Attributes:
        step: Number of updates applied before this batch (0 for the first batch).
        updated: Whether the weights were updated with this batch's gradient.
        batch_loss: Loss on the batch, before the update.
        inputs: The batch inputs ``(B, n_inputs)``.
        layers: One record per layer (hidden layers, then the output layer).
    """

    step: int
    updated: bool
    batch_loss: float
    inputs: np.ndarray
    layers: list[LayerRecord]


@dataclass(frozen=True)
class StepSummary:
    """The light, per-step history kept for every step (the curves in the UI).

    Attributes:
        step: Number of updates applied after this step (1 for the first step).
        batch_loss: Loss on the step's mini-batch, before the update.
        train_loss: Loss on the whole training set, after the update.
        accuracy: Training-set accuracy after the update (classification), else None.
        layers: Per-layer statistics on the step's batch.
    """

    step: int
    batch_loss: float
    train_loss: float
    accuracy: float | None
    layers: list[LayerStats]


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def _layer_stats(
    pre: torch.Tensor,
    post: torch.Tensor,
    grad_pre: torch.Tensor,
    derivative: torch.Tensor,
    weight: torch.Tensor,
    weight_grad: torch.Tensor,
    asymptotes: tuple[float, ...] | None,
) -> LayerStats:
    """Statistics of one layer; ``asymptotes`` None means the output layer."""
    frac_saturated: float | None = None
    if asymptotes:
        near = torch.zeros_like(post, dtype=torch.bool)
        for a in asymptotes:
            near |= (post - a).abs() <= SATURATION_MARGIN
        frac_saturated = float(near.double().mean())
    dead_units = (derivative == 0).all(dim=0)  # (B, W) -> (W,)
    return LayerStats(
        pre_mean=float(pre.mean()),
        pre_std=float(pre.std(unbiased=False)),
        act_mean=float(post.mean()),
        act_std=float(post.std(unbiased=False)),
        frac_saturated=frac_saturated,
        frac_dead=float(dead_units.double().mean()),
        grad_rms=_rms(grad_pre),
        grad_abs_max=float(grad_pre.abs().max()),
        weight_rms=_rms(weight),
        weight_grad_rms=_rms(weight_grad),
    )


def _activation_derivative(act: nn.Module, pre: torch.Tensor) -> torch.Tensor:
    """f'(pre) elementwise ``(B, W)``, on a detached copy (the training graph is untouched).

    The activations are elementwise, so the gradient of ``sum(f(z))`` w.r.t. ``z`` is
    exactly f'(z); autograd gives it for every activation (PReLU's learnt slope
    included) without a hand-written derivative per function.
    """
    with torch.enable_grad():
        z = pre.detach().requires_grad_(True)
        (derivative,) = torch.autograd.grad(act(z).sum(), z)
    return derivative


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# ------------------------------------------------------------------------- trainer


class Trainer:
    """Plain SGD on a :class:`Dataset`, one mini-batch per :meth:`step`, fully recorded.

    Batches are drawn without replacement from a seeded shuffle of the training set,
    reshuffled each epoch (the last incomplete batch of an epoch is skipped). The full
    per-neuron record (:class:`StepRecord`) is kept for the latest batch only; the
    per-step :class:`StepSummary` history is kept for every step.

    Attributes:
        model: The network being trained (owned by this trainer, never shared).
        data: The training set (converted to the trainer's dtype).
        history: One summary per step taken.
        last: The record of the latest step or inspection (None before any).
        finished_reason: Why training stopped ("" while it can go on).
        version: Increases whenever the weights change (a step or a hand edit).
    """

    def __init__(
        self,
        spec: NetSpec,
        data: Dataset,
        lr: float = 0.1,
        batch_size: int = 32,
        seed: int = 0,
        max_steps: int = 1000,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Build the network and the optimiser.

        Args:
            spec: Architecture; its input and output widths must match ``data``.
            data: Training set.
            lr: SGD learning rate.
            batch_size: Examples per step (clipped to the dataset size).
            seed: Seeds the weights (``seed``) and the batch order (``seed + 1``).
            max_steps: Training is finished after this many steps.
            dtype: ``torch.float32`` (default) or ``torch.float64``.

        Raises:
            ValueError: the spec does not fit the data, or a bad learning rate /
                batch size / step budget.
        """
        if (spec.n_inputs, spec.n_outputs) != (data.n_inputs, data.n_outputs):
            raise ValueError(
                f"the network has {spec.n_inputs} inputs and {spec.n_outputs} outputs, "
                f"the data {data.n_inputs} and {data.n_outputs}"
            )
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.spec = spec
        self.model = MLP(spec, seed).to(dtype)
        self.data = Dataset(data.name, data.x.to(dtype), data.y.to(dtype), data.task)
        self.max_steps = max_steps
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.set_lr(lr)
        self.set_batch_size(batch_size)
        self._batches = torch.Generator().manual_seed(seed + 1)
        self._order = torch.randperm(len(self.data.x), generator=self._batches)
        self._cursor = 0
        self.history: list[StepSummary] = []
        self.last: StepRecord | None = None
        self.finished_reason = ""
        self.version = 0

    # -- settings that may change while training
    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next step on (must be > 0 and finite)."""
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError("the learning rate must be a positive number")
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def set_batch_size(self, batch_size: int) -> None:
        """Change the batch size from the next step on (clipped to the dataset size)."""
        if batch_size < 1:
            raise ValueError("the batch size must be at least 1")
        self.batch_size = min(batch_size, len(self.data.x))

    # -- state
    @property
    def step_count(self) -> int:
        """Updates applied so far."""
        return len(self.history)

    @property
    def finished(self) -> bool:
        """True once ``max_steps`` is reached or the loss stopped being finite."""
        return bool(self.finished_reason)

    def _next_indices(self, advance: bool) -> torch.Tensor:
        if self._cursor + self.batch_size > len(self._order):
            self._order = torch.randperm(len(self.data.x), generator=self._batches)
            self._cursor = 0
        indices = self._order[self._cursor : self._cursor + self.batch_size]
        if advance:
            self._cursor += self.batch_size
        return indices

    # -- the work
    def _record(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[StepRecord, list[torch.Tensor]]:
        """Forward + backward on one batch; returns the record and the parameter grads."""
        model = self.model
        pre, post = model.forward_layers(xb)
        loss = loss_function(self.data.task, post[-1], yb)
        params = list(model.parameters())
        hidden_post = post[:-1]
        # One backward pass over the training graph gives the parameter gradients (used
        # for the update, identical to loss.backward()) and dLoss/d(pre), d(post).
        grads = torch.autograd.grad(loss, [*pre, *hidden_post, *params])
        n = len(pre)
        grad_pre, grad_hidden_post, grad_params = (
            grads[:n],
            grads[n : 2 * n - 1],
            grads[2 * n - 1 :],
        )
        grad_by_param = {id(p): g for p, g in zip(params, grad_params, strict=True)}
        asymptotes = ACTIVATIONS[self.spec.activation].asymptotes
        layers: list[LayerRecord] = []
        for i, name in enumerate(model.layer_names()):
            linear = model.layers[i]
            is_output = i == n - 1
            derivative = (
                torch.ones_like(pre[i])
                if is_output
                else _activation_derivative(model.activations[i], pre[i])
            )
            grad_post = grad_pre[i] if is_output else grad_hidden_post[i]
            weight_grad = grad_by_param[id(linear.weight)]
            stats = _layer_stats(
                pre[i].detach(),
                post[i].detach(),
                grad_pre[i],
                derivative,
                linear.weight.detach(),
                weight_grad,
                None if is_output else asymptotes,
            )
            layers.append(
                LayerRecord(
                    name=name,
                    pre=_numpy(pre[i]),
                    post=_numpy(post[i]),
                    grad_pre=_numpy(grad_pre[i]),
                    grad_post=_numpy(grad_post),
                    derivative=_numpy(derivative),
                    weight_grad=_numpy(weight_grad),
                    stats=stats,
                )
            )
        record = StepRecord(
            step=self.step_count,
            updated=False,
            batch_loss=float(loss.detach()),
            inputs=_numpy(xb),
            layers=layers,
        )
        return record, list(grad_params)

    def inspect(self) -> StepRecord:
        """Record the next batch without updating anything (the batch is not consumed)."""
        return run_single_threaded(self._inspect)

    def _inspect(self) -> StepRecord:
        idx = self._next_indices(advance=False)
        record, _ = self._record(self.data.x[idx], self.data.y[idx])
        self.last = record
        return record

    def step(self) -> StepRecord | None:
        """One SGD update on the next mini-batch, fully recorded.

        Returns:
            The record of the batch, or None when training is already finished. A
            non-finite loss finishes training without applying the update.
        """
        return run_single_threaded(self._step)

    def _step(self) -> StepRecord | None:
        if self.finished:
            return None
        idx = self._next_indices(advance=True)
        record, grads = self._record(self.data.x[idx], self.data.y[idx])
        if not math.isfinite(record.batch_loss):
            self.last = record
            self.finished_reason = "diverged: the loss is no longer a finite number"
            return record
        for param, grad in zip(self.model.parameters(), grads, strict=True):
            param.grad = grad
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.version += 1
        record = StepRecord(record.step, True, record.batch_loss, record.inputs, record.layers)
        self.last = record
        train_loss, accuracy = self._evaluate()
        self.history.append(
            StepSummary(
                step=self.step_count + 1,
                batch_loss=record.batch_loss,
                train_loss=train_loss,
                accuracy=accuracy,
                layers=[layer.stats for layer in record.layers],
            )
        )
        if self.step_count >= self.max_steps:
            self.finished_reason = f"reached the step budget ({self.max_steps} steps)"
        elif not math.isfinite(train_loss):
            self.finished_reason = "diverged: the loss is no longer a finite number"
        return record

    def run(self, n_steps: int, seconds: float | None = None) -> int:
        """Up to ``n_steps`` steps, fewer when training finishes or time runs out.

        Args:
            n_steps: Most steps to take.
            seconds: Stop starting new steps after this much time (None = no limit).

        Returns:
            How many steps ran.
        """
        return run_single_threaded(self._run, n_steps, seconds)

    def _run(self, n_steps: int, seconds: float | None) -> int:
        deadline = math.inf if seconds is None else time.perf_counter() + seconds
        done = 0
        while done < n_steps and time.perf_counter() < deadline and self._step() is not None:
            done += 1
        return done

    def evaluate(self) -> tuple[float, float | None]:
        """Loss and accuracy (classification; else None) on the whole training set."""
        return run_single_threaded(self._evaluate)

    def _evaluate(self) -> tuple[float, float | None]:
        with torch.inference_mode():
            out = self.model(self.data.x)
            loss = float(loss_function(self.data.task, out, self.data.y))
            if self.data.task != "classification":
                return loss, None
            accuracy = float(((out > 0).to(self.data.y.dtype) == self.data.y).double().mean())
        return loss, accuracy

    def predict(self) -> np.ndarray:
        """The network's outputs on the whole training set, ``(N, n_outputs)``."""

        def forward() -> np.ndarray:
            with torch.inference_mode():
                return _numpy(self.model(self.data.x))

        return run_single_threaded(forward)

    def set_neuron(
        self,
        layer: int,
        neuron: int,
        weights: Sequence[float] | None = None,
        bias: float | None = None,
    ) -> None:
        """:func:`set_neuron_weights` on this trainer's network (bumps :attr:`version`)."""
        set_neuron_weights(self.model, layer, neuron, weights, bias)
        self.version += 1


# --------------------------------------------------------------- decision surface


@dataclass(frozen=True)
class DecisionSurface:
    """The classifier's P(class 1) on a regular grid.

    Attributes:
        xs: Grid coordinates along the first input ``(R,)``.
        ys: Grid coordinates along the second input ``(R,)``.
        probability: ``(R, R)``, row i = ``ys[i]``, column j = ``xs[j]``.
    """

    xs: np.ndarray
    ys: np.ndarray
    probability: np.ndarray


def decision_surface(
    model: MLP, x: torch.Tensor, resolution: int = 80, margin: float = 0.5
) -> DecisionSurface:
    """Evaluate a 2-input, 1-logit network on a grid covering the data.

    Args:
        model: The network (2 inputs, 1 output logit).
        x: The data ``(N, 2)``; the grid spans its bounding box plus ``margin``.
        resolution: Grid points per axis.
        margin: Extra space around the data, in input units.

    Returns:
        sigmoid(logit) on the grid.

    Raises:
        ValueError: the network does not have 2 inputs and 1 output.
    """
    if model.spec.n_inputs != 2 or model.spec.n_outputs != 1:
        raise ValueError("a decision surface needs a network with 2 inputs and 1 output")
    dtype = model.layers[0].weight.dtype
    lo = x.min(dim=0).values.double() - margin  # (2,)
    hi = x.max(dim=0).values.double() + margin
    xs = torch.linspace(float(lo[0]), float(hi[0]), resolution, dtype=dtype)
    ys = torch.linspace(float(lo[1]), float(hi[1]), resolution, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (R, R) each
    points = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)  # (R*R, 2)

    def evaluate() -> torch.Tensor:
        with torch.inference_mode():
            return torch.sigmoid(model(points)).reshape(resolution, resolution)

    probability = run_single_threaded(evaluate)
    return DecisionSurface(_numpy(xs), _numpy(ys), _numpy(probability))


# ------------------------------------------------------------------ what to try


INIT_TIPS: dict[str, str] = {
    "he": "Var(W) = 2/fan_in keeps the spread of ReLU activations about constant from layer "
    "to layer. Compare the per-layer activation spread with Xavier and LeCun.",
    "uniform": "Var(W) = 1/(3 fan_in) is a third of LeCun's: with tanh or ReLU the signal "
    "shrinks at every layer. Add hidden layers and watch the deeper distributions narrow.",
    "normal": "N(0, 1) ignores the fan-in: a unit with n inputs gets pre-activations about "
    "sqrt(n) times wider than its inputs. Change the widths and watch the spread follow.",
    "lecun": "Var(W) = 1/fan_in keeps the pre-activation variance close to the input "
    "variance for units that are linear near 0 (tanh). ReLU halves it at every layer.",
    "zero": "Every unit of a layer computes the same thing and gets the same gradient, so "
    "they stay identical for ever: select two neurons of one layer and compare them.",
    "xavier": "Var(W) = 2/(fan_in + fan_out) balances the forward signal and the backward "
    "gradient (Glorot & Bengio 2010); it was derived for units that are linear near 0.",
    "small": "Each layer multiplies the signal by about 0.01: activations collapse to f(0) "
    "and the gradient reaching the first layers vanishes. The loss barely moves at first.",
    "large": "Pre-activations are about 100x too wide: sigmoid and tanh saturate, ReLU-like "
    "units pass huge values on and the gradients explode. Try a much smaller learning rate.",
}

ACTIVATION_TIPS: dict[str, str] = {
    "sigmoid": "Sigmoid outputs are in (0, 1), never centred on 0, and its slope is at most "
    "0.25: the gradient shrinks at least 4x per layer even without saturation.",
    "tanh": "tanh is centred on 0 with slope 1 there; beyond |x| of about 2.3 its output is "
    "within 0.02 of -1 or 1 (saturated) and almost no gradient passes.",
    "relu": "ReLU passes the gradient where x > 0 and blocks it elsewhere; a unit that is "
    "negative on every example is dead (see '% dead') and cannot recover.",
    "leaky_relu": "Leaky ReLU keeps a slope of 0.01 for x < 0: no unit is ever completely "
    "dead, but the negative side passes very little gradient.",
    "prelu": "PReLU learns the negative slope of every unit (it starts at 0.25, He et al. "
    "2015): units cannot die and the network can choose how linear to be.",
    "elu": "ELU is smooth; below x of about -3.9 its output is within 0.02 of -1 (counted as "
    "saturated); for positive inputs it is the identity.",
    "swish": "Swish x sigmoid(x) is smooth and dips slightly below 0 (minimum about -0.28) "
    "before going back to 0 for very negative inputs.",
}

COMBINATION_TIPS: dict[tuple[str, str], str] = {
    ("large", "sigmoid"): "Almost every hidden output is within 0.02 of 0 or 1 (see "
    "'% saturated'). Most examples send back exactly zero gradient; the few that land near a "
    "unit's threshold send back huge ones, because the weights are 100x too large. The "
    "gradient distributions show the split; training is erratic.",
    ("large", "tanh"): "Almost every hidden output is within 0.02 of -1 or 1: the units act "
    "like sign functions. Most examples pass no gradient back, a few pass enormous ones.",
    ("large", "relu"): "The activations grow layer after layer and so do the gradients "
    "(exploding). With a learning rate of 0.1 the loss can jump or diverge; try 0.001.",
    ("zero", "relu"): "Every pre-activation is exactly 0 and ReLU's slope at 0 is 0: all "
    "hidden units are dead, the hidden weights never move and only the output bias learns.",
    ("zero", "tanh"): "tanh(0) = 0, so the output weights get no gradient and pass none "
    "back: the hidden weights stay 0 for ever; only the output bias learns.",
    ("zero", "sigmoid"): "sigmoid(0) = 0.5, so the output weights do learn, but every unit of "
    "a layer keeps exactly the same weights as its neighbours: one unit's worth of capacity.",
    ("xavier", "tanh"): "The textbook pair: each layer's pre-activations are as wide as the "
    "previous layer's activations, so the spread shrinks only slowly with depth (what "
    "tanh's curve takes away) and the gradient reaches the first layer at a similar size.",
    ("he", "relu"): "The textbook pair: the factor 2 makes up for ReLU zeroing half of its "
    "inputs, so on average activations neither shrink nor grow with depth.",
    ("normal", "sigmoid"): "Sigmoid saturates only beyond |x| of about 4, so it takes wide "
    "layers: with 32 inputs per unit, 20-50% of the outputs start within 0.02 of 0 or 1.",
    ("normal", "tanh"): "The wider the layers, the more outputs start within 0.02 of -1 or 1: "
    "about 10% with 8 inputs per unit, about two thirds with 32. Try widths of 32.",
    ("small", "relu"): "Activations shrink about 100x per layer, and so does the gradient "
    "reaching the weights: add a hidden layer and see the first layer stop learning.",
    ("small", "sigmoid"): "Every hidden output starts at about 0.5: the network is nearly "
    "constant and the first layer's weights get almost no gradient.",
    ("lecun", "relu"): "ReLU zeroes about half of every layer's inputs, so with LeCun's "
    "1/fan_in the activations shrink with depth; switch to He to compare.",
}


def what_to_try(init: str, activation: str) -> list[str]:
    """Short hints for one initialisation + activation pair, most specific first.

    Args:
        init: A key of :data:`INITS`.
        activation: A key of :data:`ACTIVATIONS`.

    Returns:
        The pair's own hint (when there is one), then the initialisation's and the
        activation's.
    """
    tips = [COMBINATION_TIPS.get((init, activation), ""), INIT_TIPS[init]]
    tips.append(ACTIVATION_TIPS[activation])
    return [tip for tip in tips if tip]


@dataclass(frozen=True)
class PlaygroundConfig:
    """Everything that defines a fresh run (the page rebuilds the trainer when it changes).

    Attributes:
        dataset: A key of :data:`DATASETS`.
        hidden: Hidden layer widths.
        activation: A key of :data:`ACTIVATIONS`.
        init: A key of :data:`INITS`.
        seed: Seeds the data, the weights and the batch order.
        n_samples: Training set size.
        noise: See :func:`make_dataset`.
        n_inputs: Regression inputs (2-D sets always have 2).
        n_outputs: Regression outputs (classification always has 1).
        max_steps: Step budget.
    """

    dataset: str = "circles"
    hidden: tuple[int, ...] = (8, 8)
    activation: str = "tanh"
    init: str = "xavier"
    seed: int = 0
    n_samples: int = 400
    noise: float = 0.1
    n_inputs: int = 10
    n_outputs: int = 1
    max_steps: int = 1000


def parse_hidden(text: str, max_layers: int = 6, max_width: int = 32) -> tuple[int, ...]:
    """Parse ``"16, 16"`` into ``(16, 16)``; an empty text means no hidden layer.

    Args:
        text: Comma- or space-separated positive integers.
        max_layers: Most hidden layers allowed.
        max_width: Widest layer allowed.

    Raises:
        ValueError: with a message for the user (not a number, 0, too many, too wide).
    """
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        widths = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"hidden layers must be whole numbers separated by commas, like '16, 16' (got {text!r})"
        ) from None
    if any(w < 1 for w in widths):
        raise ValueError("every hidden layer needs at least 1 unit")
    if len(widths) > max_layers:
        raise ValueError(f"at most {max_layers} hidden layers")
    if any(w > max_width for w in widths):
        raise ValueError(f"at most {max_width} units per layer")
    return widths


def build_trainer(config: PlaygroundConfig, lr: float, batch_size: int) -> Trainer:
    """Dataset + network + trainer for a configuration (the page's one entry point)."""
    data = make_dataset(
        config.dataset,
        n_samples=config.n_samples,
        seed=config.seed,
        noise=config.noise,
        n_inputs=config.n_inputs,
        n_outputs=config.n_outputs,
    )
    spec = NetSpec(data.n_inputs, config.hidden, data.n_outputs, config.activation, config.init)
    return Trainer(spec, data, lr, batch_size, config.seed, config.max_steps)
