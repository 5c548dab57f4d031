"""The page registry: one entry per page, read by the router and the home page.

A page is listed only once it works; each feature adds its own line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    """One page of the app.

    Attributes:
        path: The page script, relative to the repository root.
        title: Sidebar and browser-tab title.
        icon: A Material icon, ``":material/name:"``.
        section: Sidebar group.
        summary: What the page is for, in two lines (shown on the home page).
    """

    path: str
    title: str
    icon: str
    section: str
    summary: str


HOME = PageInfo(
    path="views/home.py",
    title="Home",
    icon=":material/home:",
    section="Start",
    summary="What each page is for, the model zoo and a quick classification.",
)

PAGES: list[PageInfo] = [
    HOME,
]
