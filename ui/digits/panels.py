"""The digits lab's panels (Streamlit). Every number comes from core.digits, through the
caches of :mod:`ui.digits.cache`; this module renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import streamlit as st

from core import digits
from core.inside import REGULARISERS, TITLES
from ui.digits.cache import (
    MethodParams,
    cached_activations,
    cached_deepfool,
    cached_fgsm,
    cached_heatmap,
    cached_seven_segment_reading,
    cached_seven_segment_summary,
    digit_key,
    prototypes,
)
from ui.digits.plots import (
    DIGIT_PICTURE,
    curves_figure,
    heatmap_on_digit,
    kernels_figure,
    pixels,
    probability_figure,
    signed_figure,
    tile_channels,
    units_figure,
)
from ui.explain.tiles import map_figure
from ui.state import current
from ui.widgets import labelled_selectbox

TOP_NEURONS = 4  # decisive neurons highlighted per layer
L2_WEIGHT = 0.001  # the prototypes' L2 weight until the user changes it (with L2 on)
STEP_BATCHES = 10  # mini-batches per "one step" / per live tick
TICK_SECONDS = 0.5
PROTOTYPES_PER_ROW = 5


def pixelated_images() -> None:
    """Make the browser enlarge this page's images with hard pixel edges.

    A 28 x 28 digit must show its pixels; sending it small and letting the browser
    enlarge it costs far less than encoding a big PNG on every stroke (4 activation
    grids: ~30 ms of PNG encoding at 2-4x, ~1 ms at 1x).
    """
    st.html("<style>[data-testid='stMain'] img {image-rendering: pixelated;}</style>")


def show_digit(
    image: np.ndarray, caption: str, width: int | Literal["stretch"] = DIGIT_PICTURE
) -> None:
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
    # a label that changes with the drawing: see ui.widgets.labelled_selectbox
    choice = labelled_selectbox(
        label,
        [None, *range(10)],
        lambda d: f"the predicted digit ({predicted})" if d is None else str(d),
        key=key,
        where=where,
    )
    return predicted if choice is None else int(choice)


# --------------------------------------------------------------------------- panels


def activations_panel(digit: np.ndarray, probs: np.ndarray) -> None:
    """Every layer's activations, decisive neurons (activation x gradient) framed in red."""
    target = target_picker(st, "Explain the decision for digit", probs, "digits_activation_target")
    st.caption(
        f"Grey level = activation (per layer, scaled to its strongest); the number above a "
        f"map is its channel. Framed in red: the {TOP_NEURONS} channels whose activation x "
        f"gradient of the digit-{target} logit is largest, i.e. that push this answer up "
        "the most (a first-order estimate)."
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
            st.plotly_chart(
                units_figure(layer.activation, [target], "logit", unit="digit"),
                key="digits_logits",
            )
        else:
            st.markdown(f"**{layer.title}**: {layer.activation.size} units")
            st.plotly_chart(
                units_figure(layer.activation, [i for i, _ in top], "activation"),
                key=f"digits_units_{layer.name}",
            )
            st.caption(f"Decisive units (activation x gradient): {listing}")


@dataclass(frozen=True)
class HeatmapChoice:
    """One of the panel's maps: a registered method and the parameters fixed for it.

    Attributes:
        method: A key of :data:`core.attribution.METHODS`.
        variant: What the fixed parameters add to the method's title.
        fixed: Parameters the panel does not offer as controls, ``((name, value), ...)``.
    """

    method: str
    variant: str = ""
    fixed: MethodParams = ()

    def title_and_about(self) -> tuple[str, str]:
        """The map's caption and the sentence under it, from the method registry.

        Returns:
            ``(title, about)``, e.g. ``("LRP alpha=2, beta=1", "The class score passed
            back layer by layer; ... [Bach et al. 2015](https://doi.org/...).")``.
        """
        from core.attribution import METHODS

        method = METHODS[self.method]
        unsigned = "" if method.signed else " Unsigned: red only."
        about = f"{method.summary} [{method.citation}]({method.paper}).{unsigned}"
        return method.title + self.variant, about


HEATMAPS = (
    HeatmapChoice("saliency"),
    HeatmapChoice("occlusion", fixed=(("fill", "black"),)),  # patch, stride: sliders
    HeatmapChoice("lrp", " alpha=2, beta=1", (("rule", "alpha_beta"),)),
)


def heatmaps_panel(digit: np.ndarray, probs: np.ndarray) -> None:
    """Saliency, occlusion and LRP alpha-beta maps of one class logit, side by side."""
    from core.attribution import METHODS, MethodNotApplicable

    columns = st.columns(4)
    target = target_picker(columns[0], "Explain the logit of digit", probs, "digits_heatmap_target")
    patch = columns[1].slider(
        "Occlusion patch (pixels)", 2, 14, current("digits_occ_patch", 6), key="digits_occ_patch"
    )
    stride = columns[2].slider(
        "Occlusion stride", 1, 7, current("digits_occ_stride", 2), key="digits_occ_stride"
    )
    opacity = columns[3].slider(
        "Heatmap opacity", 0.1, 1.0, current("digits_opacity", 0.8), 0.05, key="digits_opacity"
    )
    chosen: dict[str, MethodParams] = {"occlusion": (("patch", patch), ("stride", stride))}
    st.caption(
        "The digit as grey ink on white, the map over it: red = evidence for the digit, "
        "blue = against, clear = nothing."
    )
    for column, choice in zip(st.columns(len(HEATMAPS)), HEATMAPS, strict=True):
        title, about = choice.title_and_about()
        params = chosen.get(choice.method, ()) + choice.fixed
        with column:
            try:
                heatmap = cached_heatmap(digit_key(digit), digit, choice.method, target, params)
            except MethodNotApplicable as err:
                st.warning(f"{title}: {err}")
                continue
            picture, scale = heatmap_on_digit(heatmap, digit, METHODS[choice.method], opacity)
            st.markdown(f"**{title}**")
            st.plotly_chart(
                map_figure(picture, heatmap, scale, opacity, cells=28),
                key=f"digits_heatmap_{choice.method}", config={"displayModeBar": False},
            )  # fmt: skip
            st.caption(f"{scale.describe()}. {about}")


def adversarial_panel(digit: np.ndarray) -> None:
    """FGSM and DeepFool: x, r, x + r, the new answer and the size of r."""
    method = st.segmented_control(
        "Attack", ["FGSM", "DeepFool"], default="FGSM", required=True, key="digits_attack"
    )
    if method == "DeepFool":
        left, right = st.columns(2)
        overshoot = left.slider(
            "Overshoot", 0.0, 0.5, current("digits_overshoot", 0.02), 0.01, key="digits_overshoot"
        )
        iterations = right.slider(
            "Max iterations",
            1,
            100,
            current("digits_df_iterations", 50),
            key="digits_df_iterations",
        )
        result = cached_deepfool(digit_key(digit), digit, overshoot, iterations)
        st.caption(
            "DeepFool (Moosavi-Dezfooli et al. 2016) walks to the nearest decision boundary "
            "of the linearised network and just past it: close to the smallest L2 change "
            "that flips the answer. Implemented by hand (Captum has no DeepFool)."
        )
    else:
        epsilon = st.slider(
            "Epsilon (max change per pixel)",
            0.0,
            0.5,
            current("digits_eps", 0.1),
            0.01,
            key="digits_eps",
        )
        result = cached_fgsm(digit_key(digit), digit, epsilon)
        st.caption(
            "FGSM (Goodfellow et al. 2014, via Captum) moves every pixel by epsilon in the "
            "direction that raises the loss of the current answer, then clips to [0, 1]."
        )
    columns = st.columns(3)
    with columns[0]:
        show_digit(result.original, f"x: {result.original_class} "
                   f"({result.original_probs.max():.0%})", width=DIGIT_PICTURE)  # fmt: skip
    with columns[1]:
        st.plotly_chart(
            signed_figure(
                result.perturbation,
                "r = (x + r) - x",
                height=DIGIT_PICTURE + 110,
                unit="each pixel's change (pixels run from 0 to 1)",
            ),  # fmt: skip
            key="digits_perturbation",
        )
    with columns[2]:
        show_digit(result.adversarial, f"x + r: {result.adversarial_class} "
                   f"({result.adversarial_probs.max():.0%})", width=DIGIT_PICTURE)  # fmt: skip
    verdict = "fooled" if result.fooled else "not fooled"
    st.markdown(
        f"**{verdict}**: now **{result.adversarial_class}** with "
        f"{result.adversarial_probs.max():.1%} (was {result.original_class}). "
        f"Size of r: L2 = {result.l2:.3f}, L-inf = {result.linf:.3f}"
        + (f", {result.iterations} iterations." if method == "DeepFool" else ".")
    )


def prototypes_panel(digit: np.ndarray | None) -> None:
    """Activation maximisation of each class logit: a row of ten images, with the
    regularisers of :mod:`core.inside` as options."""
    chosen = st.pills(
        "Regularisers", list(REGULARISERS), selection_mode="multi",
        default=list(digits.DIGIT_REGULARISERS), format_func=TITLES.__getitem__,
        key="digits_proto_regs",
        help="; ".join(f"{TITLES[name]}: {text}" for name, text in REGULARISERS.items()),
    )  # fmt: skip
    regularisers = tuple(name for name in REGULARISERS if name in (chosen or []))
    left, middle, right = st.columns(3)
    options = ["Noise", "The drawing"] if digit is not None else ["Noise"]
    start = left.segmented_control(
        "Start from", options, default="Noise", required=True, key="digits_proto_start"
    )
    l2_weight = L2_WEIGHT
    if "l2" in regularisers:  # a weight is shown only with its regulariser on (issue 25)
        l2_weight = middle.number_input(
            "L2 weight", 0.0, 1.0, current("digits_proto_l2", L2_WEIGHT), 0.001, format="%.4f",
            key="digits_proto_l2",
        )  # fmt: skip
    steps = right.slider(
        "Steps", 10, 600, current("digits_proto_steps", 300), 10, key="digits_proto_steps"
    )
    stretch = st.toggle(
        "Stretch contrast for display",
        current("digits_proto_stretch", True),
        key="digits_proto_stretch",
    )
    start_image = digit if start == "The drawing" else None  # None: noise
    result = prototypes(
        None if start_image is None else digit_key(start_image),
        start_image,
        l2_weight,
        steps,
        0,
        regularisers,
    )
    st.caption(
        "Each image maximises one digit's logit by gradient ascent from the start image "
        "(pixels kept in [0, 1]), minus the penalties that are on. Under each: the "
        "probability the network gives that digit. With L2 alone the images are noise the "
        "network is sure about; random shifts, rotations and zooms (a stroke must work "
        "wherever it lands), L1 (little ink) and total variation (no speckle) turn them "
        "into strokes. The brightest pixel of each is "
        + ", ".join(f"{float(result.images[d].max()):.2f}" for d in range(10))
        + (" (shown stretched to white)." if stretch else ".")
    )
    columns = [*st.columns(PROTOTYPES_PER_ROW), *st.columns(PROTOTYPES_PER_ROW)]
    for column, d in zip(columns, range(10), strict=True):
        image = result.images[d]
        if stretch:
            image = image / max(float(image.max()), 1e-6)
        with column:
            show_digit(image, f"{d}: {result.probabilities[d, d]:.0%}", width="stretch")


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
        if column.toggle(
            f"{segment}: {name}",
            value=current(f"digits_seg_{segment}", segment in "abc"),
            key=f"digits_seg_{segment}",
        )
    )
    reading = cached_seven_segment_reading(lit)
    row = reading.result
    left, right = st.columns([1, 2])
    with left:
        st.image(
            pixels(reading.image),
            caption=f"segments: {lit or 'none'}",
            output_format="PNG",
            width=DIGIT_PICTURE,
        )
    with right:
        if reading.probabilities is None:
            st.info("No segment is lit: there is nothing to classify.")
        else:
            shown = f"the digit {row.digit}" if row.digit is not None else "no digit at all"
            st.markdown(
                f"This pattern shows **{shown}**. The network says **{row.predicted}** "
                f"with {row.probability:.0%}."
            )
            st.plotly_chart(
                probability_figure(reading.probabilities, height=200), key="digits_seg_probs"
            )
    summary = cached_seven_segment_summary()
    st.markdown(
        f"**All 128 patterns:** of the 10 proper digits it reads "
        f"**{summary.proper_correct}** correctly. Every one of the {summary.nonsense} "
        f"patterns that are no digit still gets a digit: **{summary.fairly_sure}** with "
        f"{digits.FAIRLY_SURE:.0%} or more, **{summary.sure}** with {digits.SURE:.0%} or more."
    )
    with st.expander("Every pattern"):
        table = summary.table
        st.dataframe(
            {
                "segments": [r.segments or "(none)" for r in table],
                "shows": [str(r.digit) if r.digit is not None else "-" for r in table],
                "network says": [
                    str(r.predicted) if r.predicted is not None else "-" for r in table
                ],
                "probability": [r.probability for r in table],
            },
            hide_index=True,
        )


def kernels_learning_panel() -> None:
    """A LeNet trained live in this session, with start/pause, one step and reset."""
    state = st.session_state
    if "digits_trainer" not in state:
        state.digits_trainer = digits.LiveTrainer(seed=0)
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
        trainer: digits.LiveTrainer = state.digits_trainer
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
