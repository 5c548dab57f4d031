"""The mechanisms written once in core.common: per-network memos, the one logits
tolerance, thread-filtered hooks and the output of a layer (stop early, replace)."""

from __future__ import annotations

import gc
import threading
import time

import pytest
import torch
from PIL import Image
from torch import nn

from core.attribution import attributor_for
from core.attribution.fast import folded_twin
from core.common.hooks import (
    NoSuchLayer,
    call_order,
    count_hooks,
    forward_hooks,
    layer_output,
    tap_layers,
)
from core.common.networks import LOGITS_TOLERANCE, PerNetwork, logits_difference, same_logits
from core.common.samples import sample_path
from core.models import load_model
from tests.explain_nets import DigitsNet, digit_input


def test_per_network_values_are_built_once_and_one_network_never_waits_for_another() -> None:
    memo: PerNetwork[str] = PerNetwork()
    slow, fast = DigitsNet(), DigitsNet()
    builds: list[str] = []
    started = threading.Event()
    release = threading.Event()

    def build_slow() -> str:
        builds.append("slow")
        started.set()
        release.wait(timeout=30)
        return "slow value"

    threads = [threading.Thread(target=memo.get, args=(slow, "k", build_slow)) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert started.wait(timeout=30)
    begun = time.perf_counter()
    assert memo.get(fast, "k", lambda: "fast value") == "fast value"  # not blocked
    assert time.perf_counter() - begun < 5
    assert memo.peek(slow, "k") is None  # still being built: peek never waits or builds
    release.set()
    for thread in threads:
        thread.join()
    assert builds == ["slow"]  # three threads asked, one built
    assert memo.get(slow, "k", lambda: "again") == "slow value"
    assert memo.get(slow, "other key", lambda: "other") == "other"
    assert sorted(memo.values()) == ["fast value", "other", "slow value"]


def test_a_failed_build_stores_nothing_and_a_dropped_network_takes_its_values() -> None:
    memo: PerNetwork[int] = PerNetwork()
    net = DigitsNet()

    def broken() -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        memo.get(net, "k", broken)
    assert memo.get(net, "k", lambda: 1) == 1
    del net
    gc.collect()
    assert memo.values() == []


def test_logits_difference_is_relative_to_the_largest_logit() -> None:
    expected = torch.tensor([[20.0, -40.0, 3.0]])
    assert logits_difference(expected, expected + 0.004) == pytest.approx(1e-4, rel=1e-3)
    assert same_logits(expected, expected + 0.003)
    assert not same_logits(expected, expected + 0.005)
    small = torch.tensor([[0.2, -0.1]])  # below 1: the difference is absolute
    assert logits_difference(small, small + 5e-5) == pytest.approx(5e-5, rel=1e-3)
    assert logits_difference(expected, expected[:, :2]) == float("inf")


def test_the_twin_and_the_intercepted_passes_are_far_inside_the_tolerance() -> None:
    """The margin LOGITS_TOLERANCE claims: the rounding of the passes it compares is over
    ten times smaller, on the embedded model and a real photo."""
    model = load_model("efficientnet_lite0")
    run = attributor_for(model, Image.open(sample_path("cat.jpg")))
    with torch.inference_mode():
        expected = model.net(run.x)
        twin = folded_twin(model.net, run.x)(run.x)
    assert logits_difference(expected, twin) < LOGITS_TOLERANCE / 10
    import core.attribution.guided as guided

    seen: list[float] = []
    real = guided.same_logits

    def measure(a: torch.Tensor, b: torch.Tensor) -> bool:
        seen.append(logits_difference(a, b))
        return real(a, b)

    guided.same_logits = measure  # type: ignore[assignment]
    try:
        other = load_model("efficientnet_lite0", pretrained=False)  # a network never checked
        fresh = attributor_for(other, Image.open(sample_path("cat.jpg")))
        for method in ("guided_backprop", "lrp"):
            fresh.attribute(method, 285)
    finally:
        guided.same_logits = real  # type: ignore[assignment]
    assert len(seen) == 2
    assert max(seen) < LOGITS_TOLERANCE / 10


def test_hooks_run_only_for_the_thread_that_opened_the_block() -> None:
    net, x = DigitsNet(), digit_input()
    calls: list[int] = []
    inside, done = threading.Event(), threading.Event()

    def other_thread() -> None:
        inside.wait(timeout=30)
        with torch.no_grad():
            net(x)  # another session's pass through the same module
        done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with forward_hooks([(net.features[0], lambda *_: calls.append(threading.get_ident()))]):
        inside.set()
        assert done.wait(timeout=30)
        with torch.no_grad():
            net(x)
    worker.join()
    assert calls == [threading.get_ident()]
    assert count_hooks(net) == 0


def test_a_tap_reads_replaces_and_stops() -> None:
    net, x = DigitsNet(), digit_input()
    order = call_order(net, x, ["features.1", "features.4"])
    assert order == [("features.1", 1), ("features.4", 1)]
    with torch.no_grad(), tap_layers(net, ["features.1"], stop_after=order[0]) as tap:
        assert tap.run(x) is None  # stopped after the first ReLU
        assert tap.calls == {"features.1": 1}
        stopped = tap.outputs["features.1"]
    torch.testing.assert_close(stopped, layer_output(net, x, "features.1"))
    with torch.no_grad(), tap_layers(net, ["features.4"], replace=lambda _, t: 0 * t) as tap:
        out = tap.run(x)
    torch.testing.assert_close(out, net.classifier(torch.zeros(1, 16, 7, 7)))
    with pytest.raises(NoSuchLayer, match="the network has no layer called 'nope'"):
        layer_output(net, x, "nope")
    with pytest.raises(ValueError, match="no layer called"):  # a ValueError for parameters
        call_order(net, x, ["nope"])
    assert isinstance(NoSuchLayer("x"), KeyError)
    assert count_hooks(net) == 0


class _Tuple(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x


def test_layer_output_says_when_a_call_returns_no_tensor() -> None:
    net = nn.Sequential()
    net.add_module("pair", _Tuple())
    with pytest.raises(ValueError, match="does not return a tensor"):
        layer_output(net, torch.zeros(1, 1, 2, 2), "pair")
