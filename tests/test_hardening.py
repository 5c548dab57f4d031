"""Never silently wrong, and safe on a shared model: the logits check runs for real, the
input's path is provenance (not requires_grad), LRP says when it falls back, and a twin
built while another thread holds hooks has none."""

from __future__ import annotations

import copy
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import core.attribution.fast as fast
from core.attribution import Attributor, MethodNotApplicable, attribute
from core.common.hooks import count_hooks, forward_hooks
from tests.explain_nets import DigitsNet, digit_input


class DifferentUnderInterception(nn.Module):
    """Computes something else whenever a torch-function mode is active (as code the
    interception cannot follow would): the rewritten pass no longer gives the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(x)).mean(dim=(2, 3))
        if torch._C._len_torch_function_stack() > 0:
            h = h * 3
        return self.fc(h)


class LearnedGate(nn.Module):
    """A network whose parameters require grad, with a tensor computed from parameters
    alone (a gate) multiplying the activations: not on the input's path."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 3, 3, bias=False)
        self.gate = nn.Parameter(torch.randn(1, 3, 1, 1))
        self.fc = nn.Linear(3, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.relu(self.gate * 1.0)  # requires grad, is no Parameter, not from x
        h = F.relu(self.conv(x)) * gate
        return self.fc(h.sum(dim=(2, 3)))


class BatchNormFirst(nn.Module):
    """A batch norm on the input itself: nothing to fold it into."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        self.conv = nn.Conv2d(1, 2, 3)
        with torch.no_grad():
            self.bn.running_mean.fill_(0.2)
            self.bn.running_var.fill_(2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(self.bn(x))).mean(dim=(2, 3))


class ConvBN(nn.Module):
    """Conv + batch norm (something to fold) on 1 x 28 x 28, frozen, in eval mode."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(1, 6, 5, padding=2)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 10)
        with torch.no_grad():
            self.bn.running_mean.copy_(torch.rand(6, generator=generator))
            self.bn.running_var.copy_(torch.rand(6, generator=generator) + 0.5)
            self.bn.weight.copy_(torch.rand(6, generator=generator) + 0.5)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def test_the_logits_check_runs_for_real_even_with_an_explicit_class() -> None:
    net = DifferentUnderInterception().eval()
    x = torch.rand(1, 1, 8, 8)
    for method in ("guided_backprop", "deconvnet", "lrp"):
        with pytest.raises(MethodNotApplicable, match="does not give the same output"):
            attribute(net, x, method, 1)  # an explicit class: no logits computed first
        with pytest.raises(MethodNotApplicable, match="does not give the same output"):
            attribute(net, torch.rand(1, 1, 8, 8), method, 0)  # remembered, still refused
    assert attribute(DigitsNet(), digit_input(), "guided_backprop", 3).shape == (28, 28)


def test_tensors_made_from_parameters_are_not_taken_for_the_input_path() -> None:
    net = LearnedGate().eval()
    assert all(p.requires_grad for p in net.parameters())
    x = torch.rand(1, 1, 10, 10, generator=torch.Generator().manual_seed(1))
    frozen = LearnedGate().eval().requires_grad_(False)
    for method in ("guided_backprop", "lrp"):
        got = attribute(net, x, method, 1)
        expected = attribute(frozen, x, method, 1)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # epsilon LRP with no biases conserves the logit
    relevance = attribute(net, x, "lrp", 1, rule="epsilon", epsilon=1e-9)
    with torch.no_grad():
        logit = float(net(x)[0, 1])
    assert relevance.sum() == pytest.approx(logit, rel=1e-4)


def test_lrp_says_when_a_batch_norm_cannot_be_folded() -> None:
    run = Attributor(BatchNormFirst().eval(), torch.rand(1, 1, 6, 6))
    result = run.attribute("lrp", 0)
    assert any("per-channel linear map" in note for note in result.notes)
    folded = Attributor(DigitsNet(), digit_input()).attribute("lrp", 3)
    assert folded.notes == ()


def test_a_twin_built_while_another_thread_holds_hooks_has_none() -> None:
    net = ConvBN()
    x = digit_input()
    # The reference map on an identical copy: the network's own twin is not built yet.
    alone = Attributor(copy.deepcopy(net), x).attribute("integrated_gradients", 3, steps=8).heatmap
    assert fast._TWINS.peek(net, "twin") is None
    holding, release = threading.Event(), threading.Event()
    calls = []

    def hold_hooks() -> None:
        hooks = [(m, lambda *a: calls.append(1)) for m in net.modules() if m is not net]
        with forward_hooks(hooks):
            holding.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=hold_hooks)
    thread.start()
    holding.wait(timeout=30)
    assert count_hooks(net) > 0
    twin = fast.folded_twin(net, x)  # built now, while the hooks are on the network
    release.set()
    thread.join()
    assert twin is not net
    assert count_hooks(twin) == 0
    assert count_hooks(net) == 0
    calls.clear()
    again = Attributor(net, x).attribute("integrated_gradients", 3, steps=8).heatmap
    assert calls == []  # no hook copied into the twin fires
    np.testing.assert_allclose(again, alone, rtol=1e-5, atol=1e-6)


def test_building_one_networks_twin_does_not_block_another(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    slow, quick = ConvBN(1), ConvBN(2)  # new networks: no twin built yet
    started, finish = threading.Event(), threading.Event()
    fold = fast._fold

    def slow_fold(candidate: nn.Module, example: torch.Tensor) -> int:
        if not started.is_set():
            started.set()
            finish.wait(timeout=30)
        return fold(candidate, example)

    monkeypatch.setattr(fast, "_fold", slow_fold)
    builder = threading.Thread(target=fast.folded_twin, args=(slow, digit_input()))
    builder.start()
    started.wait(timeout=30)
    begin = time.perf_counter()
    fast.folded_twin(quick, digit_input())  # must not wait for the slow build
    waited = time.perf_counter() - begin
    finish.set()
    builder.join()
    assert waited < 5
