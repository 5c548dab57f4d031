"""The command line (``python -m core.cli explain``), local engine: its maps are the
page's, its summary rows are right, resume and interruption leave complete outputs, bad
files and bad arguments get clear messages."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.attribution import METHODS, explain
from core.attribution.display import DisplaySettings
from core.attribution.export import export_tile
from core.cli import job as cli_job
from core.cli import list_images, main, writers
from core.common import load_image, sample_path
from core.evaluation import deletion_curve, insertion_curve
from core.models import classify, load_model

REPO = Path(__file__).resolve().parent.parent
PHOTOS = ("cat.jpg", "espresso.jpg")
# Occlusion with 16 large patches: cheap, and it runs on the forward engine.
COARSE = ["--param", "occlusion.patch=56", "--param", "occlusion.stride=56"]


def run(*args: str) -> tuple[int, str]:
    """``main(args)`` -> (exit code, stderr); SystemExit (argparse) passes through."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["explain", *args, "--quiet"])
    return code, err.getvalue()


def photo_folder(folder: Path, broken: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copy(sample_path(name), folder / name)
    if broken:
        (folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    (folder / "notes.md").write_text("not an image: skipped in folders")
    return folder


def decoded(name: str) -> Image.Image:
    """The picture as the page (and the CLI) decode it."""
    return load_image(sample_path(name).read_bytes()).image


@pytest.fixture(scope="module")
def model():
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def job_run(tmp_path_factory):
    """One run over two photos and a broken file: gradcam + occlusion, both metrics."""
    root = tmp_path_factory.mktemp("cli")
    out = root / "out"
    code, err = run(
        str(photo_folder(root / "photos")), "--methods", "gradcam,occlusion", *COARSE,
        "--metrics", "deletion,insertion", "--out", str(out),
    )  # fmt: skip
    return code, err, out


def test_maps_are_explain_s_for_the_same_inputs(job_run, model):
    _, _, out = job_run
    for name in PHOTOS:
        with np.load(out / "maps" / "photos" / name / "maps.npz") as maps:
            assert np.array_equal(maps["input"], np.asarray(model.crop(decoded(name))))
            for method, params in (("gradcam", {}), ("occlusion", {"patch": 56, "stride": 56})):
                expected = explain(model, decoded(name), method, **params)
                np.testing.assert_allclose(maps[method], expected, rtol=1e-5, atol=1e-6)


def test_summary_rows_have_the_right_columns_and_values(job_run, model):
    code, _, out = job_run
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == [
        "path", "image_hash", "model", "method", "target", "label", "probability", "top1",
        "top1_label", "top1_probability", "seconds", "engine", "deletion_auc",
        "insertion_auc", "params", "png", "npz",
    ]  # fmt: skip
    assert len(summary) == 4  # 2 images x 2 methods, in order
    assert [Path(p).name for p in summary["path"]] == ["cat.jpg"] * 2 + ["espresso.jpg"] * 2
    assert list(summary["method"]) == ["gradcam", "occlusion"] * 2
    for row in summary.itertuples():
        name = Path(row.path).name
        image = decoded(name)
        top = classify(model, image, 1)[0]
        assert row.image_hash == hashlib.sha256(sample_path(name).read_bytes()).hexdigest()
        assert (row.model, row.target, row.top1) == ("efficientnet_lite0", top.index, top.index)
        assert row.label == row.top1_label == model.labels[top.index]
        assert row.probability == pytest.approx(top.probability, rel=1e-5)
        assert row.seconds > 0
        resolved = METHODS[row.method].resolve(
            {"patch": 56, "stride": 56} if row.method == "occlusion" else {}
        )
        assert json.loads(row.params) == dict(resolved)
        with np.load(out / row.npz) as maps:
            heatmap = maps[row.method]
            assert row.deletion_auc == pytest.approx(
                deletion_curve(model, image, heatmap, row.target).auc, abs=1e-6
            )
            curve = insertion_curve(model, image, heatmap, row.target)
            assert row.insertion_auc == pytest.approx(curve.auc, abs=1e-6)
            np.testing.assert_allclose(
                maps[f"{row.method}.insertion"], curve.probabilities, atol=1e-6
            )


def test_pngs_are_the_page_s_exported_tile(job_run, model):
    _, _, out = job_run
    for method in ("gradcam", "occlusion"):
        with np.load(out / "maps" / "photos" / "cat.jpg" / "maps.npz") as maps:
            heatmap = maps[method]
        expected = export_tile(
            model, decoded("cat.jpg"), heatmap, METHODS[method],
            DisplaySettings(0.55, "inferno"), title=METHODS[method].title,
        )  # fmt: skip
        picture = Image.open(out / "maps" / "photos" / "cat.jpg" / f"{method}.png")
        assert picture.width == 512  # the cat's crop is 262 px: exported at the 512 minimum
        assert np.array_equal(np.asarray(picture), np.asarray(expected))


def test_a_broken_file_is_reported_and_the_rest_go_on(job_run):
    code, err, out = job_run
    failures = pd.read_csv(out / "failures.csv", keep_default_na=False)
    assert len(failures) == 1
    row = failures.iloc[0]
    assert Path(row.path).name == "broken.jpg"
    assert row.method == ""
    assert row.error == "ImageLoadError"
    assert "not an image" in row.reason
    assert code == 0
    assert "warning: 1 image could not be read" in err
    assert not (out / "maps" / "photos" / "broken.jpg").exists()
    assert not list(out.rglob("*.partial"))
    assert json.loads((out / "job.json").read_text())["complete"] == 2


def test_explicit_target_explains_that_class(tmp_path, model):
    threads = torch.get_num_threads()
    code, _ = run(str(sample_path("cat.jpg")), "--target", "281", "--out", str(tmp_path),
                  "--summary", "parquet", "--threads", "1")  # fmt: skip
    assert code == 0
    assert torch.get_num_threads() == threads  # --threads was for the job only
    row = pd.read_parquet(tmp_path / "summary.parquet").iloc[0]
    probabilities = {p.index: p.probability for p in classify(model, decoded("cat.jpg"), 1000)}
    assert (row.target, row.label) == (281, model.labels[281])
    assert row.probability == pytest.approx(probabilities[281], rel=1e-5)
    with np.load(tmp_path / "maps" / "cat.jpg" / "maps.npz") as maps:
        expected = explain(model, decoded("cat.jpg"), "gradcam", 281)
        np.testing.assert_allclose(maps["gradcam"], expected, rtol=1e-5, atol=1e-6)


def _counting(monkeypatch) -> list[str]:
    """Record which images :func:`explain_image` computes."""
    done: list[str] = []
    real = cli_job.explain_image

    def spy(job, model, item):
        done.append(item.key)
        return real(job, model, item)

    monkeypatch.setattr(cli_job, "explain_image", spy)
    return done


def test_resume_skips_complete_images_and_redoes_half_written_ones(tmp_path, monkeypatch):
    photos, out = photo_folder(tmp_path / "photos", broken=False), tmp_path / "out"
    assert run(str(photos), "--out", str(out))[0] == 0
    maps = out / "maps" / "photos"
    cat, espresso = maps / "cat.jpg", maps / "espresso.jpg"
    kept = (cat / "gradcam.png").stat().st_mtime_ns
    (espresso / "record.json").unlink()  # killed before its record was written
    (espresso / ".maps.npz.123.partial").write_bytes(b"half")
    done = _counting(monkeypatch)
    extra = str(shutil.copy(sample_path("rocket.jpg"), tmp_path / "rocket.jpg"))  # new input
    code, err = run(str(photos), extra, "--out", str(out), "--resume")
    assert code == 0
    assert done == ["photos/espresso.jpg", "rocket.jpg"]
    assert "1 of 3 images complete" in err
    assert (cat / "gradcam.png").stat().st_mtime_ns == kept
    assert not list(out.rglob("*.partial"))
    assert len(pd.read_csv(out / "summary.csv")) == 3  # the skipped image's row too
    os.utime(photos / "cat.jpg", ns=(1, 1))  # the image changed since
    done.clear()
    assert run(str(photos), "--out", str(out), "--resume")[0] == 0
    assert done == ["photos/cat.jpg"]
    done.clear()
    assert run(str(photos), "--out", str(out), "--resume", "--opacity", "0.3")[0] == 0
    assert done == ["photos/cat.jpg", "photos/espresso.jpg"]  # other settings: nothing is complete


class InterruptingOs:
    """``os`` whose ``replace`` is interrupted (Ctrl-C) at its n-th call."""

    def __init__(self, at: int) -> None:
        self.calls, self.at = 0, at

    def __getattr__(self, name: str):
        return getattr(os, name)

    def replace(self, source, target) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        os.replace(source, target)


def test_an_interrupted_run_leaves_complete_outputs_only(tmp_path, monkeypatch):
    photos, out = photo_folder(tmp_path / "photos", broken=False), tmp_path / "out"
    # each image: gradcam.png, maps.npz, record.json; stop while writing the 2nd maps.npz
    monkeypatch.setattr(writers, "os", InterruptingOs(at=5))
    code, err = run(str(photos), "--out", str(out))
    assert code == 130
    assert "interrupted: 1 of 2 images complete" in err
    assert "--resume" in err
    assert not list(out.rglob("*.partial"))
    assert (out / "maps" / "photos" / "cat.jpg" / "record.json").exists()
    assert not (out / "maps" / "photos" / "espresso.jpg" / "maps.npz").exists()
    assert not (out / "maps" / "photos" / "espresso.jpg" / "record.json").exists()
    summary = pd.read_csv(out / "summary.csv")
    assert [Path(p).name for p in summary["path"]] == ["cat.jpg"]
    monkeypatch.setattr(writers, "os", os)
    done = _counting(monkeypatch)
    assert run(str(photos), "--out", str(out), "--resume")[0] == 0
    assert done == ["photos/espresso.jpg"]
    assert len(pd.read_csv(out / "summary.csv")) == 2


def test_exit_code_1_when_nothing_could_be_explained(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    code, err = run(
        str(tmp_path / "a.png"), str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "o")
    )
    assert code == 1
    assert "error: nothing could be explained" in err
    failures = pd.read_csv(tmp_path / "o" / "failures.csv")
    assert sorted(failures["reason"]) == [
        "The file is empty (0 bytes). Please choose another image.",
        "no such file or folder",
    ]
    assert run(str(tmp_path / "o"), "--out", str(tmp_path / "p"))[0] == 1  # no images at all


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "gradcam,nope"], "--methods: unknown 'nope'; choose from: saliency"),
        (["--methods", "occlusion", "--param", "patch=3"], "expected METHOD.NAME=VALUE"),
        (
            ["--methods", "occlusion", "--param", "occlusion.pach=3"],
            "it takes: patch, stride, fill",
        ),
        (
            ["--methods", "occlusion", "--param", "occlusion.patch=1"],
            "patch must be between 2 and 224",
        ),
        (
            ["--methods", "occlusion", "--param", "occlusion.patch=a"],
            "patch must be a whole number",
        ),
        (["--param", "occlusion.patch=16"], "occlusion is not in --methods (gradcam)"),
        (["--param", "gradcam.layer=nope"], "has no feature-map layer 'nope'; it has: head"),
        (["--target", "cat"], "expected top1 or a class index"),
        (["--target", "1000"], "--target 1000: EfficientNet-Lite0 (embedded) has 1000 classes"),
        (["--model", "nope"], "--model nope: neither a registered model"),
        (["--metrics", "auc"], "--metrics: unknown 'auc'"),
        (["--workers", "0"], "--workers: must be at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["explain", str(sample_path("cat.jpg")), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_engine_ray_without_ray_says_how_to_install_it(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "ray" else real(n, *a)
    )
    with pytest.raises(SystemExit) as stop:
        main(["explain", str(sample_path("cat.jpg")), "--engine", "ray"])
    assert stop.value.code == 2
    assert "pip install -r requirements-scale.txt" in capsys.readouterr().err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["explain", "--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    for option in ("--model", "--methods", "--param", "--target", "--metrics", "--out",
                   "--engine", "--workers", "--batch-size", "--resume", "summary.csv",
                   "failures.csv", "Exit code"):  # fmt: skip
        assert option in shown


def test_the_real_command_never_shows_a_traceback(tmp_path):
    bad = subprocess.run(
        [sys.executable, "-m", "core.cli", "explain", str(tmp_path), "--methods", "nope"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "error: --methods: unknown 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_image_list_walks_folders_reads_lists_and_keys_uniquely(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    names = ("a/cat.jpg", "a/deep/dog.PNG", "b/cat.jpg", "b/owl.jpg", ".hidden/x.jpg", "a/.y.jpg")
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "readme.txt").write_text("skipped in a folder")
    out = tmp_path / "a" / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"x")  # the job's own outputs are never inputs
    listing = tmp_path / "list.txt"
    listing.write_text(f"# photos\n{tmp_path / 'b' / 'owl.jpg'}\n\n{tmp_path / 'nope.jpg'}\n")
    a = str(tmp_path / "a")
    items, failures = list_images([a, str(listing), str(tmp_path / "a" / "cat.jpg")], exclude=out)
    assert [item.key for item in items] == ["a/cat.jpg", "a/deep/dog.PNG", "owl.jpg"]
    assert all(Path(item.file).is_absolute() for item in items)
    assert [(Path(f.path).name, f.reason) for f in failures] == [
        ("nope.jpg", "no such file or folder")
    ]
    # a key does not depend on the other inputs (so --resume finds it) ...
    alone, _ = list_images([a], exclude=out)
    assert [item.key for item in alone] == ["a/cat.jpg", "a/deep/dog.PNG"]
    # ... and two images of the same name named directly still get two folders
    twins, _ = list_images([str(tmp_path / "a" / "cat.jpg"), str(tmp_path / "b" / "cat.jpg")])
    keys = [item.key for item in twins]
    assert len(set(keys)) == 2
    assert all(key.startswith("cat.jpg~") for key in keys)


def _changed_value(param):  # type: ignore[no-untyped-def]
    """A valid value of a parameter other than its default."""
    if param.kind == "bool":
        return not param.default
    if param.kind == "choice":
        return next(c for c in param.choices if c != param.default)
    if param.kind == "layer":
        return "blocks.10"
    return param.low if param.default != param.low else param.high


def test_every_registered_parameter_reads_the_same_from_the_command_line_and_a_link():
    """Both read a value's text with Param.parse: one spelling of true and false, one
    message for a bad number; every method of the registry flows through both."""
    from argparse import ArgumentParser

    from core.cli.args import describe_methods, parse_params
    from core.reports import ViewState, parse_view, view_query

    listed = describe_methods()
    parser = ArgumentParser()
    for method in METHODS.values():
        assert f"{method.name}: {method.title}" in listed
        for param in method.params:
            value = _changed_value(param)
            text = param.text(value)
            entry = f"{method.name}.{param.name}={text}"
            assert parse_params([entry], [method.name], parser)[method.name][param.name] == value
            state = ViewState(methods=(method.name,), params={method.name: {param.name: value}})
            query = view_query(state)
            assert query[f"{method.name}.{param.name}"] == text
            assert parse_view(query) == (state, [])
    for spelling in ("yes", "On", "1", "true"):
        assert parse_params([f"lime.positive_only={spelling}"], ["lime"], parser)["lime"][
            "positive_only"
        ]
        shared, notices = parse_view({"methods": "lime", "lime.positive_only": spelling})
        assert shared.params == {"lime": {"positive_only": True}}
        assert notices == []
    _, notices = parse_view({"methods": "occlusion", "occlusion.patch": "a"})
    assert "patch must be a whole number" in notices[0]


def test_the_new_methods_run_from_the_command_line_as_on_the_page(tmp_path, model):
    out = tmp_path / "out"
    methods = "layercam,ablationcam,input_x_gradient,kernel_shap"
    cheap = ["--param", "kernel_shap.samples=50", "--param", "kernel_shap.superpixels=10"]
    code, err = run(str(sample_path("cat.jpg")), "--methods", methods, *cheap, "--out", str(out))
    assert code == 0, err
    with np.load(out / "maps" / "cat.jpg" / "maps.npz") as maps:
        for method in methods.split(","):
            params = {"samples": 50, "superpixels": 10} if method == "kernel_shap" else {}
            expected = explain(model, decoded("cat.jpg"), method, **params)
            np.testing.assert_allclose(maps[method], expected, rtol=1e-4, atol=1e-5)
