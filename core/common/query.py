"""A page's state in its URL query string, and back; the one text -> value parsing.

Every page keeps its main state in its URL (``?op=conv2d&k=3x5&s=2``), so a link a
teacher sends opens the page as they set it. A page declares its state once, as
:class:`QueryField` s (name in the URL, default, how a text is read and written);
:func:`read_query` turns *any* query string into values and notices (never an
exception: a bad value keeps the default and says why), and :func:`write_query` writes
values back, leaving defaults out so links stay short.

The text parsers here (:func:`parse_int`, :func:`parse_float`, :func:`parse_bool`,
:func:`parse_pair`) are the one place a text becomes a number, a flag or a pair: the
pages' links, the Explain page's method settings and the command line's ``--param``
read through them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Query = Mapping[str, str | Sequence[str]]
Kind = Literal["int", "float", "bool", "choice", "list", "pair", "text"]

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")
MAX_SHOWN = 40  # characters of a bad value quoted back in a notice
_PAIR_SPLIT = re.compile(r"\s*[x×*,]\s*")


def last_value(value: str | Sequence[str]) -> str:
    """A query parameter's text: the last one when the parameter is repeated."""
    if isinstance(value, str):
        return value
    return str(value[-1]) if len(value) else ""


def shown(text: str) -> str:
    """A value quoted back to the user, cut to :data:`MAX_SHOWN` characters."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _check_range(value: float, low: float | None, high: float | None, name: str) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {_bounds(low, high)}, got {value:g}")


def parse_int(text: str, low: float | None = None, high: float | None = None,
              name: str = "the value") -> int:  # fmt: skip
    """A whole number from its text (``"12"``, ``" 12 "``, ``"+12"``), within bounds.

    Raises:
        ValueError: not a whole number, or out of ``[low, high]`` (a message for the user).
    """
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?\d{1,18}", stripped):
        raise ValueError(f"{name} must be a whole number, got {shown(text)!r}")
    value = int(stripped)
    _check_range(value, low, high, name)
    return value


def parse_float(text: str, low: float | None = None, high: float | None = None,
                name: str = "the value") -> float:  # fmt: skip
    """A finite number from its text (``"0.1"``, ``"1e-3"``), within bounds.

    Raises:
        ValueError: not a finite number, or out of ``[low, high]``.
    """
    try:
        value = float(text.strip()) if len(text) <= 64 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {shown(text)!r}")
    _check_range(value, low, high, name)
    return value


def parse_bool(text: str, name: str = "the value") -> bool:
    """``true``/``false`` (or ``1``/``0``, ``yes``/``no``, ``on``/``off``, any case).

    Raises:
        ValueError: any other text.
    """
    word = text.strip().lower()
    if word in TRUE + FALSE:
        return word in TRUE
    raise ValueError(f"{name} must be true or false, got {shown(text)!r}")


def parse_pair(text: str, low: float | None = None, high: float | None = None,
               name: str = "the value") -> tuple[int, int]:  # fmt: skip
    """A height and width: ``"3"`` (both) or ``"3x5"`` (also ``3,5``, ``3*5``).

    Raises:
        ValueError: not one or two whole numbers, or one out of ``[low, high]``.
    """
    parts = _PAIR_SPLIT.split(text.strip().strip("()[]"))
    if len(parts) not in (1, 2):
        raise ValueError(f"{name} must be a number or a pair like 3x5, got {shown(text)!r}")
    numbers = [parse_int(part, low, high, name) for part in parts]
    return (numbers[0], numbers[-1])


def parse_module_name(text: str) -> str:
    """A network module's name from its text (``blocks.3``, ``layer2.1.conv1``); whether
    the network has it is for the caller to check.

    Raises:
        ValueError: empty, too long, or characters no module name has.
    """
    name = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,200}", name):
        raise ValueError(f"{shown(text)!r} is not a layer name")
    return name


def format_value(value: Any) -> str:
    """A value as it is written in a URL: ``true``/``false``, ``3x5`` for pairs, numbers
    as short as they read back exactly (``0.1``, ``3``, ``1e-05``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"
    return str(value)


def slug(label: str) -> str:
    """A label as a URL word: ``"Seven segments"`` -> ``"seven_segments"``."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


@dataclass(frozen=True)
class QueryField:
    """One parameter of a page's URL.

    Build one with :func:`int_field`, :func:`float_field`, :func:`bool_field`,
    :func:`choice_field`, :func:`list_field`, :func:`pair_field` or :func:`text_field`.

    Attributes:
        name: The parameter's name in the URL.
        default: The page's default (left out of the URL).
        kind: How the text is read.
        low: Smallest number allowed (numbers and pairs), or None.
        high: Largest number allowed, or None.
        choices: URL word -> value (``choice`` and ``list``).
        reader: ``text`` fields: text -> value (raises ValueError with the reason).
        writer: ``text`` fields: value -> text.
        label: What the value is, in words (for notices); the name when empty.
    """

    name: str
    default: Any
    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: Mapping[str, Any] = field(default_factory=dict)
    reader: Callable[[str], Any] | None = None
    writer: Callable[[Any], str] | None = None
    label: str = ""

    def read(self, text: str) -> tuple[Any, list[str]]:
        """The value a text stands for, and notes on what was left out of it.

        Raises:
            ValueError: the text is not a value of this field (the reason in words).
        """
        label = self.label or self.name
        if self.kind == "int":
            return parse_int(text, self.low, self.high, label), []
        if self.kind == "float":
            return parse_float(text, self.low, self.high, label), []
        if self.kind == "bool":
            return parse_bool(text, label), []
        if self.kind == "pair":
            return parse_pair(text, self.low, self.high, label), []
        if self.kind == "choice":
            return self._choice(text.strip(), label), []
        if self.kind == "list":
            words = [w for w in (part.strip() for part in text.split(",")) if w]
            unknown = [w for w in words if w not in self.choices]
            notes = (
                [f"Unknown {label} {', '.join(repr(shown(w)) for w in unknown)} in the link: "
                 "left out."] if unknown else []
            )  # fmt: skip
            return tuple(dict.fromkeys(self.choices[w] for w in words if w in self.choices)), notes
        assert self.reader is not None, f"text field {self.name} has no reader"
        return self.reader(text), []

    def _choice(self, text: str, label: str) -> Any:
        if text in self.choices:
            return self.choices[text]
        numbers = [v for v in self.choices.values()
                   if isinstance(v, int | float) and not isinstance(v, bool)]  # fmt: skip
        if numbers:  # a number written another way: 1e-3 for 0.001
            try:
                number = float(text) if len(text) <= 64 else math.nan
            except ValueError:
                number = math.nan
            for value in numbers:
                if value == number:
                    return value
        allowed = ", ".join(list(self.choices)[:12]) + (", ..." if len(self.choices) > 12 else "")
        raise ValueError(f"{label} must be one of {allowed}; got {shown(text)!r}")

    def write(self, value: Any) -> str:
        """The URL text of a value of this field."""
        if self.kind in ("choice", "list"):
            words = {format_value(v): w for w, v in self.choices.items()}
            if self.kind == "list":  # values no link can name (a model read from a file)
                return ",".join(words[t] for v in value if (t := format_value(v)) in words)
            return words.get(format_value(value), format_value(value))
        if self.kind == "text" and self.writer is not None:
            return self.writer(value)
        return format_value(value)


def int_field(name: str, default: int | None, low: int | None = None, high: int | None = None,
              label: str = "") -> QueryField:  # fmt: skip
    """A whole number in ``[low, high]``."""
    return QueryField(name, default, "int", low, high, label=label)


def float_field(name: str, default: float, low: float | None = None, high: float | None = None,
                label: str = "") -> QueryField:  # fmt: skip
    """A finite number in ``[low, high]``."""
    return QueryField(name, default, "float", low, high, label=label)


def bool_field(name: str, default: bool, label: str = "") -> QueryField:
    """``true`` or ``false``."""
    return QueryField(name, default, "bool", label=label)


def pair_field(name: str, default: tuple[int, int], low: int | None = None,
               high: int | None = None, label: str = "") -> QueryField:  # fmt: skip
    """A height and width, ``3`` or ``3x5``, each in ``[low, high]``."""
    return QueryField(name, default, "pair", low, high, label=label)


def _words(choices: Sequence[Any] | Mapping[str, Any], slugs: bool) -> dict[str, Any]:
    if isinstance(choices, Mapping):
        return dict(choices)
    return {(slug(str(c)) if slugs else format_value(c)): c for c in choices}


def choice_field(name: str, default: Any, choices: Sequence[Any] | Mapping[str, Any],
                 slugs: bool = False, label: str = "") -> QueryField:  # fmt: skip
    """One of ``choices``: a sequence of values (written as they print, or as
    :func:`slug` s of them with ``slugs``) or a mapping of URL words to values."""
    return QueryField(name, default, "choice", choices=_words(choices, slugs), label=label)


def list_field(name: str, default: tuple[Any, ...], choices: Sequence[Any] | Mapping[str, Any],
               slugs: bool = False, label: str = "") -> QueryField:  # fmt: skip
    """Comma-separated values of ``choices`` (unknown ones are left out with a note;
    duplicates dropped; the order kept)."""
    return QueryField(name, tuple(default), "list", choices=_words(choices, slugs), label=label)


def text_field(name: str, default: Any, reader: Callable[[str], Any],
               writer: Callable[[Any], str] = str, label: str = "") -> QueryField:  # fmt: skip
    """Any value with its own reader (text -> value, ValueError with the reason) and
    writer (value -> text)."""
    return QueryField(name, default, "text", reader=reader, writer=writer, label=label)


def read_query(
    fields: Sequence[QueryField], query: Query, ignore: Sequence[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The values a query string sets, and a notice for everything it could not.

    Never raises: an unknown parameter is ignored, a bad value is left out (the page
    keeps its default), each with a notice in plain words.

    Args:
        fields: The page's declared fields.
        query: ``st.query_params`` or any mapping of names to one or more texts.
        ignore: Parameters another part of the app reads (e.g. ``present``).

    Returns:
        ``(values, notices)``: field name -> value, for the fields the query sets well.
    """
    declared = {f.name: f for f in fields}
    values: dict[str, Any] = {}
    notices: list[str] = []
    for name, raw in query.items():
        if name in ignore:
            continue
        text = last_value(raw)
        if name not in declared:
            notices.append(f"Unknown setting {shown(name)!r} in the link: ignored.")
            continue
        declared_field = declared[name]
        try:
            values[name], notes = declared_field.read(text)
        except (ValueError, TypeError, OverflowError) as err:
            default = declared_field.default
            default = "" if default is None else declared_field.write(default)
            default = default if len(default) <= MAX_SHOWN else ""  # a whole stack: too long
            notices.append(
                f"{name}={shown(text)} is not allowed ({err}): using the default"
                + (f", {default}." if default else ".")
            )
            continue
        notices.extend(notes)
    return values, notices


def write_query(fields: Sequence[QueryField], values: Mapping[str, Any]) -> dict[str, str]:
    """The query string of a page's values: defaults and missing values left out.

    Args:
        fields: The page's declared fields, in the order the URL lists them.
        values: Field name -> value (None: not set).

    Returns:
        Name -> text, for every field whose value differs from its default.
    """
    query: dict[str, str] = {}
    for declared_field in fields:
        value = values.get(declared_field.name)
        if value is None:
            continue
        text = declared_field.write(value)
        default = declared_field.default
        if default is None or text != declared_field.write(default):
            query[declared_field.name] = text
    return query
