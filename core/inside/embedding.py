"""Dataset embeddings: each image's penultimate-layer activations (what the classifier
reads), reduced to two dimensions with t-SNE (van der Maaten & Hinton 2008,
https://jmlr.org/papers/v9/vandermaaten08a.html) or PCA.

t-SNE is openTSNE's (Poličar et al. 2019, https://doi.org/10.1101/731877) when it is
installed: FFT-accelerated, and it can place new points into an existing embedding
(``transform``), so a drawing joins the 5,000 MNIST digits without recomputing them.
Without openTSNE, scikit-learn's ``TSNE`` (Barnes-Hut) runs, and new points are placed
at the distance-weighted mean of their nearest neighbours' positions (openTSNE's own
initialisation for new points). PCA is scikit-learn's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.common.hooks import forward_hooks
from core.common.layout import fast_layout
from core.common.single_thread import torch_threads

METHODS = {"t-SNE": "neighbours stay neighbours", "PCA": "the two directions of largest variance"}
NEIGHBOURS = 10  # for placing new points without openTSNE


def classifier_layer(net: nn.Module) -> str:
    """The name of the last ``nn.Linear`` (whose input is the penultimate layer).

    Raises:
        ValueError: the network has no linear layer.
    """
    names = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError("the network has no linear classifier layer")
    return names[-1]


def penultimate_features(
    net: nn.Module,
    batches: Iterable[torch.Tensor],
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The input of the network's last linear layer for every image.

    Args:
        net: The network (not modified; a scoped, thread-filtered hook).
        batches: Network inputs ``(B, C, H, W)``, normalised.
        progress: Called with the number of images done after each batch.

    Returns:
        ``(N, D)`` float32 features.
    """
    layer = classifier_layer(net)
    module = dict(net.named_modules())[layer]
    features: list[torch.Tensor] = []

    def hook(_module: nn.Module, inputs: Any, _output: Any) -> None:
        features.append(inputs[0].detach().flatten(1).float())

    done = 0
    with forward_hooks([(module, hook)]), torch.inference_mode():
        for batch in batches:
            net(fast_layout(batch))
            done += batch.shape[0]
            if progress is not None:
                progress(done)
    return torch.cat(features).numpy() if features else np.zeros((0, 0), np.float32)


@dataclass(frozen=True)
class Embedding:
    """Two-dimensional positions of a set of feature vectors.

    Attributes:
        points: ``(N, 2)`` float32.
        method: ``"t-SNE"`` or ``"PCA"``.
        library: What computed it, e.g. ``"openTSNE 1.0.4"``.
        seconds: Wall time.
        model: What :func:`place` needs to add points (the fitted openTSNE embedding,
            the PCA, or the features for the neighbour rule).
    """

    points: np.ndarray
    method: str
    library: str
    seconds: float
    model: Any = None


TSNE_ITERATIONS = (125, 250)  # early exaggeration, then the rest (see embed)
PROGRESS_EVERY = 25  # openTSNE iterations between progress reports


def embed(
    features: np.ndarray,
    method: str = "t-SNE",
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> Embedding:
    """Reduce features to 2-D.

    t-SNE's perplexity is 30, or ``(N - 1) / 3`` for small sets; fewer than 4 points
    (or only identical ones) fall back to PCA.

    Args:
        features: ``(N, D)``.
        method: A key of :data:`METHODS`.
        seed: The random state (deterministic given it).
        progress: Called with the fraction of openTSNE's iterations done, every
            :data:`PROGRESS_EVERY` iterations (a t-SNE of the 5,000 digits takes 8-20 s).

    Returns:
        The :class:`Embedding`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    began = time.perf_counter()
    count = features.shape[0]
    features = features.astype(np.float32, copy=False)
    if method == "PCA" or count < 4:
        return _pca(features, seed, began)
    perplexity = min(30.0, (count - 1) / 3)
    with torch_threads(1):  # no torch work here, but keep OpenMP from competing
        try:
            import openTSNE  # type: ignore[import-untyped]  # no type information
        except ImportError:
            from sklearn import __version__
            from sklearn.manifold import TSNE

            tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed)
            points = tsne.fit_transform(features)
            return Embedding(
                points.astype(np.float32), "t-SNE", f"scikit-learn {__version__}",
                time.perf_counter() - began, ("neighbours", features, points),
            )  # fmt: skip
        # Barnes-Hut (faster than FFT below ~10,000 points) with theta 0.8, 125 + 250
        # iterations instead of 250 + 500: the 5,000 digits' features in 7.8 s instead of
        # 19.6 s on the busy 2-core machine, final KL divergence 1.19 instead of 1.17
        # (the clusters are the same; measured with bench/inside.py's data).
        reports = [0]
        total = sum(TSNE_ITERATIONS)

        def report(_iteration: int, _error: float, _embedding: object) -> bool:
            reports[0] += 1
            if progress is not None:
                progress(min(1.0, reports[0] * PROGRESS_EVERY / total))
            return False  # carry on

        early, rest = TSNE_ITERATIONS
        fitted = openTSNE.TSNE(
            perplexity=perplexity, early_exaggeration_iter=early, n_iter=rest,
            negative_gradient_method="bh", theta=0.8, n_jobs=1, random_state=seed,
            callbacks=report if progress is not None else None,
            callbacks_every_iters=PROGRESS_EVERY,
        ).fit(features)  # fmt: skip
        # The fitted embedding keeps its optimiser's settings and would call the page's
        # progress bar again when a point is placed (and keep that page alive in a
        # process-wide cache): drop the callback.
        fitted.gradient_descent_params["callbacks"] = None
    return Embedding(
        np.asarray(fitted, np.float32), "t-SNE", f"openTSNE {openTSNE.__version__}",
        time.perf_counter() - began, ("opentsne", fitted),
    )  # fmt: skip


def _pca(features: np.ndarray, seed: int, began: float) -> Embedding:
    from sklearn import __version__
    from sklearn.decomposition import PCA

    components = min(2, *features.shape)
    pca = PCA(components, random_state=seed).fit(features)
    points = np.zeros((features.shape[0], 2), np.float32)
    points[:, :components] = pca.transform(features)
    return Embedding(
        points, "PCA", f"scikit-learn {__version__}", time.perf_counter() - began, ("pca", pca)
    )


def place(embedding: Embedding, features: np.ndarray) -> np.ndarray:
    """Positions of new points in an existing embedding (the set stays where it is).

    PCA projects them; openTSNE optimises them against the fixed embedding
    (``TSNEEmbedding.transform``); otherwise each goes to the distance-weighted mean of
    its :data:`NEIGHBOURS` nearest neighbours' positions in feature space.

    Args:
        embedding: From :func:`embed`.
        features: ``(M, D)`` new feature vectors.

    Returns:
        ``(M, 2)`` float32 positions.
    """
    kind = embedding.model[0]
    features = features.astype(np.float32, copy=False)
    if kind == "pca":
        pca = embedding.model[1]
        points = np.zeros((features.shape[0], 2), np.float32)
        points[:, : pca.n_components_] = pca.transform(features)
        return points
    if kind == "opentsne":
        with torch_threads(1):
            return np.asarray(embedding.model[1].transform(features), np.float32)
    _, known, positions = embedding.model
    distances = np.linalg.norm(known[None, :, :] - features[:, None, :], axis=2)  # (M, N)
    nearest = np.argsort(distances, axis=1)[:, :NEIGHBOURS]
    weights = 1 / (np.take_along_axis(distances, nearest, 1) + 1e-6)  # (M, k)
    weights /= weights.sum(1, keepdims=True)
    return (weights[:, :, None] * positions[nearest]).sum(1).astype(np.float32)
