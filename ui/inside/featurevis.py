"""Feature visualisation panel: objective, regularisers, steps, a progress bar, the
result, its objective curve and animation; the one-click comparison of regularisers;
the dataset examples of a channel next to its visualisation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import streamlit as st

from core import digits, inside
from core.common.scheduler import Progress, Ticket
from core.inside import (
    COMPARISON,
    KINDS,
    LAYER_KINDS,
    REGULARISERS,
    TITLES,
    Objective,
    Settings,
)
from ui.inside.cache import cached_examples, set_maxima, visualised
from ui.inside.panels import MIDDLE, layer_choice
from ui.inside.plots import curve_figure, gif, to_uint8
from ui.inside.subject import Subject, image_set, small_set_notice
from ui.state import check_choice

KIND_TITLES = {"neuron": "Neuron", "channel": "Channel", "layer": "Layer (DeepDream)",
               "logit": "Class logit", "probability": "Class probability"}  # fmt: skip


def default_settings(subject: Subject, kind: str) -> Settings:
    """Lucid's regularisers at 128 x 128 for photos. For digits: the lab's prototypes'
    for classes, and transformations alone for hidden units (L1 and TV at the
    prototypes' weights outweigh a channel's mean, which then falls)."""
    if subject.model is None and kind in LAYER_KINDS:
        return Settings(regularisers=("jitter", "rotate", "scale"), size=(28, 28), jitter=2)
    if subject.model is None:
        return replace(digits.DIGIT_SETTINGS, steps=256, learning_rate=0.1, snapshots=16)
    return Settings()


def objective_inputs(subject: Subject, key: str) -> Objective:
    """Objective kind, layer, channel or class pickers."""
    kind = st.segmented_control(
        "Objective", list(KINDS), default="channel", required=True, key=f"{key}_kind",
        format_func=KIND_TITLES.__getitem__, help="; ".join(f"{KIND_TITLES[k]}: {v}"
                                                            for k, v in KINDS.items()),
    ) or "channel"  # fmt: skip
    if kind in LAYER_KINDS:
        left, right = st.columns([3, 1])
        with left:
            layer, channels = layer_choice(subject, "Layer", f"{key}_layer", MIDDLE)
        index = 0
        if kind != "layer":
            check_choice(f"{key}_channel_{layer}", range(channels), "channel")
            index = int(right.number_input(f"Channel (of {channels})", 0, channels - 1, 0,
                                           key=f"{key}_channel_{layer}"))  # fmt: skip
        return Objective(kind, index, layer)
    labels = subject.labels
    default = labels.index("goldfish") if "goldfish" in labels else 0
    index = st.selectbox("Class", range(len(labels)), index=default, key=f"{key}_class",
                         format_func=lambda i: f"{i}: {labels[i]}") or 0  # fmt: skip
    return Objective(kind, int(index))


def settings_inputs(subject: Subject, kind: str, key: str) -> tuple[Settings, bool]:
    """Regulariser toggles, steps, learning rate, size, seed, their weights; start."""
    base = default_settings(subject, kind)
    digit_classes = subject.model is None and kind not in LAYER_KINDS
    k = f"{key}_{subject.model is None}_{digit_classes}"  # one set of widgets per default
    chosen = st.pills(
        "Regularisers", list(REGULARISERS), selection_mode="multi",
        default=list(base.regularisers), key=f"{k}_regs",
        format_func=TITLES.__getitem__,
        help="; ".join(f"{TITLES[n]}: {text}" for n, text in REGULARISERS.items()),
    )  # fmt: skip
    cols = st.columns(4)
    steps = cols[0].slider("Steps", 8, 1024, base.steps, 8, key=f"{key}_steps")
    rate = cols[1].number_input(
        "Learning rate", 0.001, 1.0, base.learning_rate, 0.01, format="%.3f", key=f"{k}_lr"
    )
    size = base.size[0]
    if subject.model is not None:
        size = cols[2].slider("Size (px)", 64, 256, 128, 16, key=f"{key}_size")
    seed = int(cols[3].number_input("Seed", 0, 10_000, 0, key=f"{key}_seed"))
    with st.expander("Regulariser strengths"):
        w = st.columns(4)
        l2 = w[0].number_input("L2 weight", 0.0, 10.0, base.l2_weight, format="%.6f", key=f"{k}_l2")
        l1 = w[1].number_input("L1 weight", 0.0, 10.0, base.l1_weight, format="%.6f", key=f"{k}_l1")
        tv = w[2].number_input("TV weight", 0.0, 10.0, base.tv_weight, format="%.5f", key=f"{k}_tv")
        sigma = w[3].number_input("Blur sigma (px)", 0.1, 5.0, base.blur_sigma, 0.1, key=f"{k}_bs")
        t = st.columns(4)
        every = int(t[0].number_input("Blur every (steps)", 1, 64, base.blur_every, key=f"{k}_be"))
        jitter = int(t[1].number_input("Jitter (px)", 1, 32, base.jitter, key=f"{k}_jit"))
        rotate = t[2].number_input("Rotation (deg)", 0.0, 45.0, base.rotate, 1.0, key=f"{k}_rot")
        scale = t[3].number_input("Zoom (+/-)", 0.0, 0.5, base.scale, 0.05, key=f"{k}_zoom")
    from_image = subject.pixels is not None and st.toggle(
        f"Start from the image ({subject.image_label})", False, key=f"{key}_from_image"
    )
    settings = replace(
        base, steps=steps, learning_rate=float(rate), size=(size, size), seed=seed,
        l2_weight=float(l2), l1_weight=float(l1), tv_weight=float(tv), blur_sigma=float(sigma),
        blur_every=every, jitter=jitter, rotate=float(rotate), scale=float(scale),
    ).with_regularisers(tuple(chosen or ()))  # fmt: skip
    return settings, bool(from_image)


STEP_COST = 0.06  # seconds per step at 224 x 224 x 3 (forward + backward, one thread)


def visualisation_cost(subject: Subject, settings: Settings) -> float:
    """Rough seconds of one visualisation on one worker (its place in the queue)."""
    height, width = settings.size
    pixels = height * width * subject.spec.channels
    return settings.steps * (0.003 + STEP_COST * pixels / (224 * 224 * 3))


def run_visualisation(
    subject: Subject, objective: Objective, settings: Settings, from_image: bool
) -> inside.Visualisation:
    """Cached, or computed under a progress bar with a live preview."""
    key = ("vis", subject.name, objective, settings, subject.image_key if from_image else None)

    live: dict[str, Any] = {}  # the latest snapshot, left by the worker for this page
    preview = st.empty()

    def compute(progress: Progress) -> inside.Visualisation:
        def step_done(step: int, steps: int, shot: np.ndarray | None) -> None:
            if shot is not None:
                live["shot"] = (step, shot)
            progress(step / steps)

        start = subject.pixels if from_image else None
        return inside.visualise(subject.net, subject.spec, [objective], settings, start, step_done)

    def show_preview(_ticket: Ticket[Any]) -> None:
        if "shot" in live and live.get("shown") != live["shot"][0]:
            step, shot = live["shot"]
            live["shown"] = step
            preview.image(to_uint8(shot[0] / 255.0), width=160, caption=f"step {step}")

    value, _ = visualised(
        key, compute, visualisation_cost(subject, settings), "Optimising", show_preview
    )
    preview.empty()
    assert isinstance(value, inside.Visualisation)
    return value


def describe(subject: Subject, objective: Objective) -> str:
    if objective.kind in ("logit", "probability"):
        return f"{objective.kind} of **{subject.labels[objective.index]}**"
    return objective.describe()


def show_result(subject: Subject, objective: Objective, result: inside.Visualisation) -> None:
    """The image, the animation, the curve and the numbers."""
    image, animation, curve = st.columns([1, 1, 2])
    width = 240
    image.image(to_uint8(result.images[0]), width=width, caption="result")
    # drawn at the width it is shown: Streamlit re-encodes a wider image, and a re-encoded
    # GIF keeps its first frame only (issue 25)
    animation.image(gif(result.snapshots[:, 0], size=width), width=width,
                    caption=f"{len(result.snapshot_steps)} snapshots, steps 0 to "
                    f"{result.snapshot_steps[-1]}")  # fmt: skip
    curve.plotly_chart(curve_figure({"objective": result.curve[:, 0]}, "objective per step"),
                       key="inside_fv_curve")  # fmt: skip
    top = int(result.logits[0].argmax())
    st.markdown(
        f"{describe(subject, objective)}: **{result.initial[0]:.3f}** at the start, "
        f"**{result.final[0]:.3f}** after {len(result.curve)} steps ({result.seconds:.1f} s). "
        f"The network calls the result **{subject.labels[top]}**."
    )


def feature_vis_panel(subject: Subject) -> None:
    """Objective and regularisers, then the result (or the comparison)."""
    objective = objective_inputs(subject, "inside_fv")
    settings, from_image = settings_inputs(subject, objective.kind, "inside_fv")
    left, right = st.columns(2)
    compare = right.toggle(
        "Compare regularisers: " + " / ".join(COMPARISON), False, key="inside_fv_compare",
        help="The same objective, steps and seed with no regulariser, L2 only, jitter only, "
        "blur only, the Fourier parameterisation only, and all of them.",
    )  # fmt: skip
    left.caption(f"Maximises {describe(subject, objective)}.")
    try:
        if compare:
            show_comparison(subject, objective, settings)
        else:
            show_result(
                subject, objective, run_visualisation(subject, objective, settings, from_image)
            )
    except (ValueError, KeyError) as err:
        st.error(f"Cannot visualise this: {err}")


def show_comparison(subject: Subject, objective: Objective, settings: Settings) -> None:
    """Six runs side by side, each shown as soon as it is done, under a progress bar that
    names the run and its step; then the curves and what the numbers say."""
    key = ("compare", subject.name, objective, settings.with_regularisers(()))
    names = list(COMPARISON)
    columns = dict(zip(names, st.columns(len(names)), strict=True))

    finished: dict[str, inside.Visualisation] = {}  # runs done, left by the worker
    shown: set[str] = set()

    def show_finished(_ticket: object = None) -> None:
        for name, result in list(finished.items()):
            if name not in shown:
                shown.add(name)
                columns[name].image(to_uint8(result.images[0]), width="stretch",
                                    caption=f"{name}: {result.final[0]:.2f}")  # fmt: skip

    def compute(progress: Progress) -> dict[str, inside.Visualisation]:
        total = len(names) * settings.steps

        def step_done(step: int, _steps: int, _shot: np.ndarray | None) -> None:
            progress(step / total)

        def run_done(name: str, result: inside.Visualisation) -> None:
            finished[name] = result

        return inside.compare(
            subject.net, subject.spec, objective, settings, step_done, finished=run_done
        )

    cost = len(names) * visualisation_cost(subject, settings)
    label = f"{len(names)} runs of {settings.steps} steps ({', '.join(names)})"
    value, _ = visualised(key, compute, cost, label, show_finished)
    assert isinstance(value, dict)
    results: dict[str, inside.Visualisation] = value
    finished.update(results)  # a cached comparison: every run at once
    show_finished()
    st.plotly_chart(
        curve_figure({n: r.curve[:, 0] for n, r in results.items()}, "objective per step"),
        key="inside_fv_compare_curve",
    )
    st.caption(
        "The number under each picture is the objective at the end. "
        + inside.comparison_summary(results)
    )


def examples_panel(subject: Subject) -> None:
    """The patches of the image set that excite a channel most, beside its visualisation."""
    left, right = st.columns([3, 1])
    with left:
        layer, channels = layer_choice(subject, "Layer", "inside_ex_layer", MIDDLE)
    check_choice(f"inside_ex_channel_{layer}", range(channels), "channel")
    channel = int(right.number_input(f"Channel (of {channels})", 0, channels - 1, 0,
                                     key=f"inside_ex_channel_{layer}"))  # fmt: skip
    images = image_set(subject)
    small_set_notice(subject, images)
    inputs = subject.normalise(images.pixels)
    maxima = set_maxima(subject.name, images.key, layer, subject.net, inputs)
    count = min(9, len(images.captions))
    patches = cached_examples(subject.name, images.key, layer, channel, count, subject.net,
                              inputs, maxima)  # fmt: skip
    objective = Objective("channel", channel, layer)
    vis, shots = st.columns([1, 3])
    with vis:
        result = run_visualisation(subject, objective, default_settings(subject, "channel"), False)
        vis.image(to_uint8(result.images[0]), width="stretch",
                  caption=f"feature visualisation ({result.final[0]:.2f})")  # fmt: skip
    with shots:
        columns = st.columns(min(count, 5) or 1)
        for i, patch in enumerate(patches):
            top, left_px, bottom, right_px = patch.box
            crop = images.pixels[patch.image, :, top:bottom, left_px:right_px]
            picture = to_uint8(crop.permute(1, 2, 0).numpy())
            columns[i % len(columns)].image(
                picture, width="stretch",
                caption=f"{images.captions[patch.image]}: {patch.value:.2f}",
            )  # fmt: skip
    st.caption(
        f"Channel {channel} of {layer}: the {count} images of the set ({len(images.captions)} "
        "images: " + ("the 5,000 MNIST digits" if subject.model is None else
                      "the sample photos and your uploads") + ") whose strongest unit of it "
        "is strongest, each cut to the square that holds 90% of that unit's gradient (its "
        "effective receptive field on that image), with the activation. Left: the "
        "channel's feature visualisation with the default regularisers."
    )  # fmt: skip
