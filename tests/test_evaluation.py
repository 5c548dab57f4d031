"""Can a map be trusted: curves, baselines, the sanity cascade, agreement, pointing game."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core.attribution import METHODS, Method, attributor_for
from core.attribution.base import Params, Progress
from core.common.hooks import count_hooks
from core.common.samples import sample_path
from core.evaluation import (
    agreement,
    box_iou,
    cascade_blocks,
    curve,
    default_step,
    deletion_curve,
    edge_map,
    faithfulness,
    insertion_curve,
    normalised_auc,
    pointing_game,
    random_smooth_map,
    reversed_map,
    sanity_cascade,
    substrate_input,
)
from core.models import ImageModel, load_model

BOX = (slice(6, 14), slice(4, 12))  # rows 6..13, columns 4..11 of a 20 x 24 input


class BoxScore(nn.Module):
    """Class 0's logit is 12 x (mean of the input inside BOX - 0.5); class 1's is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inside = x[:, :, BOX[0], BOX[1]].mean(dim=(1, 2, 3))  # (B,)
        return torch.stack([12 * (inside - 0.5), torch.zeros_like(inside)], dim=1)


def box_input() -> tuple[torch.Tensor, Image.Image]:
    """A textured input (stripes outside the box, flat inside) and its picture."""
    x = torch.ones(1, 3, 20, 24)
    x[:, :, :, ::2] = 0.4  # vertical stripes everywhere...
    x[:, :, BOX[0], BOX[1]] = 1.0  # ...but the box is flat and bright
    picture = Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    return x, picture


def run_curve(heat: np.ndarray, mode: str, **kw) -> float:
    x, _ = box_input()
    net = BoxScore().eval()
    with torch.inference_mode():
        return curve(net, x, heat, 0, mode, **kw).auc  # type: ignore[arg-type]


def test_a_map_that_ranks_the_deciding_pixels_first_beats_every_baseline() -> None:
    x, picture = box_input()
    truth = np.zeros((20, 24), dtype=np.float32)
    truth[BOX] = 1.0
    truth += np.linspace(0, 0.01, 20 * 24).reshape(20, 24)  # no ties
    baselines = {
        "random": random_smooth_map((20, 24), seed=1),
        "reversed": reversed_map(truth),
        "edges": edge_map(picture),
    }
    for mode in ("deletion", "insertion"):
        ours = run_curve(truth, mode, substrate="zero")
        for name, heat in baselines.items():
            theirs = run_curve(heat, mode, substrate="zero")
            if mode == "deletion":
                assert ours < theirs, (name, ours, theirs)
            else:
                assert ours > theirs, (name, ours, theirs)


def test_auc_is_the_trapezoid_of_the_hand_computed_curve() -> None:
    assert normalised_auc(np.array([1.0, 0.5, 0.0])) == pytest.approx(0.5)
    assert normalised_auc(np.array([0.2, 0.4, 0.4, 1.0])) == pytest.approx(
        np.trapezoid([0.2, 0.4, 0.4, 1.0], dx=1 / 3)
    )

    class CountKept(nn.Module):
        """p(class 0) = sigmoid(logit) with logit = 4 x (kept pixels / all) - 2."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            kept = x.flatten(1).mean(dim=1)  # 1 = pixel kept, 0 = deleted
            return torch.stack([4 * kept - 2, torch.zeros_like(kept)], dim=1)

    x = torch.ones(1, 1, 4, 5)  # 20 pixels, 5 per step -> 5 points
    heat = np.arange(20, dtype=np.float32).reshape(4, 5)
    got = curve(CountKept(), x, heat, 0, "deletion", substrate="zero", step=5)
    fractions = np.array([0, 0.25, 0.5, 0.75, 1.0])
    expected = 1 / (1 + np.exp(-(4 * (1 - fractions) - 2)))
    np.testing.assert_allclose(got.fractions, fractions)
    np.testing.assert_allclose(got.probabilities, expected, rtol=1e-6)
    assert got.auc == pytest.approx(np.trapezoid(expected, fractions))
    fractions_, probabilities, auc = got  # unpacks as a tuple
    assert auc == got.auc


def test_defaults_follow_the_rise_code() -> None:
    assert default_step((224, 224)) == 224 * 8
    assert -(-299 * 299 // default_step((299, 299))) == 28  # 28 steps at any size
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(substrate_input(x, "zero"), torch.zeros_like(x))
    blurred = substrate_input(x, "blur")
    assert blurred.shape == x.shape
    assert float(blurred.std()) < float(x.std())
    mean = substrate_input(x, "mean")
    torch.testing.assert_close(mean[0, :, 5, 7], x[0].mean(dim=(1, 2)))
    with pytest.raises(ValueError, match="substrate must be one of"):
        substrate_input(x, "noise")
    with pytest.raises(ValueError, match="the map is"):
        curve(BoxScore(), x, np.zeros((3, 3)), 0, "deletion")


def test_pointing_game_and_box_iou() -> None:
    heat = np.zeros((10, 10))
    heat[2:4, 3:6] = 1.0
    assert pointing_game(heat, [(3, 2, 6, 4)]) == 1.0  # (x0, y0, x1, y1)
    assert pointing_game(heat, [(7, 7, 10, 10)]) == 0.0
    assert pointing_game(heat, [(3, 2, 6, 3), (0, 0, 1, 1)]) == pytest.approx(0.5)
    assert pointing_game(-heat, [(3, 2, 6, 4)]) == 0.0  # no positive mass
    assert box_iou(heat, [(3, 2, 6, 4)], percent=6) == 1.0  # the top 6 pixels = the box


def test_agreement_of_identical_reversed_and_unrelated_maps() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((16, 16))
    result = agreement({"a": a, "same": a.copy(), "reversed": -a, "other": rng.random((16, 16))})
    assert result.names == ("a", "same", "reversed", "other")
    assert result.spearman[0, 1] == pytest.approx(1.0)
    assert result.spearman[0, 2] == pytest.approx(-1.0)
    assert abs(result.spearman[0, 3]) < 0.2
    assert result.top_iou[0, 1] == 1.0
    assert result.top_iou[0, 2] == 0.0
    np.testing.assert_allclose(np.diag(result.spearman), 1.0)
    with pytest.raises(ValueError, match="different shapes"):
        agreement({"a": a, "b": a[:8]})


@pytest.fixture(scope="module")
def lite0() -> ImageModel:
    return load_model("efficientnet_lite0")


class EdgeFilter(Method):
    """An 'explanation' that never looks at the model: the image's edges."""

    name = "edge_filter"
    title = summary = paper = citation = "edge filter (test)"
    signed = False

    def compute(self, run, target: int, params: Params, progress: Progress | None) -> np.ndarray:
        grey = run.x[0].mean(dim=0).numpy()
        from skimage.filters import sobel

        return sobel(grey)


def test_sanity_cascade_edges_survive_saliency_does_not_and_the_model_is_untouched(
    lite0: ImageModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(METHODS, "edge_filter", EdgeFilter())
    cat = Image.open(sample_path("cat.jpg"))
    before = {k: v.clone() for k, v in lite0.net.state_dict().items()}
    flags = [p.requires_grad for p in lite0.net.parameters()]
    hooks = count_hooks(lite0.net)
    blocks = cascade_blocks(lite0.net)
    assert blocks[0] == "classifier"
    assert blocks[-1] == "stem"
    assert "blocks.15" in blocks
    edges = sanity_cascade(lite0, cat, "edge_filter", 285)
    saliency = sanity_cascade(lite0, cat, "saliency", 285)
    assert len(edges.steps) == len(blocks) + 1
    assert edges.steps[-1].layers == tuple(blocks)
    for step in edges.steps:
        assert step.similarity.spearman_abs > 0.999
        assert step.similarity.ssim > 0.999
    last = saliency.steps[-1].similarity
    assert last.spearman_abs < 0.5
    assert last.hog < 0.8
    # the cached model: same weights, same flags, no hook
    after = lite0.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [p.requires_grad for p in lite0.net.parameters()] == flags
    assert count_hooks(lite0.net) == hooks


def test_public_curves_on_a_real_model(lite0: ImageModel) -> None:
    cat = Image.open(sample_path("cat.jpg"))
    heat = attributor_for(lite0, cat).attribute("gradcam", 285).heatmap
    deletion = deletion_curve(lite0, cat, heat, 285)
    insertion = insertion_curve(lite0, cat, heat, 285)
    assert deletion.fractions[0] == 0.0
    assert deletion.fractions[-1] == 1.0
    assert len(deletion.probabilities) == 29
    start = float(lite0.net(lite0.preprocess(cat)).softmax(1)[0, 285])
    assert deletion.probabilities[0] == pytest.approx(start, abs=1e-4)
    assert insertion.probabilities[-1] == pytest.approx(start, abs=1e-4)
    table = faithfulness(lite0, cat, {"gradcam": heat}, 285)
    names = [row.name for row in table.rows]
    assert sorted(names) == sorted(
        ["gradcam", "gradcam reversed", "random (smooth, 7 x 7)", "edges (Sobel, image only)"]
    )
    assert table.row("gradcam").deletion.auc == pytest.approx(deletion.auc, abs=1e-6)
    assert [r.score for r in table.rows] == sorted((r.score for r in table.rows), reverse=True)


# ------------------------------------------------- RISE's own evaluation code, verbatim
# From https://github.com/eclique/RISE (MIT licence): evaluation.py's ``gkern``, ``auc``
# and ``CausalMetric.single_run``, and Evaluation.ipynb's blur, with only the ``.cuda()``
# calls, the plots and the class-name printing taken out. HW is its 224 x 224.

HW = 224 * 224


def gkern(klen: int, nsig: float) -> torch.Tensor:
    from scipy.ndimage import gaussian_filter

    inp = np.zeros((klen, klen))
    inp[klen // 2, klen // 2] = 1
    k = gaussian_filter(inp, nsig)
    kern = np.zeros((3, 3, klen, klen))
    kern[0, 0] = k
    kern[1, 1] = k
    kern[2, 2] = k
    return torch.from_numpy(kern.astype("float32"))


def rise_auc(arr: np.ndarray) -> float:
    return float((arr.sum() - arr[0] / 2 - arr[-1] / 2) / (arr.shape[0] - 1))


class CausalMetric:
    def __init__(self, model, mode, step, substrate_fn):  # type: ignore[no-untyped-def]
        assert mode in ["del", "ins"]
        self.model = model
        self.mode = mode
        self.step = step
        self.substrate_fn = substrate_fn

    def single_run(self, img_tensor, explanation):  # type: ignore[no-untyped-def]
        pred = self.model(img_tensor)
        top, c = torch.max(pred, 1)
        c = c.cpu().numpy()[0]
        n_steps = (HW + self.step - 1) // self.step
        if self.mode == "del":
            start = img_tensor.clone()
            finish = self.substrate_fn(img_tensor)
        elif self.mode == "ins":
            start = self.substrate_fn(img_tensor)
            finish = img_tensor.clone()
        scores = np.empty(n_steps + 1)
        salient_order = np.flip(np.argsort(explanation.reshape(-1, HW), axis=1), axis=-1)
        for i in range(n_steps + 1):
            pred = self.model(start)
            scores[i] = pred[0, c]
            if i < n_steps:
                coords = salient_order[:, self.step * i : self.step * (i + 1)]
                start.cpu().numpy().reshape(1, 3, HW)[0, :, coords] = (
                    finish.cpu().numpy().reshape(1, 3, HW)[0, :, coords]
                )
        return scores


def test_deletion_and_insertion_equal_rise_evaluation_code(lite0: ImageModel) -> None:
    """Our default curves are RISE's: the same points and AUCs, up to the float rounding
    of batched passes (ours run 8 images a pass, RISE's one)."""
    cat = Image.open(sample_path("cat.jpg"))
    x = lite0.preprocess(cat)
    target = int(lite0.net(x).argmax())
    heat = attributor_for(lite0, cat).attribute("gradcam", target).heatmap
    heat = heat + np.linspace(0, 1e-6, heat.size).reshape(heat.shape)  # no ties
    softmax = nn.Sequential(lite0.net, nn.Softmax(dim=1)).eval()
    kern = gkern(11, 5)
    substrates = {"del": torch.zeros_like, "ins": lambda t: F.conv2d(t, kern, padding=11 // 2)}
    for ours_mode, theirs_mode in (("deletion", "del"), ("insertion", "ins")):
        metric = CausalMetric(softmax, theirs_mode, 224 * 8, substrates[theirs_mode])
        with torch.no_grad():
            theirs = metric.single_run(x.clone(), heat)
            ours = curve(lite0.net, x, heat, target, ours_mode)  # type: ignore[arg-type]
        np.testing.assert_allclose(ours.probabilities, theirs, atol=2e-6)
        assert ours.auc == pytest.approx(rise_auc(theirs), abs=1e-6)
    # The reflect-padded blur is still there, and is not RISE's.
    with torch.no_grad():
        reflect = curve(lite0.net, x, heat, target, "insertion", substrate="blur_reflect")
    assert torch.allclose(substrate_input(x, "blur"), substrates["ins"](x), atol=1e-6)
    assert not torch.allclose(substrate_input(x, "blur_reflect"), substrates["ins"](x), atol=1e-3)
    assert reflect.auc != pytest.approx(rise_auc(theirs), abs=1e-6)


def test_top_pixels_are_the_displays_ties_kept_and_positive_only() -> None:
    """One rule for "the top 10%" on the page and in the agreement metrics: a plateau
    that straddles the threshold is kept whole (no pixel picked by its position), and
    pixels at zero or below never count."""
    heat = np.zeros((10, 10))
    heat[0, :6] = 2.0  # 6 pixels, the best
    heat[5:7, :] = 1.0  # a plateau of 20: the top 10% would cut it after 4 pixels
    agree = agreement({"a": heat, "b": heat[:, ::-1].copy()})  # the same map, mirrored
    top = box_iou(heat, [(0, 5, 10, 7)], percent=10)  # the plateau's box
    assert top == pytest.approx(20 / 26)  # the 26 kept pixels: 6 best and the whole plateau
    assert agree.top_iou[0, 1] == pytest.approx(22 / 30)  # 2 of the mirrored best 6 meet
    assert box_iou(-heat, [(0, 0, 10, 10)]) == 0.0  # no evidence for the class: no top pixel
