"""The Streamlit layer of "Inside the network": what to look into
(:mod:`~ui.inside.subject`), cached core calls (:mod:`~ui.inside.cache`), figures
(:mod:`~ui.inside.plots`) and the panels (:mod:`~ui.inside.panels`,
:mod:`~ui.inside.featurevis`, :mod:`~ui.inside.embedding`).

Everything computed lives in :mod:`core.inside`; this package only caches and renders.
"""

from ui.inside.embedding import embedding_panel
from ui.inside.featurevis import examples_panel, feature_vis_panel
from ui.inside.panels import feature_maps_panel, kernels_panel, layer_table_panel
from ui.inside.subject import Subject, pick_subject

__all__ = [
    "Subject",
    "embedding_panel",
    "examples_panel",
    "feature_maps_panel",
    "feature_vis_panel",
    "kernels_panel",
    "layer_table_panel",
    "pick_subject",
]
