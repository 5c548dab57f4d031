"""Pick one of the 1,000 held-out MNIST digits: by number, at random, or one the network
gets wrong (the digits lab and "Inside the network" share it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from core import digits


@dataclass(frozen=True)
class HeldOutDigit:
    """A held-out MNIST digit as picked.

    Attributes:
        index: Its number among the 1,000 held-out digits.
        image: ``(28, 28)`` float32 in [0, 1], ink = 1, as stored.
        label: Its true class.
        mistaken: Whether the network gets it wrong (one of
            :func:`core.digits.held_out_mistakes`).
    """

    index: int
    image: np.ndarray
    label: int
    mistaken: bool


def _random(key: str) -> None:
    st.session_state[key] = int(
        np.random.default_rng().integers(len(digits.mnist_subset().test_labels))
    )


def _next_mistake(key: str) -> None:
    mistakes = digits.held_out_mistakes()
    current = int(st.session_state.get(key, 0))
    st.session_state[key] = next((i for i in mistakes if i > current), mistakes[0])


def held_out_picker(
    key: str, label: str = "Held-out digit number", where: Any = st, side_by_side: bool = True
) -> HeldOutDigit:
    """A number box over the held-out digits with "Random digit" and "A digit it gets
    wrong" (the next of the network's mistakes after the current number, in a loop).

    Args:
        key: Key of the number box (the buttons set it).
        label: The number box's label.
        where: The container to draw in.
        side_by_side: The two buttons in one row (False in the narrow sidebar, where
            their labels were cut).

    Returns:
        The :class:`HeldOutDigit` picked.
    """
    held_out = digits.mnist_subset()
    count = len(held_out.test_labels)
    st.session_state.setdefault(key, 0)
    index = int(where.number_input(label, 0, count - 1, key=key, step=1))
    mistakes = digits.held_out_mistakes()
    left, right = where.columns(2) if side_by_side else (where, where)
    left.button("Random digit", key=f"{key}_random", on_click=_random, args=(key,),
                icon=":material/casino:", width="stretch")  # fmt: skip
    right.button(
        "A digit it gets wrong", key=f"{key}_wrong", on_click=_next_mistake, args=(key,),
        icon=":material/error:", width="stretch", disabled=not mistakes,
        help=f"The network gets {len(mistakes)} of the {count:,} held-out digits wrong; "
        "each click shows the next one.",
    )  # fmt: skip
    return HeldOutDigit(
        index, held_out.test_images[index], int(held_out.test_labels[index]), index in mistakes
    )
