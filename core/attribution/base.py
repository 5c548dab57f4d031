"""The contract every attribution method follows.

A *method* (a :class:`Method` subclass, one per module) declares what it is (signed map?
stochastic? does it need gradients?), its parameters (:class:`Param`, from which the
page builds its widgets) and its cost, and computes a float ``(H, W)`` map for one
input and one target class. The :class:`~core.attribution.runner.Attributor` runs
methods on one input, sharing work between them.

What a method may need beyond the tensor (the normalisation, to turn the input back
into pixels for LIME superpixels and blurred or black baselines; the default CAM layer;
a progress callback) comes through an :class:`AttributionContext`, never through
``if method == ...`` special cases.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch

from core.attribution.display import DEFAULT_UNIT, SCALINGS, MapScaling
from core.common.query import FALSE, TRUE, parse_bool, parse_float, parse_int

if TYPE_CHECKING:
    from core.attribution.runner import Attributor

ParamValue = int | float | str | bool | None
ParamKind = Literal["int", "float", "choice", "bool", "layer"]
Progress = Callable[[float], None]

# How a parameter's value is spelled as text (command line, URL), in one place.
TRUE_WORDS, FALSE_WORDS = TRUE, FALSE  # the words core.common.query reads as true/false
DEFAULT_LAYER_WORDS = ("", "default", "none")  # a layer parameter's "the model's default"


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
        label: The widget's label (default: the name in words, "Patch" for ``patch``);
            for a name that reads badly as a word (RISE's ``p``: "Keep probability").
        applies_when: ``((other, (values...)), ...)``: the parameter matters only while
            each named earlier parameter has one of the values (LRP's ``epsilon`` only
            with the epsilon rule). A page hides it otherwise and the method runs with
            its default; empty: always.
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
    label: str = ""
    applies_when: tuple[tuple[str, tuple[ParamValue, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.kind in ("int", "float") and (self.low is None or self.high is None):
            raise ValueError(f"number parameter {self.name!r} must declare low and high")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"default of {self.name!r} is not one of its choices")

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether the parameter matters, given the values of the parameters before it.

        Args:
            values: Name -> value of (at least) the parameters ``applies_when`` names.

        Returns:
            True when every condition of ``applies_when`` holds (a name missing from
            ``values`` counts as holding).
        """
        return all(
            name not in values or values[name] in allowed for name, allowed in self.applies_when
        )

    def numeric_range(self) -> tuple[float, float, float]:
        """``(low, high, default)`` of a number parameter (for sliders).

        Raises:
            TypeError: not an ``int`` or ``float`` parameter.
        """
        if self.low is None or self.high is None or not isinstance(self.default, int | float):
            raise TypeError(f"{self.name} is a {self.kind} parameter, not a number")
        return float(self.low), float(self.high), float(self.default)

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

    def parse(self, text: str) -> ParamValue:
        """A value from its text (a command-line option, a URL query), validated.

        Numbers as Python writes them; booleans as one of :data:`TRUE_WORDS` or
        :data:`FALSE_WORDS` (any case); a layer's default as one of
        :data:`DEFAULT_LAYER_WORDS`; choices and layer names as they are.

        Raises:
            ValueError: not a number, not true or false, out of range, not a choice.
        """
        text = text.strip()
        if self.kind == "int":
            return self.validate(parse_int(text, name=self.name))
        if self.kind == "float":
            return self.validate(parse_float(text, name=self.name))
        if self.kind == "bool":
            return parse_bool(text, self.name)
        if self.kind == "layer" and text.lower() in DEFAULT_LAYER_WORDS:
            return None
        return self.validate(text)

    def text(self, value: ParamValue) -> str:
        """A value as text, the way :meth:`parse` reads it back (``true``/``false``,
        ``default`` for a layer's default)."""
        if isinstance(value, bool):
            return TRUE_WORDS[0] if value else FALSE_WORDS[0]
        if value is None:
            return "default"
        return str(value)


class Params(dict[str, Any]):
    """A method's resolved parameters: every declared name, with its validated value.

    Reading a name the method does not declare (a typo in a method's code) raises a
    KeyError that lists the declared names, instead of a bare ``KeyError: 'sampels'``.
    """

    def __init__(self, method: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.method = method

    def __missing__(self, key: str) -> Any:
        raise KeyError(
            f"{self.method} declares no parameter {key!r}; it has: {', '.join(self) or 'none'}"
        )


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


@dataclass(frozen=True)
class InputShape:
    """What a method's cost may depend on besides its parameters.

    Attributes:
        size: Input ``(H, W)``.
        channels: Layer name -> channels of its feature map (Score-CAM runs one pass per
            channel); empty when unknown.
        default_layer: The network's default CAM layer.
    """

    size: tuple[int, int]
    channels: Mapping[str, int] = field(default_factory=dict)
    default_layer: str | None = None

    def layer_channels(self, layer: str | None) -> int | None:
        """Channels of ``layer`` (None: the default layer), or None when unknown."""
        name = layer or self.default_layer
        if name is None and self.channels:
            name = list(self.channels)[-1]  # the last feature map, as CAM methods pick
        return self.channels.get(name) if name is not None else None


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
        needs_gradients: Runs backward passes. False: forward passes only, run without
            autograd (``torch.no_grad``) and on the forward engine where one is used.
        scaling: How the map is scaled for display (applied in one place,
            :mod:`core.attribution.display`): ``"robust"`` (the default, for smooth maps
            such as CAMs: colours from 0, or symmetric around 0 when signed, to the 99th
            percentile of ``|map|``), ``"heavy_tailed"`` (gradients, Integrated
            Gradients, LRP: to the 97th, so that a few extreme pixels do not leave the
            rest transparent) or ``"band"`` (an unsigned map living in a narrow band far
            from zero, RISE's probabilities: its 1st to its 99th percentile).
        unit: What a value of the map is, for colour bars and read-outs, e.g.
            ``"|gradient|"``, ``"logit change"``, ``"relevance"``, ``"probability"``.
        uses_forward_engine: For a forward-only method, whether its passes go to the
            forward engine (False: they run on torch, e.g. with a hook that changes a
            layer's output, or there is no pass beyond the shared ones).
        params: The parameters, with defaults and ranges. Checked when the class is
            defined: unique names, defaults that pass their own validation.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    paper: ClassVar[str]
    citation: ClassVar[str]
    signed: ClassVar[bool]
    stochastic: ClassVar[bool] = False
    needs_gradients: ClassVar[bool] = True
    scaling: ClassVar[MapScaling] = "robust"
    unit: ClassVar[str] = DEFAULT_UNIT
    uses_forward_engine: ClassVar[bool] = True
    params: ClassVar[tuple[Param, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = [p.name for p in cls.params]
        if len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__} declares a parameter twice: {names}")
        if cls.scaling not in SCALINGS or (cls.scaling == "band" and getattr(cls, "signed", False)):
            raise TypeError(f"{cls.__name__}: scaling must be one of {SCALINGS} (band: unsigned)")
        for param in cls.params:
            if param.kind != "layer":
                param.validate(param.default)  # a default outside its own range fails here

    @property
    def on_forward_engine(self) -> bool:
        """True when the method's passes go to the forward engine (forward-only methods
        that declare ``uses_forward_engine``)."""
        return not self.needs_gradients and self.uses_forward_engine

    def defaults(self) -> dict[str, ParamValue]:
        """Parameter name -> default value."""
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Mapping[str, Any]) -> Params:
        """Fill in defaults and validate (every entry point calls this first).

        Raises:
            TypeError: an unknown parameter name (the message lists the declared ones).
            ValueError: a bad value.
        """
        known = {p.name: p for p in self.params}
        unknown = set(params) - set(known)
        if unknown:
            takes = ", ".join(known) or "no parameters"
            raise TypeError(f"{self.name} has no parameter {sorted(unknown)}; it takes: {takes}")
        return Params(
            self.name,
            {
                name: p.validate(params[name]) if name in params else p.default
                for name, p in known.items()
            },
        )

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        """Forward and backward passes (of one image) this method needs.

        The default is one of each, as for a plain gradient; methods that need more
        override it.

        Args:
            params: Resolved parameters.
            shape: The input size and the network's feature-map channels.

        Returns:
            ``(forwards, backwards)``; a backward pass costs about two forward passes.
        """
        return 1, 1

    @abstractmethod
    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
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


# ------------------------------------------------------------------------- helpers

# Images per batch for a 224 x 224 x 3 input (scaled by input size): forward-only passes
# and gradient passes. A gradient pass keeps every activation for the backward pass
# (~70 MB per EfficientNet-Lite0 image): Integrated Gradients' extra peak RSS was +530 MB
# at 8 images, +317 MB at 4 and +174 MB at 2, and 2 was as fast as 4 and faster than 8
# (IG 1.5 s vs 1.8-3.0 s, SmoothGrad 0.8 s vs 1.1 s on the 2-core machine; issue 15).
FORWARD_BATCH = 8
GRADIENT_BATCH = 2
REFERENCE_NUMEL = 3 * 224 * 224


def chunks(n: int, size: int) -> list[slice]:
    """``range(n)`` cut into consecutive slices of at most ``size``."""
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def max_abs_over_channels(t: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` -> ``(H, W)``: the largest magnitude over the channels."""
    return t.detach().abs().amax(dim=1)[0].float().cpu().numpy()


def sum_over_channels(t: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` -> ``(H, W)``: signed sum over the channels."""
    return t.detach().sum(dim=1)[0].float().cpu().numpy()
