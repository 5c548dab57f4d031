"""The single-threaded torch workers used by the digits lab and the playground."""

import threading

import pytest
import torch

from core.common.single_thread import run_single_threaded, single_threaded, torch_threads


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
