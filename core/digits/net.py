"""The digit CNN: its architecture, the batch-norm folding of the trained network, the
shipped weights and the ONE process-wide loaded network (:func:`digit_net`).

The network (:func:`build_digit_net`, defined in :mod:`core.models.digit_cnn` so that a
file of its weights can be read like any architecture's) is trained by
``scripts/train_digits.py`` with batch normalisation, which is then folded into the
convolutions, so the shipped network is a plain chain of Conv2d / ReLU / MaxPool2d /
Linear layers. The weights ship in ``core/digits/weights/digits_cnn.pt``.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.common.batchnorm import fold_conv_bn
from core.common.single_thread import single_threaded
from core.digits.data import mnist_subset
from core.digits.preprocess import as_batch, preprocess
from core.models.digit_cnn import CHANNELS as CHANNELS  # re-exported
from core.models.digit_cnn import HIDDEN as HIDDEN
from core.models.digit_cnn import build_digit_net

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "digits_cnn.pt"


def fold_batch_norm(trained: nn.Sequential) -> nn.Sequential:
    """The plain network equivalent (in eval mode) to one trained with batch norm.

    Each ``bnN`` is folded into ``convN`` (w' = w * g / s, b' = (b - mu) * g / s + beta,
    with s = sqrt(var + eps); by :func:`core.common.batchnorm.fold_conv_bn`); dropout
    layers, identities in eval mode, are dropped.

    Args:
        trained: A network from ``build_digit_net(batch_norm=True, dropout=...)``.

    Returns:
        A ``build_digit_net()`` network in eval mode with the folded weights.
    """
    plain = build_digit_net()
    trained_layers = dict(trained.named_children())
    state: dict[str, torch.Tensor] = {}
    for name, module in plain.named_children():
        layer = trained_layers[name]
        if isinstance(module, nn.Conv2d):
            bn = trained_layers["bn" + name.removeprefix("conv")]
            if not isinstance(layer, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
                raise TypeError(f"{name} of the trained network is no Conv2d + BatchNorm2d")
            weight, bias = fold_conv_bn(layer, bn)  # (C_out, C_in, k, k), (C_out,)
        elif isinstance(module, nn.Linear):
            if not isinstance(layer, nn.Linear):
                raise TypeError(f"{name} of the trained network is no Linear layer")
            weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
        else:
            continue
        state[f"{name}.weight"], state[f"{name}.bias"] = weight, bias
    plain.load_state_dict(state)
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
    """The shipped digit CNN, loaded once per process. Never mutate what this returns.

    The one shared instance: the pages (through ``ui.digits.cache``), :func:`classify`'s
    default and the tests all use it; no other cache of the network exists.

    Returns:
        The network of :func:`load_digit_net`, the same object on every call.
    """
    global _shared_net
    with _NET_LOCK:
        if _shared_net is None:
            _shared_net = load_digit_net()
        return _shared_net


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


@functools.lru_cache(maxsize=1)
def held_out_mistakes() -> tuple[int, ...]:
    """The held-out digits the shipped network gets wrong, as the digits lab shows them.

    Each of the 1,000 held-out digits goes through the lab's own pipeline
    (:func:`~core.digits.preprocess.preprocess`, then :func:`classify`), so every index
    here is one the lab's page answers wrongly. Computed once per process (~1 s).

    Returns:
        Indices into ``mnist_subset().test_images``, ascending.
    """
    data = mnist_subset()
    seen = np.stack([preprocess(image) for image in data.test_images])  # (1000, 28, 28)
    predicted = classify(seen).argmax(1)  # (1000,)
    return tuple(int(i) for i in np.flatnonzero(predicted != data.test_labels))
