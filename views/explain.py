"""Explain an image: attribution maps side by side, for one photo and one class.

The maps are asked for through the panel pipeline (:mod:`core.pipeline`) and computed
on the server's shared, fair scheduler: cheap maps first (every student's before
anyone's expensive ones), each tile saying whether it is queued (and its place in
line), running, done, cached or failed. Every map is cached process-wide under its
request's key (model, photo hash, class, method, resolved parameters).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution import DEFAULT_METHODS, METHODS, Attribution
from core.attribution.display import SEQUENTIAL_MAPS, DisplaySettings
from core.common.memory import release_memory
from core.common.scheduler import default_scheduler
from core.pipeline import Failed, MapJob, NotApplicable, keep_only, map_request, submit_maps
from core.reports import ViewState, make_panel
from ui.common import cached_top_k, image_picker, log_hooks_left, model_picker, show_top_k
from ui.explain.cache import failed_job, forget_failure, remember_failure, retryable_failures
from ui.explain.export import export_sidebar
from ui.explain.params import method_params
from ui.explain.share import pending_class, restore_from_url, share_box, show_notices, write_url
from ui.explain.tiles import Photo, draw_tile, shared_tile_scales
from ui.explain.trust import trust_section
from ui.present import intro, presenting
from ui.state import current, keep
from ui.work import describe, enter, provenance, session_id, wait_for

COLUMNS = 3

st.title("Explain an image")
intro(
    "Why did the network say what it said? Each method answers differently: compare "
    "them side by side. Maps explain the class's logit (before softmax).",
    caption=True,
)

# ------------------------------------------------------------------------- inputs

restore_from_url()  # a shared link: its view goes into the widgets before they are drawn
show_notices()
model = model_picker(key="model")
st.sidebar.subheader("Methods")
chosen = st.sidebar.multiselect(
    "Methods",
    list(METHODS),
    default=current("explain_methods", list(DEFAULT_METHODS)),
    format_func=lambda name: METHODS[name].title,
    key="explain_methods",
    label_visibility="collapsed",
    help="Cheap maps appear first; LIME, occlusion, Score-CAM, RISE and SmoothGrad take longer.",
)
params: dict[str, dict[str, Any]] = {}
for name in chosen:
    method = METHODS[name]
    if method.params:
        with st.sidebar.expander(f"{method.title} settings"):
            params[name] = method_params(method, model)
    else:
        params[name] = {}

st.sidebar.subheader("Display")
opacity = st.sidebar.slider(
    "Heatmap opacity", 0.0, 1.0, current("explain_opacity", 0.55), 0.05, key="explain_opacity"
)
cmap = st.sidebar.selectbox(
    "Colour map (unsigned maps)",
    SEQUENTIAL_MAPS,
    key="explain_cmap",
    help="Signed maps (IG, LRP, occlusion, LIME) always use red = for the class, "
    "blue = against it.",
)
top_percent = st.sidebar.slider(
    "Show only the top x% of pixels",
    1,
    100,
    current("explain_top", 100),
    key="explain_top",
    help="Hide everything but the most important pixels (100 = show all).",
)
same_scale = st.sidebar.toggle(
    "Same scale for maps of the same unit", key="explain_same_scale",
    help="Maps that measure the same thing (e.g. saliency and SmoothGrad, both |gradient|) "
    "share one colour scale, so their magnitudes compare. Off: each map its own.",
)  # fmt: skip
display = DisplaySettings(opacity, cmap, None if top_percent >= 100 else top_percent)

present = presenting()  # a projector: photo and classes in a narrow column, tiles beside
left, right = st.columns([1, 1]) if not present else st.columns([1, 3])
grid_area = st.container() if not present else right
right = right if not present else left
with left:
    picked = image_picker(key="explain_image", sidebar=present)
if picked is None:
    st.stop()

photo = Photo(model, picked.image, picked.key, picked.label)
crop = photo.network_crop()
predictions = cached_top_k(model.name, picked.key, picked.image, 5)
with left:
    st.image(crop, caption=f"{picked.label}, as {model.title} sees it",
             width="stretch" if present else 300)  # fmt: skip
with right:
    st.subheader("Top-5")
    show_top_k(predictions)
    top_indices = [p.index for p in predictions]
    options = top_indices + [i for i in range(len(model.labels)) if i not in top_indices]
    # One class widget per model, set back to the top-1 class when the photo changes. Not
    # one key per photo, nor a lambda defined here: Streamlit keeps the record of every
    # widget ever drawn in a session, and a callable from this script keeps this run's
    # whole namespace (photo, maps, tiles) alive with it: ~4 MB per photo (issue 15).
    target_key = f"explain_target_{model.name}"
    if st.session_state.get(f"{target_key}_photo") != picked.key:
        st.session_state[f"{target_key}_photo"] = picked.key
        st.session_state[target_key] = top_indices[0]
    keep([target_key])  # back from another page: the class the user chose
    pending_class(target_key)
    target = st.selectbox(
        "Class to explain",
        options,
        format_func=model.labels.__getitem__,
        key=target_key,
        help="Top-1 by default; any of the classes can be explained.",
    )
link = write_url(
    ViewState(model.name, tuple(chosen), params, picked.sample,
              None if target == top_indices[0] else int(target)),
    model.target_layer,
)  # fmt: skip
share_box(link, uploaded=picked.sample is None)

if not chosen:
    st.info("Choose one or more methods in the sidebar.")
    st.stop()


# ----------------------------------------------------------------------- computing

session = session_id()
context = ("explain", model.name, picked.key, int(target))
enter(context)  # this session's work for another photo, model or class stops
requests = []
for name in chosen:
    try:
        requests.append(map_request(model, picked.key, int(target), name, params[name]))
    except (ValueError, TypeError) as err:
        st.warning(f"**{METHODS[name].title}**: {err}")
failed = retryable_failures()
jobs = submit_maps(session, context, model, crop, [r for r in requests if r.key not in failed])
keep_only(session, jobs)  # maps of methods no longer chosen stop
jobs += [failed_job(failed[r.key], r) for r in requests if r.key in failed]


def show_tile(job: MapJob, result: Attribution, scale: Any = None) -> None:
    """A finished map's tile (its colour bar, hover values and downloads: ui/explain/tiles)."""
    name = job.request.method
    when = provenance(job.request.key, job.ticket.from_cache, job.estimate)
    caption = f"{METHODS[name].title} · {result.seconds:.2f} s on {result.engine} ({when})"
    scales[job.request.key] = draw_tile(
        slots[job.request.key], job.request.key, name, METHODS[name], result.heatmap, photo,
        display, scale, caption, result.notes,
    )  # fmt: skip


def shared_scale(job: MapJob) -> Any:
    """With "same scale": the scale of the job's unit over the maps done so far."""
    if not same_scale:
        return None
    done = {j.request.key: (METHODS[j.request.method], j.outcome.heatmap)
            for j in jobs if isinstance(j.outcome, Attribution)}  # fmt: skip
    return shared_tile_scales(done, display).get(job.request.key)


def draw(job: MapJob) -> None:
    """One tile in its current state: queued, running, or its outcome."""
    name, ticket = job.request.method, job.ticket
    title = METHODS[name].title
    outcome = job.outcome
    if outcome is not None:  # its final state: drawn once a run (see ui.work.wait_for)
        if job.request.key in ended:
            return
        ended.add(job.request.key)
    if isinstance(outcome, Attribution):
        show_tile(job, outcome, shared_scale(job))
        return
    with slots[job.request.key].container():
        if outcome is None and ticket.pending:
            st.caption(f"**{title}**: {describe(ticket, job.estimate)}")
            if ticket.state == "running":
                st.progress(ticket.progress)
        elif isinstance(outcome, NotApplicable):
            st.info(f"**{title}** does not apply to {model.title}: {outcome.reason}")
        elif isinstance(outcome, Failed):
            remember_failure(job.request, outcome)
            st.warning(f"**{title}** failed: {outcome.reason}")
            if outcome.retry and st.button("Try again", key=f"explain_retry_{name}"):
                forget_failure(job.request)
                st.rerun()
        else:
            st.caption(f"**{title}**: {describe(ticket, job.estimate)}")


grid_area.subheader(f"Why “{model.labels[target]}”?")
slots: dict[str, Any] = {}
scales: dict[str, Any] = {}  # request key -> the colour scale its tile was drawn with
ended: set[str] = set()  # request keys whose final state is drawn
for row in range(0, len(jobs), COLUMNS):
    columns = grid_area.columns(COLUMNS)
    for column, job in zip(columns, jobs[row : row + COLUMNS], strict=False):
        slots[job.request.key] = column.empty()
to_run = [job for job in jobs if job.ticket.pending]
st.sidebar.caption(
    f"This panel: {len(jobs) - len(to_run)} of {len(jobs)} maps ready; about "
    f"{sum(job.estimate for job in to_run):.1f} s of computing left "
    f"({default_scheduler().status()['queued']} maps queued on this server)."
)
by_ticket = {id(job.ticket): job for job in jobs}
wait_for([job.ticket for job in jobs], lambda ticket: draw(by_ticket[id(ticket)]))
if same_scale:  # maps that came later may widen a shared scale: redraw those tiles
    for job in jobs:
        if isinstance(job.outcome, Attribution) and shared_scale(job) != scales[job.request.key]:
            show_tile(job, job.outcome, shared_scale(job))
results = {job.request.method: job.outcome for job in jobs if isinstance(job.outcome, Attribution)}
st.caption(f"{len(results)} map{'s' if len(results) != 1 else ''} ready.")

maps = {name: result.heatmap for name, result in results.items()}
table = trust_section(model, picked.image, picked.key, target, maps, params)
if to_run:  # the new maps' activations go back to the OS (~190 ms: not on cached reruns)
    release_memory()
log_hooks_left(model)
export_sidebar(
    model,
    lambda: make_panel(model, picked.data, picked.label, target, predictions, results, params,
                       table),
    picked.label,
)  # fmt: skip
