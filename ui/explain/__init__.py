"""Streamlit helpers of the "Explain an image" page: parameter widgets and the map cache."""
