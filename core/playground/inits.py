"""The eight weight initialisations of the playground, each defined exactly.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class InitSpec:
    """One weight initialisation.

    Attributes:
        title: Name shown in the UI.
        definition: The distribution, in words and symbols.
        paper: Where it comes from (URL), or "" when it is not from a paper.
        init: ``init(weight, generator)`` fills a ``(fan_out, fan_in)`` weight in place
            (whatever it returns is ignored).
    """

    title: str
    definition: str
    paper: str
    init: Callable[[torch.Tensor, torch.Generator | None], object]


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
