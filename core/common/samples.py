"""The bundled sample photos (see ``sample_images/CREDITS.md`` for their licences)."""

from __future__ import annotations

from pathlib import Path

from core.common.query import choice_field

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_images"

# file name -> caption shown in pickers; order = order in the UI
SAMPLES: dict[str, str] = {
    "cat.jpg": "Cat (Chelsea)",
    "espresso.jpg": "Espresso",
    "camera_tripod.jpg": "Camera on a tripod",
    "rocket.jpg": "Rocket launch",
    "astronaut.jpg": "Astronaut (no ImageNet class)",
    "retina.jpg": "Retina (no ImageNet class)",
    "hubble_deep_field.jpg": "Hubble deep field (no ImageNet class)",
}

# The sample photo of a page's URL (its state: core.common.query); None: not a sample.
SAMPLE_FIELD = choice_field("sample", None, list(SAMPLES), label="sample photo")


def sample_path(name: str) -> Path:
    """Path of a bundled sample, by file name.

    Raises:
        KeyError: not a bundled sample.
    """
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; have: {', '.join(SAMPLES)}")
    return SAMPLE_DIR / name
