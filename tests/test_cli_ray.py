"""The command line's Ray engine on a local Ray with 2 CPUs: the same maps and summary
rows as the local engine over sample photos (three, to keep the suite fast), and a
broken file is reported, not fatal. Skipped when Ray is not installed
(``pip install -r requirements-scale.txt``)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.common import sample_path
from core.pipeline import forget_work, map_cache

ray = pytest.importorskip(
    "ray", reason="Ray is optional: pip install -r requirements-scale.txt to test --engine ray"
)
pytest.importorskip("ray.data", reason="Ray Data is missing: pip install 'ray[data]'")

# Ray Data's own deprecation notes (its DataContext copies its deprecated fields).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")

PHOTOS = ("cat.jpg", "espresso.jpg", "rocket.jpg")
JOB = [
    "--methods", "gradcam,occlusion", "--param", "occlusion.patch=56",
    "--param", "occlusion.stride=56", "--metrics", "deletion", "--quiet",
]  # fmt: skip


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs, small shared memory, no dashboard)."""
    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
        logging_level=logging.ERROR,
    )  # fmt: skip
    yield
    ray.shutdown()


def run(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["explain", *args])
    return code, err.getvalue()


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory, local_ray):
    """The sample photos and a broken file, explained by each engine."""
    root = tmp_path_factory.mktemp("cli-ray")
    photos = root / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(sample_path(name), photos / name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    # One torch thread each, as the actors: the same arithmetic, so the same numbers. And a
    # fresh process's state: no photo's shared work (the CAM layer's activations, say) kept
    # from earlier tests that ran with other thread counts.
    map_cache().clear()
    forget_work()
    local = run(str(photos), "--out", str(root / "local"), *JOB, "--threads", "1")
    on_ray = run(str(photos), "--out", str(root / "ray"), *JOB, "--engine", "ray",
                 "--workers", "2", "--batch-size", "1")  # fmt: skip
    return root, local, on_ray


def test_ray_gives_the_local_engine_s_maps_and_rows(both_engines):
    root, (local_code, _), (ray_code, ray_err) = both_engines
    assert local_code == ray_code == 0, ray_err
    assert "started a local Ray" not in ray_err  # it joined the running one
    assert "2 workers x 1 torch threads" in ray_err
    for name in PHOTOS:
        with (
            np.load(root / "local" / "maps" / "photos" / name / "maps.npz") as local,
            np.load(root / "ray" / "maps" / "photos" / name / "maps.npz") as on_ray,
        ):
            assert sorted(local.files) == sorted(on_ray.files)
            for key in local.files:
                # A curve follows the map's pixel order, where near-ties may swap.
                atol = 1e-4 if key.endswith(".deletion") else 1e-5
                np.testing.assert_allclose(on_ray[key], local[key], rtol=1e-4, atol=atol)
    local_rows = pd.read_csv(root / "local" / "summary.csv").drop(columns="seconds")
    ray_rows = pd.read_csv(root / "ray" / "summary.csv").drop(columns="seconds")
    assert len(ray_rows) == 2 * len(PHOTOS)
    pd.testing.assert_frame_equal(ray_rows, local_rows, rtol=1e-4)
    assert json.loads((root / "ray" / "job.json").read_text())["engine"] == "ray"


def test_a_broken_file_on_ray_is_reported_not_fatal(both_engines):
    root, (_, local_err), (_, ray_err) = both_engines
    local = pd.read_csv(root / "local" / "failures.csv", keep_default_na=False)
    on_ray = pd.read_csv(root / "ray" / "failures.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(on_ray, local)
    assert list(on_ray["path"].str.rsplit("/", n=1).str[-1]) == ["broken.jpg"]
    assert "warning: 1 image could not be read" in ray_err


def test_more_workers_than_cpus_is_a_clear_error(both_engines):
    root = both_engines[0]
    code, err = run(str(sample_path("cat.jpg")), "--out", str(root / "big"), "--engine", "ray",
                    "--workers", "3", "--quiet")  # fmt: skip
    assert code == 1
    assert "3 workers x 1 threads need 3 CPUs; the Ray cluster has 2" in err
