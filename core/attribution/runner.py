"""Running methods: the :class:`Attributor` (one network, one input, any number of
methods sharing their work) and the two one-call entry points.

One verb per level:

- :func:`attribute` -- tensor level: any classifier ``nn.Module`` and a ``(1, C, H, W)``
  input (the Digits lab uses it on its own MNIST CNN).
- :func:`explain` -- image level: an :class:`~core.models.ImageModel` and a PIL image,
  with the model's own preprocessing and defaults (normalisation, CAM layer).
- :meth:`Attributor.attribute` -- several methods on one input, sharing work (the
  logits, the CAM pass, the guided-backprop map reused by guided Grad-CAM, LIME's
  segmentation); returns the map with its run time. The page uses this one.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.attribution.base import (
    FORWARD_BATCH,
    GRADIENT_BATCH,
    REFERENCE_NUMEL,
    AttributionContext,
    InputShape,
    Method,
    MethodNotApplicable,
    Progress,
)
from core.attribution.cam import feature_map_layers
from core.attribution.fast import folded_twin
from core.attribution.registry import get_method
from core.common.critical import uninterruptible
from core.common.layout import fast_layout
from core.common.single_thread import torch_threads
from core.models import ImageModel
from core.models.engine import ONNX_RUNTIME, TORCH, ForwardEngine, forward_engine
from core.models.files import gradients_unavailable

ENGINE_ENV = "CNN_EXPLAINER_ENGINE"  # "auto" (default) or "torch"
ENGINES = ("auto", TORCH)


@dataclass(frozen=True)
class Attribution:
    """One method's map for one input and class.

    Attributes:
        heatmap: Float32 ``(H, W)`` at the input's resolution (signed when the method's
            ``signed`` is True).
        seconds: Wall-clock time of the computation.
        engine: What ran its passes: ``"torch"``, ``"ONNX Runtime"`` (forward-only
            methods on the forward engine) or both.
        notes: What the method had to do differently for this network, in plain words
            (e.g. LRP treating a batch norm as a per-channel map); shown with the map.
    """

    heatmap: np.ndarray
    seconds: float
    engine: str = TORCH
    notes: tuple[str, ...] = ()


_REUSED = threading.local()


def reused_seconds() -> float:
    """CPU seconds of :class:`SharedWork` values this thread has taken without computing
    them (what they cost whoever computed them). Add the difference to a computation's
    own CPU time for what it costs alone: the pipeline learns estimates from that
    (Grad-CAM's fell to 0.00 s in a class, where Grad-CAM++ of the same photo had done
    its gradient pass)."""
    return float(getattr(_REUSED, "seconds", 0.0))


class SharedWork:
    """Work that several methods need on one input, computed once (thread-safe).

    Several Attributors of the same network and input may share one (the panel
    pipeline runs a panel's methods on several workers at once): the first to ask for
    a key computes it while the others wait for it; if that computation fails, the
    next one to ask tries again.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[Any, ...], Any] = {}
        self._seconds: dict[tuple[Any, ...], float] = {}  # CPU seconds each value took
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """The value under ``key``, computed by ``compute()`` on first request (a value
        computed before, or by another thread meanwhile, counts in :func:`reused_seconds`)."""
        with self._lock:
            if key in self._values:
                return self._reuse(key)
            lock = self._locks.setdefault(key, threading.Lock())
        with lock, uninterruptible():  # no inline work needing this key while it is held
            with self._lock:
                if key in self._values:
                    return self._reuse(key)
            start = time.thread_time()
            value = compute()
            with self._lock:
                self._values[key] = value
                self._seconds[key] = time.thread_time() - start
                self._locks.pop(key, None)
            return value

    def _reuse(self, key: tuple[Any, ...]) -> Any:
        # under self._lock
        _REUSED.seconds = reused_seconds() + self._seconds[key]
        return self._values[key]

    def has(self, key: tuple[Any, ...]) -> bool:
        """True once ``key`` is computed."""
        with self._lock:
            return key in self._values

    def values(self) -> list[Any]:
        """What is stored (for memory accounting)."""
        with self._lock:
            return list(self._values.values())


class Attributor:
    """One network and one input, explained by any number of methods.

    Work that several methods need is computed once and shared (see :meth:`shared`),
    also between Attributors given the same :class:`SharedWork`. An Attributor is used
    by one thread at a time; the network may be shared by many threads (nothing here
    mutates it, and hooks are scoped and thread-filtered).

    Forward-only passes (:meth:`forward_logits`: occlusion, LIME, Score-CAM, RISE, ...)
    run on the network's shared forward engine (:mod:`core.models.engine`: ONNX Runtime,
    checked against torch) unless ``engine="torch"``; gradient passes run on torch.

    Args:
        net: A classifier in eval mode, ``(B, C, H, W) -> (B, K)`` logits.
        x: One input ``(1, C, H, W)``, already normalised.
        context: Normalisation, default CAM layer; see :class:`AttributionContext`.
        engine: ``"auto"`` (ONNX Runtime when its export of this network is exact, else
            torch) or ``"torch"``; default from ``$CNN_EXPLAINER_ENGINE``, else ``"auto"``.
        shared: Work shared with other Attributors of the same network and input (by
            default, this Attributor's own).

    Raises:
        ValueError: ``x`` is not ``(1, C, H, W)``, the network is in training mode, or an
            unknown engine.
    """

    def __init__(
        self,
        net: nn.Module,
        x: torch.Tensor,
        context: AttributionContext | None = None,
        engine: str | None = None,
        shared: SharedWork | None = None,
    ) -> None:
        if x.dim() != 4 or x.shape[0] != 1:
            raise ValueError(f"x must be one image (1, C, H, W), got shape {tuple(x.shape)}")
        if net.training:
            raise ValueError(
                "the network is in training mode (dropout and batch norm would make maps "
                "random); call net.eval() on it (or on a copy) first"
            )
        self.net = net
        with torch.inference_mode(False):
            self.x = x.detach().float().clone()  # (1, C, H, W), a normal (non-inference) tensor
        self.context = context or AttributionContext()
        self.engine = engine or os.environ.get(ENGINE_ENV) or "auto"
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {self.engine!r}")
        self._shared = shared or SharedWork()
        self._engines_used: set[str] = set()
        self._notes: list[str] = []

    def attribute(
        self,
        method: str,
        target: int | None = None,
        progress: Progress | None = None,
        **params: Any,
    ) -> Attribution:
        """Run one registered method on this input, sharing work with the others.

        Args:
            method: A key of :data:`~core.attribution.registry.METHODS`.
            target: Class index; None = top-1.
            progress: Called with the fraction done (0..1) by methods with many passes.
            **params: The method's parameters (defaults for the rest); names and values
                are validated before anything runs.

        Returns:
            The map (float32 ``(H, W)`` at the input's resolution) and its run time.

        Raises:
            ValueError / TypeError: unknown method, bad parameter or target.
            MethodNotApplicable: the method cannot explain this network (with the reason).
        """
        spec = get_method(method)
        resolved = spec.resolve(params)
        if spec.needs_gradients and (reason := gradients_unavailable(self.net)):
            raise MethodNotApplicable(reason)  # e.g. an ONNX model with no torch version
        start = time.perf_counter()
        self._engines_used = set()
        self._notes = []
        with (
            torch.inference_mode(False),
            torch.set_grad_enabled(spec.needs_gradients),
            torch_threads(1) if self._on_onnx(spec) else contextlib.nullcontext(),
        ):
            index = self.resolve_target(target)
            heatmap = spec.compute(self, index, resolved, progress)
        heatmap = np.nan_to_num(
            np.asarray(heatmap, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0
        )
        if heatmap.shape != self.size:
            raise AssertionError(f"{method} returned shape {heatmap.shape}, expected {self.size}")
        used = set(self._engines_used)
        if not spec.on_forward_engine or not used:
            used.add(TORCH)
        engine = " + ".join(sorted(used, key=lambda name: name != ONNX_RUNTIME))
        notes = tuple(dict.fromkeys(self._notes))
        return Attribution(heatmap, time.perf_counter() - start, engine, notes)

    def note(self, text: str) -> None:
        """Record something the running method had to do differently (shown with its map)."""
        self._notes.append(text)

    def _on_onnx(self, spec: Method) -> bool:
        """A forward-only method whose passes go to ONNX Runtime: torch's own work between
        them then runs on one thread (see :func:`core.common.single_thread.torch_threads`)."""
        if not spec.on_forward_engine:
            return False
        engine = self.forward_engine()
        return engine is not None and engine.name == ONNX_RUNTIME

    def forward_engine(self) -> ForwardEngine | None:
        """The network's shared forward engine for this input size (built on first use),
        or None when this Attributor runs on torch only."""
        if self.engine == TORCH:
            return None
        channels, height, width = (int(s) for s in self.x.shape[1:])
        return forward_engine(self.net, (channels, height, width), self.context.title)

    def forward_logits(self, batch: torch.Tensor, target: int | None = None) -> torch.Tensor:
        """Logits of a batch of inputs, forward only: on ONNX Runtime when this network's
        export is exact, else on torch (inference mode, fast layout, folded batch norm).

        Args:
            batch: ``(b, C, H, W)`` inputs.
            target: Checked against the number of classes when given.

        Returns:
            ``(b, K)`` float32 logits (a normal tensor, usable outside inference mode).
        """
        engine = self.forward_engine()
        if engine is not None and engine.name == ONNX_RUNTIME:
            out = engine(batch)
            self._engines_used.add(ONNX_RUNTIME)
        else:
            with torch.inference_mode():
                out = self.fast_net(fast_layout(batch))
            out = out.float().clone()  # a normal tensor again (outside inference mode)
            self._engines_used.add(TORCH)
        return self.check_output(out, batch.shape[0], target)

    @property
    def fast_net(self) -> nn.Module:
        """The network with batch norm folded in, for methods with many passes (a private
        copy built once per network, see :mod:`core.attribution.fast`); or the network
        itself when it has nothing to fold."""
        return folded_twin(self.net, fast_layout(self.x))

    @property
    def size(self) -> tuple[int, int]:
        """Input ``(H, W)``."""
        return int(self.x.shape[2]), int(self.x.shape[3])

    def shared(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """Work shared between methods: computed on first request, then reused.

        Args:
            key: Identifies the work and everything it depends on (besides net and x).
            compute: Computes it.
        """
        return self._shared.get(key, compute)

    def logits(self) -> torch.Tensor:
        """The network's logits for ``x``, ``(K,)`` (one forward pass, shared)."""

        def forward() -> torch.Tensor:
            with torch.inference_mode():
                out = self.net(fast_layout(self.x))
            return self.check_output(out, 1)[0].clone()

        return self.shared(("logits",), forward)

    def check_output(self, out: Any, batch: int, target: int | None = None) -> torch.Tensor:
        """Check a forward pass's output: logits ``(batch, K)`` with ``target < K``.

        Raises:
            ValueError: not logits of that batch, or the target is out of range.
        """
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != batch:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the network must return logits (B, classes); got {shape}")
        if target is not None and target >= out.shape[1]:
            raise ValueError(
                f"target {target} is out of range: the network has {out.shape[1]} classes"
            )
        return out

    def resolve_target(self, target: int | None) -> int:
        """``None`` -> the top-1 class (one forward pass, shared); otherwise check the index.

        The upper bound of an explicit index is checked by the method's first forward
        pass (:meth:`check_output`), so no extra pass is spent on it.

        Raises:
            ValueError: not an index, or out of range.
        """
        if target is None:
            return int(self.logits().argmax())
        if isinstance(target, bool) or not isinstance(target, int | np.integer) or target < 0:
            raise ValueError(f"target must be a class index (int >= 0), got {target!r}")
        if self._shared.has(("logits",)):
            self.check_output(self.logits()[None], 1, int(target))
        return int(target)

    # -- batched passes used by the methods --------------------------------------------

    def batch_size(self, gradients: bool) -> int:
        """Images per batch for this input size."""
        base = GRADIENT_BATCH if gradients else FORWARD_BATCH
        return int(max(1, min(256, base * REFERENCE_NUMEL // max(1, self.x[0].numel()))))

    def forward_scores(
        self,
        inputs: Iterator[torch.Tensor],
        total: int,
        target: int,
        progress: Progress | None = None,
        score: str = "logit",
    ) -> torch.Tensor:
        """The target's score for many inputs, forward only (see :meth:`forward_logits`).

        Args:
            inputs: Batches ``(b, C, H, W)``.
            total: Total number of images (for the progress callback).
            target: Class index.
            progress: Called with the fraction done after each batch.
            score: ``"logit"`` or ``"probability"`` (softmax over the classes).

        Returns:
            ``(total,)`` float32 scores.
        """
        scores: list[torch.Tensor] = []
        done = 0
        for batch in inputs:
            logits = self.forward_logits(batch, target)  # (b, K)
            if score == "probability":
                scores.append(logits.softmax(dim=1)[:, target])
            else:
                scores.append(logits[:, target])
            done += batch.shape[0]
            if progress is not None:
                progress(min(1.0, done / max(1, total)))
        return torch.cat(scores)

    def input_gradients(
        self, xs: torch.Tensor, target: int, many: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient of the target logit w.r.t. each input of a batch (fast layout).

        Args:
            xs: ``(b, C, H, W)``.
            target: Class index.
            many: One of many passes: run on the folded-batch-norm twin (built on first
                use, see :attr:`fast_net`). False: a single pass, on the network itself
                (building the twin would cost more than it saves).

        Returns:
            ``(grads (b, C, H, W), logits (b,))``.
        """
        net = self.fast_net if many else self.net
        with torch.inference_mode(False), torch.enable_grad():
            xs = fast_layout(xs.detach().clone()).requires_grad_(True)
            out = self.check_output(net(xs), xs.shape[0], target)
            score = out[:, target]
            (grad,) = torch.autograd.grad(score.sum(), xs)
        return grad.detach().contiguous(), score.detach()

    def gradient_batches(
        self,
        batches: Sequence[torch.Tensor],
        target: int,
        progress: Progress | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``input_gradients`` over a list of batches, reporting progress."""
        total = sum(b.shape[0] for b in batches)
        done = 0
        for batch in batches:
            yield self.input_gradients(batch, target)
            done += batch.shape[0]
            if progress is not None:
                progress(min(1.0, done / max(1, total)))


def attribute(
    net: nn.Module,
    x: torch.Tensor,
    method: str,
    target: int | None = None,
    *,
    context: AttributionContext | None = None,
    progress: Progress | None = None,
    **params: Any,
) -> np.ndarray:
    """Explain one input of any classifier with one method (tensor level).

    Args:
        net: Classifier in eval mode, ``(B, C, H, W) -> (B, K)`` logits (pre-softmax).
            Never modified.
        x: One input ``(1, C, H, W)``, normalised as the network expects.
        method: A key of :data:`~core.attribution.registry.METHODS`.
        target: Class index to explain; None = the top-1 class.
        context: Normalisation (for black/blurred baselines and LIME superpixels),
            default CAM layer; defaults: ``x`` is in pixel units, last feature map.
        progress: Called with the fraction done (0..1).
        **params: The method's parameters, see ``METHODS[method].params``.

    Returns:
        Float32 ``(H, W)`` heatmap at ``x``'s resolution (signed when
        ``METHODS[method].signed``).

    Raises:
        ValueError / TypeError: unknown method, bad parameter or target.
        MethodNotApplicable: the method cannot explain this network (with the reason).
    """
    return Attributor(net, x, context).attribute(method, target, progress, **params).heatmap


def context_for(model: ImageModel) -> AttributionContext:
    """The attribution context of a registered model (its normalisation and CAM layer)."""
    return AttributionContext(
        mean=tuple(model.mean), std=tuple(model.std), layer=model.target_layer, title=model.title
    )


def input_shape_for(model: ImageModel) -> InputShape:
    """A model's input size and the channels of its feature maps (one hooked forward
    pass of a blank image), for cost estimates."""
    blank = torch.zeros(1, *model.input_shape)
    layers = feature_map_layers(model.net, blank)
    return InputShape(
        size=model.input_size,
        channels={name: int(shape[1]) for name, shape in layers},
        default_layer=model.target_layer,
    )


def attributor_for(model: ImageModel, image: Image.Image) -> Attributor:
    """An :class:`Attributor` for a model and a PIL image (the model's preprocessing)."""
    return Attributor(model.net, model.preprocess(image), context_for(model))


def explain(
    model: ImageModel,
    image: Image.Image,
    method: str,
    target: int | None = None,
    *,
    progress: Progress | None = None,
    **params: Any,
) -> np.ndarray:
    """Explain a model's prediction for a PIL image (image level).

    Args:
        model: A loaded model (its own resize, crop and normalisation are applied; CAM
            methods default to its ``target_layer``).
        image: Any PIL image.
        method: A key of :data:`~core.attribution.registry.METHODS`.
        target: Class index; None = the top-1 class. The pre-softmax logit is explained.
        progress: Called with the fraction done (0..1).
        **params: The method's parameters.

    Returns:
        Float32 ``(H, W)`` heatmap at the model's input resolution, aligned with
        ``model.crop(image)``.
    """
    return attributor_for(model, image).attribute(method, target, progress, **params).heatmap
