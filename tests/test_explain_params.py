"""The parameter widgets of "Explain an image", built from the methods' declarations:
labels and parameters that apply only with some values of another (issue 25)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.attribution import METHODS, Param


def test_a_parameter_declares_when_it_applies() -> None:
    epsilon = next(p for p in METHODS["lrp"].params if p.name == "epsilon")
    assert epsilon.applies({"rule": "epsilon"})
    assert not epsilon.applies({"rule": "alpha_beta"})
    assert epsilon.applies({})  # nothing known yet: it may apply
    always = Param("steps", 8, "Steps.", "int", 1, 64)
    assert always.applies({"rule": "alpha_beta"})


@pytest.mark.parametrize("name", list(METHODS))
def test_conditions_name_an_earlier_parameter_and_one_of_its_values(name: str) -> None:
    """A widget can only depend on a widget drawn before it."""
    params = METHODS[name].params
    for index, param in enumerate(params):
        earlier = {p.name: p for p in params[:index]}
        for other, values in param.applies_when:
            assert other in earlier, (name, param.name, other)
            if earlier[other].kind == "choice":
                assert set(values) <= set(earlier[other].choices), (name, param.name)


def _widgets() -> None:
    import streamlit as st

    from core.attribution import METHODS
    from ui.common import default_model
    from ui.explain.params import method_params

    model = default_model()
    st.session_state["values"] = {
        name: method_params(METHODS[name], model) for name in ("lrp", "rise")
    }


def test_lrp_hides_epsilon_with_the_alpha_beta_rule_and_rise_says_keep_probability() -> None:
    app = AppTest.from_function(_widgets, default_timeout=120).run()
    assert not app.exception, [e.value for e in app.exception]
    labels = [w.label for w in [*app.selectbox, *app.slider, *app.select_slider, *app.number_input]]
    assert "Epsilon" not in labels  # the default rule is alpha-beta
    assert "Keep probability" in labels  # RISE's p, not "P"
    assert "P" not in labels
    assert app.session_state["values"]["lrp"]["epsilon"] == 1e-6  # the declared default
    app.selectbox(key="explain_lrp_rule_").set_value("epsilon").run()
    assert "Epsilon" in [w.label for w in app.select_slider]
