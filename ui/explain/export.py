"""Downloads of "Explain an image": each tile (PNG) and its raw map (``.npy``), all maps
(``.npz``), the HTML report and the evidence bundle.

Every file is made only when its button is clicked (``st.download_button`` with a
callable), so a rerun stores nothing in Streamlit's media store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from PIL import Image

from core.models import ImageModel
from core.reports import Panel, evidence_bundle, npy_bytes, npz_bytes, png_bytes, report_bytes


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")[:40] or "image"


def tile_downloads(where: Any, name: str, picture: Image.Image, heatmap: Any, stem: str) -> None:
    """Two small buttons under a tile: the overlay as shown (PNG) and the raw map (.npy)."""
    left, right = where.columns(2)
    left.download_button(
        "PNG", lambda: png_bytes(picture), file_name=f"{stem}_{name}.png", mime="image/png",
        key=f"download_png_{name}", icon=":material/image:", on_click="ignore",
    )  # fmt: skip
    right.download_button(
        "Raw map", lambda: npy_bytes(heatmap), file_name=f"{stem}_{name}.npy",
        mime="application/octet-stream", key=f"download_npy_{name}",
        icon=":material/data_array:", on_click="ignore",
        help="Float32 array at the model's input resolution (numpy.load).",
    )  # fmt: skip


def export_sidebar(model: ImageModel, panel: Callable[[], Panel], label: str) -> None:
    """The panel's downloads, in the sidebar."""
    stem = _slug(label)
    st.sidebar.subheader("Export")
    st.sidebar.download_button(
        "All maps (.npz)", lambda: npz_bytes({k: r.heatmap for k, r in panel().maps.items()}),
        file_name=f"{stem}_maps.npz", mime="application/octet-stream", key="download_npz",
        icon=":material/stacks:", on_click="ignore", width="stretch",
        help="Float32 arrays at the model's input resolution, keys = method names.",
    )  # fmt: skip
    st.sidebar.download_button(
        "HTML report", lambda: report_bytes(panel(), model), file_name=f"{stem}_report.html",
        mime="text/html", key="download_report", icon=":material/description:",
        on_click="ignore", width="stretch",
        help="One file: the photo, top-5, every map with its settings and time, the trust "
        "metrics when computed, and the library versions.",
    )  # fmt: skip
    st.sidebar.download_button(
        "Evidence bundle (.zip)", lambda: evidence_bundle(panel()),
        file_name=f"{stem}_evidence.zip", mime="application/zip", key="download_bundle",
        icon=":material/verified:", on_click="ignore", width="stretch",
        help="The photo, its and the weights' hashes, every setting and seed, the maps, the "
        "metrics and a reproduce.py that recomputes them and reports the difference.",
    )  # fmt: skip
