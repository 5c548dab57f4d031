"""Random layer stacks for the CNN-arithmetic property tests: one hypothesis strategy.

:func:`layer_stacks` draws an input shape and a list of row dicts (the form
:func:`core.arithmetic.parse_layer` reads). Each test narrows it to what it checks:

- exact rows (every spatial parameter an ``(h, w)`` tuple), for the receptive-field,
  animation and field-tracker tests, which compare core's boxes and fields with PyTorch's
  gradients and ops;
- ``table_rows=True``: rows as a user types them in the calculator's table (parameters
  often left to PyTorch's defaults, pairs written ``3``, ``(3, 5)``, ``"3x5"`` or
  ``"(3, 5)"``, groups, ``bias=False``, ``"same"``/``"valid"`` padding, flatten and
  linear rows) and now and then a zero or negative value PyTorch refuses, for the tests
  that check core.arithmetic refuses exactly what PyTorch refuses.

:data:`DETERMINISTIC` is the settings every such test starts from: derandomized (the
same examples on every run, so CI is deterministic), no example database, no deadline
(the tests run torch, whose first call of an op is slow).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SPATIAL_OPS = ("conv2d", "maxpool2d", "avgpool2d", "convtranspose2d", "upsample")
KERNEL_OPS = ("conv2d", "convtranspose2d", "maxpool2d", "avgpool2d")
UPSAMPLE_SCALES = st.tuples(st.sampled_from([2, 3, 1.5, 0.7]), st.sampled_from([2, 1.3, 0.5]))

DETERMINISTIC = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Row = dict[str, Any]
Stack = tuple[tuple[int, int, int], list[Row]]


@dataclass(frozen=True)
class Ranges:
    """Inclusive ``(low, high)`` of each spatial parameter, per axis."""

    kernel: tuple[int, int] = (1, 4)
    stride: tuple[int, int] = (1, 3)
    padding: tuple[int, int] = (0, 2)
    dilation: tuple[int, int] = (1, 3)
    output_padding: tuple[int, int] = (0, 2)


def _chance(draw: st.DrawFn, percent: int) -> bool:
    """True about ``percent`` % of the time (hypothesis may favour either end)."""
    return draw(st.integers(0, 99)) < percent


@cache
def _pairs(low_high: tuple[int, int]) -> st.SearchStrategy[tuple[int, int]]:
    """``(h, w)`` with both in the range, in one draw (simplest first: ``(low, low)``)."""
    values = range(low_high[0], low_high[1] + 1)
    return st.sampled_from([(h, w) for h in values for w in values])


@cache
def _table_cells(low_high: tuple[int, int]) -> st.SearchStrategy[Any]:
    """A spatial value as a table cell, in one draw: ``h``, ``(h, w)``, ``"hxw"`` or
    ``"(h, w)"`` (simplest first)."""
    values = range(low_high[0], low_high[1] + 1)
    pairs = [(h, w) for h in values for w in values]
    return st.sampled_from(
        [form for h, w in pairs for form in (h, (h, w), f"{h}x{w}", f"({h}, {w})")]
    )


def _pair(draw: st.DrawFn, low_high: tuple[int, int]) -> tuple[int, int]:
    return draw(_pairs(low_high))


def _table_cell(draw: st.DrawFn, low_high: tuple[int, int]) -> Any:
    return draw(_table_cells(low_high))


def _exact_row(draw: st.DrawFn, op: str, ranges: Ranges, out_channels: int) -> Row:
    """A row giving every parameter its op takes, spatial ones as ``(h, w)`` tuples."""
    row: Row = {
        "op": op,
        "kernel_size": _pair(draw, ranges.kernel),
        "stride": _pair(draw, ranges.stride),
        "padding": _pair(draw, ranges.padding),
    }
    if op != "avgpool2d":
        row["dilation"] = _pair(draw, ranges.dilation)
    if op in ("conv2d", "convtranspose2d"):
        row["out_channels"] = out_channels
    if op == "convtranspose2d":
        row["output_padding"] = _pair(draw, ranges.output_padding)
    if op in ("maxpool2d", "avgpool2d"):
        row["ceil_mode"] = draw(st.booleans())
    return row


def _table_row(draw: st.DrawFn, op: str, ranges: Ranges) -> Row:
    """A row as typed in the calculator: defaults often left out, any pair form."""
    row: Row = {"op": op, "kernel_size": _table_cell(draw, ranges.kernel)}
    if _chance(draw, 70):
        row["stride"] = _table_cell(draw, ranges.stride)
    if _chance(draw, 60):
        row["padding"] = _table_cell(draw, ranges.padding)
    if op != "avgpool2d" and _chance(draw, 40):
        row["dilation"] = _table_cell(draw, ranges.dilation)
    if op in ("conv2d", "convtranspose2d"):
        groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
        # out_channels 5 is divisible by neither 2 nor 3: a grouped row PyTorch refuses
        row["out_channels"] = groups * draw(st.integers(1, 2)) if _chance(draw, 95) else 5
        if groups > 1:
            row["groups"] = groups
        if _chance(draw, 20):
            row["bias"] = False
    if op == "conv2d" and _chance(draw, 10):
        row["padding"] = draw(st.sampled_from(["same", "valid"]))
    if op == "convtranspose2d" and _chance(draw, 50):
        row["output_padding"] = _table_cell(draw, ranges.output_padding)
    if op in ("maxpool2d", "avgpool2d") and _chance(draw, 50):
        row["ceil_mode"] = True
    return row


def _table_scale(draw: st.DrawFn) -> Any:
    """An upsample scale_factor as typed: a number or an ``(h, w)`` pair."""
    rounded = st.builds(round, st.floats(0.3, 2.5), st.sampled_from([1, 2, 4]))
    scale = draw(st.one_of(st.sampled_from([2, 3, 0.5]), rounded))
    return scale if _chance(draw, 60) else (scale, draw(st.sampled_from([1, 2, 1.5])))


def _poison(draw: st.DrawFn, row: Row) -> Row:
    """Now and then a zero or negative value, which PyTorch refuses."""
    if not _chance(draw, 8):
        return row
    bad: Row = {"kernel_size": 0, "stride": (1, 0), "dilation": 0, "padding": -1}
    op = row["op"]
    if op in ("conv2d", "convtranspose2d"):
        bad["out_channels"] = 0
    if op == "convtranspose2d":
        bad["output_padding"] = (0, -1)
    if op == "avgpool2d" or (op == "convtranspose2d" and row.get("groups", 1) > 1):
        # avgpool2d has no dilation. Grouped transposed convolutions skip PyTorch's
        # "dilation should be greater than zero" check on the oneDNN path (a 1x1 kernel then
        # runs); dilation 0 is meaningless, so core.arithmetic refuses it everywhere.
        del bad["dilation"]
    if op == "upsample":
        bad = {"scale_factor": draw(st.sampled_from([0, -1, (1, -2)]))}
    name = draw(st.sampled_from(sorted(bad)))
    return {**row, name: bad[name]}


@st.composite
def layer_stacks(
    draw: st.DrawFn,
    *,
    ops: Sequence[str] = SPATIAL_OPS,
    layers: tuple[int, int] = (1, 4),
    channels: Sequence[int] = (1, 2),
    sides: tuple[int, int] = (3, 24),
    ranges: Ranges = Ranges(),
    out_channels: int = 2,
    upsample_scales: st.SearchStrategy[Any] = UPSAMPLE_SCALES,
    table_rows: bool = False,
) -> Stack:
    """An input shape ``(C, H, W)`` and a stack of row dicts.

    Args:
        draw: Hypothesis' draw function (given by ``@st.composite``).
        ops: The ops spatial rows are drawn from (repeat one to draw it more often);
            with ``table_rows``, ``"flatten"`` may be among them, and rows after a
            flatten are linear or flatten.
        layers: Fewest and most rows.
        channels: The input channel counts to choose from.
        sides: Smallest and largest input height and width.
        ranges: The spatial parameters' ranges.
        out_channels: Output channels of conv rows (exact rows only; table rows draw
            groups and matching channels themselves).
        upsample_scales: Scale factors of exact upsample rows.
        table_rows: Rows as typed in the calculator's table, sometimes impossible (see
            the module docstring); otherwise exact rows, usually possible.

    Returns:
        ``(input shape, rows)``.
    """
    shape = (
        draw(st.sampled_from(list(channels))),
        draw(st.integers(*sides)),
        draw(st.integers(*sides)),
    )
    rows: list[Row] = []
    flat = False
    for _ in range(draw(st.integers(*layers))):
        if flat:
            rows.append(
                {"op": "linear", "out_features": draw(st.integers(1, 5))}
                if _chance(draw, 80)
                else {"op": "flatten"}
            )
            continue
        op = draw(st.sampled_from(list(ops)))
        if op == "flatten":
            row: Row = {"op": "flatten"}
            flat = True
        elif op == "upsample":
            scale = _table_scale(draw) if table_rows else draw(upsample_scales)
            row = {"op": "upsample", "scale_factor": scale}
        elif table_rows:
            row = _table_row(draw, op, ranges)
        else:
            row = _exact_row(draw, op, ranges, out_channels)
        rows.append(_poison(draw, row) if table_rows and op != "flatten" else row)
    return shape, rows
