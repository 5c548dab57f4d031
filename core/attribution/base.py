"""The contract every attribution method follows, and the object that runs them.

A *method* (a :class:`Method` subclass, one per module) declares what it is (signed map?
stochastic? needs gradients? needs a baseline?), its parameters (:class:`Param`, from
which the page builds its widgets) and its cost, and computes a float ``(H, W)`` map
for one input and one target class.

An :class:`Attributor` holds one network and one preprocessed input and runs any number
of methods on it, sharing work between them (the logits, the CAM forward pass, the
guided-backprop map reused by guided Grad-CAM, the LIME segmentation).

What a method may need beyond the tensor (the normalisation, to turn the input back
into pixels for LIME superpixels and blurred or black baselines; the default CAM layer;
a progress callback) comes through an :class:`AttributionContext`, never through
``if method == ...`` special cases.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from core.attribution.fast import folded_twin

ParamValue = int | float | str | bool | None
ParamKind = Literal["int", "float", "choice", "bool", "layer"]
Progress = Callable[[float], None]


class MethodNotApplicable(ValueError):
    """A method that cannot explain this network, with the reason in plain words.

    E.g. LRP on a network with a SiLU activation, CAM on a network with no
    convolutional feature map. Pages show the message instead of a map.
    """


# --------------------------------------------------------------------------- params


@dataclass(frozen=True)
class Param:
    """One parameter of a method: enough to validate it and to build its widget.

    Attributes:
        name: Keyword name (shared by the page, the benchmark and the tests).
        default: Default value; for ``kind="layer"`` None means "the model's default
            CAM layer".
        help: One sentence for the widget's tooltip.
        kind: ``"int"``, ``"float"`` (slider/number), ``"choice"`` (one of ``choices``),
            ``"bool"`` (checkbox) or ``"layer"`` (a module name of the network).
        low: Smallest allowed value (numbers).
        high: Largest allowed value (numbers).
        step: Widget step (numbers).
        choices: Allowed values (``kind="choice"``).
        unit: Unit shown next to the value, e.g. ``"input pixels"`` for sizes.
        log: Numbers spanning decades (a widget may offer a log scale).
    """

    name: str
    default: ParamValue
    help: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    log: bool = False

    def validate(self, value: Any) -> ParamValue:
        """Check and normalise one value.

        Args:
            value: The value given by the caller.

        Returns:
            The value as the right Python type.

        Raises:
            ValueError: wrong type, out of range or not one of the choices.
        """
        if self.kind == "layer":
            if value is None or isinstance(value, str):
                return value
            raise ValueError(f"{self.name} must be a layer name (str), got {value!r}")
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(
                    f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}"
                )
            return value
        if self.kind == "bool":
            if isinstance(value, bool | np.bool_):
                return bool(value)
            raise ValueError(f"{self.name} must be True or False, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"{self.name} must be a number, got {value!r}")
        if self.kind == "int":
            if float(value) != int(value):
                raise ValueError(f"{self.name} must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.name} must be finite, got {value!r}")
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            unit = f" {self.unit}" if self.unit else ""
            raise ValueError(
                f"{self.name} must be between {self.low:g} and {self.high:g}{unit}; got {value!r}"
            )
        return value


# ------------------------------------------------------------------------- context


@dataclass(frozen=True)
class AttributionContext:
    """What a method may need besides the network and the input tensor.

    Attributes:
        mean: Per-channel mean the input was normalised with (None: the input is
            already in pixel units, 0 = black, 1 = white).
        std: Per-channel standard deviation, likewise.
        layer: Default layer for CAM methods (a module name); None picks the last
            module whose output is a ``(1, C, h, w)`` feature map.
        title: Network name for messages.
    """

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    layer: str | None = None
    title: str = "this network"

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        channels = x.shape[1]
        mean = torch.tensor(self.mean if self.mean is not None else (0.0,) * channels)
        std = torch.tensor(self.std if self.std is not None else (1.0,) * channels)
        if mean.numel() != channels or std.numel() != channels:
            raise ValueError(
                f"context has {mean.numel()} channel means for an input with {channels} channels"
            )
        return mean.view(1, -1, 1, 1).to(x), std.view(1, -1, 1, 1).to(x)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Network input ``(B, C, H, W)`` -> pixel values (0 = black, 1 = white)."""
        mean, std = self._stats(x)
        return x * std + mean

    def to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixel values ``(B, C, H, W)`` -> network input (the inverse of ``to_pixels``)."""
        mean, std = self._stats(pixels)
        return (pixels - mean) / std


# -------------------------------------------------------------------------- method


class Method(ABC):
    """One attribution method. Subclasses set the class attributes and ``compute``.

    Attributes:
        name: Registry key, e.g. ``"gradcam"``.
        title: Human name, e.g. ``"Grad-CAM"``.
        summary: One sentence on what the map shows.
        paper: Link to the paper.
        citation: Authors and year, e.g. ``"Selvaraju et al. 2017"``.
        signed: The map has meaningful signs (red for, blue against the class).
        stochastic: The map depends on random numbers (fixed by a ``seed`` parameter).
        needs_gradients: Runs backward passes.
        needs_baseline: Compares against a reference input (black, blurred, ...).
        params: The parameters, with defaults and ranges.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    paper: ClassVar[str]
    citation: ClassVar[str]
    signed: ClassVar[bool]
    stochastic: ClassVar[bool] = False
    needs_gradients: ClassVar[bool] = True
    needs_baseline: ClassVar[bool] = False
    params: ClassVar[tuple[Param, ...]] = ()

    def defaults(self) -> dict[str, ParamValue]:
        """Parameter name -> default value."""
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, ParamValue]:
        """Fill in defaults and validate.

        Raises:
            TypeError: an unknown parameter name.
            ValueError: a bad value.
        """
        known = {p.name: p for p in self.params}
        unknown = set(params) - set(known)
        if unknown:
            takes = ", ".join(known) or "no parameters"
            raise TypeError(f"{self.name} has no parameter {sorted(unknown)}; it takes: {takes}")
        return {
            name: p.validate(params[name]) if name in params else p.default
            for name, p in known.items()
        }

    def cost(self, params: Mapping[str, Any], size: tuple[int, int]) -> tuple[int, int]:
        """Forward and backward passes (of one image) this method needs.

        The default is one of each, as for a plain gradient; methods that need more
        override it.

        Args:
            params: Resolved parameters.
            size: Input ``(H, W)``.

        Returns:
            ``(forwards, backwards)``; a backward pass costs about two forward passes.
        """
        return 1, 1

    @abstractmethod
    def compute(
        self, run: Attributor, target: int, params: dict[str, Any], progress: Progress | None
    ) -> np.ndarray:
        """The map for one target class.

        Args:
            run: The network, the input and the shared work.
            target: Class index (validated).
            params: Resolved parameters.
            progress: Called with the fraction done (0..1) by methods with many passes.

        Returns:
            Float array ``(H, W)`` at the input's resolution.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def estimated_seconds(forwards: int, backwards: int, forward_seconds: float = 0.02) -> float:
    """Rough run time from a cost (a backward pass ~ two forward passes)."""
    return (forwards + 2 * backwards) * forward_seconds


# ------------------------------------------------------------------------- running

# Images per batch for a 224 x 224 x 3 input (scaled by input size): forward-only passes
# and gradient passes (which keep every activation for the backward pass; ~40 MB per
# EfficientNet-Lite0 image).
FORWARD_BATCH = 8
GRADIENT_BATCH = 8
_REFERENCE_NUMEL = 3 * 224 * 224


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """The fastest memory layout for convolutions on CPU (NHWC, "channels last").

    On this 2-core CPU it makes EfficientNet-Lite0 forward passes about 2x faster; only
    the input is converted (the shared model's weights are never touched).
    """
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


class Attributor:
    """One network and one input, explained by any number of methods.

    Work that several methods need is computed once and shared (see :meth:`shared`).
    An Attributor is used by one thread at a time; the network may be shared by many
    threads (nothing here mutates it, and hooks are scoped and thread-filtered).

    Args:
        net: A classifier in eval mode, ``(B, C, H, W) -> (B, K)`` logits.
        x: One input ``(1, C, H, W)``, already normalised.
        context: Normalisation, default CAM layer; see :class:`AttributionContext`.

    Raises:
        ValueError: ``x`` is not ``(1, C, H, W)`` or the network is in training mode.
    """

    def __init__(
        self, net: nn.Module, x: torch.Tensor, context: AttributionContext | None = None
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
        self._shared: dict[tuple[Any, ...], Any] = {}
        self._owner = threading.get_ident()

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
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

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
        if ("logits",) in self._shared:
            self.check_output(self.logits()[None], 1, int(target))
        return int(target)

    # -- batched passes used by the methods --------------------------------------------

    def batch_size(self, gradients: bool) -> int:
        """Images per batch for this input size."""
        base = GRADIENT_BATCH if gradients else FORWARD_BATCH
        return int(max(1, min(256, base * _REFERENCE_NUMEL // max(1, self.x[0].numel()))))

    def forward_scores(
        self,
        inputs: Iterator[torch.Tensor],
        total: int,
        target: int,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Target logits of many inputs, forward only (inference mode, fast layout, folded
        batch norm).

        Args:
            inputs: Batches ``(b, C, H, W)``.
            total: Total number of images (for the progress callback).
            target: Class index.
            progress: Called with the fraction done after each batch.

        Returns:
            ``(total,)`` target logits.
        """
        scores: list[torch.Tensor] = []
        done = 0
        with torch.inference_mode():
            for batch in inputs:
                out = self.check_output(self.fast_net(fast_layout(batch)), batch.shape[0], target)
                scores.append(out[:, target].float())
                done += batch.shape[0]
                if progress is not None:
                    progress(min(1.0, done / max(1, total)))
        return torch.cat(scores).clone()

    def input_gradients(self, xs: torch.Tensor, target: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient of the target logit w.r.t. each input of a batch (fast layout, folded
        batch norm).

        Args:
            xs: ``(b, C, H, W)``.
            target: Class index.

        Returns:
            ``(grads (b, C, H, W), logits (b,))``.
        """
        with torch.inference_mode(False), torch.enable_grad():
            xs = fast_layout(xs.detach().clone()).requires_grad_(True)
            out = self.check_output(self.fast_net(xs), xs.shape[0], target)
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


def chunks(n: int, size: int) -> list[slice]:
    """``range(n)`` cut into consecutive slices of at most ``size``."""
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def max_abs_over_channels(t: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` -> ``(H, W)``: the largest magnitude over the channels."""
    return t.detach().abs().amax(dim=1)[0].float().cpu().numpy()


def sum_over_channels(t: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` -> ``(H, W)``: signed sum over the channels."""
    return t.detach().sum(dim=1)[0].float().cpu().numpy()
