"""The seven-segment test: the 128 patterns of a seven-segment display, only 10 of which
are digits, read by a network that has no "not a digit" answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from torch import nn

from core.common.single_thread import single_threaded
from core.digits.net import classify
from core.digits.preprocess import preprocess

SEGMENTS = "abcdefg"  # top, upper right, lower right, bottom, lower left, upper left, middle
# The ten digits as a seven-segment display shows them.
SEVEN_SEGMENT_DIGITS = {
    0: "abcdef",
    1: "bc",
    2: "abdeg",
    3: "abcdg",
    4: "bcfg",
    5: "acdfg",
    6: "acdefg",
    7: "abc",
    8: "abcdefg",
    9: "abcdfg",
}
_SEGMENT_ENDS = {  # (x0, y0, x1, y1) on a 90 x 140 display
    "a": (20, 20, 70, 20),
    "b": (70, 20, 70, 70),
    "c": (70, 70, 70, 120),
    "d": (20, 120, 70, 120),
    "e": (20, 70, 20, 120),
    "f": (20, 20, 20, 70),
    "g": (20, 70, 70, 70),
}

# A nonsense pattern's answer counts as "sure" / "fairly sure" from these probabilities.
SURE = 0.9
FAIRLY_SURE = 0.5


def segments_from_mask(mask: int) -> str:
    """Bit ``i`` of ``mask`` (0-127) lights segment ``SEGMENTS[i]``; returns e.g. ``"bc"``."""
    return "".join(s for i, s in enumerate(SEGMENTS) if mask >> i & 1)


def mask_from_segments(segments: str) -> int:
    """The inverse of :func:`segments_from_mask`: ``"bc"`` -> ``0b0000110`` (6).

    Args:
        segments: Lit segments, any of ``"abcdefg"`` in any order.

    Returns:
        The bit mask, 0-127: the pattern's index in :func:`seven_segment_table`.

    Raises:
        ValueError: a letter that is no segment.
    """
    _check_segments(segments)
    return sum(1 << SEGMENTS.index(s) for s in set(segments))


def _check_segments(segments: str) -> None:
    """Raise ValueError if ``segments`` holds a letter that is no segment."""
    unknown = set(segments) - set(SEGMENTS)
    if unknown:
        raise ValueError(f"unknown segments {sorted(unknown)}; use letters of {SEGMENTS!r}")


def digit_shown(segments: str) -> int | None:
    """The digit a seven-segment pattern shows.

    Args:
        segments: Lit segments, any of ``"abcdefg"`` in any order.

    Returns:
        The digit (``"bc"`` -> 1), or None for the 118 patterns that show none.

    Raises:
        ValueError: a letter that is no segment.
    """
    pattern = segments_from_mask(mask_from_segments(segments))  # in display order
    return next((d for d, lit in SEVEN_SEGMENT_DIGITS.items() if lit == pattern), None)


def seven_segment_image(segments: str, width: int = 10, gap: int = 4) -> np.ndarray:
    """Draw a seven-segment display: lit segments bright on dark.

    Args:
        segments: The lit segments, any of ``"abcdefg"`` (a = top, then clockwise,
            g = middle).
        width: Stroke width in pixels.
        gap: Space left at each end of a segment, in pixels.

    Returns:
        ``(140, 90)`` float32 in [0, 1] (feed it to :func:`preprocess`).
    """
    _check_segments(segments)
    from PIL import ImageDraw

    canvas = Image.new("L", (90, 140), 0)
    draw = ImageDraw.Draw(canvas)
    for name in segments:
        x0, y0, x1, y1 = _SEGMENT_ENDS[name]
        dx, dy = np.sign(x1 - x0) * gap, np.sign(y1 - y0) * gap
        draw.line((x0 + dx, y0 + dy, x1 - dx, y1 - dy), fill=255, width=width)
    return np.asarray(canvas, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class SevenSegmentResult:
    """The network's answer for one seven-segment pattern.

    Attributes:
        segments: Lit segments, e.g. ``"bc"``.
        digit: The digit the pattern shows, or None for the 118 that show none.
        predicted: The network's class (None for the empty pattern: nothing to classify).
        probability: Its probability (0 for the empty pattern).
    """

    segments: str
    digit: int | None
    predicted: int | None
    probability: float

    @property
    def correct(self) -> bool:
        return self.digit is not None and self.predicted == self.digit


# The empty pattern: nothing to classify.
NOTHING_LIT = SevenSegmentResult("", None, None, 0.0)


def _result(segments: str, probs: np.ndarray) -> SevenSegmentResult:
    """The result for a non-empty pattern, given the network's ``(10,)`` probabilities."""
    return SevenSegmentResult(
        segments, digit_shown(segments), int(probs.argmax()), float(probs.max())
    )


@single_threaded
def seven_segment_table(net: nn.Module) -> list[SevenSegmentResult]:
    """Classify all 128 seven-segment patterns (index = the segment bit mask).

    Args:
        net: The digit network.

    Returns:
        128 results; only 10 patterns are digits, yet the network, having no
        "not a digit" answer, gives every non-empty pattern some digit.
    """
    patterns = [segments_from_mask(mask) for mask in range(2 ** len(SEGMENTS))]
    digits = np.stack([preprocess(seven_segment_image(p)) for p in patterns[1:]])
    probs = classify(digits, net)  # (127, 10)
    results = [NOTHING_LIT]
    for pattern, p in zip(patterns[1:], probs, strict=True):
        results.append(_result(pattern, p))
    return results


@dataclass(frozen=True)
class SevenSegmentReading:
    """One pattern as the page shows it: the display and the network's answer.

    Attributes:
        result: The answer, with the segments in display order (``"cb"`` -> ``"bc"``).
        mask: The segment bit mask, the pattern's index in :func:`seven_segment_table`.
        image: ``(140, 90)`` the display, as :func:`seven_segment_image` draws it.
        probabilities: ``(10,)`` the network's probabilities, or None for the empty
            pattern (nothing to classify).
    """

    result: SevenSegmentResult
    mask: int
    image: np.ndarray
    probabilities: np.ndarray | None


def seven_segment_reading(net: nn.Module, segments: str) -> SevenSegmentReading:
    """Draw one pattern, preprocess it like a drawing and classify it.

    Args:
        net: The digit network.
        segments: The lit segments, any of ``"abcdefg"`` in any order (``""``: none).

    Returns:
        The :class:`SevenSegmentReading`.

    Raises:
        ValueError: a letter that is no segment.
    """
    mask = mask_from_segments(segments)
    pattern = segments_from_mask(mask)
    image = seven_segment_image(pattern)  # (140, 90)
    if not pattern:
        return SevenSegmentReading(NOTHING_LIT, mask, image, None)
    probs = classify(preprocess(image), net)  # (10,)
    return SevenSegmentReading(_result(pattern, probs), mask, image, probs)


@dataclass(frozen=True)
class SevenSegmentSummary:
    """How the network reads all 128 patterns.

    Attributes:
        table: The 128 results of :func:`seven_segment_table` (index = bit mask).
        proper_correct: How many of the 10 digit patterns it reads as their digit.
        nonsense: How many lit patterns show no digit (117), each given a digit anyway.
        fairly_sure: Nonsense patterns given a digit with probability >= :data:`FAIRLY_SURE`.
        sure: Nonsense patterns given a digit with probability >= :data:`SURE`.
    """

    table: tuple[SevenSegmentResult, ...]
    proper_correct: int
    nonsense: int
    fairly_sure: int
    sure: int


def seven_segment_summary(net: nn.Module) -> SevenSegmentSummary:
    """Classify all 128 patterns and count how often the network is sure of nonsense.

    Args:
        net: The digit network.

    Returns:
        The :class:`SevenSegmentSummary`.
    """
    table = tuple(seven_segment_table(net))
    nonsense = [r for r in table if r.digit is None and r.predicted is not None]
    return SevenSegmentSummary(
        table=table,
        proper_correct=sum(r.correct for r in table),
        nonsense=len(nonsense),
        fairly_sure=sum(r.probability >= FAIRLY_SURE for r in nonsense),
        sure=sum(r.probability >= SURE for r in nonsense),
    )
