"""The "Can I trust these maps?" section of "Explain an image": faithfulness curves with
baselines, agreement between methods, the user's own guess, and the sanity cascade.

Every number comes from :mod:`core.evaluation`; this module caches, draws and explains.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.attribution import METHODS, estimate_seconds
from core.attribution.calibration import UNCALIBRATED
from core.attribution.display import colour_scale, render
from core.common import data_uri
from core.common.scheduler import Progress
from core.evaluation import (
    DEFAULT_SUBSTRATE,
    SUBSTRATES,
    Agreement,
    Box,
    Faithfulness,
    SanityResult,
    agreement,
    box_iou,
    cascade_blocks,
    default_step,
    faithfulness,
    pointing_game,
    sanity_cascade,
)
from core.evaluation.curves import STEPS
from core.evaluation.sanity import CHANGED_BELOW
from core.models import ImageModel
from core.pipeline import known_pass_times, model_shape
from ui.explain.cache import trust_cache
from ui.work import run_work

CANVAS = 336  # the "your guess" canvas, in screen pixels
SANITY_SHOWN = 5  # maps shown per method in the cascade (original ... all randomised)
SANITY_ASKED = "trust_sanity_asked"  # session state: the cascade the user asked for

HELP = (
    "**Deletion**: pixels are removed (replaced by the substrate) in the order the map "
    "ranks them; a faithful map makes the class probability fall fast (low AUC). "
    "**Insertion**: pixels are put back on a blurred image in that order; a faithful map "
    "makes it rise fast (high AUC). Baselines (dashed): the map reversed, a random map as "
    "smooth as a CAM, and an image-only edge map. A pixel-wise random map is no fair "
    "baseline: deleting scattered pixels destroys texture everywhere and beats every real "
    "map on deletion (measured here). For the same reason sharp, pixel-level maps "
    "(saliency, guided backprop, IG) and edges get low deletion AUCs: read deletion "
    "together with insertion, and against the baselines."
)


def _key(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def trust_section(
    model: ImageModel,
    image: Image.Image,
    image_key: str,
    target: int,
    maps: Mapping[str, np.ndarray],
    params: Mapping[str, Mapping[str, Any]],
) -> Faithfulness | None:
    """The whole section, under the map grid; returns the faithfulness table when the user
    computed it (for the report and the evidence bundle).

    Args:
        model: The model the maps explain.
        image: The photo (any size; the model's preprocessing is applied).
        image_key: Hash of the photo's bytes (cache key).
        target: The explained class.
        maps: method name -> map, for the methods that produced one.
        params: method name -> its parameters (cache keys).
    """
    st.divider()
    st.subheader("Can I trust these maps?")
    if not maps:
        st.info("No map to check yet: choose methods that apply to this model.")
        return None
    signature = (model.name, image_key, target, tuple((n, sorted(params[n].items())) for n in maps))
    faithful, agree, guess, sanity = st.tabs(
        ["Faithfulness", "Agreement", "Your guess", "Sanity check"]
    )
    with faithful:
        table = faithfulness_panel(model, image, target, maps, signature)
    with agree:
        agreement_panel(maps, signature)
    with guess:
        guess_panel(model, image, image_key, maps)
    with sanity:
        sanity_panel(model, image, target, maps, params, signature)
    return table


# ------------------------------------------------------------------- faithfulness


def faithfulness_panel(
    model: ImageModel,
    image: Image.Image,
    target: int,
    maps: Mapping[str, np.ndarray],
    signature: tuple[object, ...],
) -> Faithfulness | None:
    """Deletion and insertion curves, and the AUC table sorted by faithfulness."""
    st.caption(HELP)
    left, middle, right = st.columns(3)
    deletion_substrate = left.selectbox(
        "Deletion substrate", SUBSTRATES, index=SUBSTRATES.index(DEFAULT_SUBSTRATE["deletion"]),
        key="trust_deletion_substrate",
        help="zero: the normalisation mean colour (RISE); blur: RISE's Gaussian (kernel 11, "
        "sigma 5, zero padding); blur_reflect: the same, borders reflected; mean: the "
        "image's own mean colour.",
    )  # fmt: skip
    insertion_substrate = middle.selectbox(
        "Insertion substrate", SUBSTRATES, index=SUBSTRATES.index(DEFAULT_SUBSTRATE["insertion"]),
        key="trust_insertion_substrate",
    )  # fmt: skip
    base_step = default_step(model.input_size)
    steps = right.slider(
        "Steps per curve", 7, 112, STEPS, 7, key="trust_steps",
        help=f"RISE's default: 28 steps ({base_step} pixels each at this input size).",
    )  # fmt: skip
    step = -(-model.input_size[0] * model.input_size[1] // steps)
    images = (2 * len(maps) + 2) * 2 * (steps + 1)
    seconds = images * (known_pass_times(model) or UNCALIBRATED).engine_forward
    run = st.toggle(
        f"Compute the curves ({images} forward passes, about {seconds:.0f} s)",
        key="trust_curves", help="Cached: switching back and forth is instant.",
    )  # fmt: skip
    if not run:
        return None
    key = _key("faithfulness", signature, deletion_substrate, insertion_substrate, step)
    try:
        table = run_work(
            "curves", key,
            lambda progress: faithfulness(
                model, image, maps, target, deletion_substrate=deletion_substrate,
                insertion_substrate=insertion_substrate, step=step, progress=progress,
            ),
            seconds, "Deleting and inserting pixels", trust_cache(),
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 - shown in the page, never a traceback
        st.warning(f"The curves could not be computed: {err}")
        return None
    left, right = st.columns(2)
    left.plotly_chart(curve_figure(table, "deletion"), key="trust_deletion_figure")
    right.plotly_chart(curve_figure(table, "insertion"), key="trust_insertion_figure")
    st.dataframe(auc_frame(table), hide_index=True, width="stretch")
    return table


def _title(name: str) -> str:
    method = METHODS.get(name.removesuffix(" reversed"))
    if method is None:
        return name
    return method.title + (" reversed" if name.endswith(" reversed") else "")


def curve_figure(table: Faithfulness, mode: str) -> go.Figure:
    """One curve per map; baselines dashed, reversed maps dotted in their method's colour."""
    figure = go.Figure()
    palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
        "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39",
    ]  # fmt: skip
    methods = [r.name for r in table.rows if not r.baseline]
    colours = {name: palette[i % len(palette)] for i, name in enumerate(methods)}
    for row in table.rows:
        curve = row.deletion if mode == "deletion" else row.insertion
        colour = colours.get(row.method or "", "#555555")
        dash = "solid" if not row.baseline else ("dot" if row.method else "dash")
        figure.add_trace(
            go.Scatter(
                x=curve.fractions, y=curve.probabilities, mode="lines",
                name=f"{_title(row.name)} ({curve.auc:.3f})",
                line={"color": colour, "dash": dash, "width": 1.5 if row.baseline else 2.5},
                visible=True if not row.method or not row.baseline else "legendonly",
            )
        )  # fmt: skip
    figure.update_layout(
        title=f"{mode.capitalize()} (AUC in the legend)", height=380,
        xaxis_title=f"share of pixels {'deleted' if mode == 'deletion' else 'inserted'}",
        yaxis_title="class probability", margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"font": {"size": 10}},
    )  # fmt: skip
    return figure


def auc_frame(table: Faithfulness) -> pd.DataFrame:
    """The AUC table, most faithful first, baselines among the methods."""
    return pd.DataFrame(
        [
            {
                "map": _title(row.name),
                "baseline": "yes" if row.baseline else "",
                "deletion AUC (lower is better)": round(row.deletion.auc, 4),
                "insertion AUC (higher is better)": round(row.insertion.auc, 4),
                "insertion - deletion": round(row.score, 4),
            }
            for row in table.rows
        ]
    )


# ---------------------------------------------------------------------- agreement


def agreement_panel(maps: Mapping[str, np.ndarray], signature: tuple[object, ...]) -> None:
    """Spearman rank correlation between every pair of maps; top-10% IoU on hover."""
    if len(maps) < 2:
        st.info("Agreement needs at least two maps.")
        return
    key = _key("agreement", signature)
    cache = trust_cache()
    result = cache.get(key)
    if not isinstance(result, Agreement):
        result = agreement(maps)
        cache.put(key, result)
    titles = [_title(n) for n in result.names]
    figure = go.Figure(
        go.Heatmap(
            z=result.spearman, x=titles, y=titles, zmin=-1, zmax=1, colorscale="RdBu_r",
            text=np.round(result.spearman, 2), texttemplate="%{text}",
            customdata=np.round(result.top_iou, 2),
            hovertemplate="%{y} vs %{x}<br>Spearman %{z:.2f}<br>top-10% IoU %{customdata}"
            "<extra></extra>",
        )
    )  # fmt: skip
    figure.update_layout(
        height=120 + 40 * len(titles), margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Spearman rank correlation of the maps (hover: IoU of their top 10%)",
        yaxis={"autorange": "reversed"},
    )  # fmt: skip
    st.plotly_chart(figure, key="trust_agreement_figure")
    st.caption(
        "Maps are compared as they are (for signed maps, evidence *for* the class ranks "
        "first). Methods that disagree cannot all be right about this image."
    )


# ---------------------------------------------------------------------- your guess


def canvas_boxes(json_data: Mapping[str, Any] | None, scale: float) -> list[Box]:
    """Rectangles drawn on the canvas -> ``(x0, y0, x1, y1)`` boxes in input pixels."""
    boxes: list[Box] = []
    for shape in (json_data or {}).get("objects", []):
        if str(shape.get("type", "")).lower() != "rect":  # fabric.js 7 says "Rect"
            continue
        width = float(shape["width"]) * float(shape.get("scaleX", 1))
        height = float(shape["height"]) * float(shape.get("scaleY", 1))
        left, top = float(shape["left"]), float(shape["top"])
        if width > 1 and height > 1:
            boxes.append(
                (left * scale, top * scale, (left + width) * scale, (top + height) * scale)
            )
    return boxes


def guess_panel(
    model: ImageModel, image: Image.Image, image_key: str, maps: Mapping[str, np.ndarray]
) -> None:
    """Draw boxes where the evidence should be; every map is scored against them."""
    st.caption(
        "Draw one or more boxes where *you* think the evidence for the class is. Each map "
        "is scored by the energy-based pointing game (share of its positive mass inside your "
        "boxes; Wang et al. 2020) and by the IoU of its top 10% pixels with them."
    )
    # Imported here: the component registers itself on import, which only works inside a
    # running app (importing this module in tests must not need one).
    from streamlit_drawable_canvas import st_canvas

    crop = model.crop(image)
    left, right = st.columns([1, 1])
    with left:
        canvas = st_canvas(
            fill_color="rgba(255, 165, 0, 0.15)", stroke_width=2, stroke_color="#ff8c00",
            # A JPEG data URI, not the image: the component keeps the last 32 images it
            # encoded itself (as ~1.5 MB PNGs) in a process-wide cache; a URI it passes on.
            background_image=data_uri(crop.resize((CANVAS, CANVAS)), "JPEG"),
            drawing_mode="rect",
            update_streamlit=True, height=CANVAS, width=CANVAS,
            key=f"trust_canvas_{model.name}_{image_key[:16]}",
        )  # fmt: skip
    boxes = canvas_boxes(canvas.json_data, model.input_size[1] / CANVAS)
    with right:
        if not boxes:
            st.info("Draw a box on the photo to score the maps.")
            return
        rows = [
            {
                "map": _title(name),
                "pointing game (mass inside)": round(pointing_game(heat, boxes), 3),
                "top-10% IoU": round(box_iou(heat, boxes), 3),
            }
            for name, heat in maps.items()
        ]
        frame = pd.DataFrame(rows).sort_values("pointing game (mass inside)", ascending=False)
        best = frame.iloc[0]
        st.markdown(
            f"Closest to your guess ({len(boxes)} box{'es' if len(boxes) > 1 else ''}): "
            f"**{best['map']}**, {best['pointing game (mass inside)']:.0%} of its mass inside."
        )
        st.dataframe(frame, hide_index=True, width="stretch", key="trust_guess_table")


# ---------------------------------------------------------------------- sanity check


def sanity_panel(
    model: ImageModel,
    image: Image.Image,
    target: int,
    maps: Mapping[str, np.ndarray],
    params: Mapping[str, Mapping[str, Any]],
    signature: tuple[object, ...],
) -> None:
    """Opt-in cascading randomisation: estimated time first, then maps and similarities."""
    st.caption(
        "Adebayo et al. 2018: the model's blocks are re-initialised one by one, from the "
        "logits down, and each map is computed again. A map that barely changes while the "
        "model is destroyed explains the image, not the model. A method passes when its "
        f"map's Spearman similarity to the trained model's falls below {CHANGED_BELOW} "
        "before half of the blocks are randomised. In the paper gradients and Grad-CAM "
        "changed at once and guided backprop stayed similar until deep into the network."
    )
    chosen = st.multiselect(
        "Methods to check", list(maps), default=list(maps), format_func=_title,
        key="trust_sanity_methods",
    )  # fmt: skip
    if not chosen:
        st.info("Choose at least one method.")
        return
    blocks = cascade_blocks(model.net)
    times = known_pass_times(model) or UNCALIBRATED
    torch_times = dataclasses.replace(times, engine_forward=times.forward)  # runs on torch
    seconds = (len(blocks) + 1) * sum(
        estimate_seconds(METHODS[n], params[n], model_shape(model), torch_times) for n in chosen
    )
    key = _key("sanity", signature, tuple(chosen))
    cache = trust_cache()
    cached = cache.get(key)
    asked = st.session_state.get(SANITY_ASKED) == key  # asked for: survives reruns
    if not isinstance(cached, dict) and not asked:
        label = f"Run the sanity check ({len(blocks)} blocks, about {seconds:.0f} s)"
        if not st.button(label, key="trust_sanity_run", icon=":material/science:"):
            return
        st.session_state[SANITY_ASKED] = key

    def cascade(progress: Progress) -> dict[str, SanityResult]:
        results: dict[str, SanityResult] = {}
        for i, name in enumerate(chosen):

            def part(fraction: float, i: int = i) -> None:
                progress((i + fraction) / len(chosen))

            results[name] = sanity_cascade(
                model, image, name, target, progress=part, **params[name]
            )
        return results

    try:
        results = run_work("sanity", key, cascade, seconds, "Randomising the model", cache)
    except Exception as err:  # noqa: BLE001 - shown in the page, never a traceback
        st.warning(f"The sanity check could not be computed: {err}")
        return
    show_sanity(model, image, results)


def sanity_figure(results: Mapping[str, SanityResult]) -> go.Figure:
    """Spearman similarity against randomised depth, one line per method; the y axis
    holds every point (Grad-CAM's curve can go below -0.4) and the pass line."""
    figure = go.Figure()
    lowest = 0.0
    for name, result in results.items():
        depth = list(range(len(result.steps)))
        values = [s.similarity.spearman_abs for s in result.steps]
        lowest = min(lowest, *values)
        labels = [s.layers[-1] if s.layers else "trained" for s in result.steps]
        figure.add_trace(
            go.Scatter(
                x=depth, y=values, mode="lines+markers",
                name=_title(name), customdata=labels,
                hovertemplate="%{customdata}: Spearman %{y:.2f}<extra>%{fullData.name}</extra>",
            )
        )  # fmt: skip
    figure.add_hline(
        y=CHANGED_BELOW, line_dash="dot", line_color="#888",
        annotation_text=f"changed below {CHANGED_BELOW}", annotation_position="bottom right",
    )  # fmt: skip
    figure.update_layout(
        height=360, xaxis_title="blocks randomised (from the logits down)",
        yaxis_title="Spearman of |map| vs the trained model's",
        yaxis_range=[min(-0.3, lowest - 0.05), 1.05],
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )  # fmt: skip
    return figure


def show_sanity(model: ImageModel, image: Image.Image, results: Mapping[str, SanityResult]) -> None:
    """Similarity against randomised depth, and a row of maps per method."""
    st.plotly_chart(sanity_figure(results), key="trust_sanity_figure")
    crop = model.crop(image)
    for name, result in results.items():
        last = result.steps[-1].similarity
        scores = f"Spearman {last.spearman_abs:.2f}, SSIM {last.ssim:.2f}, HOG {last.hog:.2f}"
        st.markdown(
            f"**{_title(name)}** {result.verdict().text()}. At full randomisation: {scores}."
        )
        picks = np.linspace(0, len(result.steps) - 1, SANITY_SHOWN).round().astype(int)
        columns = st.columns(len(picks))
        for column, index in zip(columns, picks, strict=True):
            step = result.steps[int(index)]
            caption = "trained" if not step.layers else f"up to {step.layers[-1]}"
            scale = colour_scale(step.heatmap, METHODS[name])  # each map its own scale
            caption += f" · {scale.low:.3g} to {scale.high:.3g} {scale.unit}"
            column.image(render(crop, step.heatmap, METHODS[name], scale=scale), caption=caption,
                         width="stretch")  # fmt: skip
