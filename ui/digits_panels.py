"""The digits lab's panels (Streamlit). Every number comes from core.digits; this module
caches those calls and renders them.

Caching: the shipped network is one ``st.cache_resource`` per process; results are
``st.cache_data`` keyed on the SHA-1 of the 28 x 28 digit's bytes (``digit_key``), the
digit itself passed as an ``_underscore`` argument.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from torch import nn

from core import digits
from core.common.single_thread import run_single_threaded
from core.digit_trainer import LiveTrainer
from ui.digits_plots import (
    curves_figure,
    heatmap_on_digit,
    kernels_figure,
    pixels,
    probability_figure,
    signed_figure,
    tile_channels,
    units_figure,
)

TOP_NEURONS = 4  # decisive neurons highlighted per layer
STEP_BATCHES = 10  # mini-batches per "one step" / per live tick
TICK_SECONDS = 0.5


@st.cache_resource(show_spinner="Loading the digit network...")
def digit_network() -> nn.Module:
    """The shipped digit CNN, once per process. Never mutate it."""
    return digits.load_digit_net()


def digit_key(digit: np.ndarray) -> str:
    """Cache key of a preprocessed digit: the hash of its bytes."""
    return hashlib.sha1(np.ascontiguousarray(digit, np.float32).tobytes()).hexdigest()


@st.cache_data(show_spinner=False, max_entries=64)
def cached_probabilities(key: str, _digit: np.ndarray) -> np.ndarray:
    return digits.classify(_digit, digit_network())


@st.cache_data(show_spinner=False, max_entries=64)
def cached_activations(
    key: str, _digit: np.ndarray, target: int | None
) -> list[digits.LayerActivation]:
    return digits.layer_activations(digit_network(), _digit, target)


@st.cache_data(show_spinner=False, max_entries=128)
def cached_heatmap(
    key: str, _digit: np.ndarray, method: str, target: int, params: tuple[tuple[str, object], ...]
) -> np.ndarray:
    from core.attribution import attribute

    x = digits.as_batch(_digit)  # (1, 1, 28, 28)
    return run_single_threaded(attribute, digit_network(), x, method, target, **dict(params))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_fgsm(key: str, _digit: np.ndarray, epsilon: float) -> digits.AdversarialExample:
    return digits.fgsm(digit_network(), _digit, epsilon)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_deepfool(
    key: str, _digit: np.ndarray, overshoot: float, max_iterations: int
) -> digits.AdversarialExample:
    return digits.deepfool(digit_network(), _digit, overshoot, max_iterations)


@st.cache_data(show_spinner="Optimising ten images...", max_entries=16)
def cached_prototypes(
    key: str | None, _start: np.ndarray | None, l2_weight: float, steps: int, seed: int
) -> digits.Prototypes:
    return digits.class_prototypes(
        digit_network(), start=_start, steps=steps, l2_weight=l2_weight, seed=seed
    )


@st.cache_data(show_spinner="Classifying the 128 patterns...")
def cached_seven_segment_table() -> list[digits.SevenSegmentResult]:
    return digits.seven_segment_table(digit_network())


def pixelated_images() -> None:
    """Make the browser enlarge this page's images with hard pixel edges.

    A 28 x 28 digit must show its pixels; sending it small and letting the browser
    enlarge it costs far less than encoding a big PNG on every stroke (4 activation
    grids: ~30 ms of PNG encoding at 2-4x, ~1 ms at 1x).
    """
    st.html("<style>[data-testid='stMain'] img {image-rendering: pixelated;}</style>")


def show_digit(image: np.ndarray, caption: str, width: int = 168) -> None:
    """A 28 x 28 digit with visible pixels, ``width`` screen pixels wide."""
    st.image(pixels(image), caption=caption, output_format="PNG", width=width)


def show_prediction(probs: np.ndarray) -> None:
    """The predicted digit, its probability and the 10 bars."""
    top = int(probs.argmax())
    st.metric(
        "The network says", str(top), f"{probs[top]:.1%} sure", delta_color="off", delta_arrow="off"
    )
    st.plotly_chart(probability_figure(probs), key="digits_probabilities")


def target_picker(where: Any, label: str, probs: np.ndarray, key: str) -> int:
    """A class select box whose default follows the prediction as the drawing changes.

    Returns:
        The chosen class, or the predicted one while "predicted" is selected.
    """
    predicted = int(probs.argmax())
    choice = where.selectbox(
        label,
        [None, *range(10)],
        format_func=lambda d: f"the predicted digit ({predicted})" if d is None else str(d),
        key=key,
    )
    return predicted if choice is None else int(choice)


# --------------------------------------------------------------------------- panels


def activations_panel(digit: np.ndarray, probs: np.ndarray) -> None:
    """Every layer's activations, decisive neurons (activation x gradient) framed in red."""
    target = target_picker(st, "Explain the decision for digit", probs, "digits_activation_target")
    st.caption(
        f"Grey level = activation (per layer, scaled to its strongest). Framed in red: the "
        f"{TOP_NEURONS} channels whose activation x gradient of the digit-{target} logit is "
        "largest, i.e. that push this answer up the most (a first-order estimate)."
    )
    layers = cached_activations(digit_key(digit), digit, target)
    for layer in layers:
        top = layer.top_neurons(TOP_NEURONS)
        listing = ", ".join(f"#{i} ({score:+.3f})" for i, score in top)
        if layer.activation.ndim == 3:
            channels, height, width = layer.activation.shape
            st.markdown(f"**{layer.title}**: {channels} maps of {height} x {width}")
            scale = 28 // height  # every cell 28 + 2 image pixels, shown twice as large
            grid = tile_channels(layer.activation, [i for i, _ in top], 12, scale)
            st.image(grid, output_format="PNG", width=2 * grid.shape[1])
            st.caption(f"Decisive channels (activation x gradient summed over the map): {listing}")
        elif layer.name == "fc2":
            st.markdown("**fc2**: the 10 logits (before softmax)")
            st.plotly_chart(units_figure(layer.activation, [target], "logits"), key="digits_logits")
        else:
            st.markdown(f"**{layer.title}**: {layer.activation.size} units")
            st.plotly_chart(
                units_figure(layer.activation, [i for i, _ in top], "activation"),
                key=f"digits_units_{layer.name}",
            )
            st.caption(f"Decisive units (activation x gradient): {listing}")


HEATMAPS = {
    "saliency": ("Saliency", "|gradient| of the logit: where a small change of ink would "
                 "change the score most (Simonyan et al. 2013). Unsigned: red only."),
    "occlusion": ("Occlusion", "How much the logit drops when a patch around the pixel is "
                  "blanked (Zeiler & Fergus 2014)."),
    "lrp": ("LRP alpha=2, beta=1", "The logit passed back layer by layer, positive "
            "contributions weighted 2, negative 1 (Bach et al. 2015)."),
}  # fmt: skip


def heatmaps_panel(digit: np.ndarray, probs: np.ndarray) -> None:
    """Saliency, occlusion and LRP alpha-beta maps of one class logit, side by side."""
    from core.attribution import MethodNotApplicable

    columns = st.columns(4)
    target = target_picker(columns[0], "Explain the logit of digit", probs, "digits_heatmap_target")
    patch = columns[1].slider("Occlusion patch (pixels)", 2, 14, 6, key="digits_occ_patch")
    stride = columns[2].slider("Occlusion stride", 1, 7, 2, key="digits_occ_stride")
    opacity = columns[3].slider("Heatmap opacity", 0.1, 1.0, 0.8, 0.05, key="digits_opacity")
    params = {
        "saliency": (),
        "occlusion": (("patch", patch), ("stride", stride), ("fill", "black")),
        "lrp": (("rule", "alpha_beta"),),
    }
    st.caption(
        "The digit as grey ink on white, the map over it: red = evidence for the digit, "
        "blue = against, clear = nothing."
    )
    for column, (method, (title, about)) in zip(st.columns(3), HEATMAPS.items(), strict=True):
        with column:
            try:
                heatmap = cached_heatmap(digit_key(digit), digit, method, target, params[method])
            except MethodNotApplicable as err:
                st.warning(f"{title}: {err}")
                continue
            picture = heatmap_on_digit(heatmap, digit, opacity)
            st.image(picture, caption=title, output_format="PNG", width=224)
            st.caption(about)


def adversarial_panel(digit: np.ndarray) -> None:
    """FGSM and DeepFool: x, r, x + r, the new answer and the size of r."""
    method = st.segmented_control(
        "Attack", ["FGSM", "DeepFool"], default="FGSM", required=True, key="digits_attack"
    )
    if method == "DeepFool":
        left, right = st.columns(2)
        overshoot = left.slider("Overshoot", 0.0, 0.5, 0.02, 0.01, key="digits_overshoot")
        iterations = right.slider("Max iterations", 1, 100, 50, key="digits_df_iterations")
        result = cached_deepfool(digit_key(digit), digit, overshoot, iterations)
        st.caption(
            "DeepFool (Moosavi-Dezfooli et al. 2016) walks to the nearest decision boundary "
            "of the linearised network and just past it: close to the smallest L2 change "
            "that flips the answer. Implemented by hand (Captum has no DeepFool)."
        )
    else:
        epsilon = st.slider("Epsilon (max change per pixel)", 0.0, 0.5, 0.1, 0.01, key="digits_eps")
        result = cached_fgsm(digit_key(digit), digit, epsilon)
        st.caption(
            "FGSM (Goodfellow et al. 2014, via Captum) moves every pixel by epsilon in the "
            "direction that raises the loss of the current answer, then clips to [0, 1]."
        )
    columns = st.columns(3)
    with columns[0]:
        show_digit(result.original, f"x: {result.original_class} "
                   f"({result.original_probs.max():.0%})", width=140)  # fmt: skip
    with columns[1]:
        st.plotly_chart(
            signed_figure(result.perturbation, "r (scaled to its max)", height=200),
            key="digits_perturbation",
        )
    with columns[2]:
        show_digit(result.adversarial, f"x + r: {result.adversarial_class} "
                   f"({result.adversarial_probs.max():.0%})", width=140)  # fmt: skip
    verdict = "fooled" if result.fooled else "not fooled"
    st.markdown(
        f"**{verdict}**: now **{result.adversarial_class}** with "
        f"{result.adversarial_probs.max():.1%} (was {result.original_class}). "
        f"Size of r: L2 = {result.l2:.3f}, L-inf = {result.linf:.3f}"
        + (f", {result.iterations} iterations." if method == "DeepFool" else ".")
    )


def prototypes_panel(digit: np.ndarray | None) -> None:
    """Activation maximisation of each class logit: a row of ten images."""
    left, middle, right = st.columns(3)
    options = ["Noise", "The drawing"] if digit is not None else ["Noise"]
    start = left.segmented_control(
        "Start from", options, default="Noise", required=True, key="digits_proto_start"
    )
    l2_weight = middle.number_input(
        "L2 weight", 0.0, 1.0, 0.001, 0.001, format="%.4f", key="digits_proto_l2"
    )
    steps = right.slider("Steps", 10, 400, 150, 10, key="digits_proto_steps")
    from_drawing = start == "The drawing" and digit is not None
    result = cached_prototypes(
        digit_key(digit) if from_drawing else None,
        digit if from_drawing else None,
        l2_weight,
        steps,
        0,
    )
    st.caption(
        "Each image maximises one digit's logit minus L2 weight x ||x||^2 (pixels kept in "
        "[0, 1]), by gradient ascent from the start image. Under each: the probability "
        "the network gives that digit. They rarely look like digits: the network answers "
        "to strokes in the right places, not to the whole shape."
    )
    for column, d in zip(st.columns(10), range(10), strict=True):
        with column:
            show_digit(result.images[d], f"{d}: {result.probabilities[d, d]:.0%}", width=84)


def seven_segment_panel() -> None:
    """Seven toggles, the display, the network's answer and the 128-pattern summary."""
    st.caption(
        "Light any segments. Only 10 of the 128 patterns are digits, but the network has "
        'no "not a digit" answer: its softmax must share 100% among the ten digits, so '
        "it gives every nonsense pattern a digit too, sometimes with high confidence."
    )
    names = {"a": "top", "b": "upper right", "c": "lower right", "d": "bottom",
             "e": "lower left", "f": "upper left", "g": "middle"}  # fmt: skip
    columns = st.columns(7)
    lit = "".join(
        segment
        for column, (segment, name) in zip(columns, names.items(), strict=True)
        if column.toggle(f"{segment}: {name}", value=segment in "abc", key=f"digits_seg_{segment}")
    )
    table = cached_seven_segment_table()
    mask = sum(1 << digits.SEGMENTS.index(s) for s in lit)
    row = table[mask]
    left, right = st.columns([1, 2])
    with left:
        st.image(
            pixels(digits.seven_segment_image(lit)),
            caption=f"segments: {lit or 'none'}",
            output_format="PNG",
            width=135,
        )
    with right:
        if row.predicted is None:
            st.info("No segment is lit: there is nothing to classify.")
        else:
            shown = f"the digit {row.digit}" if row.digit is not None else "no digit at all"
            st.markdown(
                f"This pattern shows **{shown}**. The network says **{row.predicted}** "
                f"with {row.probability:.0%}."
            )
            probs = digits.classify(digits.preprocess(digits.seven_segment_image(lit)),
                                    digit_network())  # fmt: skip
            st.plotly_chart(probability_figure(probs, height=200), key="digits_seg_probs")
    proper = [r for r in table if r.digit is not None]
    nonsense = [r for r in table if r.digit is None and r.predicted is not None]
    sure = sum(r.probability >= 0.9 for r in nonsense)
    fairly_sure = sum(r.probability >= 0.5 for r in nonsense)
    st.markdown(
        f"**All 128 patterns:** of the 10 proper digits it reads "
        f"**{sum(r.correct for r in proper)}** correctly. Every one of the {len(nonsense)} "
        f"patterns that are no digit still gets a digit: **{fairly_sure}** with 50% or "
        f"more, **{sure}** with 90% or more."
    )
    with st.expander("Every pattern"):
        st.dataframe(
            pd.DataFrame(
                {
                    "segments": [r.segments or "(none)" for r in table],
                    "shows": [str(r.digit) if r.digit is not None else "-" for r in table],
                    "network says": [
                        str(r.predicted) if r.predicted is not None else "-" for r in table
                    ],  # fmt: skip
                    "probability": [r.probability for r in table],
                }
            ),
            hide_index=True,
        )


def kernels_learning_panel() -> None:
    """A LeNet trained live in this session, with start/pause, one step and reset."""
    state = st.session_state
    if "digits_trainer" not in state:
        state.digits_trainer = LiveTrainer(seed=0)
        state.digits_training = False
    running = bool(state.digits_training)
    st.caption(
        f"A LeNet-5 (6 kernels of 5 x 5, then 16, then 120-84-10 units) learns the 4,000 "
        f"training digits in your session, {STEP_BATCHES} mini-batches of 64 per step; "
        "accuracy is measured on the 1,000 held-out digits. Watch the first-layer kernels "
        "turn from noise into stroke and edge detectors."
    )

    @st.fragment(run_every=TICK_SECONDS if running else None)
    def live() -> None:
        trainer: LiveTrainer = state.digits_trainer
        buttons = st.columns(4)
        if buttons[0].button("Pause" if running else "Start", key="digits_train_toggle"):
            state.digits_training = not running
            st.rerun()
        if buttons[1].button("One step", key="digits_train_step", disabled=running):
            trainer.step(STEP_BATCHES)
        if buttons[2].button("Reset", key="digits_train_reset"):
            trainer.reset()
            state.digits_training = False
            st.rerun()
        if running:
            trainer.step(STEP_BATCHES)
        status = "running" if running else ("paused" if trainer.steps else "not started")
        buttons[3].markdown(
            f"**{status}**, step {trainer.steps}, epoch {trainer.epoch:.2f}, "
            f"held-out accuracy {trainer.record.accuracy[-1]:.1%}"
        )
        st.markdown("First-layer kernels (red = positive weight, blue = negative)")
        st.plotly_chart(kernels_figure(trainer.kernels()), key="digits_kernels")
        st.plotly_chart(curves_figure(trainer.record), key="digits_curves")

    live()
