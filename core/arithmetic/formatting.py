"""How the CNN-arithmetic numbers are written: ``"3"`` or ``"3x5"`` pairs, ``"6 x 28 x 28"`` shapes.

The one place that turns the core's numbers into table text: the layer rows
(:meth:`~core.arithmetic.layers.Layer.to_row`), the layer table's CSV and the pages all
use these, so a pair reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_number(value: float, decimals: int | None = None) -> str:
    """A number as table text: whole numbers without a decimal point.

    Args:
        value: Any int or float.
        decimals: Fixed decimals for a fractional value (the layer table uses 2);
            None writes the shortest form (``f"{value:g}"``).

    Returns:
        ``"3"`` for 3 or 3.0, ``"2.5"`` (or ``"2.50"`` with ``decimals=2``) for 2.5.
    """
    if float(value).is_integer():
        return str(int(value))
    return f"{value:g}" if decimals is None else f"{value:.{decimals}f}"


def format_pair(pair: Sequence[float], decimals: int | None = None) -> str:
    """A (height, width) pair: one number when both are written the same, else ``"3x5"``.

    Args:
        pair: ``(h, w)``.
        decimals: As :func:`format_number`.

    Returns:
        ``"3"`` for ``(3, 3)``, ``"3x5"`` for ``(3, 5)``.
    """
    height, width = (format_number(value, decimals) for value in pair)
    return height if height == width else f"{height}x{width}"


def format_shape(shape: Sequence[int], separator: str = " x ") -> str:
    """A shape without the batch dimension: ``"6 x 28 x 28"``, or ``"400"`` when flat.

    Args:
        shape: ``(C, H, W)`` or ``(N,)``.
        separator: Between the sizes (the layer table's CSV uses ``"x"``).
    """
    return separator.join(map(str, shape))
