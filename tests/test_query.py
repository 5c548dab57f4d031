"""Every page's state in its URL (issue 25): the one text -> value parsing
(core.common.query), each page's declared fields, and a layer stack as text.

Properties (hypothesis): any query string either parses or gives notices, never an
exception, and whatever it sets is a value the field itself writes and reads back; a
page's values written and read again are the same values; a stack survives its text.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.arithmetic import (
    CONVOLUTION_FIELDS,
    GEOMETRY_FIELDS,
    PRESETS,
    RECEPTIVE_FIELD_FIELDS,
    GeometryError,
    parse_layer,
    parse_stack_text,
    stack_text,
)
from core.common.query import (
    QueryField,
    bool_field,
    choice_field,
    int_field,
    list_field,
    pair_field,
    parse_bool,
    parse_float,
    parse_int,
    parse_pair,
    read_query,
    write_query,
)
from core.digits.share import DIGITS_FIELDS
from core.inside.share import INSIDE_FIELDS
from core.playground import PLAYGROUND_FIELDS
from core.reports.share import COMPARE_FIELDS, EXPLAIN_FIELDS
from tests.strategies import DETERMINISTIC, layer_stacks

PAGES: dict[str, tuple[QueryField, ...]] = {
    "explain": EXPLAIN_FIELDS,
    "compare": COMPARE_FIELDS,
    "geometry": GEOMETRY_FIELDS,
    "convolution": CONVOLUTION_FIELDS,
    "receptive_field": RECEPTIVE_FIELD_FIELDS,
    "digits": DIGITS_FIELDS,
    "playground": PLAYGROUND_FIELDS,
    "inside": INSIDE_FIELDS,
}

# Texts a link may hold: the fields' own words, numbers, pairs, stacks, and junk.
TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "0", "-1", "1e9", "nan", "inf", "1.5", "3x5", "0x0", "true",
                     "maybe", "9" * 40, "conv2d_o6_k5~avgpool2d_k2", "conv2d_k", "linear_f-3",
                     "~", "_", "relu", "xor", "8,8", "8,,8", "99", "gradcam,shap", "a@b",
                     "blocks.3@2", "stack", "network", "step", "heatmaps", "mnist"]),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)  # fmt: skip


def queries(fields: tuple[QueryField, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Query strings over the fields' names and a few unknown ones; a value may repeat."""
    names = st.sampled_from([f.name for f in fields] + ["nope", "present", "a.b"])
    return st.dictionaries(names, st.one_of(TEXTS, st.lists(TEXTS, max_size=3)), max_size=8)


@pytest.mark.parametrize("page", list(PAGES))
def test_any_query_parses_or_gives_notices_never_an_exception(page: str) -> None:
    fields = PAGES[page]
    by_name = {f.name: f for f in fields}

    @DETERMINISTIC
    @given(queries(fields))
    def check(query: dict[str, Any]) -> None:
        values, notices = read_query(fields, query, ignore=("present",))
        assert all(isinstance(n, str) and n for n in notices)
        unknown = {name for name in query if name not in by_name and name != "present"}
        assert len(notices) >= len(unknown)
        for name, value in values.items():  # every value set is one the field accepts
            again, notes = by_name[name].read(by_name[name].write(value))
            assert again == value, (name, value, again)
            assert not notes
        written = write_query(fields, values)  # the page writes it back (defaults left out)
        assert read_query(fields, written) == ({n: values[n] for n in written}, [])

    check()


def test_bad_values_keep_their_defaults_with_a_notice_naming_them() -> None:
    values, notices = read_query(
        CONVOLUTION_FIELDS, {"op": "conv3d", "k": "9", "s": "2", "frame": "x", "zz": "1"}
    )
    assert values == {"s": (2, 2)}
    text = " ".join(notices)
    for word in ("op=conv3d", "k=9", "between 1 and 5", "frame=x", "'zz'"):
        assert word in text


def test_text_parsers() -> None:
    assert parse_int(" +12 ") == 12
    assert parse_int("0", 0, 3) == 0
    for bad in ("1.5", "1e3", "", "twelve", "9" * 30):
        with pytest.raises(ValueError, match="whole number"):
            parse_int(bad)
    with pytest.raises(ValueError, match="between 1 and 5"):
        parse_int("6", 1, 5, "kernel")
    assert parse_float("1e-3") == 0.001
    for bad in ("nan", "inf", "-inf", "x", "1" * 100):
        with pytest.raises(ValueError, match="a number"):
            parse_float(bad)
    assert parse_bool("ON") is True
    assert parse_bool("0") is False
    with pytest.raises(ValueError, match="true or false"):
        parse_bool("maybe")
    assert parse_pair("3") == (3, 3)
    assert parse_pair("3x5") == (3, 5)
    assert parse_pair("(3, 5)") == (3, 5)
    with pytest.raises(ValueError, match="a pair like 3x5"):
        parse_pair("3x5x7")


def test_fields_write_short_links_and_read_them_back() -> None:
    fields = (
        int_field("n", 4, 0, 10),
        bool_field("on", False),
        pair_field("k", (3, 3), 1, 9),
        choice_field("lr", 0.1, (0.001, 0.1, 1.0)),
        choice_field("tab", "Seven segments", ["Activations", "Seven segments"], slugs=True),
        list_field("methods", ("a", "b"), ["a", "b", "c"]),
    )
    values = {"n": 4, "on": True, "k": (3, 5), "lr": 0.001, "tab": "Activations",
              "methods": ("c", "a")}  # fmt: skip
    query = write_query(fields, values)
    assert query == {"on": "true", "k": "3x5", "lr": "0.001", "tab": "activations",
                     "methods": "c,a"}  # the default n=4 is left out  # fmt: skip
    assert read_query(fields, query) == ({k: v for k, v in values.items() if k != "n"}, [])
    assert read_query(fields, {"lr": "1e-3"})[0] == {"lr": 0.001}  # a number written otherwise
    values, notices = read_query(fields, {"methods": "c,zz,c"})
    assert values == {"methods": ("c",)}
    assert notices == ["Unknown methods 'zz' in the link: left out."]
    # a list writes only what a link can name (a model read from a file cannot be)
    assert write_query(fields, {"methods": ("a", "file-1234")}) == {"methods": "a"}


def test_a_stack_reads_as_short_url_safe_text() -> None:
    lenet = PRESETS["LeNet-5"].layers
    text = stack_text(lenet)
    assert text == (
        "conv2d_o6_k5~avgpool2d_k2~conv2d_o16_k5~avgpool2d_k2~flatten~linear_f120~"
        "linear_f84~linear_f10"
    )
    assert [parse_layer(r) for r in parse_stack_text(text)] == [parse_layer(r) for r in lenet]
    # a row PyTorch refuses is shared as typed; a row with no op yet is left out
    rows = [{"op": "conv2d", "out_channels": 6}, {"op": None}, {"op": "upsample",
            "scale_factor": "(2, 1.5)"}]  # fmt: skip
    assert stack_text(rows) == "conv2d_o6~upsample_x2x1.5"
    assert parse_stack_text("conv2d_o6~upsample_x2x1.5") == [
        {"op": "conv2d", "out_channels": 6}, {"op": "upsample", "scale_factor": "2x1.5"}
    ]  # fmt: skip
    for bad, reason in (
        ("conv3d_o1", "unknown op"),
        ("conv2d_q1", "unknown setting"),
        ("conv2d_k3_k5", "given twice"),
        ("conv2d_k", "not a value"),
        ("conv2d_o-1", "between 0"),
        ("conv2d_k3!", "not a value"),
        ("~".join(["flatten"] * 65), "at most 64 rows"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_stack_text(bad)


@DETERMINISTIC
@given(layer_stacks(table_rows=True))
def test_any_stack_survives_its_text(stack: tuple[tuple[int, int, int], list[dict]]) -> None:
    """Rows as typed in the table: each row that parses parses to the same layer after
    the trip through the URL; the text uses URL-safe characters only."""
    _, rows = stack
    text = stack_text(rows)
    assert all(c.isalnum() or c in "~_.+-" for c in text), text
    back = parse_stack_text(text)
    assert len(back) == len(rows)
    for row, again in zip(rows, back, strict=True):
        try:
            layer = parse_layer(row)
        except GeometryError:
            continue
        assert parse_layer(again) == layer
