"""The command line: the parser, and the checks that turn arguments into a :class:`Job`.

Every bad argument is an ``argparse`` error: one line naming the argument and what is
allowed, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.attribution import METHODS
from core.attribution.display import SEQUENTIAL_MAPS
from core.cli.job import OPACITY
from core.evaluation import DEFAULT_SUBSTRATE, SUBSTRATES
from core.evaluation.curves import STEPS
from core.models import (
    DEFAULT_MODEL,
    IMAGENET,
    ModelFileError,
    ModelSource,
    Settings,
    list_models,
    source_name,
    titles,
)

ENGINES = ("local", "ray")

EXAMPLES = """\
examples:
  python -m core.cli explain sample_images --methods gradcam,occlusion --out out
  python -m core.cli explain photos/ list.txt --methods gradcam --metrics deletion,insertion \\
      --param gradcam.layer=blocks.15 --target 281 --resume
  python -m core.cli explain /data/images --engine ray --workers 8 --out /data/maps
  python -m core.cli methods      (every method and its parameters)
  python -m core.cli layers --model resnet18      (its layers, for gradcam.layer=...)
  python -m core.cli explain photos/ --model my_net.onnx --labels classes.txt
  python -m core.cli explain scans/ --model weights.safetensors --arch timm:resnet18 \\
      --input-size 256,256 --channels 1 --mean 0.5 --std 0.25

outputs (in --out): maps/<image>/<method>.png, maps/<image>/maps.npz (raw float32 maps,
the input picture, metric curves), summary.csv (a row per image x method: path,
image_hash, model, method, target, label, probability, top1, top1_label,
top1_probability, seconds, engine, <metric>_auc, params, png, npz), failures.csv (path,
method, error, reason), job.json (settings, versions). Exit code 0 (with a warning line
when some images or methods failed), 1 when nothing could be explained, 2 for bad
arguments, 130 when interrupted (complete outputs stay; --resume finishes the job).
"""


def _number(convert: Callable[[str], Any], low: float, high: float | None = None) -> Any:
    """An argparse type: a number (``int`` or ``float``) between ``low`` and ``high``."""
    kind = "a whole number" if convert is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


_positive = _number(int, 1)
_opacity = _number(float, 0, 1)
_index = _number(int, 0)


def _target(text: str) -> int | None:
    """argparse type: ``top1`` (None) or a class index."""
    if text.lower() == "top1":
        return None
    if not text.strip().lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"expected top1 or a class index, got {text!r}")
    return int(_index(text))


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m core.cli``."""
    parser = argparse.ArgumentParser(
        prog="python -m core.cli",
        description="CNN Explainer on the command line: the page's maps and metrics over "
        "many images, in this process or on a Ray cluster.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("methods", help="list the methods and their parameters")
    commands.add_parser("models", help="list the models")
    layers = commands.add_parser(
        "layers", help="list a model's layers with a feature map (for METHOD.layer=...)"
    )
    add_model_arguments(layers)
    explain = commands.add_parser(
        "explain",
        help="explain many images (see `explain --help`)",
        description="Explain every image of PATH... with the chosen methods: a PNG per map, "
        "an .npz of raw maps per image, a summary.csv and a failures.csv.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.set_defaults(command_parser=explain)  # its own errors show its own usage
    add = explain.add_argument
    add("paths", nargs="+", metavar="PATH",
        help="image files, folders (searched recursively for .jpg .png .webp .bmp .tif .gif; "
        "hidden files skipped) or text files (.txt .lst .list) with one path a line "
        "(relative to the current folder; # comments)")  # fmt: skip
    add_model_arguments(explain)
    add(
        "--methods",
        default="gradcam",
        metavar="LIST",
        help=f"comma-separated, from: {', '.join(METHODS)} (default gradcam)",
    )
    add("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
        help="a method's parameter, e.g. gradcam.layer=blocks.15 or occlusion.patch=16 "
        "(repeatable; `methods` lists them; defaults otherwise, seeds fixed)")  # fmt: skip
    add(
        "--target",
        type=_target,
        default=None,
        metavar="top1|INDEX",
        help="class to explain: each image's top-1 (default) or an ImageNet class index",
    )
    add("--metrics", default="", metavar="LIST",
        help="comma-separated faithfulness metrics: deletion, insertion (RISE's curves; "
        "the AUC goes in the summary, the curves in the .npz)")  # fmt: skip
    add(
        "--deletion-substrate",
        choices=SUBSTRATES,
        default=DEFAULT_SUBSTRATE["deletion"],
        help="what deleted pixels become (default zero: the normalisation mean colour)",
    )
    add(
        "--insertion-substrate",
        choices=SUBSTRATES,
        default=DEFAULT_SUBSTRATE["insertion"],
        help="what inserted pixels start from (default blur)",
    )
    add("--steps", type=_positive, default=STEPS, help=f"steps per curve (default {STEPS})")
    add(
        "--out",
        default="explanations",
        metavar="DIR",
        help="output folder (default ./explanations)",
    )
    add("--summary", choices=("csv", "parquet"), default="csv", help="summary format (default csv)")
    add("--engine", choices=ENGINES, default="local",
        help="local: this process; ray: Ray Data actors on the cluster at $RAY_ADDRESS, or "
        "on a local Ray started for the job (pip install -r requirements-scale.txt)")  # fmt: skip
    add(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="Ray actors, each with its own model (default: the cluster's CPUs / --threads)",
    )
    add("--threads", type=_positive, default=None, metavar="T",
        help="torch threads per worker; each Ray actor reserves T CPUs (default: 1 per Ray "
        "actor; all cores for the local engine)")  # fmt: skip
    add(
        "--batch-size",
        type=_positive,
        default=2,
        metavar="B",
        help="images per Ray task (default 2)",
    )
    add(
        "--resume",
        action="store_true",
        help="skip images whose outputs are complete and made with the same settings",
    )
    add(
        "--cmap",
        choices=SEQUENTIAL_MAPS,
        default="inferno",
        help="colour map of unsigned maps (signed ones: red = for, blue = against)",
    )
    add("--opacity", type=_opacity, default=OPACITY, help=f"heatmap opacity (default {OPACITY})")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def _pair(text: str) -> tuple[int, int]:
    """argparse type: ``H,W`` or ``S`` (square) in pixels."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected HEIGHT,WIDTH (e.g. 224,224), got {text!r}")
    return int(parts[0]), int(parts[1])


def _floats(text: str) -> tuple[float, ...]:
    """argparse type: ``a,b,c`` or ``a``."""
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers like 0.5 or a,b,c; got {text!r}"
        ) from None


MODEL_FILE_OPTIONS = ("arch", "labels", "input_size", "channels", "mean", "std", "crop")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model`` (a registered name or a file) and the options of a model file."""
    add = parser.add_argument
    add("--model", default=DEFAULT_MODEL, metavar="NAME|FILE",
        help=f"a registered model: {', '.join(list_models())} (default {DEFAULT_MODEL}; the "
        "EfficientNet-Lite ones ship with the app, the others are downloaded on first use); "
        "or your own model file: .onnx, .pt2 (torch.export), or weights (.safetensors, "
        ".pt/.pth state dict) with --arch")  # fmt: skip
    add("--arch", metavar="NAME",
        help="the architecture of a weights file: a torchvision or timm classifier "
        "(timm:NAME or torchvision:NAME when both have it), or digit_cnn")  # fmt: skip
    add("--labels", metavar="FILE|imagenet",
        help="the model file's class names: .txt (one a line) or .json (a list, or index "
        "-> name), or `imagenet` (default: class 0 ... class K-1)")  # fmt: skip
    add("--input-size", type=_pair, metavar="H,W",
        help="input size (default: timm's config or torchvision's preset for --arch, the "
        "file's fixed input shape, else 224,224)")  # fmt: skip
    add(
        "--channels",
        type=int,
        choices=(1, 3),
        help="1 (the picture is made greyscale) or 3 (default: from the model, else 3)",
    )
    add("--mean", type=_floats, metavar="A[,B,C]",
        help="per-channel mean on pixels in [0, 1] (default: the model's, else ImageNet's "
        "for RGB and 0 for greyscale)")  # fmt: skip
    add(
        "--std",
        type=_floats,
        metavar="A[,B,C]",
        help="per-channel std (default: the model's, else ImageNet's for RGB, 1 for grey)",
    )
    add("--crop", type=_number(float, 0.05, 1), metavar="F",
        help="fraction of the resized picture the centre crop keeps (default: the model's, "
        "else 0.875 for RGB: resize 256, crop 224; 1 for greyscale)")  # fmt: skip


def model_source(args: argparse.Namespace, parser: Any) -> ModelSource | None:
    """The model file of ``--model`` and its options; None for a registered model.

    Raises:
        SystemExit: (2) neither a registered name nor a file, options of a model file
            with a registered model, bad settings, unreadable files.
    """
    given = [f"--{o.replace('_', '-')}" for o in MODEL_FILE_OPTIONS if getattr(args, o, None)]
    if args.model in list_models():
        if given:
            parser.error(f"{', '.join(given)}: only for a model file, not {args.model}")
        return None
    path = Path(args.model)
    if not path.is_file():
        parser.error(
            f"--model {args.model}: neither a registered model ({', '.join(list_models())}) "
            "nor a model file"
        )
    labels = args.labels
    if labels and labels.lower() != IMAGENET:
        if not Path(labels).is_file():
            parser.error(f"--labels {labels}: no such file")
        labels = str(Path(labels).resolve())
    settings = Settings(args.input_size, args.channels, args.mean, args.std, args.crop)
    source = ModelSource(str(path.resolve()), args.arch, labels, settings, title=path.name)
    try:
        settings.check()
        source_name(source)
    except ModelFileError as err:
        parser.error(f"--model {args.model}: {err}")
    return source


def parse_list(text: str, allowed: Sequence[str], option: str, parser: Any) -> tuple[str, ...]:
    """A comma-separated list, each entry checked against ``allowed``, duplicates dropped.

    Raises:
        SystemExit: (2) an unknown entry, through ``parser.error``.
    """
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in allowed]
    if unknown:
        parser.error(f"{option}: unknown {', '.join(map(repr, unknown))}; choose from: "
                     f"{', '.join(allowed)}")  # fmt: skip
    return names


def parse_params(
    entries: Sequence[str], methods: Sequence[str], parser: Any
) -> dict[str, dict[str, Any]]:
    """``METHOD.NAME=VALUE`` entries -> each method's resolved parameters.

    Raises:
        SystemExit: (2) bad syntax, a method not in ``--methods``, an unknown name (the
            message lists the method's parameters) or a bad value.
    """
    given: dict[str, dict[str, Any]] = {name: {} for name in methods}
    for entry in entries:
        key, equals, text = entry.partition("=")
        method, dot, name = key.strip().partition(".")
        if not equals or not dot or not name:
            parser.error(f"--param {entry!r}: expected METHOD.NAME=VALUE, e.g. occlusion.patch=16")
        if method not in given:
            parser.error(f"--param {entry!r}: {method} is not in --methods ({', '.join(methods)})")
        declared = {p.name: p for p in METHODS[method].params}
        if name not in declared:
            takes = ", ".join(declared) or "no parameters"
            parser.error(
                f"--param {entry!r}: {method} has no parameter {name!r}; it takes: {takes}"
            )
        try:
            given[method][name] = declared[name].parse(text)
        except ValueError as err:
            parser.error(f"--param {entry!r}: {err}")
    resolved: dict[str, dict[str, Any]] = {}
    for method, values in given.items():
        try:
            resolved[method] = dict(METHODS[method].resolve(values))
        except (TypeError, ValueError) as err:
            parser.error(f"--param {method}: {err}")
    return resolved


def check_ray(parser: Any) -> None:
    """``--engine ray`` needs Ray Data; say how to install it.

    Raises:
        SystemExit: (2) Ray is not installed.
    """
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        parser.error(
            "--engine ray needs Ray Data, which is not installed: "
            "pip install -r requirements-scale.txt  (or: pip install 'ray[data]')"
        )


def describe_methods() -> str:
    """Every method with its parameters (the text of ``python -m core.cli methods``)."""
    lines = []
    for method in METHODS.values():
        kind = "signed" if method.signed else "unsigned"
        lines.append(f"{method.name}: {method.title} ({kind}). {method.summary}")
        for p in method.params:
            if p.kind in ("int", "float"):
                allowed = f"{p.low:.10g}..{p.high:.10g}"
            elif p.kind == "choice":
                allowed = " | ".join(p.choices)
            elif p.kind == "bool":
                allowed = "true | false"
            else:
                allowed = "a layer name: `python -m core.cli layers --model NAME` lists them"
            unit = f" {p.unit}" if p.unit else ""
            default = p.text(p.default)
            lines.append(f"  {method.name}.{p.name}={default}  [{allowed}{unit}] {p.help}")
    return "\n".join(lines)


def describe_models() -> str:
    """Every model (the text of ``python -m core.cli models``)."""
    return "\n".join(f"{name}: {title}" for name, title in titles().items())
