"""The floor of ``bench/classroom.py``: a bare Streamlit page (a title, an uploader, the
uploaded picture), served and opened the same way as "Explain an image".

On this 2-core machine the class's browsers share the server's CPUs, so a class's page
open and upload times include the browsers' own work. The same N sessions opening this
page and uploading the same photos measure what no app could go below here: Streamlit's
own front end, the browsers and the websocket, with no model and no map.
"""

import streamlit as st

st.title("A bare Streamlit page")
upload = st.file_uploader("Photo", type=["jpg", "jpeg", "png"])
if upload is not None:
    st.image(upload.getvalue(), caption=f"{upload.name}, as uploaded", width=300)
st.write("Ready.")
