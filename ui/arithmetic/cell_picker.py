"""A clickable grid of a layer's output cells (plotly), with row and column inputs."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from ui.present import presenting
from ui.state import check_choice

PRESENT_HEIGHT = 330  # px of the grid's figure in presenter mode (title included)


def cell_picker(height: int, width: int, key: str, title: str) -> tuple[int, int]:
    """Pick a cell of an ``height x width`` grid: click it, or type its row and column.

    Args:
        height: Grid rows.
        width: Grid columns.
        key: Widget key prefix (the chart and the two number inputs).
        title: Chart title.

    Returns:
        ``(y, x)``, always inside the grid.
    """
    y_key, x_key = f"{key}_y", f"{key}_x"
    check_choice(y_key, range(height), "cell row")
    check_choice(x_key, range(width), "cell column")
    for state_key, limit in ((y_key, height), (x_key, width)):
        if st.session_state.get(state_key, 0) >= limit:
            st.session_state[state_key] = limit // 2
        st.session_state.setdefault(state_key, limit // 2)

    def take_click() -> None:
        points = st.session_state[f"{key}_chart"].selection.points
        if points:
            st.session_state[y_key] = int(round(points[0]["y"]))
            st.session_state[x_key] = int(round(points[0]["x"]))

    left, right = st.columns(2)
    y = left.number_input("Cell row (y)", 0, height - 1, key=y_key, step=1)
    x = right.number_input("Cell column (x)", 0, width - 1, key=x_key, step=1)
    if height * width <= 112 * 112:
        cells = [(r, c) for r in range(height) for c in range(width)]
        side = min(28, 420 // max(height, width))
        if presenting():  # a projector: the whole grid above 720 px, beside the picture
            side = min(side, int((PRESENT_HEIGHT - 104) / (1.15 * height)))
        side = max(3, side)
        figure = go.Figure(
            [
                # SVG for small grids (clickable points), WebGL beyond a few thousand
                (go.Scatter if len(cells) <= 2500 else go.Scattergl)(
                    x=[c for _, c in cells],
                    y=[r for r, _ in cells],
                    mode="markers",
                    marker={"symbol": "square", "size": side, "color": "#dbeafe",
                            "line": {"width": 1 if side > 6 else 0, "color": "#9ca3af"}},
                    hovertemplate="row %{y}, col %{x}<extra></extra>",
                    name="cells",
                ),
                go.Scatter(
                    x=[x],
                    y=[y],
                    mode="markers",
                    marker={"symbol": "square", "size": side, "color": "#16a34a"},
                    hoverinfo="skip",
                    name="chosen",
                ),
            ]
        )  # fmt: skip
        figure.update_layout(
            title=title,
            showlegend=False,
            height=min(560, 104 + side * height * 1.15),
            margin={"l": 10, "r": 10, "t": 64, "b": 10},
            clickmode="event+select",
            dragmode=False,
        )
        figure.update_yaxes(autorange="reversed", scaleanchor="x", showgrid=False, zeroline=False)
        figure.update_xaxes(showgrid=False, zeroline=False, side="top")
        st.plotly_chart(
            figure,
            key=f"{key}_chart",
            on_select=take_click,
            selection_mode="points",
            config={"displayModeBar": False},
        )
        st.caption("Click a cell, or type its row and column.")
    else:
        st.caption(f"{height} x {width} cells is too many to draw: type the row and column.")
    return int(y), int(x)
