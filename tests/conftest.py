"""Fixtures shared by the whole suite."""

import pytest
import torch


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch intra-op thread, restoring the count afterwards.

    For tests made of many tiny tensor operations: on a busy 2-core machine one thread is
    up to ~100x faster than two, which wait for each other on every small operation.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
