"""Cost before running: each method's time estimated from its declared cost.

A method declares the forward and backward passes it needs for one image
(:meth:`~core.attribution.base.Method.cost`). This module measures, once per model and
process, what those passes cost on this machine (:func:`calibrate`), and turns a
declared cost into seconds (:func:`estimate_seconds`). Single passes (saliency,
Grad-CAM, guided backprop) are priced at batch 1; many passes (Integrated Gradients,
SmoothGrad) at the batched rate of the batch-norm-folded twin; forward-only methods at
the forward engine's batched rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from core.attribution.base import FORWARD_BATCH, GRADIENT_BATCH, InputShape, Method
from core.attribution.registry import get_method
from core.attribution.runner import Attributor, context_for
from core.common.layout import fast_layout
from core.models import ImageModel
from core.models.engine import ONNX_RUNTIME, existing_engine
from core.models.files import gradients_unavailable

MANY = 3  # from this many passes on, a method batches them


@dataclass(frozen=True)
class PassTimes:
    """Seconds per image of each kind of pass, measured on this machine.

    Attributes:
        forward: One forward pass at batch 1 (torch).
        gradient: One forward + backward pass at batch 1 (torch).
        batched_gradient: Per image, forward + backward at the gradient batch size on
            the folded twin (what IG and SmoothGrad run).
        engine_forward: Per image, forward only on the forward engine, batched.
        engine: The forward engine's name.
    """

    forward: float
    gradient: float
    batched_gradient: float
    engine_forward: float
    engine: str


def _best(function: Callable[[], Any], repeats: int = 2) -> float:
    function()  # warm up (allocator, engine buffers)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def calibrate(model: ImageModel, engine: str = "auto") -> PassTimes:
    """Measure one forward and one backward pass of a model (about a second).

    Args:
        model: A loaded model (never modified).
        engine: ``"auto"`` (the forward engine) or ``"torch"``.

    Returns:
        The :class:`PassTimes`.
    """
    x = torch.zeros(1, *model.input_shape)
    run = Attributor(model.net, x, context_for(model), engine=engine)

    def forward() -> None:
        with torch.inference_mode():
            model.net(fast_layout(x))

    def gradient() -> None:
        run.input_gradients(x, 0, many=False)

    batch = x.expand(GRADIENT_BATCH, -1, -1, -1).clone()  # as the methods batch them
    forward_batch = x.expand(FORWARD_BATCH, -1, -1, -1).clone()
    forward_s = _best(forward)
    if gradients_unavailable(model.net):  # gradient methods will not run: nothing to time
        gradient_s = batched_s = forward_s
    else:
        gradient_s = _best(gradient)
        batched_s = _best(lambda: run.input_gradients(batch, 0), repeats=1) / GRADIENT_BATCH
    shape = model.input_shape
    # The forward engine only if it is already built: calibrating must not wait for an
    # export (until then, forward-only methods are priced at torch's batched rate).
    on_engine = engine != "torch" and existing_engine(model.net, shape)
    if on_engine and on_engine.name == ONNX_RUNTIME:
        engine_name = ONNX_RUNTIME
        engine_s = _best(lambda: on_engine(forward_batch)) / FORWARD_BATCH
    else:
        engine_name = "torch"
        engine_s = _best(lambda: run.forward_logits(forward_batch)) / FORWARD_BATCH
    return PassTimes(forward_s, gradient_s, batched_s, engine_s, engine_name)


def estimate_seconds(
    method: Method, params: Mapping[str, Any], shape: InputShape, times: PassTimes
) -> float:
    """A method's expected run time from its declared cost and the measured passes.

    Args:
        method: The method.
        params: Its parameters (validated here; defaults for the rest).
        shape: The input size and feature-map channels.
        times: :func:`calibrate`'s measurement for the model.

    Returns:
        Seconds.
    """
    forwards, backwards = method.cost(method.resolve(params), shape)
    if not method.needs_gradients:
        batched = forwards >= MANY and method.on_forward_engine
        return forwards * (times.engine_forward if batched else times.forward)
    if backwards >= MANY:
        extra = max(0, forwards - backwards)
        return backwards * times.batched_gradient + extra * times.forward
    if backwards == 0:  # CAM methods: one forward, a backward through the last layers only
        return forwards * times.forward
    return backwards * times.gradient + max(0, forwards - backwards) * times.forward


# Rough rates for ordering tiles before any calibration (EfficientNet-Lite0 here).
UNCALIBRATED = PassTimes(
    forward=0.02, gradient=0.05, batched_gradient=0.02, engine_forward=0.005, engine="torch"
)


def by_cost(
    requests: Mapping[str, Mapping[str, Any]],
    shape: InputShape,
    times: PassTimes | None = None,
) -> list[tuple[str, float]]:
    """Methods ordered cheapest first, with their estimated seconds.

    Args:
        requests: method name -> its parameters.
        shape: The input size and the network's feature-map channels.
        times: The model's measured pass times (default: rough rates).

    Returns:
        ``(method, estimated seconds)`` pairs, cheapest first.
    """
    rates = times or UNCALIBRATED
    estimates = [
        (name, estimate_seconds(get_method(name), params, shape, rates))
        for name, params in requests.items()
    ]
    return sorted(estimates, key=lambda item: item[1])
