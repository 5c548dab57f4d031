"""Guided backprop and DeconvNet: hand-computed on tiny nets, equal to Captum where
Captum is right, and a clear refusal where the method does not apply."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import Deconvolution, GuidedBackprop
from torch import nn

from core.attribution import AttributionContext, MethodNotApplicable, attribute
from core.attribution.ops import Interceptor, rectifier_rule
from core.common.hooks import count_hooks
from core.models import load_model
from tests.explain_nets import (
    ReusedReLU6Net,
    correlation,
    np_modified_gradient,
    relu6_as_relu_then_clamp,
)

X4 = np.array([0.9, -0.4, 0.3, 0.7])

SPELLINGS = [
    "F.relu",
    "torch.relu",
    "Tensor.relu",
    "inplace nn.ReLU",
    "F.relu_",
    "clamp(min=0)",
    "torch.clamp_min",
    "F.relu6",
    "F.hardtanh(0,6)",
    "torch.clamp(0,6)",
]


def _x() -> torch.Tensor:
    return torch.tensor(X4, dtype=torch.float32).view(1, 1, 2, 2)


@pytest.mark.parametrize("third", SPELLINGS)
@pytest.mark.parametrize("target", [0, 1])
def test_guided_and_deconvnet_match_hand_computation(third: str, target: int) -> None:
    net = ReusedReLU6Net(third)
    for method, rule in (("guided_backprop", "guided"), ("deconvnet", "deconvnet")):
        expected, _ = np_modified_gradient(net, X4, target, rule)
        got = attribute(net, _x(), method, target)  # (2, 2): |.| of the 1-channel gradient
        np.testing.assert_allclose(got.ravel(), np.abs(expected), rtol=1e-5, atol=1e-6)


def test_the_hand_net_exercises_every_case() -> None:
    """The fixture really has units below 0, between 0 and 6, above 6 (saturated ReLU6),
    and negative backward signals, so guided, deconvnet and the plain gradient differ."""
    net = ReusedReLU6Net("F.relu6")
    _, (z1, z2, z3) = np_modified_gradient(net, X4, 0, "plain")
    both = np.concatenate([z1, z2])
    assert (both < 0).any()
    assert ((both > 0) & (both < 6)).any()
    assert (both > 6).any()
    plain = np.abs(np_modified_gradient(net, X4, 0, "plain")[0])
    guided = np.abs(np_modified_gradient(net, X4, 0, "guided")[0])
    deconv = np.abs(np_modified_gradient(net, X4, 0, "deconvnet")[0])
    assert min(plain.min(), guided.min(), deconv.min()) > 1e-3  # nothing trivially zero
    assert not np.allclose(plain, guided, rtol=0.05)
    assert not np.allclose(guided, deconv, rtol=0.05)
    # Captum's hooks only see nn.ReLU: on this ReLU6 net it returns the plain gradient.
    captum = GuidedBackprop(net).attribute(_x(), target=0).abs().numpy().ravel()
    np.testing.assert_allclose(captum, plain, rtol=1e-5, atol=1e-6)


def test_plain_forward_is_unchanged_and_nothing_is_left_on_the_net() -> None:
    net = ReusedReLU6Net("inplace nn.ReLU")
    before = count_hooks(net)
    expected = net(_x())
    attribute(net, _x(), "guided_backprop", 0)
    assert count_hooks(net) == before
    assert torch.equal(net(_x()), expected)
    # Outside the block the plain gradient is back.
    x = _x().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[0, 0], x)
    plain, _ = np_modified_gradient(net, X4, 0, "plain")
    np.testing.assert_allclose(grad.numpy().ravel(), plain, rtol=1e-5, atol=1e-6)


def test_interception_is_thread_local() -> None:
    """While one thread runs a guided forward pass, another thread's forward and backward
    through the same module (at the same moment: a barrier inside forward) are plain."""
    barrier = threading.Barrier(2, timeout=10)

    class Meet(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            barrier.wait()
            return x

    net = ReusedReLU6Net("F.relu6")
    net.meet = Meet()
    forward = net.forward
    net.forward = lambda x: forward(net.meet(x))  # type: ignore[method-assign]
    plain, _ = np_modified_gradient(net, X4, 1, "plain")
    guided, _ = np_modified_gradient(net, X4, 1, "guided")
    results: dict[str, np.ndarray] = {}

    def guided_thread() -> None:
        x = _x().requires_grad_(True)
        with Interceptor("test", {"rectifier": rectifier_rule("guided")}, [x]):
            out = net(x)
        results["guided"] = torch.autograd.grad(out[0, 1], x)[0].numpy().ravel()

    def plain_thread() -> None:
        x = _x().requires_grad_(True)
        out = net(x)
        results["plain"] = torch.autograd.grad(out[0, 1], x)[0].numpy().ravel()

    threads = [threading.Thread(target=guided_thread), threading.Thread(target=plain_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(results["plain"], plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results["guided"], guided, rtol=1e-5, atol=1e-6)


class _Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def, override]
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def, override]
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return g * (s * (1 + x * (1 - s)))


class _Activation(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.fc1 = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 2)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x.flatten(1))
        if self.kind == "silu":
            h = nn.SiLU()(h)
        elif self.kind == "sigmoid gate":
            h = h * torch.sigmoid(h)
        elif self.kind == "leaky_relu":
            h = F.leaky_relu(h)
        elif self.kind == "hardtanh(-1,1)":
            h = F.hardtanh(h)
        elif self.kind == "custom autograd.Function":
            h = _Swish.apply(h)
        return self.fc2(h)


@pytest.mark.parametrize(
    "kind", ["silu", "sigmoid gate", "leaky_relu", "hardtanh(-1,1)", "custom autograd.Function"]
)
@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "lrp"])
def test_unsupported_activations_are_refused_not_silently_wrong(kind: str, method: str) -> None:
    net = _Activation(kind)
    before = count_hooks(net)
    with pytest.raises(MethodNotApplicable) as err:
        attribute(net, _x(), method, 0)
    assert str(err.value)
    assert count_hooks(net) == before
    # The same thread works normally afterwards (the interception was removed).
    x = _x().requires_grad_(True)
    torch.autograd.grad(net(x)[0, 0], x)


def test_equal_to_captum_on_resnet18() -> None:
    """torchvision's ResNet-18 reuses an in-place nn.ReLU twice per block: Captum is right
    there, and so are we (random init, 64x64 input)."""
    model = load_model("resnet18", pretrained=False)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for method, reference in (("guided_backprop", GuidedBackprop), ("deconvnet", Deconvolution)):
        ours = attribute(model.net, x, method, 7)
        theirs = reference(model.net).attribute(x.clone(), target=7).abs().amax(1)[0].numpy()
        assert correlation(ours, theirs) > 0.999
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-3 * float(theirs.max()))


def test_equal_to_captum_on_efficientnet_lite0_and_captum_alone_is_wrong() -> None:
    model = load_model("efficientnet_lite0")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    context = AttributionContext(mean=model.mean, std=model.std, layer=model.target_layer)
    ours = attribute(model.net, x, "guided_backprop", 285, context=context)
    fixed = relu6_as_relu_then_clamp(model.net)
    theirs = GuidedBackprop(fixed).attribute(x.clone(), target=285).abs().amax(1)[0].numpy()
    assert correlation(ours, theirs) > 0.99
    as_is = GuidedBackprop(model.net).attribute(x.clone(), target=285).abs().amax(1)[0].numpy()
    assert correlation(ours, as_is) < 0.9  # Captum on ReLU6: the plain gradient
