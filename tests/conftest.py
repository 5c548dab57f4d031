"""Fixtures shared by the whole suite, and the ``numerical`` marker."""

import os

import pytest
import torch
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from core.common.scheduler import available_cpus
from core.models.engine import CACHE_ENV

# Under pytest-xdist (scripts/test.sh runs two workers) every worker process would start
# one torch thread per core: two workers x two threads on two cores wait for each other on
# every small operation. Each worker gets its share of the cores instead (CI's second,
# numerical pass runs with two threads and torch's portable kernels: .ci/run).
if workers := int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")):
    torch.set_num_threads(max(1, available_cpus() // workers))


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


@pytest.fixture(scope="session", autouse=True)
def private_engine_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported ONNX graphs go to a temporary folder (also for the browser tests' server,
    which inherits the environment), never to the user's cache."""
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("onnx-cache"))


# Modules whose tests compare floats from optimisations, random draws, batched or threaded
# reductions, or rendered colours with a threshold or a golden value: what a different
# CPU (other SIMD kernels, another thread count) could change. CI runs them a second time
# with ATEN_CPU_CAPABILITY=default and two threads (.ci/run; the first run has one thread
# per worker), so a margin that only holds on its own machine fails there first (issue 20).
# Every other test is about logic, pages or exact integer arithmetic.
NUMERICAL_MODULES = {
    "test_attribution_engine", "test_attribution_fast", "test_attribution_guided",
    "test_attribution_lrp", "test_attribution_methods", "test_cell", "test_digits",
    "test_display", "test_engine", "test_evaluation", "test_forward_methods", "test_inside",
    "test_models", "test_pipeline", "test_playground",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`NUMERICAL_MODULES` ``numerical``, and every test under
    tests/browser ``browser`` (scripts/test.sh runs them apart from the rest) and in one
    pytest-xdist group (``--dist loadgroup``: they share one app server and one Chromium,
    started once by the worker that runs them)."""
    for item in items:
        if item.path.stem in NUMERICAL_MODULES:
            item.add_marker(pytest.mark.numerical)
        if "browser" in item.path.parts:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture
def media(monkeypatch) -> dict[str, bytes]:
    """Bytes of every media file (images, downloads) the pages hand to Streamlit, by id."""
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def recording(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        files[file_id] = path_or_data if isinstance(path_or_data, bytes) else b""
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    return files
