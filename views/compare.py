"""Compare models: the same photo through several models x several methods, one grid.

Each model uses its own preprocessing and CAM layer; each row is labelled with that
model's top-1 class and probability. Maps go through the same pipeline, scheduler and
cache as "Explain an image" (a map computed there with the default settings is found
here, and the other way round).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution import METHODS, Attribution
from core.attribution.display import DEFAULT_DISPLAY, ColourScale
from core.models import ModelFileError, ModelUnavailable, list_models, model_spec, weights_available
from core.pipeline import Failed, MapJob, NotApplicable, keep_only, map_request, submit_maps
from core.reports.share import CLASS, COMPARE_FIELDS, COMPARE_METHODS
from ui.common import cached_model, cached_top_k, image_picker, model_title, sample_binding
from ui.explain.tiles import Photo, draw_tile, shared_tile_scales
from ui.own_model import session_models
from ui.present import intro, presenting
from ui.state import Bound, PageState, bind, check_choice, current, declare
from ui.work import describe, enter, provenance, session_id, wait_for

st.title("Compare models")
intro(
    "The same photo through several networks: do they look at the same evidence? Each "
    "model has its own preprocessing and its own last convolutional block for CAM methods.",
    caption=True,
)
# ?models=efficientnet_lite0,resnet18&methods=gradcam&same_class=true&class=281
declare(PageState("compare", bind(
    COMPARE_FIELDS, "compare_", sample=sample_binding("compare_image"),
    **{"class": Bound(CLASS, "compare_class", lambda s: bool(s.get("compare_same_class")))},
)))  # fmt: skip

available = [name for name in list_models() if weights_available(name)] + list(session_models())
missing = [name for name in list_models() if not weights_available(name)]
check_choice("compare_models", available, "model(s)", True, "weights not on this machine")
with st.sidebar:
    names = st.multiselect(
        "Models", available, default=current("compare_models", available[:3]),
        key="compare_models",
        format_func=model_title,
        help="Models whose weights are on this machine (the three embedded ones always), "
        "and the models you loaded with the model picker's “Your own model…”.",
    )  # fmt: skip
    methods = st.multiselect(
        "Methods", list(METHODS), default=current("compare_methods", list(COMPARE_METHODS)),
        key="compare_methods",
        format_func=lambda n: METHODS[n].title, help="Each with its default settings.",
    )  # fmt: skip
    same_scale = st.toggle(
        "Same scale for maps of the same unit", key="compare_same_scale",
        help="A method's maps in every model (and maps of the same unit) share one colour "
        "scale, so their magnitudes compare. Off: each map its own.",
    )  # fmt: skip
    same_class = st.toggle(
        "Explain one class in every model", key="compare_same_class",
        help="Off: each model explains its own top-1 class. On: the class you choose "
        "(the models share ImageNet's 1,000 classes).",
    )  # fmt: skip
    if missing:
        with st.expander(f"{len(missing)} more models (weights not here yet)"):
            for name in missing:
                spec = model_spec(name)
                where = spec.weights_file
                st.markdown(
                    f"**{spec.title}**: downloaded on first use from torchvision (needs "
                    f"internet), or copy the file to `{where}` by hand."
                )

picked = image_picker(key="compare_image", sidebar=presenting(), follow=True)
if picked is None:
    st.stop()
if not names or not methods:
    st.info("Choose at least one model and one method in the sidebar.")
    st.stop()

models = {}
for name in names:
    try:
        models[name] = cached_model(name)
    except (ModelUnavailable, ModelFileError) as err:
        st.warning(f"{model_title(name)}: {err}")
target: int | None = None
if same_class and models:
    first = next(iter(models.values()))
    top = cached_top_k(first.name, picked.key, picked.image, 5)
    check_choice("compare_class", range(len(first.labels)), "class")
    target = st.selectbox(
        "Class", range(len(first.labels)), index=top[0].index, key="compare_class",
        format_func=lambda i: first.labels[i],
    )  # fmt: skip

session = session_id()
context = ("compare", picked.key, tuple(models), target)
enter(context)  # this session's work for another photo or page stops
header = st.columns([1] + [2] * len(methods))
header[0].markdown("**Model**")
for column, method in zip(header[1:], methods, strict=True):
    column.markdown(f"**{METHODS[method].title}**")
jobs: list[MapJob] = []
slots: dict[int, tuple[Any, Photo]] = {}  # ticket -> its cell, the photo as the model sees it
drawn: dict[str, ColourScale] = {}  # request key -> the colour scale its tile was drawn with
ended: set[str] = set()  # request keys whose final state is drawn
for name, model in models.items():
    predictions = cached_top_k(name, picked.key, picked.image, 5)
    row_target = predictions[0].index if target is None else target
    probability = next((p.probability for p in predictions if p.index == row_target), None)
    row = st.columns([1] + [2] * len(methods))
    share = f"{probability:.1%}" if probability is not None else "not in its top-5"
    row[0].markdown(f"**{model.title}**  \n{model.labels[row_target]}: {share}")
    photo = Photo(model, picked.image, picked.key, picked.label)
    requests = [map_request(model, picked.key, row_target, method) for method in methods]
    row_jobs = submit_maps(session, context, model, photo.network_crop(), requests)
    for job in row_jobs:
        slots[id(job.ticket)] = (row[1 + methods.index(job.request.method)].empty(), photo)
    jobs += row_jobs
keep_only(session, jobs)


def show(job: MapJob, result: Attribution, scale: ColourScale | None = None) -> None:
    """A finished cell: the map's tile (colour bar and hover values, ui/explain/tiles)."""
    slot, photo = slots[id(job.ticket)]
    when = provenance(job.request.key, job.ticket.from_cache, job.estimate)
    caption = f"{result.seconds:.2f} s on {result.engine} ({when})"
    drawn[job.request.key] = draw_tile(
        slot, job.request.key, f"{job.request.model}_{job.request.method}",
        METHODS[job.request.method], result.heatmap, photo, DEFAULT_DISPLAY, scale, caption,
        downloads=False,
    )  # fmt: skip


def draw(job: MapJob) -> None:
    """One cell in its current state."""
    slot, _ = slots[id(job.ticket)]
    title, outcome = METHODS[job.request.method].title, job.outcome
    if outcome is not None:  # its final state: drawn once a run (see ui.work.wait_for)
        if job.request.key in ended:
            return
        ended.add(job.request.key)
    if isinstance(outcome, Attribution):
        show(job, outcome)
        return
    with slot.container():
        if isinstance(outcome, NotApplicable):
            st.info(f"Does not apply: {outcome.reason}")
        elif isinstance(outcome, Failed):
            st.warning(f"{title} failed: {outcome.reason}")
        else:
            st.caption(f"{title}: {describe(job.ticket, job.estimate)}")
            if job.ticket.state == "running":
                st.progress(job.ticket.progress)


by_ticket = {id(job.ticket): job for job in jobs}
wait_for([job.ticket for job in jobs], lambda ticket: draw(by_ticket[id(ticket)]))
if same_scale:  # each tile on its own scale as it came, then on its unit's shared scale
    done = {j.request.key: (METHODS[j.request.method], j.outcome.heatmap)
            for j in jobs if isinstance(j.outcome, Attribution)}  # fmt: skip
    for job in jobs:
        scale = shared_tile_scales(done, DEFAULT_DISPLAY).get(job.request.key)
        if isinstance(job.outcome, Attribution) and scale != drawn[job.request.key]:
            show(job, job.outcome, scale)
