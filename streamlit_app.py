"""CNN Explainer: the router. Every page lives in ``views/``; the list is in ``ui/pages.py``.

Run with ``streamlit run streamlit_app.py``.
"""

import logging

import streamlit as st

from core.common.memory import limit_malloc_arenas
from ui.pages import HOME, PAGES

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
st.set_page_config(page_icon=":material/visibility:", layout="wide")
limit_malloc_arenas()  # see core/common/memory.py: RSS that falls back after every panel

sections: dict[str, list[st.Page]] = {}
for page in PAGES:
    sections.setdefault(page.section, []).append(
        st.Page(page.path, title=page.title, icon=page.icon, default=page is HOME)
    )
st.navigation(sections).run()
