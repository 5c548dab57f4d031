"""The forward engine: every forward-only pass of a network on ONNX Runtime, checked
against torch, with torch as the fallback.

Occlusion, LIME, RISE, Score-CAM, the faithfulness curves and the batch jobs are
almost nothing but forward passes. On the 2-core CPU, ONNX Runtime runs
EfficientNet-Lite0 at ~6 ms per image against 19-32 ms for torch (``bench/explain.py``
measures it), with logits equal to ~6e-6. So each network gets one engine
(:func:`forward_engine`):

1. The network is exported once (``torch.onnx.export`` with the dynamo exporter and a
   dynamic batch axis) from a private copy (never the shared cached model), in a child
   process (:mod:`core.models.onnx_export`), into the user's cache folder, keyed on the
   network's name, a hash of its weights, the input size and the library versions: a
   restart reuses the file, a stale key makes a new one, and a corrupt file is rebuilt,
   not trusted.
2. An ``onnxruntime.InferenceSession`` opens it with as many intra-op threads as torch
   uses. ``InferenceSession.run`` is thread-safe, so one engine serves every session.
3. Before use, the engine's logits on a probe batch must equal torch's within 1e-4 of
   the largest logit. Otherwise, or when export or loading fails, or when ONNX Runtime
   is not installed, the engine is torch itself and the reason is logged and kept
   (:attr:`ForwardEngine.reason`): never silently different.

Gradient methods stay on torch (ONNX Runtime has no autograd).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.common.hooks import private_copy
from core.common.layout import fast_layout
from core.common.networks import (
    LOGITS_TOLERANCE,
    MAX_PARAMETERS,
    PerNetwork,
    logits_difference,
    parameter_count,
)

log = logging.getLogger(__name__)

ONNX_RUNTIME = "ONNX Runtime"
TORCH = "torch"
PROBE_BATCH = 2
# Images per ONNX Runtime call: as fast per image as 8 or 50 on the 2-core CPU (4-5 ms
# for EfficientNet-Lite0), and its buffers are half those of batch 8 (~30 MB vs ~65 MB).
ENGINE_BATCH = 4
EXPORT_TIMEOUT = 600.0  # seconds for the child process to export a network
REPO = Path(__file__).resolve().parents[2]
CACHE_ENV = "CNN_EXPLAINER_CACHE"  # overrides the cache folder (tests use a temporary one)


def cache_folder() -> Path:
    """Where exported graphs are kept: ``$CNN_EXPLAINER_CACHE``, else
    ``$XDG_CACHE_HOME/cnn-explainer/onnx``, else ``~/.cache/cnn-explainer/onnx``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cnn-explainer" / "onnx"


@dataclass
class ForwardEngine:
    """Forward passes of one network for one input size: ``engine(x) -> logits``.

    Attributes:
        name: ``"ONNX Runtime"`` or ``"torch"`` (shown on the page's tiles).
        input_shape: ``(C, H, W)`` the engine was built and checked for.
        reason: Why this is torch and not ONNX Runtime (None when it is ONNX Runtime).
        max_difference: Largest |logit| difference on the probe batch, relative to the
            largest |logit| (ONNX Runtime only).
        path: The exported graph (ONNX Runtime only).
        build_seconds: Time to export (or load) and check.
        passes: Images run so far (a counter for reports).
        max_batch: Larger batches are run in parts of this size (ONNX Runtime keeps
            buffers for the largest batch it has seen: this bounds them).
    """

    name: str
    input_shape: tuple[int, int, int]
    run: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    reason: str | None = None
    max_difference: float | None = None
    path: Path | None = None
    build_seconds: float = 0.0
    passes: int = 0
    max_batch: int = 1 << 30

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch, forward only.

        Args:
            x: ``(B, C, H, W)`` float inputs, normalised as the network expects.

        Returns:
            ``(B, K)`` float32 logits (a normal tensor, not an inference tensor).

        Raises:
            ValueError: the input's ``(C, H, W)`` is not the engine's.
        """
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"this engine runs inputs of shape (B, {', '.join(map(str, self.input_shape))})"
                f", got {tuple(x.shape)}"
            )
        self.passes += int(x.shape[0])
        if x.shape[0] <= self.max_batch:
            return self.run(x)
        return torch.cat([self.run(part) for part in x.split(self.max_batch)])


def _torch_runner(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = net(fast_layout(x.float()))
        with torch.inference_mode(False):
            return out.float().clone()

    return run


def torch_engine(net: nn.Module, input_shape: tuple[int, int, int], reason: str) -> ForwardEngine:
    """The torch fallback: the network itself in inference mode (fast memory layout)."""
    return ForwardEngine(TORCH, input_shape, _torch_runner(net), reason=reason)


def weights_hash(net: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names, shapes, dtypes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(data.shape)}:{data.dtype}".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _versions() -> str:
    import onnxruntime

    return f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"


def graph_key(name: str, net: nn.Module, input_shape: tuple[int, int, int]) -> str:
    """The cache key of an exported graph: everything that changes the file's content."""
    text = f"{name}|{weights_hash(net)}|{input_shape}|{_versions()}|{type(net).__qualname__}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _export(net: nn.Module, input_shape: tuple[int, int, int], path: Path) -> None:
    """Export a private copy of ``net`` to ``path`` in a child process (see
    :mod:`core.models.onnx_export` for why).

    Raises:
        RuntimeError: the network cannot be saved for the child (a class defined inside
            a function), or the export failed (the child's last error line).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cnn-explainer-export-") as folder:
        net_file = Path(folder) / "net.pt"
        try:
            torch.save(private_copy(net), net_file)
        except Exception as err:
            raise RuntimeError(f"the network cannot be saved for export ({err})") from err
        command = [
            sys.executable, "-m", "core.models.onnx_export", str(net_file), str(path),
            *(str(s) for s in input_shape),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT
        )
    if done.returncode != 0 or not path.exists():
        errors = [line for line in done.stderr.splitlines() if "Error" in line]
        raise RuntimeError(errors[-1] if errors else f"the export process exited {done.returncode}")


def onnx_session(model: Path | bytes) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU with the engine's settings.

    Args:
        model: The graph's file, or its bytes (an uploaded model).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    # Memory: no pre-planned buffer pattern, weights outside the arena (~15 MB less RSS
    # for EfficientNet-Lite0 at the same speed; bench/explain.py).
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.use_device_allocator_for_initializers", "1")
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnx_runner(session: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """``run(x) -> logits`` on an ONNX Runtime session with one input and one output."""
    input_name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        array = x.detach().float().contiguous().cpu().numpy()  # NCHW float32
        (logits,) = session.run(None, {input_name: array})
        with torch.inference_mode(False):
            return torch.from_numpy(logits)

    return run


def network_difference(
    net: nn.Module, run: Callable[[torch.Tensor], torch.Tensor], probe: torch.Tensor
) -> float:
    """Largest |logit| difference between ``run`` and the network on the probe batch,
    relative to the largest |logit| (at least 1): :func:`core.common.networks.
    logits_difference` of the two passes."""
    with torch.inference_mode():
        expected = net(probe).float()
    return logits_difference(expected, run(probe))


def first_line(err: BaseException, limit: int = 240) -> str:
    """The first meaningful line of an error's root cause, without terminal colours."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(err).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def probe_batch(input_shape: tuple[int, int, int], batch: int = PROBE_BATCH) -> torch.Tensor:
    """The fixed random inputs ``(batch, C, H, W)`` two engines are compared on."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn((batch, *input_shape), generator=generator)


def build_engine(
    net: nn.Module,
    input_shape: tuple[int, int, int],
    name: str | None = None,
    max_parameters: int | None = MAX_PARAMETERS,
) -> ForwardEngine:
    """Export (or reuse the cached export of) a network and check it; torch on failure.

    Args:
        net: A classifier in eval mode (never modified).
        input_shape: ``(C, H, W)`` of its inputs.
        name: A readable name for the cache file (default: the class name).
        max_parameters: Larger networks stay on torch (None: no limit).

    Returns:
        An ONNX Runtime engine that matches torch on the probe batch, or the torch engine
        with the reason.
    """
    start = time.perf_counter()
    label = name or type(net).__name__
    try:
        importlib.import_module("onnxruntime")
    except ImportError:
        return torch_engine(net, input_shape, "onnxruntime is not installed")
    if net.training:
        return torch_engine(net, input_shape, "the network is in training mode")
    size = parameter_count(net)
    if max_parameters is not None and size > max_parameters:
        return torch_engine(
            net,
            input_shape,
            f"{size / 1e6:.0f} M parameters: a second copy of the weights in ONNX Runtime "
            "would cost too much memory",
        )
    safe_label = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
    path = cache_folder() / f"{safe_label}-{graph_key(label, net, input_shape)}.onnx"
    probe = probe_batch(input_shape)
    reason = "unknown"
    for attempt in ("cached", "fresh"):
        if attempt == "fresh" or not path.exists():
            try:
                _export(net, input_shape, path)
            except Exception as err:  # noqa: BLE001 - the exporter raises many types
                reason = f"the exporter cannot handle this network: {first_line(err)}"
                break
        try:
            run = onnx_runner(onnx_session(path))
            difference = network_difference(net, run, probe)
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
            reason = f"ONNX Runtime could not run the exported graph: {first_line(err)}"
            path.unlink(missing_ok=True)  # corrupt: rebuilt on the next attempt
            continue
        if difference <= LOGITS_TOLERANCE:
            seconds = time.perf_counter() - start
            log.info(
                "forward engine for %s: ONNX Runtime (%.1e, %.1f s)", label, difference, seconds
            )
            return ForwardEngine(
                ONNX_RUNTIME, input_shape, run, None, difference, path, seconds, 0, ENGINE_BATCH
            )
        reason = (
            f"the exported graph's logits differ from torch's by {difference:.1e} of the "
            f"largest logit (allowed {LOGITS_TOLERANCE:.0e})"
        )
        path.unlink(missing_ok=True)
        if attempt == "fresh":
            break
    log.warning("forward engine for %s: torch, because %s", label, reason)
    engine = torch_engine(net, input_shape, reason)
    engine.build_seconds = time.perf_counter() - start
    return engine


_ENGINES: PerNetwork[ForwardEngine] = PerNetwork()  # (network, input shape) -> engine


def _shape(input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    return (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))


def forward_engine(
    net: nn.Module, input_shape: tuple[int, int, int], name: str | None = None
) -> ForwardEngine:
    """The shared forward engine of a network and input size, built on first request.

    One per (network, input shape) per process, kept as long as the network lives.
    Building one network's engine does not block other networks' requests.

    Args:
        net: A classifier in eval mode (never modified).
        input_shape: ``(C, H, W)``.
        name: A readable name for the cache file.
    """
    shape = _shape(input_shape)
    return _ENGINES.get(net, shape, lambda: build_engine(net, shape, name))


def adopt_engine(net: nn.Module, engine: ForwardEngine) -> None:
    """Make ``engine`` the forward engine of ``net`` for its input shape.

    For a network that came as an ONNX file: its own graph on ONNX Runtime is the
    engine (checked against the network by the caller), instead of an export of it.

    Args:
        net: The network :func:`forward_engine` will be asked about.
        engine: Its engine.
    """
    kept = _ENGINES.get(net, _shape(engine.input_shape), lambda: engine)
    if kept is not engine:  # a network gets one engine per input shape, for its life
        raise ValueError(f"{net!r} already has a forward engine for {engine.input_shape}")


def existing_engine(net: nn.Module, input_shape: tuple[int, int, int]) -> ForwardEngine | None:
    """The engine of a network and input size if it is already built, else None (pages
    say "preparing..." before the first forward-only pass builds it)."""
    return _ENGINES.peek(net, _shape(input_shape))


def built_engines() -> list[ForwardEngine]:
    """Every engine built in this process (for memory and status reports)."""
    return _ENGINES.values()
