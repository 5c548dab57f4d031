"""LRP: the rules by hand, conservation, batch-norm folding, residual additions, and
LRP-0 = gradient x input on piecewise-linear networks without biases."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from core.attribution import MethodNotApplicable, attribute
from core.common.hooks import count_hooks
from core.models import load_model
from tests.explain_nets import DigitsNet, ResidualBNNet, correlation, digit_input


def _gradient_times_input(net: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[0, target], x)
    return (grad * x).sum(1)[0].detach().numpy()


class OneLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, -2.0, 0.5, 3.0], [-1.0, 1.0, 2.0, -0.5]]))
            self.fc.bias.copy_(torch.tensor([0.3, -0.2]))
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


X = np.array([0.5, -1.0, 2.0, 0.25])


@pytest.mark.parametrize("target", [0, 1])
def test_rules_by_hand_on_one_linear_layer(target: int) -> None:
    net = OneLinear()
    w = net.fc.weight.double().numpy()[target]
    b = float(net.fc.bias[target])
    z = float(w @ X + b)  # the logit = the relevance entering
    contributions = X * w
    x = torch.tensor(X, dtype=torch.float32).view(1, 1, 2, 2)

    eps = 1e-3
    epsilon = contributions * z / (z + eps * np.sign(z))
    got = attribute(net, x, "lrp", target, rule="epsilon", epsilon=eps).ravel()
    np.testing.assert_allclose(got, epsilon, rtol=1e-5)

    z_pos = contributions[contributions > 0].sum() + max(b, 0)
    z_neg = contributions[contributions < 0].sum() + min(b, 0)
    positive_share = np.maximum(contributions, 0) / z_pos
    # No negative contribution (target 0): the beta term is empty.
    negative_share = np.minimum(contributions, 0) / z_neg if z_neg < 0 else np.zeros(4)
    alpha_beta = (2 * positive_share - negative_share) * z
    got = attribute(net, x, "lrp", target, rule="alpha_beta", epsilon=1e-9).ravel()
    np.testing.assert_allclose(got, alpha_beta, rtol=1e-5)


def test_epsilon_rule_conserves_the_logit_on_a_relu_cnn() -> None:
    """Digits-lab style CNN (conv, ReLU, max pool, flatten, linear), zero biases."""
    net, x = DigitsNet(zero_bias=True), digit_input()
    logits = net(x)[0]
    for target in (int(logits.argmax()), int(logits.argmin())):
        heat = attribute(net, x, "lrp", target, rule="epsilon", epsilon=1e-9)
        assert heat.shape == (28, 28)
        np.testing.assert_allclose(heat.sum(), float(logits[target]), rtol=1e-4)


def test_both_rules_run_on_the_digits_net_with_biases() -> None:
    net, x = DigitsNet(), digit_input()
    before = count_hooks(net)
    for rule in ("epsilon", "alpha_beta"):
        heat = attribute(net, x, "lrp", None, rule=rule)
        assert heat.shape == (28, 28)
        assert np.isfinite(heat).all()
        assert np.abs(heat).max() > 0
    assert count_hooks(net) == before


@pytest.mark.parametrize("rule", ["epsilon", "alpha_beta"])
def test_lrp0_equals_gradient_times_input_with_residuals_and_batch_norm(rule: str) -> None:
    """With no biases, LRP-0 is gradient x input for ReLU networks (Montavon et al. 2019);
    here through batch norm (folded), an in-place residual addition, in-place ReLUs,
    max and average pooling. The alpha-beta rule conserves on this net too (checked)."""
    net = ResidualBNNet(homogeneous=True)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    logits = net(x)[0]
    target = int(logits.argmax())
    if rule == "epsilon":
        heat = attribute(net, x, "lrp", target, rule="epsilon", epsilon=1e-9)
        np.testing.assert_allclose(
            heat, _gradient_times_input(net, x, target), rtol=1e-4, atol=1e-6
        )
    else:
        heat = attribute(net, x, "lrp", target, rule="alpha_beta", epsilon=1e-9)
    assert heat.sum() == pytest.approx(
        float(logits[target]), rel=1e-3 if rule == "epsilon" else 0.5
    )


def _fold_batch_norms(net: ResidualBNNet) -> nn.Module:
    """The same network with each batch norm folded into its convolution by hand."""
    folded = copy.deepcopy(net)
    for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2")):
        conv, bn = getattr(folded, conv_name), getattr(folded, bn_name)
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        new = nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=True)
        with torch.no_grad():
            new.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
            new.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
        setattr(folded, conv_name, new)
        setattr(folded, bn_name, nn.Identity())
    return folded.eval().requires_grad_(False)


@pytest.mark.parametrize("rule", ["epsilon", "alpha_beta"])
def test_batch_norm_is_folded_into_the_convolution(rule: str) -> None:
    net = ResidualBNNet(homogeneous=False)
    folded = _fold_batch_norms(net)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(folded(x), net(x), rtol=1e-5, atol=1e-5)
    ours = attribute(net, x, "lrp", 2, rule=rule, epsilon=1e-6)
    by_hand = attribute(folded, x, "lrp", 2, rule=rule, epsilon=1e-6)
    np.testing.assert_allclose(ours, by_hand, rtol=1e-4, atol=1e-6)


def _without_classifier_bias(net: nn.Module, name: str) -> nn.Module:
    copy_ = copy.deepcopy(net)
    nn.init.zeros_(dict(copy_.named_modules())[name].bias)
    return copy_.eval().requires_grad_(False)


def test_lrp0_is_gradient_times_input_on_random_resnet18() -> None:
    """Random init: BN shifts are 0 and convolutions have no bias; zero the last layer's
    bias too and the network is homogeneous, so LRP-0 must equal gradient x input."""
    net = _without_classifier_bias(load_model("resnet18", pretrained=False).net, "fc")
    before = count_hooks(net)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    heat = attribute(net, x, "lrp", 3, rule="epsilon", epsilon=1e-9)
    reference = _gradient_times_input(net, x, 3)
    assert correlation(heat, reference) > 0.999
    assert count_hooks(net) == before


def test_lrp_runs_on_efficientnet_lite0() -> None:
    """ReLU6 (one module reused twice per block), depthwise convolutions, static 'same'
    padding, residual additions. Random init, classifier bias zeroed: close to gradient x
    input (not equal: saturated ReLU6 units pass relevance but no gradient)."""
    net = _without_classifier_bias(
        load_model("efficientnet_lite0", pretrained=False).net, "classifier"
    )
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(6))
    heat = attribute(net, x, "lrp", 7, rule="epsilon", epsilon=1e-9)
    assert correlation(heat, _gradient_times_input(net, x, 7)) > 0.95
    alpha_beta = attribute(net, x, "lrp", 7, rule="alpha_beta")
    assert np.isfinite(alpha_beta).all()


def test_unsupported_layer_is_named() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.SiLU(), nn.Linear(3, 2)).eval()
    with pytest.raises(MethodNotApplicable, match="silu"):
        attribute(net, torch.ones(1, 1, 2, 2), "lrp", 0)
