"""Real browser: the download buttons of "Explain an image" deliver real files."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.browser.helpers import SCRIPT_TIMEOUT_MS, download, open_page


@pytest.mark.browser
def test_download_buttons_deliver_files(page, app_url) -> None:  # type: ignore[no-untyped-def]
    open_page(page, app_url, "/explain?methods=gradcam,saliency")
    page.get_by_text("maps ready.").wait_for(timeout=SCRIPT_TIMEOUT_MS)
    maps = np.load(io.BytesIO(download(page, "All maps (.npz)")))
    assert set(maps.files) == {"gradcam", "saliency"}
    assert maps["gradcam"].shape == (224, 224)
    report = download(page, "HTML report").decode()
    assert report.startswith("<!doctype html>")
    assert report.count("data:image/png;base64,") == 1  # the photo
    assert report.count("data:image/jpeg;base64,") == 2  # the tiles, with their colour bars
    bundle = zipfile.ZipFile(io.BytesIO(download(page, "Evidence bundle (.zip)")))
    assert "reproduce.py" in bundle.namelist()
    assert "manifest.json" in bundle.namelist()
    assert "tiles/gradcam.png" in bundle.namelist()
    tile = Image.open(io.BytesIO(download(page, "PNG")))
    assert tile.width == 512  # the cat's crop is 262 px: a slide's 512, and its colour bar
    assert tile.height > 512
    raw = np.load(io.BytesIO(download(page, "Raw map")))
    assert raw.shape == (224, 224)
    assert raw.dtype == np.float32
