"""CNN Explainer: the router. Every page lives in ``views/``; the list is in ``ui/pages.py``.

Run with ``streamlit run streamlit_app.py``.
"""

import logging
import sys

# Two imports this CPU-only server never uses, kept out before anything imports torch
# (measured with this machine's torch build: ~90 MB of resident memory, issue 15):
# - triton (70 MB, libtriton.so) compiles GPU kernels for torch.compile; torchvision's
#   ops import torch._dynamo, which imports it when it is installed.
# - IPython (20 MB) is imported by Captum's notebook visualisation helpers.
# Both libraries are optional to their importers, which catch the ImportError that a
# None entry in sys.modules raises.
for _unused in ("triton", "IPython"):
    sys.modules.setdefault(_unused, None)  # type: ignore[assignment]

import streamlit as st  # noqa: E402 - after the entries above

from core.common.memory import limit_malloc_arenas  # noqa: E402
from ui.pages import HOME, PAGES  # noqa: E402
from ui.widgets import multiselects_show_every_tag  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
st.set_page_config(page_icon=":material/visibility:", layout="wide")
limit_malloc_arenas()  # see core/common/memory.py: RSS that falls back after every panel
multiselects_show_every_tag()  # the methods box of Explain showed 5 of its 6 tags

sections: dict[str, list[st.Page]] = {}
for page in PAGES:
    sections.setdefault(page.section, []).append(
        st.Page(page.path, title=page.title, icon=page.icon, default=page is HOME)
    )
st.navigation(sections).run()
