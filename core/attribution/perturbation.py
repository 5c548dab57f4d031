"""Perturbation methods: occlusion and LIME (forward passes only, batched).

Occlusion uses Captum, fed batches of windows through the network's forward engine
(ONNX Runtime when exact, else torch: ``Attributor.forward_logits``). LIME uses the
``lime`` package's regression (``LimeBase.explain_instance_with_data``: the kernel,
feature selection and weighted ridge fit) with lime's own random draws, so for the same
seed and superpixels it gives lime's answer, and the forward engine is its classifier;
we replace two parts that are slow for us: the superpixels are computed once per image
(cached), and the perturbed images are built as one tensor operation per batch (lime's
``data_labels`` loops in Python over every sample and every superpixel: ~1.7 s of
overhead for 1,000 samples here, before any forward pass).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from captum.attr import Occlusion as CaptumOcclusion

from core.attribution.base import (
    InputShape,
    Method,
    Param,
    Params,
    Progress,
    chunks,
)
from core.attribution.gradients import SEED, baseline_input
from core.common.lru import LRUCache

if TYPE_CHECKING:
    from core.attribution.runner import Attributor


def _window_count(size: int, patch: int, stride: int) -> int:
    """Window positions along one axis, as Captum counts them (the last may overhang)."""
    return math.ceil(max(0, size - patch) / stride) + 1


class Occlusion(Method):
    """Drop of the class score when a square patch is covered, averaged over the
    patches that cover each pixel. Positive: covering it hurts the class.

    Zeiler & Fergus 2014, https://arxiv.org/abs/1311.2901
    """

    name = "occlusion"
    title = "Occlusion"
    summary = "How much the class score drops when a patch around each pixel is covered."
    paper = "https://arxiv.org/abs/1311.2901"
    citation = "Zeiler & Fergus 2014"
    signed = True
    unit = "logit drop per patch"
    needs_gradients = False
    params = (
        Param("patch", 32, "Side of the square patch.", "int", 2, 224, 1, unit="input pixels"),
        Param("stride", 16, "Step between patches.", "int", 1, 224, 1, unit="input pixels"),
        Param(
            "fill",
            "mean",
            "What covers the patch: the normalisation mean colour (grey for ImageNet), "
            "black, or a blurred copy of the image.",
            "choice",
            choices=("mean", "black", "blur"),
        ),
    )

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        patch = min(params["patch"], *shape.size)
        windows = math.prod(_window_count(s, patch, params["stride"]) for s in shape.size)
        return windows + 1, 0

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        patch = min(params["patch"], *run.size)  # a patch larger than the input covers it all
        stride = params["stride"]
        channels = run.x.shape[1]
        fill = params["fill"]
        baseline = (
            0.0
            if fill == "mean"
            else baseline_input(run, "black" if fill == "black" else "blur", 0)
        )
        total = self.cost(params, InputShape(run.size))[0]
        done = [0]

        def forward(batch: torch.Tensor) -> torch.Tensor:
            out = run.forward_logits(batch, target)  # the forward engine: (b, K)
            done[0] += batch.shape[0]
            if progress is not None:
                progress(min(1.0, done[0] / total))
            return out

        with torch.no_grad():
            attributions = CaptumOcclusion(forward).attribute(
                run.x.clone(),
                sliding_window_shapes=(channels, patch, patch),
                strides=(channels, stride, stride),
                baselines=baseline,
                target=target,
                perturbations_per_eval=run.batch_size(gradients=False),
            )  # (1, C, H, W), equal over C
        return attributions[0].mean(dim=0).float().numpy()


# ---------------------------------------------------------------------------- LIME

# One segmentation per image and count; 32 of them at 224 x 224 are ~13 MB.
_SEGMENTS: LRUCache[np.ndarray] = LRUCache(max_entries=32, max_bytes=64 * 2**20)


def superpixels(pixels: np.ndarray, count: int) -> np.ndarray:
    """SLIC superpixels of an image, cached (one segmentation per image and count).

    Achanta et al. 2012, https://doi.org/10.1109/TPAMI.2012.120 (scikit-image's ``slic``).

    Args:
        pixels: ``(H, W, 3)`` or ``(H, W)`` uint8 image.
        count: Approximate number of superpixels.

    Returns:
        ``(H, W)`` int labels ``0..n-1``.
    """
    from skimage.segmentation import slic  # imported on first use: ~0.5 s at start-up

    key = (hashlib.sha1(pixels.tobytes()).hexdigest(), pixels.shape, count)
    cached = _SEGMENTS.get(key)
    if cached is not None:
        return cached
    if pixels.ndim == 3:
        labels = slic(pixels, n_segments=count, compactness=10, start_label=0)
    else:  # greyscale: compactness on the [0, 1] scale
        labels = slic(
            pixels / 255.0, n_segments=count, compactness=0.1, start_label=0, channel_axis=None
        )
    labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)  # 0..n-1
    labels.setflags(write=False)
    _SEGMENTS.put(key, labels)
    return labels


def image_pixels(run: Attributor) -> np.ndarray:
    """The input as an 8-bit image ``(H, W, 3)`` (or ``(H, W)`` for one channel)."""
    pixels = run.context.to_pixels(run.x)[0].clamp(0, 1)  # (C, H, W)
    array = (pixels.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return array[:, :, 0] if array.shape[2] == 1 else array


def lime_weights(
    run: Attributor, target: int, samples: int, count: int, seed: int, progress: Progress | None
) -> tuple[np.ndarray, np.ndarray]:
    """LIME's weight for every superpixel.

    Returns:
        ``(segments (H, W) int, weights (n,) float)``.
    """
    # lime pulls in scikit-learn (~1 s to import): only when LIME first runs.
    from lime.lime_image import LimeImageExplainer
    from sklearn.metrics import pairwise_distances

    segments = superpixels(image_pixels(run), count)
    n = int(segments.max()) + 1
    explainer = LimeImageExplainer(random_state=seed)
    # Exactly lime's draws (LimeImageExplainer.data_labels): 1 = superpixel kept.
    data = explainer.random_state.randint(0, 2, samples * n).reshape((samples, n))
    data[0, :] = 1

    # Hidden superpixels take their mean colour (lime's default, hide_color=None).
    seg = torch.from_numpy(np.array(segments, dtype=np.int64))  # (H, W), a writable copy
    x = run.x[0]  # (C, H, W)
    flat = x.reshape(x.shape[0], -1)  # (C, H*W)
    sums = torch.zeros(x.shape[0], n).index_add_(1, seg.flatten(), flat)
    means = sums / torch.bincount(seg.flatten(), minlength=n).clamp(min=1)  # (C, n)
    fudged = means[:, seg]  # (C, H, W)

    keep_all = torch.from_numpy(data).bool()  # (samples, n)
    batch = run.batch_size(gradients=False)

    def batches() -> Any:
        for part in chunks(samples, batch):
            keep = keep_all[part][:, seg]  # (b, H, W)
            yield torch.where(keep[:, None], x[None], fudged[None])  # (b, C, H, W)

    scores = run.forward_scores(batches(), samples, target, progress).double().numpy()
    distances = pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
    _, explanation, _, _ = explainer.base.explain_instance_with_data(
        data, scores[:, None], distances, 0, n, feature_selection="auto"
    )
    weights = np.zeros(n)
    for feature, weight in explanation:
        weights[feature] = weight
    return segments, weights


class Lime(Method):
    """A weighted linear model of the class score over superpixels switched on and off.

    Ribeiro, Singh & Guestrin 2016, https://arxiv.org/abs/1602.04938
    """

    name = "lime"
    title = "LIME"
    summary = "Superpixels whose presence raises (red) or lowers (blue) the class score."
    paper = "https://arxiv.org/abs/1602.04938"
    citation = "Ribeiro, Singh & Guestrin 2016"
    signed = True
    unit = "logit change per superpixel"
    stochastic = True
    needs_gradients = False
    params = (
        Param(
            "samples", 1000, "Perturbed images the linear model is fitted on.", "int", 50, 5000, 50
        ),
        Param("superpixels", 50, "Approximate number of superpixels (SLIC).", "int", 10, 300, 5),
        Param("features", 10, "Superpixels shown (the largest weights).", "int", 1, 300, 1),
        Param("positive_only", False, "Show only superpixels that support the class.", "bool"),
        SEED,
    )

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return params["samples"], 0

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        segments, weights = run.shared(
            ("lime", target, params["samples"], params["superpixels"], params["seed"]),
            lambda: lime_weights(
                run, target, params["samples"], params["superpixels"], params["seed"], progress
            ),
        )
        shown = weights.copy()
        if params["positive_only"]:
            shown[shown < 0] = 0
        order = np.argsort(-np.abs(shown), kind="stable")
        shown[order[params["features"] :]] = 0
        return shown[segments].astype(np.float32)
