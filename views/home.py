"""Home: what each page is for, the model zoo, and a quick classification."""

import pandas as pd
import streamlit as st

from core.models import list_models, model_spec, weights_available
from ui.common import cached_top_k, image_picker, model_picker, show_top_k
from ui.pages import HOME, PAGES

st.title("CNN Explainer")
st.markdown(
    "See inside convolutional neural networks: upload a photo and compare explanations "
    "side by side, draw a digit and watch a CNN decide, and play with the arithmetic of "
    "convolutions until it is obvious. Everything runs on your CPU; the default model "
    "ships with the app and works offline."
)

st.header("Pages")
for page in PAGES:
    if page is HOME:
        continue
    st.page_link(page.path, label=page.title, icon=page.icon)
    st.caption(page.summary)

st.header("Quick look: what does the model see?")
model = model_picker(key="model")
left, right = st.columns([1, 1])
with left:
    picked = image_picker(key="home_image")
if picked is not None:
    with left:
        st.image(model.crop(picked.image), caption=f"{picked.label}, as {model.title} sees it")
    with right:
        st.subheader(f"Top-5 of {model.title}")
        show_top_k(cached_top_k(model.name, picked.key, picked.image, 5))

st.header("Models")
st.dataframe(
    pd.DataFrame(
        [
            {
                "Model": model_spec(name).title,
                "Weights": "embedded"
                if model_spec(name).offline
                else ("downloaded" if weights_available(name) else "download on first use"),
                "About": model_spec(name).summary,
            }
            for name in list_models()
        ]
    ),
    hide_index=True,
    width="stretch",
)
