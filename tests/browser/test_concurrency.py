"""Real browser: four sessions on "Explain an image" at once, each with other methods on
the same photo. Every map equals the map computed alone, no tile shows an error, and the
server never finds a hook left on the shared model."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import numpy as np
import pytest
from PIL import Image

from core.attribution import attributor_for
from core.common.samples import sample_path
from core.models import load_model
from tests.browser.helpers import SCRIPT_TIMEOUT_MS, download, wait_for_app

SESSIONS = {
    "gradcam,saliency": {},
    "guided_backprop,lrp": {},
    "occlusion,gradcam++": {"occlusion": {"patch": 64, "stride": 64}},
    "integrated_gradients,deconvnet": {"integrated_gradients": {"steps": 8}},
}


def query(methods: str, params: dict) -> str:
    """The page's URL for a method set ("gradcam++" must be encoded: "+" means a space)."""
    pairs = {"methods": methods}
    pairs |= {f"{m}.{k}": str(v) for m, values in params.items() for k, v in values.items()}
    return f"/explain?{urlencode(pairs)}"


@pytest.mark.browser
def test_four_sessions_at_once_get_the_single_session_maps(browser, app_server) -> None:  # type: ignore[no-untyped-def]
    viewport = {"width": 1300, "height": 900}
    pages = [browser.new_context(viewport=viewport).new_page() for _ in SESSIONS]
    maps: dict[str, dict[str, np.ndarray]] = {}
    errors: list[str] = []

    # All four start at once (goto returns as soon as the page is requested); the server
    # then runs the four sessions' scripts at the same time. Then each is read in turn.
    for page, (methods, params) in zip(pages, SESSIONS.items(), strict=True):
        page.goto(app_server.url + query(methods, params), wait_until="commit")
    for page, methods in zip(pages, SESSIONS, strict=True):
        page.get_by_text("maps ready.").wait_for(timeout=4 * SCRIPT_TIMEOUT_MS)
        wait_for_app(page, 4 * SCRIPT_TIMEOUT_MS)
        errors += page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
        errors += page.locator('[data-testid="stException"]').all_inner_texts()
        archive = np.load(io.BytesIO(download(page, "All maps (.npz)")))
        maps[methods] = {name: archive[name] for name in archive.files}
    assert not errors, errors
    model = load_model("efficientnet_lite0")
    cat = Image.open(sample_path("cat.jpg"))
    for methods, params in SESSIONS.items():
        assert sorted(maps[methods]) == sorted(methods.split(","))
        for name, got in maps[methods].items():
            alone = attributor_for(model, cat).attribute(name, 285, **params.get(name, {}))
            scale = float(np.abs(alone.heatmap).max())
            np.testing.assert_allclose(got, alone.heatmap, atol=1e-4 * scale, err_msg=name)
    assert "hook(s) left" not in app_server.log()
