"""The Streamlit layer of "Inside the network": what to look into
(:mod:`~ui.inside.subject`), cached core calls (:mod:`~ui.inside.cache`), figures
(:mod:`~ui.inside.plots`, :mod:`~ui.inside.cell_plots`) and the panels
(:mod:`~ui.inside.panels`, :mod:`~ui.inside.featurevis`, :mod:`~ui.inside.embedding`,
:mod:`~ui.inside.cell`: how a cell was computed, :mod:`~ui.inside.softmax`).

Everything computed lives in :mod:`core.inside`; this package only caches and renders.
"""

from ui.inside.cell import CellSource, cell_section
from ui.inside.embedding import embedding_panel
from ui.inside.featurevis import examples_panel, feature_vis_panel
from ui.inside.panels import feature_maps_panel, kernels_panel, layer_table_panel
from ui.inside.softmax import softmax_panel, softmax_section
from ui.inside.subject import Subject, pick_subject

__all__ = [
    "CellSource",
    "Subject",
    "cell_section",
    "embedding_panel",
    "examples_panel",
    "feature_maps_panel",
    "feature_vis_panel",
    "kernels_panel",
    "layer_table_panel",
    "pick_subject",
    "softmax_panel",
    "softmax_section",
]
