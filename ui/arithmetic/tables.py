"""The CNN-arithmetic pages' result tables, as DataFrames of text (formatted here only).

The numbers come from core.arithmetic (:class:`~core.arithmetic.StackReport`,
:class:`~core.arithmetic.LayerRow`); pairs and shapes are written with its formatters,
so every page writes ``3x5`` and ``6 x 28 x 28`` the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.arithmetic import (
    COLUMNS,
    Field,
    LayerRow,
    StackReport,
    format_pair,
    format_shape,
    rows_to_records,
)


def _field_cells(field: Field | None) -> dict[str, str]:
    """Classic size, jump and start of a field as text ("" once the input is flat)."""
    if field is None:
        return {"size": "", "jump": "", "start": ""}
    height, width = field
    return {
        "size": format_pair((height.size, width.size)),
        "jump": format_pair((height.jump, width.jump)),
        "start": format_pair((height.start, width.start)),
    }


def results_table(report: StackReport, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The calculator's results: one line per row, the reason on the bad one, then blanks.

    Args:
        report: :func:`core.arithmetic.analyze_stack` of ``rows``.
        rows: The stack's row dicts (for the op of rows after an invalid one).

    Returns:
        Columns row, op, output, params, receptive field, jump, status; every cell is
        text (a row not computed has blank cells, never a literal "None").
    """
    records = []
    for result in report.results:
        cells = _field_cells(result.field)
        records.append(
            {
                "row": result.row,
                "op": result.layer.op,
                "output": format_shape(result.output_shape),
                "params": f"{result.params:,}",
                "receptive field": cells["size"],
                "jump": cells["jump"],
                "status": "ok",
            }
        )
    if report.error is not None and report.error.row is not None:
        records.append(
            {"row": report.error.row, "op": report.error.op or "?", "output": "",
             "params": "", "receptive field": "", "jump": "",
             "status": f"invalid: {report.error.reason}"}
        )  # fmt: skip
        records.extend(
            {"row": row, "op": rows[row - 1].get("op") or "?", "output": "", "params": "",
             "receptive field": "", "jump": "", "status": "not computed (fix the row above)"}
            for row in range(report.error.row + 1, len(rows) + 1)
        )  # fmt: skip
    return pd.DataFrame(records)


def field_table(report: StackReport, largest: Sequence[tuple[int, int] | None]) -> pd.DataFrame:
    """The receptive-field page's table: classic size, jump and start per valid row, and
    the widest exact field in this input.

    Args:
        report: :func:`core.arithmetic.analyze_stack` of the stack.
        largest: :func:`core.arithmetic.largest_fields` of its valid rows.

    Returns:
        One line per valid row.
    """
    records = []
    for result, exact in zip(report.results, largest, strict=False):
        cells = _field_cells(result.field)
        records.append(
            {
                "row": result.row,
                "layer": result.layer.describe(),
                "output": format_shape(result.output_shape),
                "receptive field (classic)": cells["size"],
                "jump": cells["jump"],
                "start": cells["start"],
                "widest field in this input": format_pair(exact) if exact else "",
            }
        )
    return pd.DataFrame(records)


def layer_frame(rows: Sequence[LayerRow]) -> pd.DataFrame:
    """A network's layer table as text cells (:data:`core.arithmetic.COLUMNS`)."""
    return pd.DataFrame(rows_to_records(rows), columns=list(COLUMNS))
