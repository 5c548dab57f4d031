"""Shareable state: the view of "Explain an image" in a URL query string, and back.

``?model=resnet18&methods=gradcam,lime&sample=espresso.jpg&class=967&lime.samples=500``:
the model, the methods, their parameters (``method.param=value``, only those that differ
from the defaults), the sample photo and the class. Reading a query never fails: an
unknown or out-of-range value is dropped with a notice in plain words, and the view
opens with the defaults for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.attribution import DEFAULT_METHODS, METHODS
from core.common.samples import SAMPLES
from core.models import DEFAULT_MODEL, list_models

Query = Mapping[str, str | Sequence[str]]
KEYS = ("model", "methods", "sample", "class")


@dataclass(frozen=True)
class ViewState:
    """What a shared URL restores.

    Attributes:
        model: Registry name.
        methods: Method names, in the user's order.
        params: method -> {parameter: value}, only values that differ from the defaults.
        sample: A sample photo's file name (None: not a sample, e.g. an upload).
        target: Class index (None: the model's top-1).
    """

    model: str = DEFAULT_MODEL
    methods: tuple[str, ...] = DEFAULT_METHODS
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    sample: str | None = None
    target: int | None = None


def _one(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else (value[-1] if value else "")


def parse_view(query: Query) -> tuple[ViewState, list[str]]:
    """Read a query string's view; bad values become defaults, with notices.

    Args:
        query: ``st.query_params`` or any mapping of names to one or more values.

    Returns:
        ``(state, notices)``.
    """
    notices: list[str] = []
    model = _one(query.get("model", DEFAULT_MODEL)) or DEFAULT_MODEL
    if model not in list_models():
        notices.append(f"Unknown model {model!r} in the link: showing {DEFAULT_MODEL}.")
        model = DEFAULT_MODEL
    methods: tuple[str, ...] = DEFAULT_METHODS
    if "methods" in query:
        names = [n for n in ",".join(
            [query["methods"]] if isinstance(query["methods"], str) else query["methods"]
        ).split(",") if n]  # fmt: skip
        unknown = [n for n in names if n not in METHODS]
        if unknown:
            notices.append(
                f"Unknown method(s) {', '.join(map(repr, unknown))} in the link: left out."
            )
        methods = tuple(dict.fromkeys(n for n in names if n in METHODS))
    params: dict[str, dict[str, Any]] = {}
    for key, value in query.items():
        if key in KEYS:
            continue
        method, _, name = key.partition(".")
        declared = {p.name: p for p in METHODS[method].params} if method in METHODS else {}
        if name not in declared:
            notices.append(f"Unknown setting {key!r} in the link: ignored.")
            continue
        try:
            parsed = declared[name].parse(_one(value))
        except (ValueError, TypeError) as err:
            default = declared[name].default
            notices.append(f"{key}={_one(value)} is not allowed ({err}): using {default}.")
            continue
        if parsed != declared[name].default:
            params.setdefault(method, {})[name] = parsed
    sample = _one(query["sample"]) if "sample" in query else None
    if sample is not None and sample not in SAMPLES:
        notices.append(f"Unknown sample photo {sample!r} in the link: showing the first one.")
        sample = None
    target: int | None = None
    if "class" in query:
        text = _one(query["class"])
        if text.isdigit() and int(text) < 1000:
            target = int(text)
        else:
            notices.append(f"class={text} is not a class index (0-999): showing the top-1.")
    return ViewState(model, methods, params, sample, target), notices


def view_query(state: ViewState) -> dict[str, str]:
    """The query string of a view (defaults left out, so links stay short)."""
    query: dict[str, str] = {}
    if state.model != DEFAULT_MODEL:
        query["model"] = state.model
    if tuple(state.methods) != DEFAULT_METHODS:
        query["methods"] = ",".join(state.methods)
    if state.sample is not None:
        query["sample"] = state.sample
    if state.target is not None:
        query["class"] = str(state.target)
    for method in state.methods:
        declared = {p.name: p for p in METHODS[method].params}
        for name, value in state.params.get(method, {}).items():
            if name in declared and value != declared[name].default:
                query[f"{method}.{name}"] = declared[name].text(value)
    return query
