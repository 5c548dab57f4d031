"""The folded-batch-norm twin used by the many-pass methods."""

from __future__ import annotations

import torch
from torch import nn

from core.attribution.fast import folded_twin
from core.common.hooks import count_hooks
from core.models import load_model
from tests.explain_nets import DigitsNet, ResidualBNNet


def test_efficientnet_twin_computes_the_same_logits_and_leaves_the_model_alone() -> None:
    net = load_model("efficientnet_lite0", pretrained=False).net
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():  # first asked from inside inference mode, as LIME does
        twin = folded_twin(net, x)
    assert twin is not net
    assert not any(isinstance(m, nn.BatchNorm2d) for m in twin.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 49
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    assert count_hooks(net) == 0
    assert count_hooks(twin) == 0
    probe = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(twin(probe), net(probe), rtol=1e-4, atol=1e-4)
    # Usable for gradients (its parameters are normal tensors), and cached.
    leaf = probe.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(twin(leaf)[:, 3].sum(), leaf)
    assert grad.abs().sum() > 0
    assert folded_twin(net, x) is twin


def test_nothing_to_fold_gives_the_network_itself() -> None:
    net = DigitsNet()
    assert folded_twin(net, torch.rand(1, 1, 28, 28)) is net


class _SkipAroundBatchNorm(nn.Module):
    """The convolution's output feeds the batch norm AND a skip: folding would be wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.bn.running_mean.fill_(0.5)
            self.bn.running_var.fill_(4.0)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.fc((self.bn(y) + y).mean(dim=(2, 3)))


def test_a_fold_that_changes_the_function_is_rejected() -> None:
    net = _SkipAroundBatchNorm()
    assert folded_twin(net, torch.rand(1, 3, 8, 8)) is net
    residual = ResidualBNNet(homogeneous=False)
    twin = folded_twin(residual, torch.rand(1, 3, 8, 8))
    assert twin is not residual  # the ordinary conv -> BN pairs do fold
