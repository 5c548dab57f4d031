"""Export and share: maps as PNG / NPY / NPZ, a one-file HTML report, an evidence bundle
that recomputes itself, and the page's view as a URL query string.

``from core.reports import make_panel, html_report, evidence_bundle, reproduce,
npz_bytes, parse_view, view_query``.
"""

from core.reports.bundle import (
    Reproduction,
    evidence_bundle,
    manifest,
    print_reproduction,
    read_bundle,
    reproduce,
)
from core.reports.exports import npy_bytes, npz_bytes, png_bytes, read_npz
from core.reports.html import html_report, report_bytes
from core.reports.panel import MapRecord, Panel, make_panel
from core.reports.share import ViewState, parse_view, view_query
from core.reports.versions import library_versions

__all__ = [
    "MapRecord",
    "Panel",
    "Reproduction",
    "ViewState",
    "evidence_bundle",
    "html_report",
    "library_versions",
    "make_panel",
    "manifest",
    "npy_bytes",
    "npz_bytes",
    "parse_view",
    "png_bytes",
    "print_reproduction",
    "read_bundle",
    "read_npz",
    "report_bytes",
    "reproduce",
    "view_query",
]
