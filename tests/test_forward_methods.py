"""Score-CAM and RISE: the two forward-only methods the engine makes practical."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_grad_cam import ScoreCAM as ReferenceScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from core.attribution import METHODS, Attributor, InputShape, attribute, attributor_for
from core.attribution.rise import rise_masks
from core.common.hooks import count_hooks
from core.common.samples import sample_path
from core.models import load_model
from core.models.engine import ONNX_RUNTIME

BOX = (4, 10, 6, 14)  # rows 4..9, columns 6..13 of a 16 x 20 input


class BoxMean(nn.Module):
    """Class 0's logit grows with the mean of the input inside BOX (8 x (mean - 0.5), so
    that its probability is far from saturation); class 1's is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0, y1, x0, x1 = BOX
        inside = x[:, :, y0:y1, x0:x1].mean(dim=(1, 2, 3))  # (B,)
        return torch.stack([8 * (inside - 0.5), torch.zeros_like(inside)], dim=1)  # (B, 2)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize(
    ("model_name", "layer", "pretrained"),
    [("efficientnet_lite0", "blocks.14", True), ("resnet18", "layer3", False)],
)
def test_scorecam_equals_pytorch_grad_cam(model_name: str, layer: str, pretrained: bool) -> None:
    torch.manual_seed(0)
    model = load_model(model_name, pretrained=pretrained)
    image = Image.open(sample_path("cat.jpg"))
    run = attributor_for(model, image)
    ours = run.attribute("scorecam", 285, layer=layer)
    assert ours.engine == ONNX_RUNTIME
    reference = ReferenceScoreCAM(model.net, [model.module(layer)])
    reference.batch_size = 32
    try:
        theirs = reference(model.preprocess(image), [ClassifierOutputTarget(285)])[0]
    finally:
        reference.activations_and_grads.release()
    assert correlation(ours.heatmap, theirs) >= 0.999
    assert count_hooks(model.net) == 0


def test_scorecam_cost_is_one_pass_per_channel() -> None:
    shape = InputShape((224, 224), {"head": 1280, "blocks.15": 320}, "head")
    assert METHODS["scorecam"].cost({"layer": None}, shape) == (1281, 0)
    assert METHODS["scorecam"].cost({"layer": "blocks.15"}, shape) == (321, 0)


def test_rise_map_is_highest_inside_the_box_that_decides() -> None:
    x = torch.ones(1, 1, 16, 20)
    heat = attribute(BoxMean().eval(), x, "rise", 0, masks=2000, grid=8, p=0.5, seed=3)
    y0, y1, x0, x1 = BOX
    inside = np.zeros(heat.shape, dtype=bool)
    inside[y0:y1, x0:x1] = True
    assert inside[np.unravel_index(heat.argmax(), heat.shape)]
    assert heat[inside].mean() > heat[~inside].mean() + 0.05
    # the box's worth of highest pixels is mostly the box (the masks are smooth, so its
    # edge blurs a little)
    top = heat >= np.sort(heat.ravel())[-int(inside.sum())]
    assert (top & inside).sum() / (top | inside).sum() > 0.6


def test_rise_is_deterministic_given_its_seed() -> None:
    x = torch.rand(1, 1, 16, 20, generator=torch.Generator().manual_seed(0))
    run = Attributor(BoxMean().eval(), x)
    first = run.attribute("rise", 0, masks=200, seed=7).heatmap
    again = Attributor(BoxMean().eval(), x).attribute("rise", 0, masks=200, seed=7).heatmap
    other = run.attribute("rise", 0, masks=200, seed=8).heatmap
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_rise_masks_are_smooth_shifted_and_keep_p_of_the_input() -> None:
    parts = list(rise_masks(300, grid=5, keep=0.3, size=(40, 36), seed=1))
    masks = torch.cat([m for _, m in parts])  # (300, 1, 40, 36)
    assert masks.shape == (300, 1, 40, 36)
    assert float(masks.min()) >= 0.0
    assert float(masks.max()) <= 1.0
    assert abs(float(masks.mean()) - 0.3) < 0.03
    assert [p.start for p, _ in parts] == [0, 64, 128, 192, 256]
    # bilinear upsampling: most pixels are between 0 and 1, not a hard binary grid
    assert float(((masks > 0.01) & (masks < 0.99)).float().mean()) > 0.3
    # random shifts: the masks are not all aligned to one grid
    assert not torch.equal(masks[0, 0, :8], masks[1, 0, :8])
