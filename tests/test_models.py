"""The model registry: the offline default really classifies, the zoo fails cleanly."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from PIL import Image

from core import models
from core.common.hooks import count_hooks
from core.common.samples import SAMPLES, sample_path
from core.models import (
    DEFAULT_MODEL,
    ModelUnavailable,
    classify,
    list_models,
    load_model,
)
from core.models.lite0 import EfficientNetLite0, _efficientnet_lite0_package

ZOO = [
    "resnet18",
    "resnet50",
    "vgg16",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "inception_v3",
    "alexnet",
]


@pytest.fixture(scope="module")
def lite0():
    return load_model(DEFAULT_MODEL)


def test_registry_lists_default_first_and_every_zoo_model():
    names = list_models()
    assert names[0] == DEFAULT_MODEL
    assert set(names) == {DEFAULT_MODEL, "efficientnet_lite1", "efficientnet_lite2", *ZOO}


def test_default_model_is_ready_to_use(lite0):
    assert not lite0.net.training
    assert all(not p.requires_grad for p in lite0.net.parameters())
    assert len(lite0.labels) == 1000
    assert lite0.labels[285] == "Egyptian cat"
    assert lite0.input_size == (224, 224)
    x = lite0.preprocess(Image.open(sample_path("cat.jpg")))
    assert x.shape == (1, 3, 224, 224)
    # TensorFlow's Lite pipeline maps pixels to [-1, 1] (x - 127) / 128.
    assert float(x.min()) >= -1.0
    assert float(x.max()) <= 1.0 + 1e-6


def test_target_layer_is_the_last_conv_block(lite0):
    layer = lite0.module(lite0.target_layer)
    with torch.no_grad():
        features = layer(lite0.net.blocks(lite0.net.stem(torch.zeros(1, 3, 224, 224))))
    assert features.shape == (1, 1280, 7, 7)
    assert isinstance(layer[0], torch.nn.Conv2d)


def test_regrouped_lite0_equals_the_package_forward():
    base = _efficientnet_lite0_package(pretrained=False)
    wrapped = EfficientNetLite0(base).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(base(x), wrapped(x))


@pytest.mark.parametrize(
    ("sample", "acceptable_top1"),
    [
        ("cat.jpg", {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}),
        ("espresso.jpg", {"espresso"}),
        ("camera_tripod.jpg", {"tripod"}),
        ("rocket.jpg", {"missile", "projectile", "space shuttle"}),
    ],
)
def test_default_model_classifies_the_samples_sensibly(lite0, sample, acceptable_top1):
    top = classify(lite0, Image.open(sample_path(sample)), k=5)
    assert top[0].label in acceptable_top1, [p.label for p in top]
    assert top[0].probability > 0.2
    assert [p.probability for p in top] == sorted((p.probability for p in top), reverse=True)
    assert (
        abs(sum(p.probability for p in classify(lite0, Image.open(sample_path(sample)), 1000)) - 1)
        < 1e-4
    )


def test_every_sample_is_small_and_credited():
    credits = (sample_path("cat.jpg").parent / "CREDITS.md").read_text()
    for name in SAMPLES:
        path = sample_path(name)
        assert path.stat().st_size <= 300_000
        assert f"`{name}`" in credits
        assert Image.open(path).mode == "RGB"


def test_unavailable_zoo_weights_raise_model_unavailable(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(ModelUnavailable) as info:
        load_model("resnet18")
    message = str(info.value)
    assert "ResNet-18" in message
    assert "resnet18-f37072fd.pth" in message
    assert "internet" in message
    assert "EfficientNet-Lite0 works offline" in message


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match="efficientnet_lite0"):
        load_model("not_a_model")


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_build_without_weights_and_their_cam_layer_is_spatial(name):
    model = load_model(name, pretrained=False)
    height, width = model.input_size
    captured = {}

    def grab(_module, _inputs, output):
        captured["shape"] = tuple(output.shape)

    handle = model.module(model.target_layer).register_forward_hook(grab)
    try:
        with torch.inference_mode():
            logits = model.net(torch.zeros(1, 3, height, width))
    finally:
        handle.remove()
    assert logits.shape == (1, 1000)
    batch, channels, rows, cols = captured["shape"]
    assert rows >= 7
    assert cols >= 7
    assert channels >= 256
    assert len(model.labels) == 1000
    assert count_hooks(model.net) == 0


def test_load_counts_each_build(lite0):
    before = models.LOAD_COUNTS.get("alexnet", 0)
    load_model("alexnet", pretrained=False)
    assert models.LOAD_COUNTS["alexnet"] == before + 1


def test_a_very_elongated_image_is_trimmed_before_resizing_with_the_same_crop() -> None:
    import numpy as np
    import torchvision.transforms.functional as TF

    model = load_model(DEFAULT_MODEL, pretrained=False)
    y, x = np.mgrid[0:60, 0:1500]
    smooth = np.stack([x % 256, (x // 3 + y) % 256, (2 * y + x // 7) % 256], axis=2)
    strip = Image.fromarray(smooth.astype(np.uint8))  # 25:1
    full = TF.center_crop(
        TF.resize(strip, model.resize_size, interpolation=model.interpolation, antialias=True),
        list(model.input_size),
    )
    got = np.asarray(model.crop(strip), dtype=np.int16)
    expected = np.asarray(full, dtype=np.int16)
    assert got.shape == expected.shape == (224, 224, 3)
    # the same centre; only the resampling at the window's edges may differ
    assert np.median(np.abs(got - expected)) <= 1
    assert np.mean(np.abs(got - expected)) < 4
    assert model.crop(Image.new("RGB", (10000, 10))).size == (224, 224)
