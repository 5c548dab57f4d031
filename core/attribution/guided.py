"""Guided backpropagation and DeconvNet: the gradient with the ReLUs' backward rewritten.

Our own code, not Captum's ``GuidedBackprop``/``Deconvolution``: those hook ``nn.ReLU``
modules only, so on ``nn.ReLU6`` (our default EfficientNet-Lite0) or functional
activations they silently return the plain gradient. Here every ReLU-type call of the
forward pass is caught by :class:`core.attribution.ops.Interceptor` (module or
functional, reused modules and in-place variants included), and any operation without a
known rule (SiLU, sigmoid gates, ...) makes the method say it does not apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from core.attribution.base import (
    Method,
    MethodNotApplicable,
    Params,
    Progress,
    max_abs_over_channels,
)
from core.attribution.ops import Interceptor, rectifier_rule
from core.common.layout import fast_layout
from core.common.networks import PerNetwork, same_logits

if TYPE_CHECKING:
    from core.attribution.runner import Attributor


# (network, input shape, method) -> whether its rewritten forward pass gave the logits
_VERIFIED: PerNetwork[bool] = PerNetwork()


def check_same_logits(run: Attributor, out: torch.Tensor, what: str) -> None:
    """The rewritten forward pass must compute what the network computes.

    Checked for real once per network, input shape and method (the plain logits are
    computed for it if this input has none yet; one forward pass), then remembered:
    the rewritten operations compute the same values by construction (tested), so this
    guards against code the interception cannot follow (a custom function it does not
    see, a forward pass that behaves differently under the interception). Raises
    instead of returning a wrong map, for every later input too.
    """
    key = (tuple(run.x.shape), what)
    if not _VERIFIED.get(run.net, key, lambda: same_logits(run.logits(), out.detach()[0])):
        raise MethodNotApplicable(
            f"{what}: the network's forward pass does not give the same output when its "
            "activations are rewritten, so this model is not supported"
        )


def modified_gradient(run: Attributor, target: int, backward: str, what: str) -> torch.Tensor:
    """d logit / d input with every ReLU-type backward replaced (shared between methods).

    Args:
        run: Network and input.
        target: Class index.
        backward: ``"guided"`` or ``"deconvnet"``.
        what: Method title for messages.

    Returns:
        ``(1, C, H, W)``.
    """

    def compute() -> torch.Tensor:
        with torch.inference_mode(False), torch.enable_grad():
            x = fast_layout(run.x.clone()).requires_grad_(True)
            with Interceptor(what, {"rectifier": rectifier_rule(backward)}, [x]):
                out = run.net(x)  # (1, K)
            run.check_output(out, 1, target)
            check_same_logits(run, out, what)
            (grad,) = torch.autograd.grad(out[0, target], x)
        return grad.detach().contiguous()

    return run.shared(("modified_gradient", backward, target), compute)


class GuidedBackprop(Method):
    """Gradient where each ReLU passes back only positive signal, and only where it was
    active in the forward pass: sharp, image-like maps of the evidence.

    Springenberg et al. 2015, https://arxiv.org/abs/1412.6806
    """

    name = "guided_backprop"
    title = "Guided backprop"
    summary = "Gradient with negative signals stopped at every ReLU: sharp edges of the evidence."
    paper = "https://arxiv.org/abs/1412.6806"
    citation = "Springenberg et al. 2015"
    signed = False
    unit = "|guided gradient|"
    scaling = "heavy_tailed"

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        return guided_map(run, target)


def guided_map(run: Attributor, target: int) -> np.ndarray:
    """Guided backprop ``(H, W)`` map (max |.| over channels), shared with guided Grad-CAM."""
    return run.shared(
        ("guided_map", target),
        lambda: max_abs_over_channels(
            modified_gradient(run, target, "guided", GuidedBackprop.title)
        ),
    )


class DeconvNet(Method):
    """Backward pass that rectifies the signal at each ReLU regardless of the forward
    pass (a "deconvolution" of the class score).

    Zeiler & Fergus 2014, https://arxiv.org/abs/1311.2901
    """

    name = "deconvnet"
    title = "DeconvNet"
    summary = "Class signal projected back with ReLUs applied on the way down."
    paper = "https://arxiv.org/abs/1311.2901"
    citation = "Zeiler & Fergus 2014"
    signed = False
    unit = "|DeconvNet signal|"
    scaling = "heavy_tailed"

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        return max_abs_over_channels(modified_gradient(run, target, "deconvnet", self.title))
