"""Real browser: "Your own model…" in the sidebar's model picker: upload a model file, get
its maps, keep it on another page; a pickle is refused and the previous model stays.
(AppTest cannot put a file into a file uploader.)"""

from __future__ import annotations

import pickle
import re

import pytest

from tests.browser.helpers import SCRIPT_TIMEOUT_MS, assert_no_error, wait_for_app
from tests.model_files import EXAMPLES

LOAD_TIMEOUT_MS = 180_000
READY = re.compile(r"maps? ready\.")


def _pick_model(page, option: str) -> None:  # type: ignore[no-untyped-def]
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=option).click()
    wait_for_app(page, LOAD_TIMEOUT_MS)


def _upload_model(page, name: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
    )
    wait_for_app(page)
    sidebar.get_by_role("button", name="Load this model").click()
    wait_for_app(page, LOAD_TIMEOUT_MS)


@pytest.mark.browser
def test_an_uploaded_model_is_explained_and_kept_for_the_session(page, app_url) -> None:  # type: ignore[no-untyped-def]
    page.goto(app_url.rstrip("/") + "/explain?methods=gradcam")  # one cheap map per panel
    wait_for_app(page, LOAD_TIMEOUT_MS)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text(READY).wait_for(timeout=LOAD_TIMEOUT_MS)
    _pick_model(page, "Your own model…")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "Until a model is loaded" in sidebar.inner_text()

    # A pickle with a payload: refused with a message; the page goes on with its model.
    evil = pickle.dumps({"fc.weight": print})
    _upload_model(page, "evil.pt", evil)
    errors = sidebar.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert any("is refused: it is a pickled Python object" in e for e in errors), errors
    assert "as EfficientNet-Lite0 (embedded) sees it" in main.inner_text()
    assert not page.locator('[data-testid="stException"]').count()

    # The digit CNN as ONNX: selected, explained (the photo made grey, 28 x 28).
    _upload_model(page, "digit_cnn.onnx", (EXAMPLES / "digit_cnn.onnx").read_bytes())
    main.get_by_text("as digit_cnn.onnx sees it").wait_for(timeout=LOAD_TIMEOUT_MS)
    wait_for_app(page, LOAD_TIMEOUT_MS)
    main.get_by_text(READY).wait_for(timeout=LOAD_TIMEOUT_MS)
    assert_no_error(page)
    assert "About your model" in sidebar.inner_text()  # shown for an uploaded model only
    captions = main.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    assert any(c.startswith("Grad-CAM · ") for c in captions), captions

    # Another page that takes a photo model (same session: the sidebar's link) uses it.
    sidebar.get_by_role("link", name="Inside the network").click()
    wait_for_app(page, LOAD_TIMEOUT_MS)
    main.get_by_text("Layer table").first.wait_for(timeout=SCRIPT_TIMEOUT_MS)
    assert_no_error(page)
    assert "About your model" in sidebar.inner_text()
    sidebar.get_by_text("About your model").click()
    sidebar.get_by_text("ONNX, 10 classes, 1 x 28 x 28 input").wait_for()
