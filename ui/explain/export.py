"""Downloads of "Explain an image": each tile (PNG) and its raw map (``.npy``), all maps
(``.npz``), the HTML report and the evidence bundle.

Every file is made only when its button is clicked (``st.download_button`` with a
callable), so a rerun stores nothing in Streamlit's media store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.models import ImageModel
from core.reports import Panel, evidence_bundle, npy_bytes, npz_bytes, report_bytes


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")[:40] or "image"


def tile_downloads(
    where: Any, name: str, png: Callable[[], bytes], heatmap: Any, stem: str, tag: str = ""
) -> None:
    """Two small buttons under a tile: the tile as a file (PNG, made on click) and the raw
    map (.npy). ``tag`` sets the buttons' keys apart when a tile is drawn twice in a run."""
    stem = _slug(stem)
    left, right = where.columns(2)
    left.download_button(
        "PNG", png, file_name=f"{stem}_{name}.png", mime="image/png",
        key=f"download_png_{name}{tag}", icon=":material/image:", on_click="ignore",
        help="The tile at the photo's resolution (512-1024 px) with its colour bar.",
    )  # fmt: skip
    right.download_button(
        "Raw map", lambda: npy_bytes(heatmap), file_name=f"{stem}_{name}.npy",
        mime="application/octet-stream", key=f"download_npy_{name}{tag}",
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
        "Evidence bundle (.zip)", lambda: evidence_bundle(panel(), model),
        file_name=f"{stem}_evidence.zip", mime="application/zip", key="download_bundle",
        icon=":material/verified:", on_click="ignore", width="stretch",
        help="The photo, its and the weights' hashes, every setting and seed, the maps, the "
        "metrics and a reproduce.py that recomputes them and reports the difference.",
    )  # fmt: skip
