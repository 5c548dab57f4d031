"""The page registry: one entry per page, read by the router and the home page.

A page is listed only once it works; each feature adds its own line here.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.attribution import METHODS


@dataclass(frozen=True)
class PageInfo:
    """One page of the app.

    Attributes:
        path: The page script, relative to the repository root.
        title: Sidebar and browser-tab title.
        icon: A Material icon, ``":material/name:"``.
        section: Sidebar group.
        summary: What the page is for, in two lines (shown on the home page).
    """

    path: str
    title: str
    icon: str
    section: str
    summary: str

    @property
    def url_name(self) -> str:
        """Streamlit's URL name for the page: ``views/foo_bar.py`` -> ``foo_bar``."""
        return self.path.rsplit("/", 1)[-1].removesuffix(".py")


HOME = PageInfo(
    path="views/home.py",
    title="Home",
    icon=":material/home:",
    section="Start",
    summary="What each page is for, the model zoo and a quick classification.",
)

PAGES: list[PageInfo] = [
    HOME,
    PageInfo(
        path="views/explain.py",
        title="Explain an image",
        icon=":material/image_search:",
        section="Explain",
        summary=f"Upload a photo and compare {len(METHODS)} explanations side by side: "
        + ", ".join(method.title for method in METHODS.values())
        + ".",
    ),
    PageInfo(
        path="views/compare.py",
        title="Compare models",
        icon=":material/view_module:",
        section="Explain",
        summary="The same photo through several models x several methods in one grid, each "
        "row with its model's top-1 class and probability.",
    ),
    PageInfo(
        path="views/playground.py",
        title="Perceptron playground",
        icon=":material/hub:",
        section="Explore",
        summary="Train a small network live: weight initialisations, activations, "
        "saturation, dead units and vanishing or exploding gradients you can see.",
    ),
    PageInfo(
        path="views/digits.py",
        title="Digits lab",
        icon=":material/draw:",
        section="Explore",
        summary="Draw a digit and watch a small CNN read it: activations, decisive neurons, "
        "heatmaps, adversarial examples, class prototypes, a seven-segment test, live training.",
    ),
    PageInfo(
        path="views/inside.py",
        title="Inside the network",
        icon=":material/table_rows:",
        section="CNN arithmetic",
        summary="Layer table, feature maps, kernels, feature visualisation with switchable "
        "regularisers, dataset examples and a t-SNE embedding, for a photo model or the digit CNN.",
    ),
    PageInfo(
        path="views/geometry.py",
        title="Geometry calculator",
        icon=":material/calculate:",
        section="CNN arithmetic",
        summary="Stack conv, pooling, transposed-conv, upsample and flatten layers; see "
        "each row's output shape, parameters and receptive field, and why a row is invalid.",
    ),
    PageInfo(
        path="views/convolution.py",
        title="Convolution animation",
        icon=":material/animation:",
        section="CNN arithmetic",
        summary="Watch a kernel slide over the padded input with any stride, padding and "
        "dilation per axis, transposed too; step frame by frame or download a GIF.",
    ),
    PageInfo(
        path="views/receptive_field.py",
        title="Receptive field",
        icon=":material/center_focus_strong:",
        section="CNN arithmetic",
        summary="Click an output cell to light up the input pixels it depends on, on the "
        "calculator's stack or on a real network over a photo.",
    ),
]
