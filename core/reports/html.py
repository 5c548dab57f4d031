"""A one-file HTML report of an explained prediction: every image inlined."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from core.attribution import METHODS
from core.attribution.export import EXPORT_MIN_SIDE, export_tile
from core.common.images import data_uri, load_image
from core.models import ImageModel
from core.reports.panel import Panel
from core.reports.versions import library_versions

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
td, th { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 1rem; }
figure { margin: 0; } figure img { width: 100%; border-radius: 4px; }
figcaption { font-size: 0.85rem; color: #555; } code { font-size: 0.85rem; }
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_report(panel: Panel, model: ImageModel) -> str:
    """The report: photo, top-5, every map with its parameters and time, the trust
    metrics when computed, and the versions of Python and the libraries.

    Args:
        panel: The explained prediction.
        model: The model (for the crop the maps are drawn on).

    Returns:
        A self-contained HTML document (no external file, no script).
    """
    image = load_image(panel.image_bytes).image
    crop = model.crop(image)
    esc = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>CNN Explainer: "
        f"{esc(panel.target_label)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Why “{esc(panel.target_label)}”? {esc(panel.model_title)} on "
        f"{esc(panel.image_label)}</h1>",
        f"<p>Created {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Image SHA-256 "
        f"<code>{panel.image_sha256}</code>; weights SHA-256 "
        f"<code>{panel.weights_sha256[:16]}...</code>; class {panel.target}. Maps explain "
        "the class's logit (before softmax).</p>",
        f"<figure style='max-width:300px'><img alt='photo' src='{data_uri(crop)}'>"
        f"<figcaption>{esc(panel.image_label)}, as the model sees it</figcaption></figure>",
        "<h2>Top-5</h2>",
        _table(
            ["class", "probability", "logit"],
            [[esc(p.label), f"{p.probability:.1%}", f"{p.logit:.2f}"] for p in panel.predictions],
        ),
        "<h2>Maps</h2><div class='grid'>",
    ]
    for record in panel.maps.values():
        method = METHODS[record.method]
        # The page's exported tile (its colour bar), at 512 px: a JPEG keeps the file light.
        picture = export_tile(model, image, record.heatmap, method, side=EXPORT_MIN_SIDE)
        settings = ", ".join(f"{k}={v}" for k, v in record.params.items()) or "no parameters"
        parts.append(
            f"<figure><img alt='{esc(method.title)}' src='{data_uri(picture, 'JPEG')}'><figcaption>"
            f"<b>{esc(method.title)}</b> · {record.seconds:.2f} s on {esc(record.engine)}<br>"
            f"{esc(settings)}<br><a href='{esc(method.paper)}'>{esc(method.citation)}</a>"
            "</figcaption></figure>"
        )
    parts.append("</div>")
    if panel.faithfulness is not None:
        table = panel.faithfulness
        parts += [
            "<h2>Can these maps be trusted? Deletion and insertion</h2>",
            f"<p>Deletion substrate {esc(table.deletion_substrate)}, insertion substrate "
            f"{esc(table.insertion_substrate)}. Lower deletion AUC and higher insertion AUC "
            "are more faithful; baselines: reversed maps, a smooth random map, image edges.</p>",
            _table(
                ["map", "baseline", "deletion AUC", "insertion AUC", "insertion - deletion"],
                [
                    [
                        esc(r.name),
                        "yes" if r.baseline else "",
                        f"{r.deletion.auc:.4f}",
                        f"{r.insertion.auc:.4f}",
                        f"{r.score:.4f}",
                    ]
                    for r in table.rows
                ],
            ),  # fmt: skip
        ]
    parts += [
        "<h2>Versions</h2>",
        _table(["library", "version"], [[esc(k), esc(v)] for k, v in library_versions().items()]),
        "</body></html>",
    ]
    return "\n".join(parts)


def report_bytes(panel: Panel, model: ImageModel) -> bytes:
    """:func:`html_report` encoded as UTF-8 (for a download button)."""
    return html_report(panel, model).encode("utf-8")
