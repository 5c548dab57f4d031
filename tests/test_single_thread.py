"""The single-threaded torch workers used by the digits lab and the playground."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from core.common.single_thread import run_single_threaded, single_threaded, torch_threads

REPO = Path(__file__).resolve().parent.parent


def test_worker_runs_one_torch_thread_and_leaves_other_threads_alone():
    default = torch.get_num_threads()
    ident, threads = run_single_threaded(lambda: (threading.get_ident(), torch.get_num_threads()))
    assert ident != threading.get_ident()
    assert threads == 1
    assert torch.get_num_threads() == default
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert seen == [default]  # a thread started afterwards gets the process default


def test_nested_calls_run_in_place_and_exceptions_reach_the_caller():
    nested = run_single_threaded(lambda: run_single_threaded(threading.get_ident))
    assert nested != threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        run_single_threaded(lambda: 1 / 0)


def test_decorator_runs_on_the_worker():
    @single_threaded
    def threads_here() -> int:
        return torch.get_num_threads()

    assert threads_here() == 1


def test_a_block_with_other_threads_changes_only_the_calling_thread():
    """A thread that starts using torch during the block (as a Streamlit script run of
    another session does) gets the process default, not the block's count."""
    default = torch.get_num_threads()
    other = default + 1  # differs from the default on any machine
    seen: list[int] = []
    with torch_threads(other):
        inside = torch.get_num_threads()
        thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        thread.start()
        thread.join()
    assert inside == other
    assert seen == [default]
    assert torch.get_num_threads() == default


def test_the_block_finds_torch_s_openmp_when_another_package_brought_its_own():
    """scikit-learn ships its own libgomp; loaded first, it sorts before torch's."""
    code = (
        "import sklearn.linear_model, torch\n"
        "from core.common.single_thread import torch_threads\n"
        "default = torch.get_num_threads()\n"
        "with torch_threads(default + 1):\n"
        "    print(torch.get_num_threads() - default)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "1", result.stdout + result.stderr
