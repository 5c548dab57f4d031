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
from collections.abc import Iterator, Mapping
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


def superpixel_means(x: torch.Tensor, segments: torch.Tensor, count: int) -> torch.Tensor:
    """Each pixel replaced by the mean of its superpixel (lime's ``hide_color=None``).

    Args:
        x: ``(C, H, W)``.
        segments: ``(H, W)`` int64 labels ``0..count-1``.
        count: Number of superpixels.

    Returns:
        ``(C, H, W)``.
    """
    flat = x.reshape(x.shape[0], -1)  # (C, H*W)
    sums = torch.zeros(x.shape[0], count).index_add_(1, segments.flatten(), flat)
    means = sums / torch.bincount(segments.flatten(), minlength=count).clamp(min=1)  # (C, n)
    return means[:, segments]  # (C, H, W)


def superpixel_scores(
    run: Attributor,
    target: int,
    segments: torch.Tensor,
    keep: torch.Tensor,
    fill: torch.Tensor,
    progress: Progress | None,
) -> np.ndarray:
    """The target's logit for images with some superpixels switched off, forward only.

    Each image is built as one tensor operation per batch (lime's ``data_labels`` loops
    in Python over every sample and every superpixel).

    Args:
        run: The network and input.
        target: Class index.
        segments: ``(H, W)`` int64 superpixel labels.
        keep: ``(samples, n)`` bool: superpixel kept (True) or replaced by ``fill``.
        fill: ``(C, H, W)`` what a switched-off superpixel shows.
        progress: Called with the fraction done.

    Returns:
        ``(samples,)`` float64 logits.
    """
    x = run.x[0]  # (C, H, W)
    samples = keep.shape[0]

    def batches() -> Iterator[torch.Tensor]:
        for part in chunks(samples, run.batch_size(gradients=False)):
            kept = keep[part][:, segments]  # (b, H, W)
            yield torch.where(kept[:, None], x[None], fill[None])  # (b, C, H, W)

    return run.forward_scores(batches(), samples, target, progress).double().numpy()


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
    fill = superpixel_means(run.x[0], seg, n)
    keep = torch.from_numpy(data).bool()  # (samples, n)
    scores = superpixel_scores(run, target, seg, keep, fill, progress)
    distances = pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
    _, explanation, _, _ = explainer.base.explain_instance_with_data(
        data, scores[:, None], distances, 0, n, feature_selection="auto"
    )
    weights = np.zeros(n)
    for feature, weight in explanation:
        weights[feature] = weight
    return segments, weights


SUPERPIXELS = Param(
    "superpixels", 50, "Approximate number of superpixels (SLIC).", "int", 10, 300, 5
)


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
        SUPERPIXELS,
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


# ------------------------------------------------------------------------ KernelSHAP

# Weight of the all-on and all-off samples in the regression (Captum's ``inf_weight``):
# they pin the intercept to f(baseline) and the sum of the weights to f(x) - f(baseline).
KERNEL_SHAP_PIN = 1e6


def kernel_shap_samples(features: int, samples: int, seed: int) -> np.ndarray:
    """KernelSHAP's coalitions, drawn as Captum's ``KernelShap`` draws them.

    The first is all features on, the second all off; each other one switches on ``k``
    features, with ``p(k)`` proportional to ``(M - 1) / (k (M - k))`` (the Shapley
    kernel summed over the ``M choose k`` coalitions of size ``k``), chosen uniformly.
    Drawn from a private generator (Captum uses torch's global one).

    Args:
        features: ``M``, the number of features (superpixels).
        samples: Number of coalitions (at least 2).
        seed: Random seed.

    Returns:
        ``(samples, M)`` int 0/1.
    """
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.arange(features, dtype=torch.float64)
    weights = (features - 1) / (sizes * (features - sizes))
    weights[0] = 0.0  # k in 1..M-1
    drawn = max(0, samples - 2)
    if features < 2 or drawn == 0:
        size = torch.zeros(drawn, dtype=torch.long)
    else:
        size = torch.multinomial(weights, drawn, replacement=True, generator=generator)
    values = torch.randn((drawn, features), generator=generator)
    rank = values.argsort(dim=1).argsort(dim=1)  # 0 = the smallest value of its row
    chosen = rank >= features - size[:, None]  # the k largest values of each row
    first = torch.stack(
        [torch.ones(features, dtype=torch.bool), torch.zeros(features, dtype=torch.bool)]
    )
    return torch.cat([first, chosen])[:samples].long().numpy()


class KernelSHAP(Method):
    """Shapley values of the superpixels: a linear model of the class score over
    superpixels switched on and off, fitted with the Shapley kernel's weights.

    Lundberg & Lee 2017, https://arxiv.org/abs/1705.07874 (Kernel SHAP), as Captum's
    ``KernelShap`` (its coalition sampling, its unregularised weighted linear
    regression, the all-on and all-off samples weighted 1e6) over LIME's superpixels
    (the same cached segmentation as LIME). Our own loop: forward passes on the forward
    engine in batches, and a private random generator (Captum builds each perturbed
    image in Python and draws from torch's global generator).
    """

    name = "kernel_shap"
    title = "KernelSHAP"
    summary = "Each superpixel's Shapley value: its average contribution to the class score."
    paper = "https://arxiv.org/abs/1705.07874"
    citation = "Lundberg & Lee 2017"
    signed = True
    stochastic = True
    needs_gradients = False
    params = (
        Param(
            "samples",
            1000,
            "Coalitions of superpixels the model is fitted on.",
            "int",
            50,
            5000,
            50,
        ),
        SUPERPIXELS,
        Param(
            "fill",
            "mean",
            "What a switched-off superpixel shows: the normalisation mean colour (grey for "
            "ImageNet; Captum's default), its own mean colour (LIME's), black, or a "
            "blurred copy of the image.",
            "choice",
            choices=("mean", "superpixel", "black", "blur"),
        ),
        SEED,
    )
    unit = "logit change per superpixel"

    def cost(self, params: Mapping[str, Any], shape: InputShape) -> tuple[int, int]:
        return params["samples"], 0

    def compute(
        self, run: Attributor, target: int, params: Params, progress: Progress | None
    ) -> np.ndarray:
        from sklearn.linear_model import LinearRegression  # scikit-learn: ~1 s to import

        segments = superpixels(image_pixels(run), params["superpixels"])
        n = int(segments.max()) + 1
        seg = torch.from_numpy(np.array(segments, dtype=np.int64))  # (H, W)
        fill = params["fill"]
        if fill == "mean":
            background = torch.zeros_like(run.x[0])
        elif fill == "superpixel":
            background = superpixel_means(run.x[0], seg, n)
        else:
            background = baseline_input(run, fill, 0)[0]
        coalitions = kernel_shap_samples(n, params["samples"], params["seed"])  # (samples, n)
        keep = torch.from_numpy(coalitions).bool()
        scores = superpixel_scores(run, target, seg, keep, background, progress)
        weights = np.ones(len(coalitions))
        weights[:2] = KERNEL_SHAP_PIN
        model = LinearRegression().fit(coalitions.astype(np.float64), scores, sample_weight=weights)
        return np.asarray(model.coef_, dtype=np.float32)[segments]
