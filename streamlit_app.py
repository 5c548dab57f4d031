"""CNN Explainer: the router. Every page lives in ``views/``; the list is in ``ui/pages.py``.

Run with ``streamlit run streamlit_app.py``.
"""

import logging

import streamlit as st

from ui.pages import HOME, PAGES

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
st.set_page_config(page_icon=":material/visibility:", layout="wide")

sections: dict[str, list[st.Page]] = {}
for page in PAGES:
    sections.setdefault(page.section, []).append(
        st.Page(page.path, title=page.title, icon=page.icon, default=page is HOME)
    )
st.navigation(sections).run()
