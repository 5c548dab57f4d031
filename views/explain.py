"""Explain an image: attribution maps side by side, for one photo and one class.

Cheap maps are computed first and appear at once; slow ones stream in under a progress
bar. Every map is cached, process-wide, on (image bytes hash, model, method, parameters,
class).
"""

from __future__ import annotations

import functools
from typing import Any

import streamlit as st

from core.attribution import (
    DEFAULT_METHODS,
    METHODS,
    Attribution,
    Attributor,
    MethodNotApplicable,
    attributor_for,
    by_cost,
)
from core.attribution.display import SEQUENTIAL_MAPS, DisplaySettings
from core.common.memory import release_memory
from core.models.engine import existing_engine
from core.reports import ViewState, make_panel
from ui.common import cached_top_k, image_picker, log_hooks_left, model_picker, show_top_k
from ui.explain.cache import map_cache, pass_times
from ui.explain.export import export_sidebar
from ui.explain.params import method_params, model_input_shape
from ui.explain.share import pending_class, restore_from_url, share_box, show_notices, write_url
from ui.explain.tiles import Photo, draw_tile, shared_tile_scales
from ui.explain.trust import trust_section

COLUMNS = 3

st.title("Explain an image")
st.caption(
    "Why did the network say what it said? Each method answers differently: compare "
    "them side by side. Maps explain the class's logit (before softmax)."
)

# ------------------------------------------------------------------------- inputs

restore_from_url()  # a shared link: its view goes into the widgets before they are drawn
show_notices()
model = model_picker(key="model")
st.sidebar.subheader("Methods")
chosen = st.sidebar.multiselect(
    "Methods",
    list(METHODS),
    default=None if "explain_methods" in st.session_state else list(DEFAULT_METHODS),
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
opacity = st.sidebar.slider("Heatmap opacity", 0.0, 1.0, 0.55, 0.05, key="explain_opacity")
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
    100,
    key="explain_top",
    help="Hide everything but the most important pixels (100 = show all).",
)
same_scale = st.sidebar.toggle(
    "Same scale for maps of the same unit", key="explain_same_scale",
    help="Maps that measure the same thing (e.g. saliency and SmoothGrad, both |gradient|) "
    "share one colour scale, so their magnitudes compare. Off: each map its own.",
)  # fmt: skip
display = DisplaySettings(opacity, cmap, None if top_percent >= 100 else top_percent)

left, right = st.columns([1, 1])
with left:
    picked = image_picker(key="explain_image")
if picked is None:
    st.stop()

crop = model.crop(picked.image)
predictions = cached_top_k(model.name, picked.key, picked.image, 5)
with left:
    st.image(crop, caption=f"{picked.label}, as {model.title} sees it", width=300)
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


def map_key(name: str) -> tuple[Any, ...]:
    """A map's cache key: model, image bytes hash, method, parameters, class."""
    return (model.name, picked.key, name, tuple(sorted(params[name].items())), target)


@functools.cache
def shared_run() -> Attributor:
    """One input, prepared once per rerun and only on a cache miss; methods share its work."""
    return attributor_for(model, picked.image)


def show_tile(slot: Any, name: str, result: Attribution, cached: bool, scale: Any = None) -> Any:
    when = "cached" if cached else "just now"
    caption = (
        f"{METHODS[name].title} · {result.seconds:.2f} s (estimated {estimates[name]:.2f} s) "
        f"on {result.engine} ({when})"
    )
    photo = Photo(model, picked.image, picked.key, picked.label)
    return draw_tile(slot, map_key(name), name, METHODS[name], result.heatmap, photo, display,
                     scale, caption, result.notes)  # fmt: skip


estimates = dict(by_cost(params, model_input_shape(model.name), pass_times(model.name)))
order = list(estimates)
st.subheader(f"Why “{model.labels[target]}”?")
slots = []
for row in range(0, len(order), COLUMNS):
    columns = st.columns(COLUMNS)
    slots.extend(column.empty() for column in columns[: len(order) - row])
cache = map_cache()
cached_maps = {name: cache.get(map_key(name)) for name in order}
for slot, name in zip(slots, order, strict=True):
    slot.caption(f"{METHODS[name].title}: waiting... (about {estimates[name]:.2f} s)")
to_run = [name for name in order if cached_maps[name] is None]
st.sidebar.caption(
    f"This panel: about {sum(estimates[n] for n in to_run):.1f} s to compute "
    f"({len(to_run)} of {len(order)} maps not cached yet)."
)
results: dict[str, Attribution] = {}
drawn: dict[str, tuple[Any, bool, Any]] = {}  # slot, cached, colour scale
known = {n: (METHODS[n], r.heatmap) for n, r in cached_maps.items() if r is not None}
shared = shared_tile_scales(known, display) if same_scale else {}
shape = (3, *model.input_size)
bar = st.progress(0.0, text="Computing...")
for done, (slot, name) in enumerate(zip(slots, order, strict=True)):
    title = METHODS[name].title

    def report(fraction: float, done: int = done, title: str = title) -> None:
        bar.progress((done + fraction) / len(order), text=f"{title}: {fraction:.0%}")

    bar.progress(done / len(order), text=f"{title}...")
    try:
        result = cached_maps[name]
        cached = result is not None
        if result is None:
            if not METHODS[name].needs_gradients and existing_engine(model.net, shape) is None:
                bar.progress(done / len(order), text=f"{title}: preparing ONNX Runtime for "
                             f"{model.title} (once per model and server)...")  # fmt: skip
            result = shared_run().attribute(name, target, report, **params[name])
            cache.put(map_key(name), result)
        results[name] = result
        drawn[name] = (slot, cached, show_tile(slot, name, result, cached, shared.get(name)))
    except MethodNotApplicable as err:
        slot.info(f"**{title}** does not apply to {model.title}: {err}")
    except (ValueError, TypeError) as err:
        slot.warning(f"**{title}**: {err}")
    except Exception as err:  # noqa: BLE001 - one failing method must not hide the others
        slot.error(f"**{title}** failed: {err}")
bar.progress(1.0, text=f"{len(order)} map{'s' if len(order) != 1 else ''} ready.")
if same_scale:  # maps computed in this run may widen a shared scale: redraw those tiles
    computed = {name: (METHODS[name], result.heatmap) for name, result in results.items()}
    for name, scale in shared_tile_scales(computed, display).items():
        if scale != drawn[name][2]:
            show_tile(drawn[name][0], name, results[name], drawn[name][1], scale)

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
