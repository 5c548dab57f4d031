"""Compare models: the same photo through several models x several methods, one grid.

Each model uses its own preprocessing and CAM layer; each row is labelled with that
model's top-1 class and probability. Maps come from (and go to) the same process-wide
cache as "Explain an image".
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.attribution import METHODS, Attribution, MethodNotApplicable, attributor_for
from core.attribution.display import DEFAULT_DISPLAY, ColourScale
from core.models import ModelUnavailable, list_models, model_spec, weights_available
from ui.common import cached_model, cached_top_k, image_picker
from ui.explain.cache import map_cache
from ui.explain.tiles import Photo, draw_tile, shared_tile_scales

DEFAULT_GRID_METHODS = ["gradcam", "saliency", "integrated_gradients"]

st.title("Compare models")
st.caption(
    "The same photo through several networks: do they look at the same evidence? Each "
    "model has its own preprocessing and its own last convolutional block for CAM methods."
)

available = [name for name in list_models() if weights_available(name)]
missing = [name for name in list_models() if not weights_available(name)]
with st.sidebar:
    names = st.multiselect(
        "Models", available, default=available[:3], key="compare_models",
        format_func=lambda n: model_spec(n).title,
        help="Models whose weights are on this machine (the embedded one always).",
    )  # fmt: skip
    methods = st.multiselect(
        "Methods", list(METHODS), default=DEFAULT_GRID_METHODS, key="compare_methods",
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

picked = image_picker(key="compare_image", follow=True)
if picked is None:
    st.stop()
if not names or not methods:
    st.info("Choose at least one model and one method in the sidebar.")
    st.stop()

models = {}
for name in names:
    try:
        models[name] = cached_model(name)
    except ModelUnavailable as err:
        st.warning(f"{model_spec(name).title}: {err}")
target: int | None = None
if same_class and models:
    first = next(iter(models.values()))
    top = cached_top_k(first.name, picked.key, picked.image, 5)
    target = st.selectbox(
        "Class", range(len(first.labels)), index=top[0].index, key="compare_class",
        format_func=lambda i: first.labels[i],
    )  # fmt: skip

cache = map_cache()
tiles: dict[tuple, tuple[Any, Photo, Attribution]] = {}  # map key -> slot, photo, map
drawn: dict[tuple, ColourScale] = {}  # map key -> the colour scale it was drawn with


def show(key: tuple, scale: ColourScale | None = None) -> ColourScale:
    """Draw (or redraw) the tile of a map key: (model, photo, method, params, class)."""
    slot, photo, result = tiles[key]
    caption = f"{result.seconds:.2f} s on {result.engine}"
    return draw_tile(slot, key, f"{key[0]}_{key[2]}", METHODS[key[2]], result.heatmap, photo,
                     DEFAULT_DISPLAY, scale, caption, downloads=False)  # fmt: skip


header = st.columns([1] + [2] * len(methods))
header[0].markdown("**Model**")
for column, method in zip(header[1:], methods, strict=True):
    column.markdown(f"**{METHODS[method].title}**")
for name, model in models.items():
    predictions = cached_top_k(name, picked.key, picked.image, 5)
    row_target = predictions[0].index if target is None else target
    probability = next((p.probability for p in predictions if p.index == row_target), None)
    row = st.columns([1] + [2] * len(methods))
    share = f"{probability:.1%}" if probability is not None else "not in its top-5"
    row[0].markdown(f"**{model.title}**  \n{model.labels[row_target]}: {share}")
    photo = Photo(model, picked.image, picked.key, picked.label)
    run = None
    for column, method in zip(row[1:], methods, strict=True):
        key = (name, picked.key, method, (), row_target)
        result = cache.get(key)
        try:
            if result is None:
                run = run or attributor_for(model, picked.image)
                with column, st.spinner(f"{METHODS[method].title}..."):
                    result = run.attribute(method, row_target)
                cache.put(key, result)
        except MethodNotApplicable as err:
            column.info(f"Does not apply: {err}")
            continue
        except (ValueError, TypeError, RuntimeError) as err:
            column.warning(f"{METHODS[method].title}: {err}")
            continue
        assert isinstance(result, Attribution)
        tiles[key] = (column.empty(), photo, result)
        drawn[key] = show(key)
if same_scale:  # each tile on its own scale as it came, then on its unit's shared scale
    maps = {key: (METHODS[key[2]], result.heatmap) for key, (_, _, result) in tiles.items()}
    for key, scale in shared_tile_scales(maps, DEFAULT_DISPLAY).items():
        if scale != drawn[key]:
            show(key, scale)
