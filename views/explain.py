"""Explain an image: attribution maps side by side, for one photo and one class.

Cheap maps are computed first and appear at once; slow ones stream in under a progress
bar. Every map is cached, process-wide, on (image bytes hash, model, method, parameters,
class).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from core.attribution import (
    DEFAULT_METHODS,
    METHODS,
    Attribution,
    Attributor,
    MethodNotApplicable,
    attributor_for,
    by_cost,
)
from core.attribution.display import SEQUENTIAL_MAPS, render
from core.models.engine import existing_engine
from ui.common import cached_top_k, image_picker, model_picker, show_top_k
from ui.explain.cache import map_cache
from ui.explain.params import method_params, model_input_shape
from ui.explain.trust import trust_section

COLUMNS = 3

st.title("Explain an image")
st.caption(
    "Why did the network say what it said? Each method answers differently: compare "
    "them side by side. Maps explain the class's logit (before softmax)."
)

# ------------------------------------------------------------------------- inputs

model = model_picker(key="model")
st.sidebar.subheader("Methods")
chosen = st.sidebar.multiselect(
    "Methods",
    list(METHODS),
    default=list(DEFAULT_METHODS),
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
    target = st.selectbox(
        "Class to explain",
        options,
        format_func=lambda i: model.labels[i],
        key=f"explain_target_{model.name}_{picked.key}",
        help="Top-1 by default; any of the classes can be explained.",
    )

if not chosen:
    st.info("Choose one or more methods in the sidebar.")
    st.stop()


# ----------------------------------------------------------------------- computing


@functools.cache
def shared_run() -> Attributor:
    """One input, prepared once per rerun and only on a cache miss; methods share its work."""
    return attributor_for(model, picked.image)


def show_tile(slot: Any, name: str, result: Attribution, cached: bool) -> None:
    method = METHODS[name]
    picture: Image.Image = render(
        crop, result.heatmap, method.signed, None if method.signed else cmap, opacity,
        None if top_percent >= 100 else top_percent,
    )  # fmt: skip
    when = "cached" if cached else "just now"
    with slot.container():
        caption = f"{method.title} · {result.seconds:.2f} s on {result.engine} ({when})"
        st.image(picture, caption=caption, width="stretch")
        sign = "red = for, blue = against" if method.signed else "brighter = more important"
        st.caption(f"{method.summary} ({sign}). [Paper]({method.paper})")


order = [name for name, _ in by_cost(params, model_input_shape(model.name))]
st.subheader(f"Why “{model.labels[target]}”?")
slots = []
for row in range(0, len(order), COLUMNS):
    columns = st.columns(COLUMNS)
    slots.extend(column.empty() for column in columns[: len(order) - row])
for slot, name in zip(slots, order, strict=True):
    slot.caption(f"{METHODS[name].title}: waiting...")

cache = map_cache()
computed: dict[str, np.ndarray] = {}
shape = (3, *model.input_size)
bar = st.progress(0.0, text="Computing...")
for done, (slot, name) in enumerate(zip(slots, order, strict=True)):
    title = METHODS[name].title
    key = tuple(sorted(params[name].items()))

    def report(fraction: float, done: int = done, title: str = title) -> None:
        bar.progress((done + fraction) / len(order), text=f"{title}: {fraction:.0%}")

    bar.progress(done / len(order), text=f"{title}...")
    cache_key = (model.name, picked.key, name, key, target)
    try:
        result = cache.get(cache_key)
        cached = result is not None
        if result is None:
            if not METHODS[name].needs_gradients and existing_engine(model.net, shape) is None:
                bar.progress(done / len(order), text=f"{title}: preparing ONNX Runtime for "
                             f"{model.title} (once per model and server)...")  # fmt: skip
            result = shared_run().attribute(name, target, report, **params[name])
            cache.put(cache_key, result)
        show_tile(slot, name, result, cached=cached)
        computed[name] = result.heatmap
    except MethodNotApplicable as err:
        slot.info(f"**{title}** does not apply to {model.title}: {err}")
    except (ValueError, TypeError) as err:
        slot.warning(f"**{title}**: {err}")
    except Exception as err:  # noqa: BLE001 - one failing method must not hide the others
        slot.error(f"**{title}** failed: {err}")
bar.progress(1.0, text=f"{len(order)} map{'s' if len(order) != 1 else ''} ready.")

trust_section(model, picked.image, picked.key, target, computed, params)
