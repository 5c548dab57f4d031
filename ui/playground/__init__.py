"""Streamlit helpers of the "Perceptron playground" page: its Plotly figures and panels."""
