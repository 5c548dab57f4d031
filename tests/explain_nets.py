"""Tiny hand-made networks and plain-numpy references for the attribution tests."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------- a 4x4 "CNN"

KERNELS = np.array(
    [
        [[1.0, 0.0, -1.0], [2.0, 0.5, -2.0], [1.0, 0.0, -1.0]],
        [[0.5, 1.0, 0.5], [0.0, -1.0, 0.0], [-0.5, 0.25, -0.5]],
    ]
)  # (2, 3, 3)
CONV_BIAS = np.array([0.1, -0.2])
FC_WEIGHT = np.array([[1.5, -0.5], [-1.0, 2.0]])  # (classes, channels)
FC_BIAS = np.array([0.05, -0.05])
IMAGE = np.array(
    [
        [0.2, 0.9, 0.1, 0.0],
        [0.7, 0.3, 0.8, 0.4],
        [0.0, 0.6, 0.5, 1.0],
        [0.9, 0.1, 0.2, 0.3],
    ]
)  # (4, 4)


class HandCNN(nn.Module):
    """conv 3x3 (2 channels, padding 1) -> ReLU -> global average pool -> linear (2 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(KERNELS[:, None], dtype=torch.float32))
            self.conv.bias.copy_(torch.tensor(CONV_BIAS, dtype=torch.float32))
            self.fc.weight.copy_(torch.tensor(FC_WEIGHT, dtype=torch.float32))
            self.fc.bias.copy_(torch.tensor(FC_BIAS, dtype=torch.float32))
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))


def hand_input() -> torch.Tensor:
    return torch.tensor(IMAGE, dtype=torch.float32)[None, None]  # (1, 1, 4, 4)


def np_conv(image: np.ndarray, kernel: np.ndarray, bias: float) -> np.ndarray:
    """3x3 cross-correlation with zero padding 1, by loops."""
    padded = np.pad(image, 1)
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = (padded[i : i + 3, j : j + 3] * kernel).sum() + bias
    return out


def np_hand_forward(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HandCNN in numpy: (pre-activations (2,4,4), activations (2,4,4), logits (2,))."""
    pre = np.stack([np_conv(image, KERNELS[c], CONV_BIAS[c]) for c in range(2)])
    act = np.maximum(pre, 0)
    logits = FC_WEIGHT @ act.mean(axis=(1, 2)) + FC_BIAS
    return pre, act, logits


# ------------------------------------------------ a ReLU6 MLP with a reused module


class ReusedReLU6Net(nn.Module):
    """4 inputs -> fc1 -> act -> fc2 -> act (the SAME ReLU6 module) -> fc3 -> activation3
    -> fc4 (2 classes). ``activation3`` is one of several spellings of ReLU / ReLU6."""

    def __init__(self, third: str = "F.relu", seed: int = 5) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.fc1 = nn.Linear(4, 6)
        self.act = nn.ReLU6()
        self.fc2 = nn.Linear(6, 6)
        self.fc3 = nn.Linear(6, 5)
        self.fc4 = nn.Linear(5, 2)
        self.third = third
        self.inplace_relu = nn.ReLU(inplace=True)
        with torch.no_grad():
            for fc, scale in ((self.fc1, 6.0), (self.fc2, 2.5), (self.fc3, 1.5), (self.fc4, 1.0)):
                fc.weight.copy_(torch.randn(fc.weight.shape, generator=gen) * scale)
                fc.bias.copy_(torch.randn(fc.bias.shape, generator=gen))
        self.eval().requires_grad_(False)

    def activation3(self, z: torch.Tensor) -> torch.Tensor:
        spellings = {
            "F.relu": lambda t: F.relu(t),
            "torch.relu": torch.relu,
            "Tensor.relu": lambda t: t.relu(),
            "inplace nn.ReLU": self.inplace_relu,
            "F.relu_": F.relu_,
            "clamp(min=0)": lambda t: t.clamp(min=0),
            "torch.clamp_min": lambda t: torch.clamp_min(t, 0.0),
            "F.relu6": F.relu6,
            "F.hardtanh(0,6)": lambda t: F.hardtanh(t, 0.0, 6.0),
            "torch.clamp(0,6)": lambda t: torch.clamp(t, 0.0, 6.0),
        }
        return spellings[self.third](z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.fc1(x.flatten(1)))
        h = self.act(self.fc2(h))  # the same ReLU6 module, second call
        h = self.activation3(self.fc3(h))
        return self.fc4(h)


SIX_CAPPED = {"F.relu6", "F.hardtanh(0,6)", "torch.clamp(0,6)"}


def np_modified_gradient(
    net: ReusedReLU6Net, x: np.ndarray, target: int, rule: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The input "gradient" of ReusedReLU6Net written out layer by layer in numpy.

    rule: "plain" (the true gradient), "guided" (max(g, 0) and the unit's gate) or
    "deconvnet" (max(g, 0) only).

    Returns:
        (gradient w.r.t. the 4 inputs, the three pre-activation vectors).
    """
    w = [fc.weight.double().numpy() for fc in (net.fc1, net.fc2, net.fc3, net.fc4)]
    b = [fc.bias.double().numpy() for fc in (net.fc1, net.fc2, net.fc3, net.fc4)]
    upper3 = 6.0 if net.third in SIX_CAPPED else np.inf
    z1 = w[0] @ x + b[0]
    z2 = w[1] @ np.clip(z1, 0, 6) + b[1]
    z3 = w[2] @ np.clip(z2, 0, 6) + b[2]

    def through(g: np.ndarray, z: np.ndarray, upper: float) -> np.ndarray:
        gate = (z > 0) & (z < upper)
        if rule == "plain":
            return g * gate
        if rule == "guided":
            return np.maximum(g, 0) * gate
        return np.maximum(g, 0)

    g = w[3][target]
    g = w[2].T @ through(g, z3, upper3)
    g = w[1].T @ through(g, z2, 6.0)
    g = w[0].T @ through(g, z1, 6.0)
    return g, [z1, z2, z3]


# ----------------------------------------------------------- a Digits-lab-style CNN


class DigitsNet(nn.Module):
    """Conv-ReLU-MaxPool-Conv-ReLU-MaxPool-Flatten-Linear-ReLU-Linear on 1x28x28."""

    def __init__(self, seed: int = 0, zero_bias: bool = False) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10)
        )
        if zero_bias:
            for m in self.modules():
                if isinstance(m, nn.Conv2d | nn.Linear):
                    nn.init.zeros_(m.bias)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def digit_input(seed: int = 0) -> torch.Tensor:
    """A blob-shaped 'digit' in [0, 1], (1, 1, 28, 28)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    ring = torch.exp(-((((yy - 14) ** 2 + (xx - 14) ** 2).sqrt() - 7) ** 2) / 4)
    return (ring + 0.05 * torch.rand(28, 28, generator=gen)).clamp(0, 1)[None, None]


class ResidualBNNet(nn.Module):
    """conv -> BN -> ReLU -> [conv -> BN] + skip -> ReLU (in place) -> max pool -> avg pool
    -> linear; zero biases and BN shifts when ``homogeneous`` (so LRP-0 = gradient x input)."""

    def __init__(self, homogeneous: bool = True, seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=not homogeneous)
        self.bn1 = nn.BatchNorm2d(6)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1, bias=not homogeneous)
        self.bn2 = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 4, bias=not homogeneous)
        with torch.no_grad():
            for bn in (self.bn1, self.bn2):
                bn.weight.uniform_(0.5, 1.5)
                bn.running_var.uniform_(0.5, 2.0)
                if not homogeneous:
                    bn.bias.uniform_(-0.2, 0.2)
                    bn.running_mean.uniform_(-0.2, 0.2)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(h))
        out += h
        out = self.relu(out)
        return self.fc(torch.flatten(self.avg(self.pool(out)), 1))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps."""
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def relu6_as_relu_then_clamp(net: nn.Module) -> nn.Module:
    """A copy whose ReLU6 modules are ReLU + Hardtanh(0, 6), which Captum's ReLU hooks can
    see: the guided gradient of that is exactly ReLU6's (the reference for guided backprop)."""
    fixed = copy.deepcopy(net)

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(module, name, nn.Sequential(nn.ReLU(), nn.Hardtanh(0.0, 6.0)))
            else:
                swap(child)

    swap(fixed)
    return fixed
