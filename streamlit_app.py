"""CNN Explainer: the router. Every page lives in ``views/``; the list is in ``ui/pages.py``.

Run with ``streamlit run streamlit_app.py``.
"""

import importlib.abc
import logging
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

# Two imports this CPU-only server never uses, kept out before anything imports torch
# (measured with this machine's torch build: ~90 MB of resident memory, issue 15):
# - triton (70 MB, libtriton.so) compiles GPU kernels for torch.compile; torchvision's
#   ops import torch._dynamo, which imports it when it is installed.
# - IPython (20 MB) is imported by Captum's notebook visualisation helpers.
# Both libraries are optional to their importers, which catch the ImportError. Not by
# None entries in sys.modules: code that tests `"IPython" in sys.modules` before
# importing it (Ray's logging, in a thread) then fails (issue 20).
KEPT_OUT = ("triton", "IPython")


class KeepOut(importlib.abc.MetaPathFinder):
    """Makes importing a kept-out package raise ModuleNotFoundError."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.partition(".")[0] in KEPT_OUT:
            raise ModuleNotFoundError(f"{name} is kept out of this server", name=name)
        return None


if not any(type(finder).__name__ == "KeepOut" for finder in sys.meta_path):
    sys.meta_path.insert(0, KeepOut())

import streamlit as st  # noqa: E402 - after the entries above

from core.common.memory import limit_malloc_arenas  # noqa: E402
from ui.pages import HOME, PAGES  # noqa: E402
from ui.present import presenter_mode_from_url, presenter_toggle, presenting  # noqa: E402
from ui.state import arrive, finish, remember_kept  # noqa: E402
from ui.widgets import multiselects_show_every_tag  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
present_notice = presenter_mode_from_url()  # ?present=1: a projector (ui/present.py)
st.set_page_config(
    page_icon=":material/visibility:",
    layout="wide",
    initial_sidebar_state="collapsed" if presenting() else "auto",
)
limit_malloc_arenas()  # see core/common/memory.py: RSS that falls back after every panel
multiselects_show_every_tag()  # the methods box of Explain showed 5 of its 6 tags
remember_kept()  # the last page's settings, before Streamlit drops its widgets (ui/state.py)
if present_notice:
    st.warning(present_notice, icon=":material/link_off:")

sections: dict[str, list[st.Page]] = {}
for page in PAGES:
    sections.setdefault(page.section, []).append(
        st.Page(page.path, title=page.title, icon=page.icon, default=page is HOME)
    )
page_to_run = st.navigation(sections)
arrive(page_to_run.url_path)  # a move keeps no other page's query (ui/state.py)
presenter_toggle()  # under the page list, on every page
try:
    page_to_run.run()
finally:
    finish()  # the page's state into its URL, as the run left it (ui/state.py)
