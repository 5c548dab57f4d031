"""Can this map be trusted? Faithfulness curves with baselines, the sanity cascade,
agreement between methods, and the user's own guess.

``from core.evaluation import deletion_curve, insertion_curve, deletion_auc,
insertion_auc, sanity_cascade, agreement, pointing_game``. See ``faithfulness.py`` for
the per-method table the page shows.
"""

from core.evaluation.agreement import (
    Agreement,
    Box,
    agreement,
    box_iou,
    box_mask,
    iou,
    pointing_game,
    spearman,
)
from core.evaluation.baselines import edge_map, random_smooth_map, reversed_map
from core.evaluation.curves import (
    DEFAULT_SUBSTRATE,
    SUBSTRATES,
    Curve,
    curve,
    default_step,
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
    model_forward,
    normalised_auc,
    pixel_order,
    substrate_input,
)
from core.evaluation.faithfulness import Faithfulness, faithfulness
from core.evaluation.sanity import (
    CascadeStep,
    SanityResult,
    SanityVerdict,
    Similarity,
    cascade_blocks,
    randomize,
    sanity_cascade,
    sanity_verdict,
    similarity,
)

__all__ = [
    "DEFAULT_SUBSTRATE",
    "SUBSTRATES",
    "Agreement",
    "Box",
    "CascadeStep",
    "Curve",
    "Faithfulness",
    "SanityResult",
    "SanityVerdict",
    "Similarity",
    "agreement",
    "box_iou",
    "box_mask",
    "cascade_blocks",
    "curve",
    "default_step",
    "deletion_auc",
    "deletion_curve",
    "edge_map",
    "faithfulness",
    "insertion_auc",
    "insertion_curve",
    "iou",
    "model_forward",
    "normalised_auc",
    "pixel_order",
    "pointing_game",
    "random_smooth_map",
    "randomize",
    "reversed_map",
    "sanity_cascade",
    "sanity_verdict",
    "similarity",
    "spearman",
    "substrate_input",
]
