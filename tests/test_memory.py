"""core.common.memory: glibc's arenas capped, freed heap memory given back to the OS."""

from __future__ import annotations

import platform

import psutil
import pytest

from core.common.memory import limit_malloc_arenas, release_memory

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="malloc_trim and mallopt are glibc's"
)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@glibc_only
def test_the_arena_cap_is_set_once_and_reported() -> None:
    assert limit_malloc_arenas(2)
    assert limit_malloc_arenas(2)  # a second call (every script run) changes nothing


@glibc_only
def test_freed_memory_in_the_middle_of_the_heap_goes_back_to_the_os() -> None:
    """200 MB in 4 kB blocks (malloc's heap, not mmap), all freed but the last one: the
    heap's top cannot shrink past it, so only malloc_trim returns the free pages."""
    blocks = [bytearray(4096) for _ in range(50_000)]
    for block in blocks:  # touch every page
        block[0] = 1
    keep = blocks[-1]
    del blocks
    before = rss_mb()
    assert release_memory()
    assert before - rss_mb() > 100, (before, rss_mb())
    assert keep[0] == 1


def test_the_router_keeps_gpu_and_notebook_libraries_out_and_gradient_maps_still_work() -> None:
    """streamlit_app.py blocks triton and IPython before torch is imported (~90 MB of RSS
    with the CUDA build); torchvision, torch._dynamo and Captum still import, and a Captum
    guided-backprop map on the embedded model is computed in that process."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import runpy, sys\n"
        "runpy.run_path('streamlit_app.py')\n"
        "import torch._dynamo, captum.attr\n"
        "from core.attribution import attribute\n"
        "from core.models import load_model\n"
        "import torch\n"
        "model = load_model(pretrained=False)\n"
        "heat = attribute(model.net, torch.rand(1, 3, 224, 224), 'guided_backprop', 0)\n"
        "assert heat.shape[-2:] == (224, 224), heat.shape\n"
        "assert 'triton' not in sys.modules and 'IPython' not in sys.modules\n"
        "for name in ('triton', 'IPython'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError:\n"
        "        continue\n"
        "    raise AssertionError(name + ' was imported')\n"
        "print('ok')\n"
    )
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok"), done.stdout[-2000:]
