"""The command line: the page's maps and metrics over many images, locally or on Ray.

``python -m core.cli explain PATH... --methods gradcam,occlusion --out DIR``
(``python -m core.cli --help``). Modules:

- :mod:`core.cli.args`: the parser and the checks of the arguments.
- :mod:`core.cli.inputs`: the image list (files, folders, lists of paths) and its keys.
- :mod:`core.cli.job`: one image -> its maps, metrics, rows and files (both engines).
- :mod:`core.cli.ray_engine`: the job on Ray Data (optional: ``requirements-scale.txt``).
- :mod:`core.cli.writers`: atomic files, resume, summary and failures.
- :mod:`core.cli.run`: the driver (progress, interruption, exit codes).
"""

from core.cli.inputs import Failure, Item, list_images
from core.cli.job import ImageResult, Job, explain_image, local_results, prepare_model
from core.cli.run import main

__all__ = [
    "Failure",
    "ImageResult",
    "Item",
    "Job",
    "explain_image",
    "list_images",
    "local_results",
    "main",
    "prepare_model",
]
