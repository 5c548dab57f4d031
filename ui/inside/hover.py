"""Show a point's image when the mouse is over it in a plotly chart.

Plotly's hover labels take text only, and ``st.plotly_chart`` reports clicks and
selections but not hovers. This small ``st.components.v2`` component (no iframe: its
script runs in the page) finds the chart by its widget key, listens to plotly's own
``plotly_hover`` / ``plotly_unhover`` events, and draws the hovered point's thumbnail
(cut from one sprite image of all thumbnails, sent once per render) in a floating box
beside the mouse. The point's image index is its ``customdata``.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import streamlit as st
from PIL import Image

JS = """
export default function(component) {
  const { data } = component;
  const state = (window.__insideHover = window.__insideHover || {});
  state.data = data;
  if (!state.sprite || state.spriteSource !== data.sprite) {
    state.sprite = new Image();
    state.sprite.src = data.sprite;
    state.spriteSource = data.sprite;
  }
  let box = document.getElementById("inside-hover-box");
  if (!box) {
    box = document.createElement("div");
    box.id = "inside-hover-box";
    box.setAttribute("data-testid", "inside-hover-box");
    box.style.cssText = "position:fixed;z-index:10000;display:none;pointer-events:none;" +
      "background:white;border:1px solid #888;padding:3px;border-radius:4px;" +
      "box-shadow:0 2px 6px rgba(0,0,0,.3);font:12px sans-serif;text-align:center";
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 112;
    canvas.style.imageRendering = "pixelated";
    box.appendChild(canvas);
    box.appendChild(document.createElement("div"));
    document.body.appendChild(box);
  }
  const show = (event) => {
    const point = event.points && event.points[0];
    const d = state.data;
    if (!point || point.customdata === undefined || point.customdata === null) return;
    const index = Array.isArray(point.customdata) ? point.customdata[0] : point.customdata;
    const canvas = box.firstChild;
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    const sx = (index % d.columns) * d.width, sy = Math.floor(index / d.columns) * d.height;
    ctx.clearRect(0, 0, 112, 112);
    ctx.drawImage(state.sprite, sx, sy, d.width, d.height, 0, 0, 112, 112);
    box.lastChild.textContent = point.text || "";
    box.setAttribute("data-index", String(index));
    const mouse = event.event || {};
    box.style.left = ((mouse.clientX || 0) + 16) + "px";
    box.style.top = ((mouse.clientY || 0) + 16) + "px";
    box.style.display = "block";
  };
  const hide = () => { box.style.display = "none"; };
  clearInterval(state.timer);
  state.timer = setInterval(() => {
    const chart = document.querySelector(".st-key-" + state.data.chart + " .js-plotly-plot");
    if (chart && chart.on && chart.__insideHover !== true) {
      chart.on("plotly_hover", show);
      chart.on("plotly_unhover", hide);
      chart.__insideHover = true;
    }
  }, 300);
}
"""

_hover = st.components.v2.component("inside_hover_images", js=JS)


def sprite(thumbnails: np.ndarray) -> tuple[str, int]:
    """All thumbnails ``(N, h, w, 3)`` uint8 in one PNG data URI, row by row.

    Returns:
        ``(data URI, columns)``.
    """
    count, height, width = thumbnails.shape[:3]
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for k, thumb in enumerate(thumbnails):
        top, left = (k // columns) * height, (k % columns) * width
        sheet[top : top + height, left : left + width] = thumb
    buffer = io.BytesIO()
    grey = bool((thumbnails[..., :1] == thumbnails).all())  # MNIST: a third of the bytes
    Image.fromarray(sheet[..., 0] if grey else sheet).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), columns


@st.cache_data(show_spinner=False, max_entries=8)
def _cached_sprite(key: str, _thumbnails: np.ndarray) -> tuple[str, int]:
    return sprite(_thumbnails)


def hover_images(chart_key: str, set_key: str, thumbnails: np.ndarray) -> None:
    """Make the chart with widget key ``chart_key`` show thumbnails on hover.

    Args:
        chart_key: The ``st.plotly_chart`` key.
        set_key: Cache key of the thumbnails.
        thumbnails: ``(N, h, w, 3)`` uint8; a point's ``customdata`` is its index.
    """
    uri, columns = _cached_sprite(set_key, thumbnails)
    height, width = thumbnails.shape[1:3]
    _hover(
        key=f"{chart_key}_hover",
        data={"chart": chart_key, "sprite": uri, "columns": columns, "width": width,
              "height": height},
    )  # fmt: skip
