"""The registry of attribution methods (:data:`METHODS`) and the page's defaults.

Adding a method = one module with a :class:`~core.attribution.base.Method` subclass and
one line in :data:`METHODS`.
"""

from __future__ import annotations

from core.attribution.base import Method
from core.attribution.cam_forward import AblationCAM, EigenCAM, ScoreCAM
from core.attribution.cam_gradients import (
    GradCAM,
    GradCAMPlusPlus,
    GuidedGradCAM,
    HiResCAM,
    LayerCAM,
    XGradCAM,
)
from core.attribution.gradients import (
    GradientSHAP,
    InputXGradient,
    IntegratedGradients,
    Saliency,
    SmoothGrad,
)
from core.attribution.guided import DeconvNet, GuidedBackprop
from core.attribution.lrp import LRP
from core.attribution.perturbation import KernelSHAP, Lime, Occlusion
from core.attribution.rise import RISE

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Saliency(),
        InputXGradient(),
        DeconvNet(),
        GuidedBackprop(),
        GradCAM(),
        GradCAMPlusPlus(),
        XGradCAM(),
        LayerCAM(),
        HiResCAM(),
        EigenCAM(),
        GuidedGradCAM(),
        IntegratedGradients(),
        SmoothGrad(),
        GradientSHAP(),
        Occlusion(),
        Lime(),
        KernelSHAP(),
        LRP(),
        AblationCAM(),
        ScoreCAM(),
        RISE(),
    )
}

# The page's default selection: the fast ones plus Integrated Gradients.
DEFAULT_METHODS: tuple[str, ...] = (
    "gradcam",
    "gradcam++",
    "saliency",
    "guided_backprop",
    "guided_gradcam",
    "integrated_gradients",
)


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    Raises:
        ValueError: unknown name (the message lists the registered ones).
    """
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; registered: {', '.join(METHODS)}") from None
