"""The evidence bundle: a zip that holds an explained prediction and recomputes itself.

Contents: ``manifest.json`` (the image's and the weights' SHA-256, the model, the class,
every method's parameters and seed, times, engines, colour scale, the trust metrics when
computed, the versions), the photo's file as uploaded, ``maps.npz`` (the maps as shown),
``tiles/<method>.png`` (each map drawn as the page exports it, 512 px, with its colour
bar), and a small ``reproduce.py`` that recomputes every map with this project's core and
reports the largest difference (:func:`reproduce`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.attribution import METHODS, Attribution
from core.attribution.display import colour_scale
from core.attribution.export import EXPORT_MIN_SIDE, export_tile
from core.common.images import load_image
from core.models import ImageModel, load_model
from core.models.engine import weights_hash
from core.pipeline import compute_map, map_request
from core.reports.exports import npz_bytes, png_bytes, read_npz
from core.reports.panel import Panel
from core.reports.versions import library_versions

FORMAT = 1
MANIFEST, MAPS, SCRIPT = "manifest.json", "maps.npz", "reproduce.py"

REPRODUCE_SCRIPT = '''"""Recompute the maps of this evidence bundle with CNN Explainer and report
the largest difference from the maps it holds.

    python reproduce.py --project /path/to/cnn-explainer [--bundle THIS_FOLDER_OR_ZIP]

(run from the project's folder, --project is not needed). Exit code 0 when every map
is reproduced within the tolerance.
"""

import argparse
import sys
from pathlib import Path

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--project", default=".", help="the CNN Explainer folder (with core/)")
parser.add_argument("--bundle", default=str(Path(__file__).resolve().parent))
parser.add_argument("--tolerance", type=float, default=1e-3, help="relative to each map's max")
args = parser.parse_args()
sys.path.insert(0, str(Path(args.project).resolve()))
from core.reports.bundle import print_reproduction, reproduce  # noqa: E402

sys.exit(0 if print_reproduction(reproduce(args.bundle), args.tolerance) else 1)
'''


def image_name(panel: Panel) -> str:
    """The photo's file name inside the bundle (its format's extension)."""
    fmt = load_image(panel.image_bytes).format.lower()
    extension = {"jpeg": "jpg", "tiff": "tif"}.get(fmt, fmt if fmt != "unknown" else "bin")
    return f"image.{extension}"


def manifest(panel: Panel) -> dict[str, Any]:
    """The bundle's ``manifest.json`` as a dict."""
    scales = {name: colour_scale(r.heatmap, METHODS[name]) for name, r in panel.maps.items()}
    return {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"name": panel.model, "title": panel.model_title,
                  "weights_sha256": panel.weights_sha256},
        "image": {"file": image_name(panel), "label": panel.image_label,
                  "sha256": panel.image_sha256},
        "target": {"index": panel.target, "label": panel.target_label},
        "top5": [{"index": p.index, "label": p.label, "probability": p.probability}
                 for p in panel.predictions],
        "methods": {
            name: {"params": record.params, "seed": record.params.get("seed"),
                   "seconds": record.seconds, "engine": record.engine,
                   "tile": tile_name(name),
                   "colours": {"low": scales[name].low, "high": scales[name].high,
                               "unit": scales[name].unit, "signed": scales[name].signed}}
            for name, record in panel.maps.items()
        },
        "metrics": None if panel.faithfulness is None else {
            "deletion_substrate": panel.faithfulness.deletion_substrate,
            "insertion_substrate": panel.faithfulness.insertion_substrate,
            "rows": {r.name: {"deletion_auc": r.deletion.auc, "insertion_auc": r.insertion.auc}
                     for r in panel.faithfulness.rows},
        },
        "versions": library_versions(),
    }  # fmt: skip


def tile_name(method: str) -> str:
    """A map's picture inside the bundle."""
    return f"tiles/{method}.png"


def evidence_bundle(panel: Panel, model: ImageModel) -> bytes:
    """The bundle as zip bytes (``model``: the panel's, for the tiles' crop)."""
    buffer = io.BytesIO()
    image = load_image(panel.image_bytes).image
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest(panel), indent=2))
        archive.writestr(image_name(panel), panel.image_bytes)
        archive.writestr(MAPS, npz_bytes({k: r.heatmap for k, r in panel.maps.items()}))
        for name, record in panel.maps.items():
            method = METHODS[name]
            tile = export_tile(model, image, record.heatmap, method, title=method.title,
                               side=EXPORT_MIN_SIDE)  # fmt: skip
            archive.writestr(tile_name(name), png_bytes(tile))
        archive.writestr(SCRIPT, REPRODUCE_SCRIPT)
    return buffer.getvalue()


def read_bundle(path: str | Path) -> tuple[dict[str, Any], bytes, dict[str, np.ndarray]]:
    """``(manifest, image bytes, maps)`` of a bundle: a zip file or an unzipped folder.

    Raises:
        ValueError: not a bundle (a file missing), or a format this code does not know.
    """
    path = Path(path)

    def read(name: str) -> bytes:
        if path.is_dir():
            file = path / name
            if not file.exists():
                raise ValueError(f"{path} is not an evidence bundle: {name} is missing")
            return file.read_bytes()
        with zipfile.ZipFile(path) as archive:
            if name not in archive.namelist():
                raise ValueError(f"{path} is not an evidence bundle: {name} is missing")
            return archive.read(name)

    info = json.loads(read(MANIFEST))
    if info.get("format") != FORMAT:
        raise ValueError(f"bundle format {info.get('format')!r}; this code reads {FORMAT}")
    return info, read(info["image"]["file"]), read_npz(read(MAPS))


@dataclass(frozen=True)
class Reproduction:
    """How well a bundle's maps were recomputed.

    Attributes:
        differences: method -> largest |difference| relative to the stored map's max.
        notes: Anything that may explain differences (weights, versions, image).
    """

    differences: dict[str, float]
    notes: list[str]


def reproduce(path: str | Path) -> Reproduction:
    """Recompute every map of a bundle with this project's core.

    Args:
        path: The bundle (zip or unzipped folder).

    Returns:
        The largest relative difference per method, and notes.
    """
    info, image_bytes, stored = read_bundle(path)
    notes: list[str] = []
    if hashlib.sha256(image_bytes).hexdigest() != info["image"]["sha256"]:
        notes.append("the image's SHA-256 differs from the manifest's")
    model = load_model(info["model"]["name"])
    if weights_hash(model.net) != info["model"]["weights_sha256"]:
        notes.append("the model's weights differ from the ones the bundle was made with")
    for name, version in library_versions().items():
        then = info["versions"].get(name)
        if then is not None and then != version:
            notes.append(f"{name} {version} here, {then} in the bundle")
    image = load_image(image_bytes).image
    target = int(info["target"]["index"])
    digest, crop = hashlib.sha256(image_bytes).hexdigest(), model.crop(image)
    differences = {}
    for method, entry in info["methods"].items():
        outcome = compute_map(
            model, crop, map_request(model, digest, target, method, entry["params"])
        )
        if not isinstance(outcome, Attribution):
            notes.append(f"{method} gave no map: {outcome.reason}")
            differences[method] = float("inf")
            continue
        heat = outcome.heatmap
        reference = stored[method]
        scale = max(float(np.abs(reference).max()), 1e-12)
        differences[method] = float(np.abs(heat - reference).max()) / scale
    return Reproduction(differences, notes)


def print_reproduction(result: Reproduction, tolerance: float = 1e-3) -> bool:
    """Print a reproduction's outcome; True when every map is within ``tolerance``."""
    for note in result.notes:
        print(f"note: {note}")
    ok = True
    for method, difference in result.differences.items():
        within = difference <= tolerance
        ok = ok and within
        print(f"{method:24s} largest difference {difference:.2e} of the map's max "
              f"{'(reproduced)' if within else '(DIFFERENT)'}")  # fmt: skip
    return ok
