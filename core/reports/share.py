"""Shareable state: the view of "Explain an image" and of "Compare models" in a URL
query string, and back.

``?model=resnet18&methods=gradcam,lime&sample=espresso.jpg&class=967&lime.samples=500``:
the model, the methods, their parameters (``method.param=value``, only those that differ
from the defaults), the sample photo and the class. Reading a query never fails: an
unknown or out-of-range value is dropped with a notice in plain words, and the view
opens with the defaults for it. The fields are read and written by
:mod:`core.common.query`, as every page's are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.attribution import DEFAULT_METHODS, METHODS
from core.common.query import (
    Query,
    bool_field,
    int_field,
    last_value,
    list_field,
    read_query,
    shown,
    write_query,
)
from core.common.samples import SAMPLE_FIELD
from core.models import DEFAULT_MODEL, MODEL_FIELD, list_models

CLASS = int_field("class", None, 0, 999, label="class index")  # None: the top-1 class
EXPLAIN_FIELDS = (
    MODEL_FIELD,
    list_field("methods", DEFAULT_METHODS, list(METHODS), label="method(s)"),
    SAMPLE_FIELD,
    CLASS,
)
KEYS = tuple(f.name for f in EXPLAIN_FIELDS)
COMPARE_METHODS = ("gradcam", "saliency", "integrated_gradients")
# "Compare models": the models, the methods, the two toggles, the class and the photo.
COMPARE_FIELDS = (
    list_field("models", tuple(list_models()[:3]), list_models(), label="model(s)"),
    list_field("methods", COMPARE_METHODS, list(METHODS), label="method(s)"),
    bool_field("same_scale", False),
    bool_field("same_class", False),
    CLASS,
    SAMPLE_FIELD,
)


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


def parse_view(query: Query) -> tuple[ViewState, list[str]]:
    """Read a query string's view; bad values become defaults, with notices.

    Args:
        query: ``st.query_params`` or any mapping of names to one or more values.

    Returns:
        ``(state, notices)``.
    """
    fixed = {k: v for k, v in query.items() if k in KEYS}
    values, notices = read_query(EXPLAIN_FIELDS, fixed)
    params: dict[str, dict[str, Any]] = {}
    for key, value in query.items():
        if key in KEYS:
            continue
        method, _, name = key.partition(".")
        declared = {p.name: p for p in METHODS[method].params} if method in METHODS else {}
        if name not in declared:
            notices.append(f"Unknown setting {shown(key)!r} in the link: ignored.")
            continue
        text = last_value(value)
        try:
            parsed = declared[name].parse(text)
        except (ValueError, TypeError) as err:
            default = declared[name].default
            notices.append(f"{key}={shown(text)} is not allowed ({err}): using {default}.")
            continue
        if parsed != declared[name].default:
            params.setdefault(method, {})[name] = parsed
    state = ViewState(
        values.get("model", DEFAULT_MODEL),
        values.get("methods", DEFAULT_METHODS),
        params,
        values.get("sample"),
        values.get("class"),
    )
    return state, notices


def view_query(state: ViewState) -> dict[str, str]:
    """The query string of a view (defaults left out, so links stay short)."""
    values = {"model": state.model, "methods": tuple(state.methods), "sample": state.sample,
              "class": state.target}  # fmt: skip
    query = write_query(EXPLAIN_FIELDS, values)
    for method in state.methods:
        declared = {p.name: p for p in METHODS[method].params}
        for name, value in state.params.get(method, {}).items():
            if name in declared and value != declared[name].default:
                query[f"{method}.{name}"] = declared[name].text(value)
    return query
