"""The engine's contract: registry, parameters, targets, image-level API, hooks, threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.attribution import (
    DEFAULT_METHODS,
    METHODS,
    AttributionContext,
    Attributor,
    InputShape,
    Method,
    MethodNotApplicable,
    Param,
    attribute,
    attributor_for,
    by_cost,
    context_for,
    explain,
    feature_map_layers,
)
from core.common.hooks import count_hooks, forward_hooks
from core.common.samples import sample_path
from core.models import ImageModel, load_model
from tests.explain_nets import DigitsNet, digit_input

REQUIRED = {
    "saliency", "deconvnet", "guided_backprop", "gradcam", "gradcam++", "guided_gradcam",
    "integrated_gradients", "smoothgrad", "occlusion", "lime", "lrp", "scorecam", "rise",
    "layercam", "xgradcam", "hirescam", "eigencam", "ablationcam", "input_x_gradient",
    "gradient_shap", "kernel_shap",
}  # fmt: skip

SEED_LIKE = Param("seed", 0, "Seed.", "int", 0, 10, 1)

# Cheap settings for every method (tests only).
CHEAP = {
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"samples": 2},
    "occlusion": {"patch": 64, "stride": 64},
    "lime": {"samples": 50, "superpixels": 10},
    "kernel_shap": {"samples": 50, "superpixels": 10},
    "gradient_shap": {"samples": 2},
    "rise": {"masks": 50},
    "scorecam": {"layer": "blocks.14"},  # 192 channels (the default layer has 1,280)
}


@pytest.fixture(scope="module")
def model() -> ImageModel:
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return Image.open(sample_path("cat.jpg"))


def test_registry_declares_everything_the_page_needs() -> None:
    assert set(METHODS) >= REQUIRED
    assert set(DEFAULT_METHODS) <= set(METHODS)
    for name, method in METHODS.items():
        assert method.name == name
        assert method.title
        assert method.summary
        assert method.paper.startswith("https://")
        assert isinstance(method.signed, bool)
        assert isinstance(method.stochastic, bool)
        for param in method.params:
            assert isinstance(param, Param)
            assert param.help
            assert param.validate(param.default) == param.default
        if method.stochastic:
            assert "seed" in method.defaults()
        forwards, backwards = method.cost(method.defaults(), InputShape((224, 224)))
        assert forwards >= 1
        assert backwards >= 0
    assert METHODS["integrated_gradients"].signed
    assert METHODS["lrp"].signed
    assert not METHODS["saliency"].signed
    assert METHODS["lime"].stochastic
    assert METHODS["occlusion"].cost(
        {"patch": 32, "stride": 16, "fill": "mean"}, InputShape((224, 224))
    ) == (
        170,
        0,
    )
    assert [p.unit for p in METHODS["occlusion"].params[:2]] == ["input pixels"] * 2


def test_cheap_methods_are_ordered_first() -> None:
    order = [name for name, _ in by_cost({name: {} for name in METHODS}, InputShape((224, 224)))]
    assert order.index("gradcam") < order.index("integrated_gradients") < order.index("lime")
    # one pass per channel, sample or mask
    assert order[-4:] == ["scorecam", "lime", "kernel_shap", "rise"]


def test_bad_parameters_and_targets_get_clear_errors() -> None:
    net, x = DigitsNet(), digit_input()
    with pytest.raises(TypeError, match="no parameter"):
        attribute(net, x, "gradcam", 0, steps=3)
    with pytest.raises(ValueError, match="between"):
        attribute(net, x, "integrated_gradients", 0, steps=0)
    with pytest.raises(ValueError, match="one of"):
        attribute(net, x, "lrp", 0, rule="gamma")
    with pytest.raises(ValueError, match="whole number"):
        attribute(net, x, "occlusion", 0, patch=2.5)
    with pytest.raises(ValueError, match="out of range"):
        attribute(net, x, "saliency", 10)
    with pytest.raises(ValueError, match="unknown method"):
        attribute(net, x, "shap", 0)
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        attribute(net, x[0], "saliency", 0)
    with pytest.raises(ValueError, match="no layer called"):
        attribute(net, x, "gradcam", 0, layer="nope")
    training = DigitsNet().train()
    with pytest.raises(ValueError, match="training mode"):
        attribute(training, x, "saliency", 0)


def test_declarations_are_checked_when_a_method_is_defined() -> None:
    with pytest.raises(TypeError, match="twice"):

        class Twice(Method):  # pragma: no cover - the class statement itself fails
            name = title = summary = paper = citation = "twice"
            signed = False
            params = (SEED_LIKE, SEED_LIKE)

            def compute(self, run, target, params, progress):
                raise AssertionError

    with pytest.raises(ValueError, match="between"):

        class OutOfRange(Method):  # pragma: no cover
            name = title = summary = paper = citation = "out"
            signed = False
            params = (Param("steps", 0, "Steps.", "int", 1, 10, 1),)

            def compute(self, run, target, params, progress):
                raise AssertionError


def test_a_typo_in_a_methods_own_code_names_the_declared_parameters() -> None:
    resolved = METHODS["smoothgrad"].resolve({"samples": 3})
    assert resolved["samples"] == 3
    assert resolved["noise"] == METHODS["smoothgrad"].defaults()["noise"]
    with pytest.raises(KeyError, match="declares no parameter 'sampels'; it has: samples"):
        resolved["sampels"]


def test_forward_only_methods_run_without_autograd() -> None:
    seen: dict[str, bool] = {}

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.setdefault("grad", torch.is_grad_enabled())
            return DigitsNet()(x)

    assert not METHODS["occlusion"].needs_gradients
    run = Attributor(Probe().eval(), digit_input(), engine="torch")
    run.attribute("occlusion", 0, patch=14, stride=14)
    assert seen["grad"] is False


def test_target_none_means_top1_and_maps_are_float_at_input_size() -> None:
    net, x = DigitsNet(), digit_input()
    top1 = int(net(x).argmax())
    for name in ("saliency", "gradcam", "lrp"):
        default = attribute(net, x, name)
        np.testing.assert_array_equal(default, attribute(net, x, name, top1))
        assert default.shape == (28, 28)
        assert default.dtype == np.float32


def test_explain_is_preprocess_plus_attribute(model: ImageModel, cat: Image.Image) -> None:
    heat = explain(model, cat, "gradcam", 285)
    assert heat.shape == model.input_size
    same = attribute(model.net, model.preprocess(cat), "gradcam", 285, context=context_for(model))
    np.testing.assert_array_equal(heat, same)
    # CAM's default layer is the model's target_layer ("head"), the last feature map.
    layers = feature_map_layers(model.net, model.preprocess(cat))
    assert layers[-1][0] == model.target_layer == "head"
    assert layers[-1][1] == (1, 1280, 7, 7)
    earlier = explain(model, cat, "gradcam", 285, layer="blocks.10")
    assert not np.allclose(earlier, heat)


def test_no_hook_is_left_after_any_method_or_error(model: ImageModel, cat: Image.Image) -> None:
    before = count_hooks(model.net)
    run = attributor_for(model, cat)
    for name in METHODS:
        run.attribute(name, 285, **CHEAP.get(name, {}))
        assert count_hooks(model.net) == before, name
    # Errors raised inside the forward pass (in a hook, in the interception mode).
    with pytest.raises(MethodNotApplicable, match="not a \\(1, C, h, w\\) feature map"):
        run.attribute("gradcam", 285, layer="classifier")
    assert count_hooks(model.net) == before
    silu = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    for name in ("guided_backprop", "lrp"):
        with pytest.raises(MethodNotApplicable):
            attribute(silu.eval(), torch.rand(1, 3, 8, 8), name, 0)
    assert torch._C._len_torch_function_stack() == 0  # no interception mode left active
    assert count_hooks(model.net) == before


def test_two_threads_get_exactly_the_single_thread_answers(
    model: ImageModel, cat: Image.Image
) -> None:
    """Pairs of different methods run at the same moment on the shared model."""
    pairs = [
        ("gradcam", "guided_backprop"),
        ("lrp", "saliency"),
        ("deconvnet", "gradcam++"),
        ("lime", "smoothgrad"),
        ("occlusion", "integrated_gradients"),
        ("ablationcam", "layercam"),  # a hook replacing a layer's output vs the capture
        ("kernel_shap", "gradient_shap"),
        ("eigencam", "input_x_gradient"),
    ]
    x = torch.nn.functional.interpolate(model.preprocess(cat), size=(128, 128), mode="bilinear")
    context = context_for(model)

    def compute(name: str) -> np.ndarray:
        return Attributor(model.net, x, context).attribute(name, 285, **CHEAP.get(name, {})).heatmap

    alone = {name: compute(name) for pair in pairs for name in pair}
    for pair in pairs:
        barrier = threading.Barrier(2, timeout=30)
        results: dict[str, np.ndarray] = {}
        errors: list[BaseException] = []

        def work(name: str, results=results, errors=errors, barrier=barrier) -> None:
            try:
                barrier.wait()
                results[name] = compute(name)
            except BaseException as err:  # reported below
                errors.append(err)

        threads = [threading.Thread(target=work, args=(name,)) for name in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for name in pair:
            np.testing.assert_array_equal(results[name], alone[name], err_msg=name)


def test_work_is_shared_between_methods(model: ImageModel, cat: Image.Image) -> None:
    run = attributor_for(model, cat)
    run.attribute("gradcam", 285)
    run.attribute("guided_backprop", 285)
    calls = []
    forward = model.net.forward

    def counting_forward(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return forward(x)

    # Guided Grad-CAM and Grad-CAM++ reuse the CAM pass and guided map: no forward pass.
    shadow = Attributor(model.net, run.x, run.context)
    shadow._shared = run._shared
    shadow.net = _Wrapper(counting_forward)
    shadow.attribute("guided_gradcam", 285)
    shadow.attribute("gradcam++", 285)
    assert calls == []


def test_every_cam_method_of_a_panel_shares_one_capture_of_the_layer(
    model: ImageModel, cat: Image.Image
) -> None:
    """The layer runs once for the whole CAM family, gradient-weighted or not (Score-CAM's
    masked images go through the forward engine, not through the layer's module)."""
    run = attributor_for(model, cat)
    run.forward_engine()  # built first: its check runs the network once
    layer = model.module("blocks.14")
    calls: list[int] = []
    cams = ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam", "scorecam")
    with forward_hooks([(layer, lambda *_: calls.append(1))]):
        maps = {name: run.attribute(name, 285, layer="blocks.14").heatmap for name in cams}
    assert len(calls) == 1
    assert all(heat.max() > 0 for heat in maps.values())
    assert count_hooks(model.net) == 0


class _Wrapper(nn.Module):
    def __init__(self, forward) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self._forward = forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x)


def test_context_converts_between_pixels_and_input() -> None:
    context = AttributionContext(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    pixels = torch.rand(1, 3, 5, 5)
    torch.testing.assert_close(context.to_pixels(context.to_input(pixels)), pixels)
    assert torch.allclose(
        context.to_input(torch.zeros(1, 3, 1, 1)).flatten(), torch.tensor([-2.5, -1.6, -0.6])
    )
    plain = AttributionContext()
    assert torch.equal(plain.to_input(pixels), pixels)
