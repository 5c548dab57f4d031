"""Your own model (issue 24): files in every format give the maps of the network they hold,
the CLI gives the page's maps, and every bad file gets its message (nothing unpickled).

References are computed in the same run from the torch network the file was made from,
so the thresholds only absorb float rounding (ONNX Runtime's kernels, onnx2torch's ops):
Pearson r >= 0.999 for every map, as the issue asks.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision.transforms import InterpolationMode

from core.attribution import METHODS, MethodNotApplicable, attribute
from core.attribution.base import AttributionContext
from core.cli import main
from core.common.hooks import count_hooks
from core.common.samples import sample_path
from core.digits import load_digit_net, mnist_subset
from core.models import (
    IMAGENET,
    ModelFileError,
    ModelSource,
    Settings,
    classify,
    list_models,
    load_model,
    load_model_file,
    read_labels,
    source_name,
)
from core.models.engine import ONNX_RUNTIME, existing_engine, forward_engine
from core.models.lite0 import EfficientNetLite, _efficientnet_lite_package
from tests.model_files import (
    EXAMPLES,
    conv_onnx,
    export_onnx,
    export_pt2,
    malicious_pickle,
    malicious_pt2,
    malicious_torch_file,
    pt2_with_member,
    shrink_model,
    tiny_rgb_net,
)

# Each method with settings small enough for 28 x 28 digits and quick tests.
PARAMS = {
    "integrated_gradients": {"steps": 8},
    "smoothgrad": {"samples": 4},
    "occlusion": {"patch": 6, "stride": 3},
    "lime": {"samples": 60, "superpixels": 10},
    "rise": {"masks": 64},
}
GRADIENT_METHODS = [name for name, method in METHODS.items() if method.needs_gradients]
FORWARD_METHODS = [name for name, method in METHODS.items() if not method.needs_gradients]
# Methods whose backward rules are written for torch's functions and modules: a .pt2
# program runs aten operators, which they name when they refuse (never a wrong map).
OP_RULE_METHODS = {"deconvnet", "guided_backprop", "guided_gradcam", "lrp"}


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    if np.allclose(a, a.flat[0]) and np.allclose(b, b.flat[0]):
        return 1.0  # both flat (e.g. a method that sees nothing): equal maps
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def digit() -> torch.Tensor:
    """A held-out MNIST digit ``(1, 1, 28, 28)`` in [0, 1]: the input every format sees."""
    return torch.from_numpy(np.array(mnist_subset().test_images[3])).view(1, 1, 28, 28).float()


@pytest.fixture(scope="module")
def digit_image(digit: torch.Tensor) -> Image.Image:
    return Image.fromarray((digit[0, 0].numpy() * 255).round().astype(np.uint8))


@pytest.fixture(scope="module")
def example_models() -> dict[str, object]:
    labels = str(EXAMPLES / "digit_labels.txt")
    return {
        fmt: load_model_file(ModelSource(str(EXAMPLES / f"digit_cnn.{fmt}"), arch, labels))
        for fmt, arch in (("onnx", None), ("pt2", None), ("safetensors", "digit_cnn"))
    }


# --------------------------------------------------------------- every format


def test_example_files_hold_the_digit_cnn_with_its_labels_and_preprocessing(
    example_models, digit_image
):
    reference = load_digit_net()
    for fmt, model in example_models.items():
        assert model.name.startswith("file-"), fmt
        assert (model.channels, model.input_size, model.resize_size) == (1, (28, 28), 28)
        assert model.labels == [f"digit {d}" for d in range(10)]
        assert model.crop(Image.open(sample_path("cat.jpg"))).mode == "L"  # greyscale picture
        x = model.preprocess(digit_image)
        assert x.shape == (1, 1, 28, 28)
        with torch.no_grad():
            torch.testing.assert_close(model.net(x), reference(x), atol=1e-4, rtol=1e-4)
    names = {model.name for model in example_models.values()}
    assert len(names) == 3  # one name per file


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "safetensors"])
def test_every_method_s_map_equals_the_torch_network_s(fmt, example_models, digit):
    """Each format's maps against the digits lab's own network (r >= 0.999), or the
    method says why it cannot run (never a wrong map)."""
    model = example_models[fmt]
    reference, context = load_digit_net(), AttributionContext(mean=(0.0,), std=(1.0,))
    hooks = count_hooks(model.net)
    for name in METHODS:
        params = PARAMS.get(name, {})
        expected = attribute(reference, digit, name, 3, context=context, **params)
        if fmt == "pt2" and name in OP_RULE_METHODS:
            with pytest.raises(MethodNotApplicable, match="no rule for the operation"):
                attribute(model.net, digit, name, 3, context=context, **params)
            continue
        got = attribute(model.net, digit, name, 3, context=context, **params)
        assert correlation(expected, got) >= 0.999, (fmt, name)
    assert count_hooks(model.net) == hooks


def test_an_onnx_file_s_forward_engine_is_onnx_runtime_on_the_file_itself(example_models):
    model = example_models["onnx"]
    engine = existing_engine(model.net, model.input_shape)  # adopted when the file was read
    assert engine is not None
    assert engine.name == ONNX_RUNTIME
    assert engine.path is None  # the uploaded graph itself, not an export of the conversion
    assert forward_engine(model.net, model.input_shape) is engine


def test_rgb_files_in_every_format_give_the_network_s_maps(tmp_path):
    """A 3-channel network with batch norm: ONNX (dynamic and fixed batch), .pt2 (fixed
    batch) and weights for a torchvision architecture, against the network itself."""
    net = tiny_rgb_net()
    image = Image.open(sample_path("espresso.jpg"))
    files = {
        "dynamic.onnx": export_onnx(net, (1, 3, 32, 32), tmp_path / "dynamic.onnx"),
        "fixed.onnx": export_onnx(net, (1, 3, 32, 32), tmp_path / "fixed.onnx", dynamic=False),
        "fixed.pt2": export_pt2(net, (1, 3, 32, 32), tmp_path / "fixed.pt2", dynamic=False),
    }
    settings = Settings(mean=(0.5,), std=(0.25,), crop=1.0)
    context = AttributionContext(mean=(0.5,) * 3, std=(0.25,) * 3)
    for label, path in files.items():
        model = load_model_file(ModelSource(str(path), settings=settings))
        assert model.input_size == (32, 32), label  # the file's fixed input shape
        x = model.preprocess(image)
        for name in ("saliency", "integrated_gradients", "gradcam", "occlusion", "rise"):
            params = {
                **PARAMS.get(name, {}),
                **({"patch": 8, "stride": 4} if name == "occlusion" else {}),
            }
            expected = attribute(net, x, name, 1, context=context, **params)
            got = attribute(model.net, x, name, 1, context=context, **params)
            assert correlation(expected, got) >= 0.999, (label, name)


def test_a_program_that_calls_a_module_twice_runs_as_exported(tmp_path):
    """torchvision's ResNet blocks call one ReLU twice (unflattened as ``relu@1``)."""
    import torchvision

    net = torchvision.models.resnet18(num_classes=3).eval()
    path = export_pt2(net, (1, 3, 64, 64), tmp_path / "resnet18.pt2")
    model = load_model_file(ModelSource(str(path), settings=Settings(input_size=(64, 64))))
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.net(x), net(x), atol=1e-4, rtol=1e-4)
    expected = attribute(net, x[:1], "gradcam", 1, layer="layer4")
    got = attribute(model.net, x[:1], "gradcam", 1, layer="layer4")
    assert correlation(expected, got) >= 0.999


def test_weights_for_torchvision_and_timm_take_their_classes_and_preprocessing(tmp_path):
    import timm
    import torchvision

    tv = torchvision.models.get_model("resnet18", weights=None, num_classes=7).eval()
    save_file(tv.state_dict(), tmp_path / "tv.safetensors")
    model = load_model_file(ModelSource(str(tmp_path / "tv.safetensors"), arch="resnet18"))
    assert len(model.labels) == 7
    assert (model.input_size, model.resize_size) == ((224, 224), 256)  # torchvision's preset
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.net(x), tv(x))

    tm = timm.create_model("resnet10t", pretrained=False, num_classes=3, in_chans=1).eval()
    torch.save({"state_dict": tm.state_dict(), "epoch": 12}, tmp_path / "timm.pt")
    model = load_model_file(ModelSource(str(tmp_path / "timm.pt"), arch="timm:resnet10t"))
    config = tm.pretrained_cfg
    assert model.channels == 1  # read from the first convolution's weight
    assert len(model.labels) == 3
    assert model.interpolation == InterpolationMode.BICUBIC  # timm's pretrained config
    assert model.input_size == tuple(config["input_size"][1:])
    assert model.resize_size == round(config["input_size"][1] / config["crop_pct"])
    assert any("timm's pretrained config of resnet10t" in note for note in model.notes)


def test_an_onnx_file_that_does_not_convert_runs_forward_methods_only(tmp_path):
    path, reference = shrink_model(tmp_path / "shrink.onnx")
    model = load_model_file(ModelSource(str(path), settings=Settings(input_size=(16, 16))))
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for name in GRADIENT_METHODS:
        with pytest.raises(
            MethodNotApplicable, match="gradient methods need torch, and onnx2torch"
        ):
            attribute(model.net, x, name, 1)
    for name in ("occlusion", "rise", "lime"):
        params = {"occlusion": {"patch": 4, "stride": 2}}.get(name, PARAMS.get(name, {}))
        expected = attribute(reference, x, name, 1, **params)
        got = attribute(model.net, x, name, 1, **params)
        assert correlation(expected, got) >= 0.999, name
    assert any("forward-only methods only" in note for note in model.notes)


def test_the_name_follows_the_file_labels_and_settings(tmp_path, example_models):
    path = str(EXAMPLES / "digit_cnn.onnx")
    labels = str(EXAMPLES / "digit_labels.txt")
    assert source_name(ModelSource(path, labels=labels)) == example_models["onnx"].name
    other = {
        source_name(ModelSource(path)),
        source_name(ModelSource(path, labels=labels, settings=Settings(crop=0.9))),
        source_name(ModelSource(path, labels=labels)),
    }
    assert len(other) == 3
    copy = tmp_path / "renamed.onnx"
    shutil.copy(path, copy)  # the same bytes under another name: the same model
    assert source_name(ModelSource(str(copy), labels=labels)) == example_models["onnx"].name


def test_labels_files(tmp_path):
    assert read_labels(b"cat\ndog\n\n", "l.txt") == ["cat", "dog"]
    assert read_labels(b'["cat", "dog"]', "l.json") == ["cat", "dog"]
    assert read_labels(b'{"1": "dog", "0": "cat"}', "l.json") == ["cat", "dog"]
    with pytest.raises(ModelFileError, match="not valid JSON"):
        read_labels(b"[cat", "l.json")
    with pytest.raises(ModelFileError, match="must be 0 to 2; missing"):
        read_labels(b'{"0": "a", "1": "b", "3": "c"}', "l.json")
    with pytest.raises(ModelFileError, match="no labels"):
        read_labels(b"\n\n", "l.txt")


# --------------------------------------------------------------- bad input


def expect_refusal(source: ModelSource, *fragments: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model_file(source)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message
    return message


def test_corrupt_files_of_every_format(tmp_path):
    for suffix, fragment in (
        (".onnx", "is not a readable ONNX model"),
        (".pt2", "is not a torch.export program"),
        (".safetensors", "is not a readable safetensors file"),
        (".pt", "is not a readable torch file"),
    ):
        path = tmp_path / f"broken{suffix}"
        path.write_bytes(b"\x08\x01\x12this is no model at all" * 10)
        expect_refusal(ModelSource(str(path), arch="resnet18"), fragment)
    (tmp_path / "empty.onnx").write_bytes(b"")
    expect_refusal(ModelSource(str(tmp_path / "empty.onnx")), "is empty")
    (tmp_path / "model.h5").write_bytes(b"HDF")
    expect_refusal(ModelSource(str(tmp_path / "model.h5")), "not a model file this app reads")


def test_pickles_are_refused_and_their_payload_never_runs(tmp_path):
    target = tmp_path / "created-by-the-payload"
    for path in (
        malicious_pickle(tmp_path / "evil.pt", target),
        malicious_torch_file(tmp_path / "evil.pth", target),
    ):
        expect_refusal(
            ModelSource(str(path), arch="resnet18"),
            "is refused: it is a pickled Python object",
            "torch.export.save",
        )
        assert not target.exists()
    good = export_pt2(tiny_rgb_net(), (1, 3, 32, 32), tmp_path / "good.pt2")
    evil_pt2 = malicious_pt2(good, tmp_path / "evil.pt2", target)
    expect_refusal(ModelSource(str(evil_pt2)), "is refused", "needs more than weights")
    assert not target.exists()
    compiled = pt2_with_member(good, tmp_path / "aoti.pt2", "data/aotinductor/model/m.so")
    expect_refusal(ModelSource(str(compiled)), "compiled native code")


def test_a_whole_pickled_module_is_refused_with_how_to_export_it(tmp_path):
    torch.save(tiny_rgb_net(), tmp_path / "whole.pt")
    message = expect_refusal(ModelSource(str(tmp_path / "whole.pt"), arch="resnet18"),
                             "pickled Python object", "state_dict()")  # fmt: skip
    assert "torch.nn.modules.container.Sequential" in message


def test_several_inputs_and_several_outputs(tmp_path):
    from onnx import TensorProto, helper

    from tests.model_files import image_input, onnx_graph

    nodes = [helper.make_node("Add", ["a", "b"], ["s"]),
             helper.make_node("GlobalAveragePool", ["s"], ["p"]),
             helper.make_node("Flatten", ["p"], ["logits"])]  # fmt: skip
    out = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])]
    path = onnx_graph(tmp_path / "two.onnx", nodes, [image_input("a"), image_input("b")], out, {})
    expect_refusal(ModelSource(str(path)), "takes 2 inputs (a, b)")

    class TwoInputs(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return (x + y).mean((2, 3))

    two = tmp_path / "two.pt2"
    torch.export.save(torch.export.export(TwoInputs(), (torch.rand(1, 3, 8, 8),) * 2), two)
    expect_refusal(ModelSource(str(two)), "takes 2 inputs")

    class TwoOutputs(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x.mean((2, 3)), x.amax((2, 3))

    pair = tmp_path / "pair.pt2"
    torch.export.save(torch.export.export(TwoOutputs(), (torch.rand(1, 3, 8, 8),)), pair)
    expect_refusal(ModelSource(str(pair)), "returns 2 outputs")


def test_shapes_that_cannot_be_pinned(tmp_path):
    batch8 = conv_onnx(tmp_path / "batch8.onnx", dims=(8, 3, 16, 16), out_dims=(8, 4))
    expect_refusal(ModelSource(str(batch8)), "batches of exactly 8 images", "cannot be pinned")
    half = conv_onnx(tmp_path / "half.onnx", dims=("N", 3, "H", 16))
    expect_refusal(ModelSource(str(half)), "height or width is dynamic and the other fixed")
    fixed = conv_onnx(tmp_path / "fixed.onnx", dims=("N", 3, 16, 16))
    expect_refusal(ModelSource(str(fixed), settings=Settings(input_size=(32, 32))),
                   "input size is fixed to 16 x 16")  # fmt: skip
    expect_refusal(ModelSource(str(fixed), settings=Settings(channels=1)),
                   "input has 3 channels, not 1")  # fmt: skip
    batch4 = export_pt2(tiny_rgb_net(), (1, 3, 32, 32), tmp_path / "batch4.pt2", dynamic=False)
    assert load_model_file(ModelSource(str(batch4))).input_size == (32, 32)  # batch 1: fine


def test_an_output_that_is_not_one_row_of_logits(tmp_path):
    path = tmp_path / "map.pt2"

    class Map(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :2]  # (B, 2, H, W): a segmentation-like output

    export_pt2(Map(), (1, 3, 16, 16), path)
    expect_refusal(ModelSource(str(path)), "output has shape (1, 2, 16, 16)", "(1, classes)")


def test_label_counts_and_architectures_that_do_not_match(tmp_path):
    labels = tmp_path / "three.txt"
    labels.write_text("a\nb\nc\n")
    expect_refusal(ModelSource(str(EXAMPLES / "digit_cnn.onnx"), labels=str(labels)),
                   "has 3 labels but the model has 10 outputs")  # fmt: skip
    expect_refusal(ModelSource(str(EXAMPLES / "digit_cnn.onnx"), labels=IMAGENET),
                   "has 1000 labels but the model has 10 outputs")  # fmt: skip
    weights = str(EXAMPLES / "digit_cnn.safetensors")
    expect_refusal(ModelSource(weights), "holds weights only", "digit_cnn")
    expect_refusal(ModelSource(weights, arch="resnet181"), "no architecture called 'resnet181'",
                   "did you mean resnet18")  # fmt: skip
    import torchvision

    state = torchvision.models.resnet18(num_classes=4).state_dict()
    del state["layer4.1.bn2.weight"]
    state["extra.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "wrong.safetensors")
    expect_refusal(ModelSource(str(tmp_path / "wrong.safetensors"), arch="resnet18"),
                   "not for resnet18", "1 missing (layer4.1.bn2.weight)",
                   "1 unexpected (extra.weight)")  # fmt: skip
    expect_refusal(ModelSource(str(tmp_path / "wrong.safetensors"), arch="resnet34"),
                   "not for resnet34", "missing")  # fmt: skip
    resnet18 = torchvision.models.resnet18(num_classes=4).state_dict()
    save_file(resnet18, tmp_path / "r18.safetensors")
    expect_refusal(ModelSource(str(tmp_path / "r18.safetensors"), arch="mobilenet_v2"),
                   "not for mobilenet_v2")  # fmt: skip


def test_nan_logits_and_bad_settings(tmp_path):
    state = load_digit_net().state_dict()
    state["fc2.bias"] = torch.full_like(state["fc2.bias"], float("nan"))
    save_file(state, tmp_path / "nan.safetensors")
    expect_refusal(ModelSource(str(tmp_path / "nan.safetensors"), arch="digit_cnn"),
                   "logits are not finite (NaN or infinity)")  # fmt: skip
    onnx_path = str(EXAMPLES / "digit_cnn.onnx")
    for settings, fragment in (
        (Settings(channels=2), "channels must be 1 (greyscale) or 3"),
        (Settings(std=(0.0,)), "std must be above 0"),
        (Settings(input_size=(4, 4)), "each side must be 8 to"),
        (Settings(crop=0.0), "crop must be between"),
        (Settings(mean=(0.1, 0.2)), "mean takes 1 or 3 numbers"),
    ):
        expect_refusal(ModelSource(onnx_path, settings=settings), fragment)


def test_a_refused_file_leaves_the_loaded_model_untouched(example_models, digit):
    model = example_models["onnx"]
    with torch.no_grad():
        before = model.net(digit).clone()
    with pytest.raises(ModelFileError):
        load_model_file(ModelSource(str(EXAMPLES / "digit_labels.txt")))
    with torch.no_grad():
        assert torch.equal(model.net(digit), before)


# --------------------------------------------------------------- the command line


def cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["explain", *args, "--quiet"])
    return code, err.getvalue()


def test_the_cli_gives_the_page_s_maps_for_a_model_file(tmp_path, example_models, digit_image):
    photo = tmp_path / "digit.png"
    digit_image.save(photo)
    labels = str(EXAMPLES / "digit_labels.txt")
    code, err = cli(str(photo), "--model", str(EXAMPLES / "digit_cnn.onnx"), "--labels", labels,
                    "--methods", "gradcam,occlusion", "--param", "occlusion.patch=6",
                    "--param", "occlusion.stride=3", "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0, err
    model = example_models["onnx"]
    from core.attribution import explain

    with np.load(tmp_path / "out" / "maps" / "digit.png" / "maps.npz") as maps:
        assert np.array_equal(maps["input"], np.asarray(model.crop(digit_image)))
        np.testing.assert_allclose(maps["gradcam"], explain(model, digit_image, "gradcam"),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
        np.testing.assert_allclose(
            maps["occlusion"], explain(model, digit_image, "occlusion", patch=6, stride=3),
            rtol=1e-5, atol=1e-6,
        )  # fmt: skip
    summary = (tmp_path / "out" / "summary.csv").read_text()
    assert model.name in summary
    assert "digit " in summary
    job = json.loads((tmp_path / "out" / "job.json").read_text())
    assert job["job"]["model_file"]["labels"] == str(Path(labels).resolve())


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")
def test_the_ray_engine_reads_the_model_file_in_its_actors(tmp_path, digit_image):
    pytest.importorskip("ray.data", reason="Ray is optional: pip install -r requirements-scale.txt")
    photo = tmp_path / "digit.png"
    digit_image.save(photo)
    labels = str(EXAMPLES / "digit_labels.txt")
    job = ["--model", str(EXAMPLES / "digit_cnn.pt2"), "--labels", labels,
           "--methods", "saliency,occlusion", "--param", "occlusion.patch=6",
           "--param", "occlusion.stride=3", "--threads", "1"]  # fmt: skip
    local = cli(str(photo), *job, "--out", str(tmp_path / "local"))
    on_ray = cli(str(photo), *job, "--out", str(tmp_path / "ray"), "--engine", "ray",
                 "--workers", "1")  # fmt: skip
    assert local[0] == on_ray[0] == 0, (local, on_ray)
    with (
        np.load(tmp_path / "local" / "maps" / "digit.png" / "maps.npz") as a,
        np.load(tmp_path / "ray" / "maps" / "digit.png" / "maps.npz") as b,
    ):
        assert set(a.files) == set(b.files) == {"input", "saliency", "occlusion"}
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "--model nope: neither a registered model"),
        (["--model", "resnet18", "--arch", "resnet18"], "--arch: only for a model file"),
        (["--model", str(EXAMPLES / "digit_cnn.safetensors")], "holds weights only"),
        (["--model", str(EXAMPLES / "digit_cnn.onnx"), "--channels", "3"],
         "input has 1 channels, not 3"),
        (["--model", str(EXAMPLES / "digit_cnn.onnx"), "--input-size", "a,b"],
         "expected HEIGHT,WIDTH"),
        (["--model", str(EXAMPLES / "digit_cnn.onnx"), "--labels", "nowhere.txt"],
         "--labels nowhere.txt: no such file"),
    ],
)  # fmt: skip
def test_bad_model_arguments_exit_2_with_a_clear_message(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["explain", str(sample_path("cat.jpg")), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_the_cli_lists_a_model_file_s_layers(capsys):
    assert main(["layers", "--model", str(EXAMPLES / "digit_cnn.pt2")]) == 0
    layers = capsys.readouterr().out.splitlines()
    assert layers[0] == "pool3  (default)"  # the last layer with a spatial output
    assert "conv1" in layers


# --------------------------------------------------------------- embedded models


def test_three_embedded_models_work_offline():
    offline = [name for name in list_models() if name.startswith("efficientnet_lite")]
    assert offline == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    cat = Image.open(sample_path("cat.jpg"))
    for name, size in (("efficientnet_lite1", 240), ("efficientnet_lite2", 260)):
        model = load_model(name)
        assert (model.input_size, model.resize_size) == ((size, size), size + 32)
        assert model.interpolation == InterpolationMode.BICUBIC
        assert model.preprocess(cat).shape == (1, 3, size, size)
        top = classify(model, cat, 5)
        assert top[0].label in {"tabby", "tiger cat", "Egyptian cat"}, [p.label for p in top]


@pytest.mark.parametrize("variant", [1, 2])
def test_regrouped_lite_equals_the_package_forward(variant):
    base = _efficientnet_lite_package(variant, pretrained=False)
    size = 240 if variant == 1 else 260
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(base(x), EfficientNetLite(base).eval()(x))
