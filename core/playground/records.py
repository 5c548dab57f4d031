"""What a training step records: per-neuron values and gradients, per-layer statistics.

"The gradient arriving at a neuron" is dLoss/d(pre-activation) of that neuron for each
example of the batch (the loss being the batch mean); dLoss/d(post-activation) is
recorded too. The forward pass is computed explicitly layer by layer and the gradients
come from one ``torch.autograd.grad`` call on the same graph that trains the network, so
recording never changes what the network learns (tested against a bare training loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.playground.activations import ACTIVATIONS, SATURATION_MARGIN, activation_derivative
from core.playground.datasets import Task, loss_function
from core.playground.mlp import MLP, to_numpy


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
    """Root mean square of every entry, in float64."""
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


def record_batch(
    model: MLP, task: Task, xb: torch.Tensor, yb: torch.Tensor, step: int
) -> tuple[StepRecord, list[torch.Tensor]]:
    """Forward + backward on one batch, recording every layer; the weights are not changed.

    Args:
        model: The network.
        task: Decides the loss (see :func:`loss_function`).
        xb: Batch inputs ``(B, n_inputs)``.
        yb: Batch targets ``(B, n_outputs)``.
        step: Updates applied before this batch (stored in the record).

    Returns:
        The record (``updated=False``) and the gradient of every parameter of the model,
        in ``model.parameters()`` order (identical to what ``loss.backward()`` gives).
    """
    pre, post = model.forward_layers(xb)
    loss = loss_function(task, post[-1], yb)
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
    asymptotes = ACTIVATIONS[model.spec.activation].asymptotes
    layers: list[LayerRecord] = []
    for i, (name, linear) in enumerate(zip(model.layer_names(), model.linears(), strict=True)):
        is_output = i == n - 1
        derivative = (
            torch.ones_like(pre[i])
            if is_output
            else activation_derivative(model.activations[i], pre[i])
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
                pre=to_numpy(pre[i]),
                post=to_numpy(post[i]),
                grad_pre=to_numpy(grad_pre[i]),
                grad_post=to_numpy(grad_post),
                derivative=to_numpy(derivative),
                weight_grad=to_numpy(weight_grad),
                stats=stats,
            )
        )
    record = StepRecord(
        step=step,
        updated=False,
        batch_loss=float(loss.detach()),
        inputs=to_numpy(xb),
        layers=layers,
    )
    return record, list(grad_params)
