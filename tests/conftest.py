"""Fixtures shared by the whole suite."""

import os

import pytest
import torch
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from core.models.engine import CACHE_ENV


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
