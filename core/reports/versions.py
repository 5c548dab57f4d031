"""The versions of Python and of the libraries a result depends on (for reports and
evidence bundles: a map is only reproducible with the same code)."""

from __future__ import annotations

import platform
from importlib import metadata

LIBRARIES = (
    "torch", "torchvision", "numpy", "captum", "lime", "scikit-image", "scikit-learn",
    "onnxruntime", "onnx", "pillow", "efficientnet-lite-pytorch", "streamlit",
)  # fmt: skip


def library_versions() -> dict[str, str]:
    """``{"python": "3.11.7", "torch": "2.14.1", ...}``; "not installed" where missing."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
