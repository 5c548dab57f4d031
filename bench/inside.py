"""Benchmark: "Inside the network" (issue 13).

Targets, on the 2-core development machine:

- feature visualisation: 256 steps of a channel objective at 128 x 128 on
  EfficientNet-Lite0, with the progress callback the page uses: <= 20 s;
- the embedding of the 5,000 MNIST digits (penultimate features + t-SNE): <= 15 s.

Also printed: each digit prototype's probability and its correlation with the mean
MNIST digit of its class, default regularisers against L2 only; and, when torch-lucent
can be imported, Lucent's ``render_vis`` on the same objective, steps and regularisers
(Fourier parameterisation with decorrelated colour, jitter, rotation, scale; Adam at
0.05), objective reached (evaluated the same way for both, on the untransformed result)
and time. Lucent needs ``kornia<=0.4.1``; install both without touching torch:
``pip install --no-deps --target /tmp/lucent torch-lucent "kornia<=0.4.1"`` and pass
``--lucent-path /tmp/lucent`` (its other requirements, tqdm and IPython, are here).

Run: ``python bench/inside.py [--lucent-path DIR] [--steps 256]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core import digits, inside  # noqa: E402
from core.common.hooks import count_hooks, private_copy  # noqa: E402
from core.common.single_thread import torch_threads  # noqa: E402
from core.models import load_model  # noqa: E402

LAYER, CHANNEL = "blocks.8", 5


def objective_of(model, pixels: np.ndarray) -> float:
    """Our channel objective of a ``(1, H, W, 3)`` result, untransformed."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float()
    spec = inside.input_spec(model)
    with inside.tap_layers(model.net, [LAYER]) as tap, torch.no_grad():
        tap.run(spec.normalise(x))
        return float(tap.outputs[LAYER][0, CHANNEL].mean())


def feature_visualisation(model, steps: int) -> tuple[float, float]:
    ticks = []
    settings = inside.Settings(steps=steps, size=(128, 128))  # Lucid's regularisers
    began = time.perf_counter()
    result = inside.visualise(
        model.net, inside.input_spec(model), [inside.Objective("channel", CHANNEL, LAYER)],
        settings, progress=lambda step, total, shot: ticks.append(step),
    )  # fmt: skip
    seconds = time.perf_counter() - began
    assert ticks == list(range(1, steps + 1))
    assert count_hooks(model.net) == 0
    return seconds, objective_of(model, result.images)


def lucent(model, steps: int, path: str | None) -> tuple[float, float] | str:
    if path:
        sys.path.insert(0, path)
    try:
        from lucent.optvis import param, render, transform
    except ImportError as err:
        return f"not importable ({err}); see this script's docstring"
    # render_vis hooks every module and never removes the hooks: give it a private copy.
    net = private_copy(model.net)
    spec = inside.input_spec(model)
    transforms = [*transform.standard_transforms, spec.normalise]
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - Lucent draws its jitter from the legacy global state
    began = time.perf_counter()
    with torch_threads(1):  # as ours: on this busy machine two threads are far slower
        images = render.render_vis(
            net, f"{LAYER.replace('.', '_')}:{CHANNEL}",
            lambda: param.image(128, fft=True, decorrelate=True), transforms=transforms,
            thresholds=(steps,), preprocess=False, progress=False, show_image=False,
            fixed_image_size=128,
        )  # fmt: skip
    seconds = time.perf_counter() - began
    return seconds, objective_of(model, images[-1])


def embedding() -> tuple[float, float, float, str]:
    data = digits.mnist_subset()
    images = np.concatenate([data.train_images, data.test_images])
    x = torch.from_numpy(images).unsqueeze(1)
    net = digits.digit_net()
    began = time.perf_counter()
    with torch_threads(1):
        features = inside.penultimate_features(net, x.split(250))
    extracted = time.perf_counter() - began
    result = inside.embed(features, "t-SNE")
    began = time.perf_counter()
    inside.place(result, features[:1])
    placed = time.perf_counter() - began
    return extracted, result.seconds, placed, result.library


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def prototypes() -> None:
    net = digits.digit_net()
    data = digits.mnist_subset()
    images = np.concatenate([data.train_images, data.test_images])
    labels = np.concatenate([data.train_labels, data.test_labels])
    default = digits.class_prototypes(net)
    l2_only = digits.class_prototypes(net, regularisers=("l2",))
    print(f"prototypes: default {digits.DIGIT_REGULARISERS} (300 steps, lr 0.1) vs ('l2',)")
    print("digit  p(default)  p(L2 only)  corr(default)  corr(L2 only)")
    for d in range(10):
        mean = images[labels == d].mean(0)
        print(
            f"  {d}      {default.probabilities[d, d]:.3f}       {l2_only.probabilities[d, d]:.3f}"
            f"        {correlation(default.images[d], mean):+.3f}         "
            f"{correlation(l2_only.images[d], mean):+.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--lucent-path", default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads by default")
    model = load_model("efficientnet_lite0")
    feature_visualisation(model, 8)  # warm-up
    seconds, reached = feature_visualisation(model, args.steps)
    print(
        f"feature vis: {args.steps} steps, channel {CHANNEL} of {LAYER}, 128 x 128, Lite0: "
        f"{seconds:.1f} s (target <= 20 s), objective {reached:.2f}"
    )
    theirs = lucent(model, args.steps, args.lucent_path)
    if isinstance(theirs, str):
        print(f"torch-lucent: {theirs}")
    else:
        print(
            f"torch-lucent render_vis, same objective/steps/regularisers: {theirs[0]:.1f} s, "
            f"objective {theirs[1]:.2f} (ours: {seconds / theirs[0]:.2f}x its time, "
            f"{reached / theirs[1]:.2f}x its objective)"
        )
    extracted, fitted, placed, library = embedding()
    print(
        f"embedding of 5,000 digits: features {extracted:.1f} s + t-SNE {fitted:.1f} s "
        f"({library}) = {extracted + fitted:.1f} s (target <= 15 s); placing a drawing "
        f"{placed * 1000:.0f} ms"
    )
    prototypes()


if __name__ == "__main__":
    main()
